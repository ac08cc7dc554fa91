//! Responsible persons: certificates, phones, and contacts that different people may not share.

use super::Context;
use crate::domain::forms::{CreateFilingInput, PersonInput};
use crate::domain::identifiers::{EmergencyPhone, Mobile};
use crate::domain::{FieldError, FieldErrorCode};

/// Checks one responsible person at `path`.
pub(super) fn check(person: &PersonInput, path: &str, context: &Context<'_>, out: &mut Vec<FieldError>) {
    if !person.certificate_type.is_personal() {
        out.push(
            FieldError::new(format!("{path}.certificateType"), FieldErrorCode::CertificateTypeNotAllowed).with_message(
                "A responsible person is identified by a personal document (ID card, passport, permit).",
                "负责人须使用个人证件（身份证、护照、通行证等）。",
            ),
        );
    } else if !person.certificate_number.is_empty()
        && let Err(e) = super::subject::parse_certificate(person.certificate_type, &person.certificate_number, context)
    {
        out.push(e.at(format!("{path}.certificateNumber")));
    }
    if !person.mobile.is_empty() {
        if let Err(e) = Mobile::parse(&person.mobile) {
            out.push(
                FieldError::new(format!("{path}.mobile"), FieldErrorCode::InvalidMobile)
                    .suggest(format!("The number {e}."), format!("号码{}。", e.message_zh())),
            );
        } else if context.mobiles_of_other_subjects.contains(&normalized_mobile(&person.mobile)) {
            out.push(
                FieldError::new(format!("{path}.mobile"), FieldErrorCode::MobileTaken)
                    .suggest("Use the responsible person's own mobile number.", "请使用负责人本人的手机号码。"),
            );
        }
    }
    if let Some(phone) = person.emergency_phone.as_deref().filter(|p| !p.is_empty())
        && EmergencyPhone::parse(phone).is_err()
    {
        out.push(FieldError::new(format!("{path}.emergencyPhone"), FieldErrorCode::InvalidPhone));
    }
}

/// The mobile as stored for comparisons: digits only.
pub(crate) fn normalized_mobile(mobile: &str) -> String {
    Mobile::parse(mobile).map(|m| m.as_str().to_owned()).unwrap_or_else(|_| mobile.trim().to_owned())
}

/// Different people (by certificate) may not share a mobile number or an email address.
pub(super) fn check_contacts(form: &CreateFilingInput, _context: &Context<'_>, out: &mut Vec<FieldError>) {
    let mut people: Vec<(String, &PersonInput)> =
        vec![("subject.responsiblePerson".to_owned(), &form.subject.responsible_person)];
    for (i, website) in form.websites.iter().enumerate() {
        people.push((format!("websites[{i}].responsiblePerson"), &website.responsible_person));
    }
    let same_person =
        |a: &PersonInput, b: &PersonInput| a.certificate_number.eq_ignore_ascii_case(&b.certificate_number);
    for (j, (path, person)) in people.iter().enumerate() {
        let earlier = &people[..j];
        let mobile = normalized_mobile(&person.mobile);
        if let Some((other, _)) = earlier
            .iter()
            .find(|(_, o)| !same_person(o, person) && !mobile.is_empty() && normalized_mobile(&o.mobile) == mobile)
        {
            out.push(FieldError::new(format!("{path}.mobile"), FieldErrorCode::SharedContact).suggest(
                format!("{other} is another person with the same mobile number: each gives their own."),
                "不同负责人须分别填写本人的手机号码。",
            ));
        }
        let email = person.email.to_lowercase();
        if let Some((other, _)) = earlier
            .iter()
            .find(|(_, o)| !same_person(o, person) && !email.is_empty() && o.email.to_lowercase() == email)
        {
            out.push(FieldError::new(format!("{path}.email"), FieldErrorCode::SharedContact).suggest(
                format!("{other} is another person with the same email address: each gives their own."),
                "不同负责人须分别填写本人的电子邮箱。",
            ));
        }
    }
}
