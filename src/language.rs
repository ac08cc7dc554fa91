//! The language of the messages a request is answered with: Chinese (the applicants' language) unless the client
//! asks for English with `Accept-Language`. The HTTP layer decides it once per request (or WebSocket connection)
//! and runs the request in its scope; error messages and findings read it from there.

use std::fmt;

/// A language messages are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文, the default.
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The language an `Accept-Language` header asks for: the most preferred of Chinese and English (by quality,
    /// then by order), Chinese when it names neither or is absent or malformed.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else { return Lang::Zh };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(16) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "zh" => Lang::Zh,
                "en" => Lang::En,
                _ => continue,
            };
            if quality > 0.0 && quality <= 1.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map(|(_, lang)| lang).unwrap_or_default()
    }

    /// The `Content-Language` of an answer in this language.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

tokio::task_local! {
    static CURRENT: Lang;
}

/// Runs `work` with messages in `lang`.
pub async fn scope<F: Future>(lang: Lang, work: F) -> F::Output {
    CURRENT.scope(lang, work).await
}

/// The language of the request being answered (Chinese outside any request).
pub fn current() -> Lang {
    CURRENT.try_with(|lang| *lang).unwrap_or_default()
}

/// A message in both languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    pub en: &'static str,
    pub zh: &'static str,
}

impl Text {
    pub const fn new(en: &'static str, zh: &'static str) -> Text {
        Text { en, zh }
    }

    /// The message in `lang`.
    pub fn in_lang(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.zh,
            Lang::En => self.en,
        }
    }

    /// The message in the language of the request being answered.
    pub fn current(self) -> &'static str {
        self.in_lang(current())
    }
}

/// The English text: logs, WebSocket close reasons.
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.en)
    }
}

/// Picks `en` or `zh` in the language of the request being answered.
pub fn pick<T>(en: T, zh: T) -> T {
    match current() {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_most_preferred_of_chinese_and_english() {
        let cases = [
            (None, Lang::Zh),
            (Some(""), Lang::Zh),
            (Some("en"), Lang::En),
            (Some("en-US,en;q=0.9"), Lang::En),
            (Some("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh),
            (Some("zh-Hant-TW"), Lang::Zh),
            (Some("fr-FR,fr;q=0.9"), Lang::Zh),
            (Some("fr,en;q=0.5"), Lang::En),
            (Some("en;q=0.5, zh;q=0.8"), Lang::Zh),
            (Some("zh;q=0.4, EN-gb;q=0.6"), Lang::En),
            (Some("en;q=0"), Lang::Zh),
            (Some("en;q=abc"), Lang::En),
            (Some("*"), Lang::Zh),
            (Some(";;;,,,q=1"), Lang::Zh),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::from_accept_language(header), expected, "{header:?}");
        }
    }

    #[tokio::test]
    async fn the_scope_decides_and_chinese_is_the_default() {
        let text = Text::new("not found", "未找到");
        assert_eq!(text.current(), "未找到");
        assert_eq!(scope(Lang::En, async { text.current() }).await, "not found");
        assert_eq!(scope(Lang::Zh, async { pick("a", "b") }).await, "b");
    }
}
