//! Email: the stages people hear about, their bilingual templates (built in, overridable per registrar), the
//! transports (SMTP through lettre, or .eml files for the embedded default) and the dispatcher that delivers the
//! transactional outbox at least once: every message goes out, with the same Message-ID on every attempt, and is
//! sent a second time only if its dispatcher died (or its grace period ran out) between the relay taking it and the
//! SENT record; at most the messages then in hand (see [`dispatcher`]).
//!
//! Mail sits below the services: it reads the outbox and tenant rows itself, and what only the services know (a
//! registrar's own templates and branding) is handed to the dispatcher when it is built ([`TenantTemplates`]).

pub mod dispatcher;
pub mod outbox;
pub mod templates;
pub mod transport;

pub use templates::TenantTemplates;

/// Why the dispatcher could not do its work (a message that cannot be sent is not an error: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the database failed: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// `mail.from` does not parse as a mailbox.
    #[error("mail.from is not a mailbox: {0}")]
    Sender(String),
}

/// Every message the server sends.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// Confirm the address of a new applicant account.
    EmailVerification,
    /// Someone tried to register with an address that already has an account.
    AccountExists,
    /// A link to choose a new password.
    PasswordReset,
    /// A registrar's staff member is invited to set up their account.
    StaffInvitation,
    /// The password of the account was changed.
    PasswordChanged,
    /// The filing was submitted for the preliminary review (初审).
    SubmissionReceived,
    /// A reviewer started the preliminary review.
    ReviewStarted,
    /// The preliminary review returned the filing, with reasons.
    PreliminaryRejected,
    /// The preliminary review passed: the MIIT SMS check starts (`workflow.sms_window_hours`, 24 by default).
    PreliminaryApproved,
    /// A new MIIT SMS round started (a resubmission to MIIT, or a cancellation order).
    SmsCheckStarted,
    /// The SMS deadline is near and someone has not confirmed.
    SmsReminder,
    /// The SMS check timed out or failed: back with the registrar.
    SmsFailed,
    /// The registrar returned the filing after a failed SMS check, with reasons.
    ReturnedToApplicant,
    /// Every person confirmed: the filing is with the provincial bureau.
    SentToBureau,
    /// The bureau approved: the ICP numbers.
    BureauApproved,
    /// The bureau refused, with reasons.
    BureauRejected,
    /// The applicant withdrew the filing (back to a draft).
    Withdrawn,
    /// The filing was abandoned.
    Abandoned,
    /// A webhook endpoint kept failing and was disabled (to the registrar's administrators).
    WebhookDisabled,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the message is about a filing (a workflow notification) rather than an account.
    pub fn is_filing_stage(self) -> bool {
        !matches!(
            self,
            Self::EmailVerification
                | Self::AccountExists
                | Self::PasswordReset
                | Self::StaffInvitation
                | Self::PasswordChanged
                | Self::WebhookDisabled
        )
    }
}

/// The language of a message; a recipient without a known preference gets both.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum MailLanguage {
    /// Simplified Chinese.
    Zh,
    /// English.
    En,
}

impl MailLanguage {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
