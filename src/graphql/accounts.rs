//! Accounts, sessions, API keys and tenant settings over GraphQL.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{actor, client_ip, deps, settings};
use super::enums;
use super::error::gql;
use super::ids::{self, Kind};
use super::objects::account::{Account, ApiKey};
use super::paging::{PageInfo, page_size};
use crate::auth::Principal;
use crate::services::Page;
use crate::services::accounts::{self as svc, AccountFilter};
use crate::services::api_keys;
use crate::services::tenants::{self, SettingsChange, TenantSettings as SettingsModel};

pub struct Session(pub svc::Session);

/// A signed-in session. Send the access token as `Authorization: Bearer <accessToken>`; before it expires,
/// exchange the refresh token for a new session with `refreshSession` (each refresh token works once).
#[Object]
impl Session {
    /// Short-lived signed token for the Authorization header.
    async fn access_token(&self) -> &str {
        &self.0.access_token
    }

    /// When the access token stops working.
    async fn access_token_expires_at(&self) -> DateTime<Utc> {
        self.0.access_token_expires_at
    }

    /// Single-use token to get a new session; keep it out of reach of scripts (e.g. an HttpOnly cookie).
    async fn refresh_token(&self) -> &str {
        &self.0.refresh_token
    }

    /// When the refresh token stops working.
    async fn refresh_token_expires_at(&self) -> DateTime<Utc> {
        self.0.refresh_token_expires_at
    }

    /// The signed-in account.
    async fn account(&self) -> Account {
        Account(self.0.account.clone())
    }
}

/// A new API key with its secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// The key.
    pub api_key: ApiKey,
    /// The secret to send as `Authorization: Bearer <secret>`. Store it now: it is not shown again.
    pub secret: String,
}

/// The registrar and what its administrators configure.
#[derive(SimpleObject)]
pub struct TenantSettings {
    /// Short unique name, used at sign-in.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Whether applicants may register themselves.
    pub open_signup: bool,
    /// Where the registrar's frontend lives; links in emails point there (`<url>/filings/<filing uuid>`, and the
    /// account links `verify-email`, `reset-password`, `setup-account` with `?token=`).
    pub frontend_base_url: Option<String>,
    /// The sender name of the registrar's mail; null: the registrar's name.
    pub mail_sender_name: Option<String>,
    /// The sender address of the registrar's mail; null: the server's configured sender.
    pub mail_sender_address: Option<String>,
    /// Where replies go.
    pub mail_reply_to: Option<String>,
    /// Closing lines of every message; null: the registrar's name.
    pub mail_signature: Option<String>,
    /// How applicants reach support (phone, hours), added to every message.
    pub support_contact: Option<String>,
    /// Whether every responsible person confirms their mobile number (a mobile hand-off's phone check) before a
    /// filing can be submitted (`submitFiling` answers PHONE_UNVERIFIED per person otherwise). On by default.
    pub require_phone_verification: bool,
    /// The accent colour of the phone page beian hosts (`/mobile`), `#rrggbb`; null: beian's.
    pub brand_color: Option<String>,
    /// The registrar's logo on the phone page: a `data:image/png|jpeg|webp;base64,` URL; null: the name only.
    pub brand_logo: Option<String>,
    /// What a responsible person reads and accepts before the phone steps (plain text); null: beian's wording.
    pub mobile_consent_text: Option<String>,
    /// The page a hand-off's QR code opens, for a registrar that replaces beian's phone page with its own (the
    /// token follows as `#token=...`); null: beian's own page (`mobile.public_base_url`, `/mobile` of this server).
    pub mobile_page_url: Option<String>,
}

impl From<SettingsModel> for TenantSettings {
    fn from(s: SettingsModel) -> Self {
        Self {
            slug: s.slug,
            name: s.name,
            open_signup: s.open_signup,
            frontend_base_url: s.frontend_base_url,
            mail_sender_name: s.mail_sender_name,
            mail_sender_address: s.mail_sender_address,
            mail_reply_to: s.mail_reply_to,
            mail_signature: s.mail_signature,
            support_contact: s.support_contact,
            require_phone_verification: s.require_phone_verification,
            brand_color: s.brand_color,
            brand_logo: s.brand_logo,
            mobile_consent_text: s.mobile_consent_text,
            mobile_page_url: s.mobile_page_url,
        }
    }
}

/// The caller and what it may do.
#[derive(SimpleObject)]
pub struct Me {
    /// Person or backend.
    pub kind: enums::ActorKind,
    /// The account's display name, or the API key's name.
    pub name: String,
    /// The account's role (people only).
    pub role: Option<enums::Role>,
    /// The key's scope (backends only).
    pub api_key_scope: Option<enums::ApiKeyScope>,
    /// The account (people only).
    pub account: Option<Account>,
    /// The registrar.
    pub tenant: TenantSettings,
    /// Everything the caller may do.
    pub permissions: Vec<enums::Permission>,
}

/// A page of accounts (Relay cursor connection).
#[derive(SimpleObject)]
pub struct AccountConnection {
    /// The accounts of this page with their cursors.
    pub edges: Vec<AccountEdge>,
    /// Where this page stands.
    pub page_info: PageInfo,
}

/// An account and its cursor.
#[derive(SimpleObject)]
pub struct AccountEdge {
    /// Pass as `after` to continue after this account.
    pub cursor: String,
    /// The account.
    pub node: Account,
}

/// Filters of the account list.
#[derive(InputObject, Default)]
pub struct AccountFilterInput {
    /// Any of these roles.
    pub role: Option<Vec<enums::Role>>,
    /// Any of these statuses.
    pub status: Option<Vec<enums::AccountStatus>>,
    /// Part of the email address.
    pub email_contains: Option<String>,
}

/// Register as an applicant.
#[derive(InputObject)]
pub struct RegisterApplicantInput {
    /// The registrar's slug.
    pub tenant: String,
    /// Email address: the sign-in name, where the verification link goes.
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    /// Name shown to the registrar's reviewers.
    pub display_name: String,
    /// The language of your mail; both languages without it.
    pub preferred_language: Option<enums::PreferredLanguage>,
}

/// Sign in.
#[derive(InputObject)]
pub struct LoginInput {
    /// The registrar's slug.
    pub tenant: String,
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Invite a member of staff.
#[derive(InputObject)]
pub struct InviteStaffInput {
    /// Where the invitation goes.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
    /// REVIEWER or ADMIN.
    pub role: enums::Role,
}

/// Change the registrar's settings; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateTenantSettingsInput {
    /// Display name.
    pub name: Option<String>,
    /// Whether applicants may register themselves.
    pub open_signup: Option<bool>,
    /// Where the registrar's frontend lives (http or https, no `#fragment`); null clears it.
    pub frontend_base_url: async_graphql::MaybeUndefined<String>,
    /// The sender name of the registrar's mail; null clears it.
    pub mail_sender_name: async_graphql::MaybeUndefined<String>,
    /// The sender address (its domain should let the mail relay send for it: SPF, DKIM); null clears it.
    pub mail_sender_address: async_graphql::MaybeUndefined<String>,
    /// Where replies go; null clears it.
    pub mail_reply_to: async_graphql::MaybeUndefined<String>,
    /// Closing lines of every message; null clears them.
    pub mail_signature: async_graphql::MaybeUndefined<String>,
    /// How applicants reach support; null clears it.
    pub support_contact: async_graphql::MaybeUndefined<String>,
    /// Whether every responsible person confirms their mobile number before a filing can be submitted.
    pub require_phone_verification: Option<bool>,
    /// The phone page's accent colour, `#rrggbb`; null clears it.
    pub brand_color: async_graphql::MaybeUndefined<String>,
    /// The phone page's logo: a `data:image/png|jpeg|webp;base64,` URL of at most 64 KiB; null clears it.
    pub brand_logo: async_graphql::MaybeUndefined<String>,
    /// What a responsible person accepts before the phone steps (plain text, at most 2000 characters); null
    /// clears it.
    pub mobile_consent_text: async_graphql::MaybeUndefined<String>,
    /// The registrar's own phone page (http or https, no `#fragment`), opened by hand-offs' QR codes instead of
    /// beian's; null: beian's page again.
    pub mobile_page_url: async_graphql::MaybeUndefined<String>,
}

/// Change your own profile.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    /// Name shown to others.
    pub display_name: Option<String>,
    /// The language of your mail; null: both languages.
    pub preferred_language: async_graphql::MaybeUndefined<enums::PreferredLanguage>,
}

fn maybe<T>(value: async_graphql::MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// Registration is always answered the same way, whether or not the address has an account already.
#[derive(SimpleObject)]
pub struct RegistrationPayload {
    /// What happens next, for the applicant.
    pub message: String,
}

fn decode_account(id: &ID, field: &str) -> Result<uuid::Uuid> {
    ids::decode(id, Kind::Account, field).map_err(gql)
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The caller: who it is and what it may do.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let actor = actor(ctx)?;
        let deps = deps(ctx);
        let account = svc::me(deps, actor).await.map_err(gql)?;
        let tenant = tenants::settings(deps, actor).await.map_err(gql)?;
        let (role, scope) = match actor.principal {
            Principal::Account { role } => (Some(role.into()), None),
            Principal::ApiKey { scope } => (None, Some(scope.into())),
            Principal::System => (None, None),
        };
        Ok(Me {
            kind: actor.kind().into(),
            name: actor.label.clone(),
            role,
            api_key_scope: scope,
            account: account.map(Account),
            tenant: tenant.into(),
            permissions: actor.permissions().into_iter().map(Into::into).collect(),
        })
    }

    /// An account of the registrar (administrators; everyone may read their own).
    async fn account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's global ID.")] id: ID,
    ) -> Result<Account> {
        let actor = actor(ctx)?;
        let id = decode_account(&id, "id")?;
        Ok(Account(svc::get_account(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// The registrar's accounts, newest first (administrators).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Filters; every given filter must match.")] filter: Option<AccountFilterInput>,
    ) -> Result<AccountConnection> {
        let actor = actor(ctx)?;
        let first = page_size(settings(ctx), first)?;
        let after = after.as_deref().map(ids::decode_cursor).transpose().map_err(gql)?;
        let filter = filter.unwrap_or_default();
        let filter = AccountFilter {
            roles: filter.role.map(|r| r.into_iter().map(Into::into).collect()),
            statuses: filter.status.map(|s| s.into_iter().map(Into::into).collect()),
            email_contains: filter.email_contains,
        };
        let page: Page<svc::Account> =
            svc::list_accounts(deps(ctx), actor, &filter, u64::from(first), after).await.map_err(gql)?;
        Ok(AccountConnection {
            page_info: PageInfo::forward(
                page.has_next_page,
                &page.items.iter().map(|a| ids::encode_cursor(a.id)).collect::<Vec<_>>(),
            ),
            edges: page
                .items
                .into_iter()
                .map(|a| AccountEdge { cursor: ids::encode_cursor(a.id), node: Account(a) })
                .collect(),
        })
    }

    /// The registrar's API keys, newest first (administrators).
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let actor = actor(ctx)?;
        Ok(api_keys::list_api_keys(deps(ctx), actor).await.map_err(gql)?.into_iter().map(ApiKey).collect())
    }

    /// The registrar's settings.
    async fn tenant_settings(&self, ctx: &Context<'_>) -> Result<TenantSettings> {
        let actor = actor(ctx)?;
        Ok(tenants::settings(deps(ctx), actor).await.map_err(gql)?.into())
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Registers an applicant at a registrar that accepts sign-ups. The answer is the same whether or not the
    /// address has an account: a verification link (or, for a known address, a note) goes to the address.
    /// RATE_LIMITED past `auth.emails_per_address_per_hour` for the address or the client's hourly limit.
    async fn register_applicant(
        &self,
        ctx: &Context<'_>,
        input: RegisterApplicantInput,
    ) -> Result<RegistrationPayload> {
        let language = input.preferred_language.map(Into::into);
        let form = svc::Registration {
            tenant_slug: &input.tenant,
            email: &input.email,
            password: &input.password,
            display_name: &input.display_name,
            language,
        };
        svc::register_applicant(deps(ctx), &form, client_ip(ctx)).await.map_err(gql)?;
        Ok(RegistrationPayload {
            message:
                "Check your inbox: follow the link we sent to confirm your address. 请查收邮件，点击链接完成验证。"
                    .to_owned(),
        })
    }

    /// Confirms an applicant's address with the emailed token and signs in.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The emailed token.")] token: String,
    ) -> Result<Session> {
        Ok(Session(svc::verify_email(deps(ctx), &token).await.map_err(gql)?))
    }

    /// Signs in. Wrong addresses and wrong passwords get the same answer; too many attempts are RATE_LIMITED.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<Session> {
        let session = svc::login(deps(ctx), &input.tenant, &input.email, &input.password, client_ip(ctx)).await;
        Ok(Session(session.map_err(gql)?))
    }

    /// Exchanges a refresh token for a new session. Each refresh token works once; presenting a spent one ends
    /// every session descending from the same sign-in.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the current session.")] refresh_token: String,
    ) -> Result<Session> {
        Ok(Session(svc::refresh_session(deps(ctx), &refresh_token).await.map_err(gql)?))
    }

    /// Ends a session. Always true, also for unknown tokens.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the session to end.")] refresh_token: String,
    ) -> Result<bool> {
        svc::logout(deps(ctx), &refresh_token).await.map_err(gql)?;
        Ok(true)
    }

    /// Changes the caller's password. Every other session ends; the new session replaces the current one.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The password in use now.")] current_password: String,
        #[graphql(desc = "At least 10 characters.")] new_password: String,
    ) -> Result<Session> {
        let actor = actor(ctx)?;
        let session = svc::change_password(deps(ctx), actor, &current_password, &new_password).await;
        Ok(Session(session.map_err(gql)?))
    }

    /// Sends a password reset link if the address has an account. Always true: the answer says nothing about
    /// which addresses have accounts. RATE_LIMITED past the hourly limits, counted for every address alike.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The registrar's slug.")] tenant: String,
        #[graphql(desc = "The account's email address.")] email: String,
    ) -> Result<bool> {
        svc::request_password_reset(deps(ctx), &tenant, &email, client_ip(ctx)).await.map_err(gql)?;
        Ok(true)
    }

    /// Sets a new password with the emailed reset token (single use). Every session of the account ends.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The emailed token.")] token: String,
        #[graphql(desc = "At least 10 characters.")] new_password: String,
    ) -> Result<bool> {
        svc::reset_password(deps(ctx), &token, &new_password).await.map_err(gql)?;
        Ok(true)
    }

    /// Sets the password of an invited account with the emailed token, and signs in.
    async fn complete_account_setup(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The emailed (or printed) setup token.")] token: String,
        #[graphql(desc = "At least 10 characters.")] password: String,
    ) -> Result<Session> {
        Ok(Session(svc::complete_account_setup(deps(ctx), &token, &password).await.map_err(gql)?))
    }

    /// Invites a member of staff (administrators): an account setup link goes to the address.
    async fn invite_staff(&self, ctx: &Context<'_>, input: InviteStaffInput) -> Result<Account> {
        let actor = actor(ctx)?;
        let account = svc::invite_staff(deps(ctx), actor, &input.email, &input.display_name, input.role.into()).await;
        Ok(Account(account.map_err(gql)?))
    }

    /// Changes an account's role (administrators). The last active administrator keeps the role.
    async fn update_account_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] account_id: ID,
        #[graphql(desc = "The new role.")] role: enums::Role,
    ) -> Result<Account> {
        let actor = actor(ctx)?;
        let id = decode_account(&account_id, "accountId")?;
        Ok(Account(svc::update_account_role(deps(ctx), actor, id, role.into()).await.map_err(gql)?))
    }

    /// Disables an account (administrators): it cannot sign in, and its sessions end now.
    async fn disable_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] account_id: ID,
    ) -> Result<Account> {
        let actor = actor(ctx)?;
        let id = decode_account(&account_id, "accountId")?;
        Ok(Account(svc::disable_account(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// Enables a disabled account again (administrators).
    async fn enable_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] account_id: ID,
    ) -> Result<Account> {
        let actor = actor(ctx)?;
        let id = decode_account(&account_id, "accountId")?;
        Ok(Account(svc::enable_account(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// Creates an API key for the registrar's backend (administrators). The secret is shown once.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A name to recognise the key by.")] name: String,
        #[graphql(desc = "What the key may do.")] scope: enums::ApiKeyScope,
    ) -> Result<CreatedApiKey> {
        let actor = actor(ctx)?;
        let (key, secret) = api_keys::create_api_key(deps(ctx), actor, &name, scope.into()).await.map_err(gql)?;
        Ok(CreatedApiKey { api_key: ApiKey(key), secret })
    }

    /// Revokes an API key (administrators): it is refused from the next request on.
    async fn revoke_api_key(&self, ctx: &Context<'_>, #[graphql(desc = "The key.")] id: ID) -> Result<ApiKey> {
        let actor = actor(ctx)?;
        let id = ids::decode(&id, Kind::ApiKey, "id").map_err(gql)?;
        Ok(ApiKey(api_keys::revoke_api_key(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// Changes the registrar's settings (administrators).
    async fn update_tenant_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateTenantSettingsInput,
    ) -> Result<TenantSettings> {
        let actor = actor(ctx)?;
        let change = SettingsChange {
            name: input.name,
            open_signup: input.open_signup,
            frontend_base_url: maybe(input.frontend_base_url),
            mail_sender_name: maybe(input.mail_sender_name),
            mail_sender_address: maybe(input.mail_sender_address),
            mail_reply_to: maybe(input.mail_reply_to),
            mail_signature: maybe(input.mail_signature),
            support_contact: maybe(input.support_contact),
            require_phone_verification: input.require_phone_verification,
            brand_color: maybe(input.brand_color),
            brand_logo: maybe(input.brand_logo),
            mobile_consent_text: maybe(input.mobile_consent_text),
            mobile_page_url: maybe(input.mobile_page_url),
        };
        Ok(tenants::update_settings(deps(ctx), actor, change).await.map_err(gql)?.into())
    }

    /// Changes the caller's own display name or mail language.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<Account> {
        let actor = actor(ctx)?;
        let language = maybe(input.preferred_language).map(|l| l.map(Into::into));
        Ok(Account(svc::update_profile(deps(ctx), actor, input.display_name, language).await.map_err(gql)?))
    }
}
