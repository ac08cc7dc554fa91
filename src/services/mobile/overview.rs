//! What the phone page shows around the steps: whose registrar and filing this is, and which of the person's own
//! materials are still to come from the phone.

use uuid::Uuid;

use super::handoff::session;
use super::{MobileCaller, acting_for};
use crate::domain::MaterialKind;
use crate::services::attachments::{ChecklistItem, checklist};
use crate::services::{Deps, ServiceError};

/// The registrar as its phone page shows it.
#[derive(Clone, Debug)]
pub struct Branding {
    pub name: String,
    /// `#rrggbb`; none: beian's.
    pub color: Option<String>,
    /// An image data URL; none: the name alone.
    pub logo: Option<String>,
    pub support_contact: Option<String>,
    /// What the person accepts before the steps; none: beian's wording.
    pub consent_text: Option<String>,
}

/// Whose steps a hand-off is: the registrar, the filing's subject, the website (a website's responsible person),
/// and the person's own materials with where each stands.
#[derive(Clone, Debug)]
pub struct Overview {
    pub registrar: Branding,
    pub subject_name: String,
    /// The website and its name, for a website's responsible person.
    pub website: Option<(Uuid, String)>,
    /// The materials the filing needs that this person uploads from the phone, in the checklist's order.
    pub materials: Vec<ChecklistItem>,
}

/// The materials a person does on the phone: their own ID card (and, for a website's person, the face video); the
/// subject's person also the subject's certificate, the signed verification sheet and the commitment letter.
pub fn is_persons(item: &ChecklistItem, website: Option<Uuid>) -> bool {
    use MaterialKind as K;
    match item.kind {
        K::IdCardFront | K::IdCardBack => item.website_id == website,
        K::FaceVideo => website.is_some() && item.website_id == website,
        K::SubjectCertificate | K::VerificationSheet | K::CommitmentLetter => website.is_none(),
        _ => false,
    }
}

/// The page's frame for the calling phone.
pub async fn overview(deps: &Deps, caller: &MobileCaller) -> Result<Overview, ServiceError> {
    let db = &deps.db;
    let current = session(deps, caller).await?;
    let actor = acting_for(db, caller, &current).await?;
    let tenant = crate::services::tenants::tenant_by_id(db, caller.tenant_id).await?;
    let stored = crate::services::access::stored_filing(db, &deps.keys, &actor, caller.filing_id).await?;
    // (Not found when the website left the filing since the link was made.)
    let website = match caller.website_id {
        None => None,
        Some(id) => {
            let index = stored.websites.iter().position(|w| w.id == id).ok_or(ServiceError::NotFound)?;
            Some((id, stored.form.websites[index].name.clone()))
        }
    };
    let materials = checklist(deps, &actor, caller.filing_id)
        .await?
        .into_iter()
        .filter(|i| is_persons(i, caller.website_id))
        .collect();
    Ok(Overview {
        registrar: Branding {
            name: tenant.name,
            color: tenant.brand_color,
            logo: tenant.brand_logo,
            support_contact: tenant.support_contact,
            consent_text: tenant.mobile_consent_text,
        },
        subject_name: stored.form.subject.name.clone(),
        website,
        materials,
    })
}
