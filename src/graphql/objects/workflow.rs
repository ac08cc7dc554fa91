//! The review workflow's objects: a return's reasons and the MIIT SMS checks.

use async_graphql::{Context, ID, Object, SimpleObject};

use crate::domain::masking::mask_phone;
use crate::graphql::context::personal;
use crate::graphql::ids::{self, Kind};
use crate::services::workflow::ReturnReason;

/// One reason a filing was returned.
#[derive(SimpleObject)]
pub struct ReturnReasonObject {
    /// The field or material concerned.
    pub field: String,
    /// A machine code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub suggestion: Option<String>,
}

impl From<ReturnReason> for ReturnReasonObject {
    fn from(r: ReturnReason) -> Self {
        Self { field: r.field, code: r.code, message: r.message, suggestion: r.suggestion }
    }
}

/// A responsible person's MIIT SMS check (工信部短信核验) in the current round.
pub struct SmsCheck(pub entity::sms_check::Model);

/// A responsible person's MIIT SMS check in the current round.
#[Object]
impl SmsCheck {
    /// The check's opaque global ID (for recordSmsVerification).
    pub async fn id(&self) -> ID {
        ids::encode(Kind::SmsCheck, self.0.id)
    }

    /// The website whose responsible person this is; null for the subject's.
    async fn website_id(&self) -> Option<ID> {
        self.0.website_id.map(|id| ids::encode(Kind::Website, id))
    }

    /// The person.
    async fn person_name(&self) -> &str {
        &self.0.person_name
    }

    /// The mobile MIIT texts; masked without the READ_PERSONAL_DATA permission.
    async fn mobile(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.mobile, mask_phone)
    }

    /// Where the check stands.
    async fn status(&self) -> crate::graphql::enums::SmsCheckStatus {
        self.0.status.into()
    }

    /// Failed confirmations so far (five end the round).
    async fn failures(&self) -> i32 {
        self.0.failures
    }
}
