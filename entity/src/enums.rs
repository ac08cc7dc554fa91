//! The closed sets stored in status-like columns, as sea-orm active enums: a column holds the variant's stable
//! SCREAMING_SNAKE_CASE name (`PENDING`, `NEEDS_REVISION`, ...), Rust code sees the enum, and a row holding a name
//! no variant has fails to load instead of being misread. The names are part of the API (GraphQL enums mirror
//! them) and of the database: add variants, never rename one.

use sea_orm::entity::prelude::*;
use sea_orm::sqlx::{
    self, Postgres,
    postgres::{PgTypeInfo, PgValueRef},
};

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, strum::IntoStaticStr,
            strum::EnumString, strum::Display, serde::Serialize, serde::Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
        #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The stable name this value is stored and exchanged as.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        // Decoding straight from PostgreSQL's row, for the service layer's positional decoder.
        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as sqlx::Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let name = <&str as sqlx::Decode<Postgres>>::decode(value)?;
                Ok(name.parse::<Self>().map_err(|_| format!("{} is not a {}", name, stringify!($name)))?)
            }
        }
    };
}

stored_enum! {
    /// Whether a registrar may use the server.
    TenantStatus {
        Active,
        Suspended,
    }
}

stored_enum! {
    /// The role of an account within its registrar.
    Role {
        /// Files for their own subject and websites; sees only their own filings.
        Applicant,
        /// Registrar staff doing the preliminary review (初审); sees every filing of the tenant.
        Reviewer,
        /// Registrar staff managing accounts, API keys and settings; sees every filing of the tenant.
        Admin,
    }
}

stored_enum! {
    /// Whether an account may sign in.
    AccountStatus {
        /// May sign in.
        Active,
        /// Registered, email address not yet confirmed.
        Pending,
        /// Invited staff who has not set a password yet.
        Invited,
        /// Switched off by an administrator.
        Disabled,
    }
}

stored_enum! {
    /// The kind of caller, as the audit trail records it.
    ActorKind {
        /// A registrar backend with an API key.
        ApiKey,
        /// A person with an account.
        Account,
        /// The server itself, acting on a deadline.
        System,
    }
}

stored_enum! {
    /// Where an attachment's file stands.
    AttachmentStatus {
        /// An upload URL was issued; the file is not checked yet.
        Pending,
        /// The file is stored and checked.
        Uploaded,
    }
}

stored_enum! {
    /// A reviewer's (or the face check's) verdict on a material.
    ReviewStatus {
        /// Accepted as it is.
        Accepted,
        /// A new file is needed (the review reason says why).
        NeedsRevision,
    }
}

stored_enum! {
    /// Where a responsible person's MIIT SMS check (工信部短信核验) stands in the current round.
    SmsCheckStatus {
        /// Texted, not answered yet.
        Pending,
        /// The person confirmed.
        Confirmed,
        /// Five failed confirmations ended the round.
        Failed,
    }
}

stored_enum! {
    /// Where a message of the outbox stands.
    OutboxStatus {
        /// Waiting for the dispatcher (or for its next attempt after a failure).
        Queued,
        /// Accepted by the mail relay (or written to the mail folder).
        Sent,
        /// Refused for good, or out of attempts.
        Failed,
        /// A phone code the embedded SMS sender recorded instead of sending.
        Recorded,
    }
}

stored_enum! {
    /// Where a phone code sent to a mobile number stands.
    PhoneCodeSendStatus {
        /// Counted against the number's limits, handed to the sender.
        Sending,
        /// The sender took it.
        Sent,
        /// The sender refused it (not counted against the limits).
        Failed,
    }
}

stored_enum! {
    /// Where a webhook delivery stands.
    DeliveryStatus {
        /// Not delivered yet: waiting for its turn or for its next attempt.
        Pending,
        /// The endpoint answered 2xx.
        Delivered,
        /// Given up after `webhooks.retry_for_hours` (an administrator can redeliver it).
        Failed,
    }
}
