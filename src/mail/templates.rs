//! The wording of every message: built-in templates per stage and language (`templates/zh.toml`, `templates/en.toml`),
//! a registrar's overrides, and rendering with minijinja into a plain-text body with an HTML alternative. A
//! recipient without a known language gets both, Chinese first. Every message about a filing ends with the way to
//! it (see [`filing_link`]), added here whatever the template says, so that no stage (and no registrar's own
//! wording) goes without it.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use minijinja::{Environment, UndefinedBehavior};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Deserialize;
use uuid::Uuid;

use super::{MailLanguage, Stage};

/// One stage's wording in one language: minijinja templates of the subject line and the plain-text body.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

/// The built-in templates.
static BUILT_IN: LazyLock<HashMap<(Stage, MailLanguage), Template>> = LazyLock::new(|| {
    let mut out = HashMap::new();
    for (language, source) in
        [(MailLanguage::Zh, include_str!("templates/zh.toml")), (MailLanguage::En, include_str!("templates/en.toml"))]
    {
        let table: HashMap<String, Template> = toml::from_str(source).expect("built-in mail templates parse");
        for (stage, template) in table {
            let stage: Stage = stage.parse().unwrap_or_else(|_| panic!("unknown stage {stage} in mail templates"));
            out.insert((stage, language), Template { body: template.body.trim().to_owned(), ..template });
        }
    }
    out
});

/// The built-in template of a stage in a language.
pub fn built_in(stage: Stage, language: MailLanguage) -> &'static Template {
    BUILT_IN.get(&(stage, language)).expect("every stage has a built-in template in every language")
}

/// A registrar's own templates, which win over the built-in ones.
pub type Overrides = HashMap<(Stage, MailLanguage), Template>;

/// A registrar's side of its messages as the services keep it: its own templates and its branding. The dispatcher
/// is given one when it is built, so that mail depends on nothing above it.
#[async_trait::async_trait]
pub trait TenantTemplates: Send + Sync {
    /// The registrar's own templates.
    async fn overrides(&self, db: &DatabaseConnection, tenant_id: Uuid) -> Result<Overrides, DbErr>;
    /// What the registrar adds to every message.
    fn branding(&self, tenant: &entity::tenant::Model) -> Branding;
}

/// What the registrar adds to every message.
#[derive(Clone, Debug, Default)]
pub struct Branding {
    /// The registrar's name.
    pub registrar: String,
    /// Closing lines; none: the registrar's name.
    pub signature: Option<String>,
    /// How to reach support.
    pub support: Option<String>,
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template that does not compile or render; the message says where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// Renders `stage` for a recipient: in `language`, or in both when it is not known. `overrides` are the registrar's
/// own templates, which win over the built-in ones.
pub fn render(
    stage: Stage,
    language: Option<MailLanguage>,
    overrides: &Overrides,
    branding: &Branding,
    payload: &serde_json::Value,
) -> Result<Rendered, RenderError> {
    let languages = match language {
        Some(language) => vec![language],
        None => vec![MailLanguage::Zh, MailLanguage::En],
    };
    let mut subjects = Vec::new();
    let mut bodies = Vec::new();
    for language in languages {
        let template = overrides.get(&(stage, language)).unwrap_or_else(|| built_in(stage, language));
        let (subject, body) = render_one(template, branding, payload)?;
        subjects.push(subject);
        let link = stage.is_filing_stage().then(|| filing_link(&body, branding, payload, language)).flatten();
        let body = match link {
            Some(link) => format!("{body}\n\n{link}"),
            None => body,
        };
        bodies.push(format!("{body}\n\n{}", footer(branding, language)));
    }
    let subject = subjects.join(" / ");
    let text = bodies.join("\n\n--------\n\n");
    let html = to_html(&text);
    Ok(Rendered { subject, text, html })
}

/// Checks that a template compiles and renders on a sample of every variable the stage may use.
pub fn check(stage: Stage, template: &Template) -> Result<(), RenderError> {
    let branding =
        Branding { registrar: "示例接入商".into(), signature: None, support: Some("400-000-0000".into()) };
    render_one(template, &branding, &sample_payload(stage)).map(|_| ())
}

/// A payload with every variable the built-in templates use, for previews and checks.
pub fn sample_payload(stage: Stage) -> serde_json::Value {
    if !stage.is_filing_stage() {
        return serde_json::json!({
            "displayName": "张三", "tenant": "示例接入商", "token": "sample-token", "url": "https://beian.example/link",
            "resetUrl": "https://beian.example/reset-password", "expiresAt": "2026-12-01T08:00:00Z",
            "role": "REVIEWER", "invitedBy": "管理员",
        });
    }
    serde_json::json!({
        "recipientName": "张三", "subjectName": "北京示例科技有限公司", "filingType": "FIRST_FILING",
        "filingTypeZh": "首次备案", "filingTypeEn": "first filing", "filingReference": "0190000000000000",
        "websites": [{ "name": "示例科技官网", "domains": "example.com", "icpNumber": "京ICP备2026000001号-1" }],
        "reasons": [{ "field": "websites[0].name", "code": "NAME_UNCLEAR", "message": "网站名称与内容不符",
            "suggestion": "请修改网站名称" }],
        "icpNumber": "京ICP备2026000001号", "smsDeadline": "2026-12-01T08:00:00Z", "smsWindowHours": 24, "pending": ["张三"],
        "filingUrl": "https://beian.example/filings/0190000000000000",
    })
}

fn render_one(
    template: &Template,
    branding: &Branding,
    payload: &serde_json::Value,
) -> Result<(String, String), RenderError> {
    let mut context = payload.clone();
    if let Some(map) = context.as_object_mut() {
        map.insert("registrar".into(), branding.registrar.clone().into());
        map.insert("support".into(), branding.support.clone().into());
    }
    let env = environment();
    let context = minijinja::Value::from(minijinja::value::Serde(&context));
    let subject = env
        .render_str(&template.subject, context.clone())
        .map_err(|e| RenderError(format!("subject: {}", describe(&e))))?;
    let body = env.render_str(&template.body, context).map_err(|e| RenderError(format!("body: {}", describe(&e))))?;
    // A subject is one line.
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((subject, body.trim().to_owned()))
}

fn describe(error: &minijinja::Error) -> String {
    let line = error.line().map(|l| format!(" (line {l})")).unwrap_or_default();
    let detail = error.detail().map(|d| format!(": {d}")).unwrap_or_default();
    format!("{}{line}{detail}", error.kind())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Templates are plain text: nothing is HTML-escaped here (the HTML alternative escapes the whole text).
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    // A registrar's template cannot loop forever.
    env.set_fuel(Some(50_000));
    env.add_filter("datetime", datetime);
    env
}

/// `{{ expiresAt | datetime }}`: an RFC 3339 time as China Standard Time, `2026-12-01 16:00 (UTC+8)`.
fn datetime(value: String) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    match DateTime::parse_from_rfc3339(&value) {
        Ok(time) => time.with_timezone(&cst).format("%Y-%m-%d %H:%M (UTC+8)").to_string(),
        Err(_) => value,
    }
}

/// The line of a filing's message that leads to the filing: its page in the registrar's frontend (`filingUrl`,
/// from the registrar's `frontendBaseUrl`), or, for a registrar without a frontend configured, where to look it up
/// by its reference. None when the body already carries the link (a registrar's template that places it itself).
fn filing_link(body: &str, branding: &Branding, payload: &serde_json::Value, language: MailLanguage) -> Option<String> {
    let registrar = &branding.registrar;
    match payload.get("filingUrl").and_then(serde_json::Value::as_str).filter(|u| !u.is_empty()) {
        Some(url) if body.contains(url) => None,
        Some(url) => Some(match language {
            MailLanguage::Zh => format!("查看申请：{url}"),
            MailLanguage::En => format!("View the filing: {url}"),
        }),
        None => {
            let reference = payload.get("filingReference").and_then(serde_json::Value::as_str)?;
            Some(match language {
                MailLanguage::Zh => format!("请登录 {registrar} 的备案系统，按订单号 {reference} 查看申请。"),
                MailLanguage::En => {
                    format!("Sign in to the filing system of {registrar} and look it up by reference {reference}.")
                }
            })
        }
    }
}

fn footer(branding: &Branding, language: MailLanguage) -> String {
    let signature = branding.signature.clone().unwrap_or_else(|| branding.registrar.clone());
    let support = branding.support.as_deref().map(|s| match language {
        MailLanguage::Zh => format!("客服：{s}"),
        MailLanguage::En => format!("Support: {s}"),
    });
    let notice = match language {
        MailLanguage::Zh => "本邮件由系统自动发送。",
        MailLanguage::En => "This message was sent automatically.",
    };
    [Some(signature), support, Some(notice.to_owned())].into_iter().flatten().collect::<Vec<_>>().join("\n")
}

/// The HTML alternative of a plain-text body: escaped, paragraphs on blank lines, "- " lines as lists, addresses as
/// links.
pub fn to_html(text: &str) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family: sans-serif; line-height: 1.5; max-width: 40em\">",
    );
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if paragraph == "--------" {
            html.push_str("<hr>");
            continue;
        }
        let lines: Vec<&str> = paragraph.lines().collect();
        let mut in_list = false;
        let mut open_paragraph = false;
        for line in lines {
            if let Some(item) = line.strip_prefix("- ") {
                if open_paragraph {
                    html.push_str("</p>");
                    open_paragraph = false;
                }
                if !in_list {
                    html.push_str("<ul>");
                    in_list = true;
                }
                html.push_str("<li>");
                html.push_str(&linkify(&escape(item)));
                html.push_str("</li>");
            } else if in_list && line.starts_with("  ") {
                // A continuation of the last item.
                if html.ends_with("</li>") {
                    html.truncate(html.len() - "</li>".len());
                }
                html.push_str("<br>");
                html.push_str(&linkify(&escape(line.trim())));
                html.push_str("</li>");
            } else {
                if in_list {
                    html.push_str("</ul>");
                    in_list = false;
                }
                if open_paragraph {
                    html.push_str("<br>");
                } else {
                    html.push_str("<p>");
                    open_paragraph = true;
                }
                html.push_str(&linkify(&escape(line)));
            }
        }
        if in_list {
            html.push_str("</ul>");
        }
        if open_paragraph {
            html.push_str("</p>");
        }
    }
    html.push_str("</body></html>");
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Turns http(s) addresses of escaped text into links (an address ends at whitespace, full-width punctuation or an
/// escaped character).
fn linkify(escaped: &str) -> String {
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(start) = [rest.find("http://"), rest.find("https://")].into_iter().flatten().min() {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '，' | '。' | '）' | '、' | '；' | '&'))
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ')', ':']);
        out.push_str(&format!("<a href=\"{url}\">{url}</a>"));
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_stage_has_both_languages_and_renders_its_sample() {
        let branding = Branding { registrar: "新网".into(), signature: None, support: Some("400-600-8888".into()) };
        for stage in Stage::iter() {
            for language in MailLanguage::iter() {
                let template = built_in(stage, language);
                check(stage, template).unwrap_or_else(|e| panic!("{stage} {language}: {e}"));
            }
            let both = render(stage, None, &HashMap::new(), &branding, &sample_payload(stage)).unwrap();
            assert!(both.subject.contains(" / "), "{stage}: bilingual subject");
            assert!(both.text.contains("新网") && both.text.contains("400-600-8888"), "{stage}: branding");
            assert!(!both.text.contains("{{") && !both.text.contains("{%"), "{stage}: fully rendered");
        }
    }

    #[test]
    fn a_known_language_gets_only_that_language_with_the_values_filled_in() {
        let branding =
            Branding { registrar: "新网".into(), signature: Some("新网备案中心".into()), support: None };
        let payload = sample_payload(Stage::PreliminaryRejected);
        let en =
            render(Stage::PreliminaryRejected, Some(MailLanguage::En), &HashMap::new(), &branding, &payload).unwrap();
        assert_eq!(en.subject, "[新网] Your ICP filing needs changes: 北京示例科技有限公司");
        assert!(
            en.text.contains("- websites[0].name: 网站名称与内容不符\n  Suggestion: 请修改网站名称"),
            "{}",
            en.text
        );
        assert!(en.text.ends_with("新网备案中心\nThis message was sent automatically."), "{}", en.text);
        assert!(!en.text.contains("您好"));
        let zh = render(
            Stage::SmsReminder,
            Some(MailLanguage::Zh),
            &HashMap::new(),
            &branding,
            &sample_payload(Stage::SmsReminder),
        )
        .unwrap();
        assert!(zh.text.contains("2026-12-01 16:00 (UTC+8)"), "deadlines in China Standard Time: {}", zh.text);
    }

    #[test]
    fn the_html_alternative_escapes_and_keeps_the_structure() {
        let html =
            to_html("Hello <b>you</b>,\nsecond line\n\n- one https://beian.miit.gov.cn/ ok\n  more\n- two\n\nbye & go");
        assert!(html.contains("<p>Hello &lt;b&gt;you&lt;/b&gt;,<br>second line</p>"), "{html}");
        assert!(
            html.contains("<ul><li>one <a href=\"https://beian.miit.gov.cn/\">https://beian.miit.gov.cn/</a> ok<br>more</li><li>two</li></ul>"),
            "{html}"
        );
        assert!(html.contains("<p>bye &amp; go</p>"), "{html}");
    }

    #[test]
    fn an_override_wins_and_a_broken_one_is_refused() {
        let mut overrides = HashMap::new();
        let mine = Template { subject: "{{ registrar }} 通知".into(), body: "您好 {{ recipientName }}".into() };
        overrides.insert((Stage::Withdrawn, MailLanguage::Zh), mine.clone());
        let branding = Branding { registrar: "新网".into(), ..Branding::default() };
        let out =
            render(Stage::Withdrawn, Some(MailLanguage::Zh), &overrides, &branding, &sample_payload(Stage::Withdrawn))
                .unwrap();
        assert_eq!(out.subject, "新网 通知");
        assert!(out.text.starts_with("您好 张三"));
        let broken = Template { subject: "ok".into(), body: "{% for r in reasons %}unclosed".into() };
        let error = check(Stage::Withdrawn, &broken).unwrap_err();
        assert!(error.0.starts_with("body:"), "{error}");
        let endless = Template { subject: "ok".into(), body: "{% for i in range(100000) %}{{ i }}{% endfor %}".into() };
        assert!(check(Stage::Withdrawn, &endless).is_err(), "fuel bounds a template's work");
    }
}
