//! Text that people type, and the characters it may hold.
//!
//! Two rules, one place:
//! - **Any text** a caller sends (every string of every GraphQL input) holds no invisible control characters: no
//!   C0 or C1 control character but tab, line feed and carriage return (U+0000 among them, which PostgreSQL cannot
//!   store), and no bidirectional embedding, override or isolate (U+202A-U+202E, U+2066-U+2069), which make
//!   `invoice\u{202E}fdp.exe` read as `invoiceexe.pdf`. See [`invisible_control`].
//! - **One-line text** ([`SingleLine`]: names, addresses, numbers, subjects, file names, URLs) holds no line break
//!   or tab either. Such values reach mail headers (a recipient's or a sender's name, a subject), file names and
//!   one-line displays, where a line break either splits a header or breaks the mail library.

use std::fmt;

use super::FieldErrorCode;

/// Whether `c` is an invisible control character that no text may hold (tab, LF and CR aside).
pub fn is_invisible_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || is_bidi_control(c)
}

/// The bidirectional embeddings, overrides and isolates, and the Arabic letter mark: they reorder what is shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// Whether `c` may not stand in one-line text: an invisible control, a line break or separator, or a tab.
pub fn is_line_control(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The first invisible control character in `text`, if any.
pub fn invisible_control(text: &str) -> Option<char> {
    text.chars().find(|c| is_invisible_control(*c))
}

/// One line of text, trimmed, without control characters, line breaks or bidirectional controls.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SingleLine(String);

impl SingleLine {
    /// The trimmed text, or `CONTROL_CHARACTER` when it holds a character one line may not hold.
    pub fn parse(raw: &str) -> Result<Self, FieldErrorCode> {
        let trimmed = raw.trim();
        if trimmed.chars().any(is_line_control) {
            return Err(FieldErrorCode::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Its length in characters (limits are in characters, not bytes).
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for SingleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SingleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SingleLine {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<SingleLine> for String {
    fn from(value: SingleLine) -> Self {
        value.0
    }
}

/// Checks a longer text (remarks, reasons, signatures, mail templates): line breaks and tabs are fine, other
/// invisible controls are not.
pub fn check_multi_line(text: &str) -> Result<(), FieldErrorCode> {
    match invisible_control(text) {
        Some(_) => Err(FieldErrorCode::ControlCharacter),
        None => Ok(()),
    }
}

/// `validator` hook for one-line fields of the forms: `#[validate(custom(function = "...::single_line"))]`.
pub fn single_line(text: &str) -> Result<(), validator::ValidationError> {
    SingleLine::parse(text).map(drop).map_err(|_| validator::ValidationError::new(CONTROL_CHARACTER))
}

/// `validator` hook for longer fields of the forms.
pub fn multi_line(text: &str) -> Result<(), validator::ValidationError> {
    check_multi_line(text).map_err(|_| validator::ValidationError::new(CONTROL_CHARACTER))
}

/// The `validator` code of the hooks above (mapped to [`FieldErrorCode::ControlCharacter`]).
pub const CONTROL_CHARACTER: &str = "control_character";

/// Text for a place that must be one line, made so (for values stored before these rules, or that come from
/// outside, such as a webhook's answer): every run of control characters and line breaks becomes one space.
pub fn to_single_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        if is_line_control(c) {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_refuses_breaks_controls_and_bidi_overrides() {
        assert_eq!(SingleLine::parse("  张三 ").unwrap().as_str(), "张三");
        for bad in [
            "Eve\r\nX",
            "Eve\nX",
            "Eve\rX",
            "a\tb",
            "nul\0",
            "bell\u{7}",
            "del\u{7f}",
            "nel\u{85}x",
            "invoice\u{202E}fdp.exe",
            "iso\u{2066}x",
            "ls\u{2028}x",
            "ps\u{2029}x",
        ] {
            assert_eq!(SingleLine::parse(bad), Err(FieldErrorCode::ControlCharacter), "{bad:?}");
        }
        // Ordinary punctuation, CJK and emoji pass.
        assert!(SingleLine::parse("北京示例科技有限公司 (A&B) — “引号” 😀").is_ok());
    }

    #[test]
    fn longer_text_keeps_its_line_breaks_but_no_other_control() {
        assert_eq!(check_multi_line("第一行\r\n第二行\tend"), Ok(()));
        for bad in ["a\0b", "a\u{1b}[31m", "a\u{202E}b", "a\u{9b}b"] {
            assert_eq!(check_multi_line(bad), Err(FieldErrorCode::ControlCharacter), "{bad:?}");
        }
    }

    #[test]
    fn text_is_made_one_line_for_headers() {
        assert_eq!(to_single_line("Eve\r\nBcc: x@y.cn"), "Eve Bcc: x@y.cn");
        assert_eq!(to_single_line("\u{202E}a\t\tb\n"), "a b");
    }
}
