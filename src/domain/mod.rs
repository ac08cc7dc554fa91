//! Pure ICP domain rules: enumerations, reference data, masking. No I/O, no database, no GraphQL.

pub mod calendar;
pub mod domain_name;
pub mod enums;
pub mod errors;
pub mod forms;
pub mod identifiers;
pub mod masking;
pub mod materials;
pub mod orders;
pub mod province;
pub mod reference;
pub mod rules;
pub mod text;
pub mod workflow;

pub use enums::*;
pub use errors::{FieldError, FieldErrorCode, Severity};
pub use materials::MaterialRules;
pub use province::Province;
