//! Pure ICP domain rules: enumerations, reference data, masking. No I/O, no database, no GraphQL.

pub mod domain_name;
pub mod enums;
pub mod errors;
pub mod masking;
pub mod province;

pub use enums::*;
pub use errors::{FieldError, FieldErrorCode};
pub use province::Province;
