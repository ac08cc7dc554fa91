//! Turns `validator` results into [`FieldError`]s with stable codes and camelCase paths.

use std::borrow::Cow;

use validator::{ValidationErrors, ValidationErrorsKind};

use crate::domain::text::{SingleLine, check_multi_line};
use crate::domain::{FieldError, FieldErrorCode};

/// Every error of `errors`, with paths below `prefix` (`""` for the input root).
pub fn flatten(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    let mut fields: Vec<(&Cow<'static, str>, &ValidationErrorsKind)> = errors.errors().iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    for (name, kind) in fields {
        let path = join(prefix, &camel_case(name));
        match kind {
            ValidationErrorsKind::Field(list) => {
                // One error per field is enough for a form: the first, in declaration order.
                if let Some(error) = list.first() {
                    out.push(FieldError::new(path, code_of(error)));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

/// A one-line text field ([`SingleLine`]): trimmed; `REQUIRED` when empty, `TOO_LONG` past `max_chars`
/// characters, `CONTROL_CHARACTER` with a line break or control character. What is returned is stored.
pub fn one_line(value: &str, field: &str, max_chars: usize, errors: &mut Vec<FieldError>) -> String {
    match SingleLine::parse(value) {
        Err(code) => {
            errors.push(FieldError::new(field, code));
            value.trim().to_owned()
        }
        Ok(text) if text.is_empty() => {
            errors.push(FieldError::new(field, FieldErrorCode::Required));
            String::new()
        }
        Ok(text) => {
            if text.chars() > max_chars {
                errors.push(FieldError::new(field, FieldErrorCode::TooLong));
            }
            text.into_string()
        }
    }
}

/// A longer text field (line breaks allowed): trimmed; `REQUIRED` when empty, `TOO_LONG`, `CONTROL_CHARACTER`.
pub fn multi_line(value: &str, field: &str, max_chars: usize, errors: &mut Vec<FieldError>) -> String {
    let text = value.trim();
    if let Err(code) = check_multi_line(text) {
        errors.push(FieldError::new(field, code));
    } else if text.is_empty() {
        errors.push(FieldError::new(field, FieldErrorCode::Required));
    } else if text.chars().count() > max_chars {
        errors.push(FieldError::new(field, FieldErrorCode::TooLong));
    }
    text.to_owned()
}

pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

fn code_of(error: &validator::ValidationError) -> FieldErrorCode {
    match error.code.as_ref() {
        "email" => FieldErrorCode::InvalidEmail,
        "url" => FieldErrorCode::InvalidUrl,
        crate::domain::text::CONTROL_CHARACTER => FieldErrorCode::ControlCharacter,
        "length" => {
            let number = |key: &str| error.params.get(key).and_then(serde_json::Value::as_u64);
            let (len, is_list) = match error.params.get("value") {
                Some(serde_json::Value::String(s)) => (s.chars().count() as u64, false),
                Some(serde_json::Value::Array(a)) => (a.len() as u64, true),
                _ => (0, false),
            };
            match (number("min"), number("max")) {
                (Some(min), _) if len < min && min <= 1 => FieldErrorCode::Required,
                (Some(min), _) if len < min => FieldErrorCode::TooShort,
                _ if is_list => FieldErrorCode::TooMany,
                _ => FieldErrorCode::TooLong,
            }
        }
        _ => FieldErrorCode::InvalidFormat,
    }
}

fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator::Validate;

    #[derive(Validate)]
    struct Inner {
        #[validate(email)]
        contact_email: String,
    }

    #[derive(Validate)]
    struct Outer {
        #[validate(length(min = 1, max = 5))]
        short_name: String,
        #[validate(length(min = 1, max = 2))]
        tags: Vec<String>,
        #[validate(nested)]
        people: Vec<Inner>,
    }

    #[test]
    fn errors_get_stable_codes_and_camel_case_paths() {
        let input = Outer {
            short_name: "toolong".into(),
            tags: vec![],
            people: vec![Inner { contact_email: "a@b.cn".into() }, Inner { contact_email: "nope".into() }],
        };
        let mut out = Vec::new();
        flatten("input", &input.validate().unwrap_err(), &mut out);
        let got: Vec<(String, FieldErrorCode)> = out.into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            got,
            vec![
                ("input.people[1].contactEmail".to_owned(), FieldErrorCode::InvalidEmail),
                ("input.shortName".to_owned(), FieldErrorCode::TooLong),
                ("input.tags".to_owned(), FieldErrorCode::Required),
            ]
        );
    }
}
