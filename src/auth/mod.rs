//! Who is calling: passwords, tokens, API keys, login throttling, and the [`Actor`] every service call is scoped by.

pub mod api_key;
pub mod password;
pub mod throttle;
pub mod tokens;

use uuid::Uuid;

/// The authenticated caller of a service. Every service function takes one and touches only its tenant's rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: Uuid,
    /// The id of the account or API key that acts.
    pub id: Uuid,
    /// A name fit for an audit trail: the account's display name, or the API key's name.
    pub label: String,
    pub principal: Principal,
}

/// What kind of caller an actor is, and with which rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A person signed in with an account of the tenant.
    Account { role: Role },
    /// A registrar backend calling with one of the tenant's API keys.
    ApiKey { scope: ApiKeyScope },
    /// The server itself, acting on a deadline.
    System,
}

pub use entity::enums::Role;

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiKeyScope {
    /// Read everything of the tenant, change nothing.
    ReadOnly,
    /// Read and change filings on the applicants' behalf.
    Full,
    /// Everything a full-access key may do, and manage the registrar's integrations (webhook endpoints).
    Admin,
}

pub use entity::enums::ActorKind;

/// What a caller may do, as `me` reports it so frontends can show only what works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Read the filings the caller owns.
    ReadOwnFilings,
    /// Read every filing of the tenant.
    ReadAllFilings,
    /// Create filings and edit their data while they are editable.
    EditFilings,
    /// Read personal data in full (certificate numbers, phones, emails); without it they are masked.
    ReadPersonalData,
    /// Invite staff, change roles, disable accounts.
    ManageAccounts,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Change the tenant's settings.
    ManageSettings,
    /// Register, change and test the registrar's webhook endpoints, and read their delivery logs.
    ManageWebhooks,
}

impl Actor {
    /// Everything the caller may do.
    pub fn permissions(&self) -> Vec<Permission> {
        let mut out = Vec::new();
        out.push(if self.owner_scope().is_some() { Permission::ReadOwnFilings } else { Permission::ReadAllFilings });
        if self.may_edit_filings() {
            out.push(Permission::EditFilings);
        }
        if self.reads_personal_data() {
            out.push(Permission::ReadPersonalData);
        }
        if self.is_admin() {
            out.extend([Permission::ManageAccounts, Permission::ManageApiKeys, Permission::ManageSettings]);
        }
        if self.manages_webhooks() {
            out.push(Permission::ManageWebhooks);
        }
        out
    }

    pub fn kind(&self) -> ActorKind {
        match self.principal {
            Principal::Account { .. } => ActorKind::Account,
            Principal::ApiKey { .. } => ActorKind::ApiKey,
            Principal::System => ActorKind::System,
        }
    }

    /// The account role, for people.
    pub fn role(&self) -> Option<Role> {
        match self.principal {
            Principal::Account { role } => Some(role),
            Principal::ApiKey { .. } | Principal::System => None,
        }
    }

    /// The server acting on a tenant's filing (deadlines).
    pub fn system(tenant_id: Uuid) -> Self {
        Actor { tenant_id, id: Uuid::nil(), label: "beian".to_owned(), principal: Principal::System }
    }

    /// For applicants, the only owner whose filings they may see; `None` means every filing of the tenant.
    pub fn owner_scope(&self) -> Option<Uuid> {
        (self.role() == Some(Role::Applicant)).then_some(self.id)
    }

    /// Whether the caller may create and edit applicant data (subject, websites): the applicant who owns it, or a
    /// registrar backend acting for applicants. Reviewers and administrators review; they do not fill in forms.
    /// Whether the caller needs personal data in full: the applicant (their own), reviewers (who compare it with
    /// the certificates), the registrar's backend with a full-access key (which files with MIIT). Administrators and
    /// read-only keys see it masked (`138****8000`).
    pub fn reads_personal_data(&self) -> bool {
        matches!(
            self.principal,
            Principal::Account { role: Role::Applicant | Role::Reviewer }
                | Principal::ApiKey { scope: ApiKeyScope::Full | ApiKeyScope::Admin }
                | Principal::System
        )
    }

    /// How this caller sees personal data wherever it goes out (see [`Disclosure`]).
    pub fn disclosure(&self) -> crate::domain::masking::Disclosure {
        use crate::domain::masking::Disclosure;
        if self.reads_personal_data() { Disclosure::Full } else { Disclosure::Masked }
    }

    pub fn may_edit_filings(&self) -> bool {
        matches!(
            self.principal,
            Principal::Account { role: Role::Applicant }
                | Principal::ApiKey { scope: ApiKeyScope::Full | ApiKeyScope::Admin }
        )
    }

    /// Whether the caller manages the tenant: accounts, API keys, settings.
    pub fn is_admin(&self) -> bool {
        self.principal == Principal::Account { role: Role::Admin }
    }

    /// Whether the caller manages the registrar's webhook endpoints: an administrator, or a key with the admin scope
    /// (a registrar's deployment tooling registers its endpoints itself).
    pub fn manages_webhooks(&self) -> bool {
        self.is_admin() || self.principal == (Principal::ApiKey { scope: ApiKeyScope::Admin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(principal: Principal) -> Actor {
        Actor { tenant_id: Uuid::now_v7(), id: Uuid::now_v7(), label: "x".into(), principal }
    }

    #[test]
    fn rights_by_principal() {
        let applicant = actor(Principal::Account { role: Role::Applicant });
        let reviewer = actor(Principal::Account { role: Role::Reviewer });
        let admin = actor(Principal::Account { role: Role::Admin });
        let full = actor(Principal::ApiKey { scope: ApiKeyScope::Full });
        let read_only = actor(Principal::ApiKey { scope: ApiKeyScope::ReadOnly });

        assert_eq!(applicant.owner_scope(), Some(applicant.id));
        for everyone in [&reviewer, &admin, &full, &read_only] {
            assert_eq!(everyone.owner_scope(), None);
        }
        let editors: Vec<bool> =
            [&applicant, &reviewer, &admin, &full, &read_only].map(|a| a.may_edit_filings()).into();
        assert_eq!(editors, vec![true, false, false, true, false]);
        let admins: Vec<bool> = [&applicant, &reviewer, &admin, &full, &read_only].map(|a| a.is_admin()).into();
        assert_eq!(admins, vec![false, false, true, false, false]);
        assert_eq!(full.kind(), ActorKind::ApiKey);
        assert_eq!(admin.kind().as_str(), "ACCOUNT");
    }
}
