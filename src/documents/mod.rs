//! Documents the server generates for people to print and sign: the verification sheet (网站备案信息真实性核验单) of a
//! filing. HTML for the browser's print dialog (A4 page styles, UTF-8, CJK serif fonts); everything filled in is
//! HTML-escaped.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// A responsible person on the sheet.
#[derive(Clone, Debug, Serialize)]
pub struct SheetPerson {
    pub name: String,
    pub certificate_type: String,
    pub certificate_number: String,
    pub mobile: String,
    pub emergency_phone: Option<String>,
    pub email: String,
}

/// The subject on the sheet.
#[derive(Clone, Debug, Serialize)]
pub struct SheetSubject {
    pub name: String,
    #[serde(rename = "type")]
    pub subject_type: String,
    pub certificate_type: String,
    pub certificate_number: String,
    pub certificate_address: Option<String>,
    pub province: String,
    pub district_code: String,
    pub mailing_address: String,
    pub investor: Option<String>,
    pub person: SheetPerson,
}

/// A website on the sheet.
#[derive(Clone, Debug, Serialize)]
pub struct SheetWebsite {
    pub name: String,
    pub domains: String,
    pub homepage_url: String,
    pub service_content: String,
    pub languages: String,
    pub pre_approvals: String,
    pub access_method: String,
    pub icp_number: Option<String>,
    pub person: SheetPerson,
}

/// Everything the sheet shows.
#[derive(Clone, Debug, Serialize)]
pub struct VerificationSheet {
    pub registrar: String,
    pub filing_type: String,
    pub reference: String,
    pub icp_number: Option<String>,
    pub subject: SheetSubject,
    pub websites: Vec<SheetWebsite>,
    /// When it was generated, as shown (China Standard Time).
    pub generated_at: String,
}

/// The printable HTML of a verification sheet.
pub fn verification_sheet_html(sheet: &VerificationSheet) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.render_str(
        include_str!("verification_sheet.html"),
        minijinja::value::Value::from(minijinja::value::Serde(sheet)),
    )
    .expect("the built-in verification sheet template renders")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str) -> SheetPerson {
        SheetPerson {
            name: name.into(),
            certificate_type: "居民身份证".into(),
            certificate_number: "11010519491231002X".into(),
            mobile: "13800138000".into(),
            emergency_phone: None,
            email: "zhangsan@example.com".into(),
        }
    }

    #[test]
    fn the_sheet_carries_the_filing_and_escapes_what_was_typed() {
        let sheet = VerificationSheet {
            registrar: "新网".into(),
            filing_type: "首次备案".into(),
            reference: "0190abc".into(),
            icp_number: None,
            subject: SheetSubject {
                name: "北京<示例>科技有限公司".into(),
                subject_type: "企业".into(),
                certificate_type: "营业执照".into(),
                certificate_number: "91110105MA01ABCD13".into(),
                certificate_address: None,
                province: "北京市".into(),
                district_code: "110105".into(),
                mailing_address: "北京市朝阳区示例路1号".into(),
                investor: None,
                person: person("张三"),
            },
            websites: vec![SheetWebsite {
                name: "示例科技官网".into(),
                domains: "example.com".into(),
                homepage_url: "https://www.example.com".into(),
                service_content: "企业门户".into(),
                languages: "中文简体".into(),
                pre_approvals: String::new(),
                access_method: "云主机".into(),
                icp_number: None,
                person: person("李四"),
            }],
            generated_at: "2026-11-28 18:00 (UTC+8)".into(),
        };
        let html = verification_sheet_html(&sheet);
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<h1>网站备案信息真实性核验单</h1>"));
        assert!(html.contains("北京&lt;示例&gt;科技有限公司"), "typed text is escaped");
        assert!(!html.contains("北京<示例>"));
        assert!(html.contains("网站信息（1）") && html.contains("example.com") && html.contains("李四"));
        assert!(html.contains("主办者签字（单位盖章）"));
        assert!(!html.contains("网站备案号"), "no number before the bureau issued one");
    }
}
