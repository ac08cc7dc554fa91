//! Who is calling: API keys, and the [`Actor`] every service call is scoped by.

pub mod api_key;

use uuid::Uuid;

/// The authenticated caller of a service. Every service function takes one and touches only its tenant's rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: Uuid,
    pub kind: ActorKind,
    /// The id of the API key (later: the account) that acted.
    pub id: Uuid,
    /// A name fit for an audit trail: the API key's name.
    pub label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ActorKind {
    /// A registrar backend calling with one of the tenant's API keys.
    ApiKey,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
