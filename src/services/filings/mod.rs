//! Filing drafts, by use case: create a draft (`create`), edit its subject and websites (`edit`), read and list
//! (`read`). `rows` seals a form into rows; `changes` compares two forms for the audit trail.

mod changes;
mod create;
mod edit;
mod feed;
mod read;
mod rows;

pub(crate) use changes::form_changes;
pub(crate) use create::{NewDraft, insert_draft};
pub use create::{NewOrder, create_filing};
pub use edit::{add_website, remove_website, update_subject, update_website};
pub use feed::{FeedFilter, FeedPosition, filing_events};
pub(crate) use read::group_by_filing;
pub use read::{
    FilingFilter, count_filings, events_by_filing, filings_by_id, get_event, get_website, list_filings,
    subjects_by_filing, websites_by_filing,
};
pub(crate) use rows::{subject_row, website_row};
