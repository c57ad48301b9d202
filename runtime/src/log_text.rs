//! Text that came from outside the node, made safe to put in a log line.
//!
//! A crash reason, an event name or a topic may carry whatever a client sent:
//! 5,000 characters, newlines that forge a second log line, terminal escapes.
//! [`bounded`] shows at most a fixed number of characters, escaped as Rust's
//! `{:?}` escapes them (without the quotes), and says how long the rest was.
//! It allocates nothing: it is a `Display` over the borrowed text.

use std::fmt;

/// Characters of client text a log line shows by default.
pub const LOG_TEXT_CHARS: usize = 100;

/// Characters of a crash reason a log line shows: a crash's text is written
/// by the application, but often quotes what a client sent.
pub const CRASH_TEXT_CHARS: usize = 300;

/// `text` for a log line: at most `max_chars` characters, control characters
/// escaped, and `… (N bytes)` after a cut.
pub fn bounded_to(text: &str, max_chars: usize) -> Bounded<'_> {
    Bounded { text, max_chars }
}

/// [`bounded_to`] with [`LOG_TEXT_CHARS`].
pub fn bounded(text: &str) -> Bounded<'_> {
    bounded_to(text, LOG_TEXT_CHARS)
}

/// See [`bounded`].
#[derive(Debug, Clone, Copy)]
pub struct Bounded<'a> {
    text: &'a str,
    max_chars: usize,
}

impl fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (shown, cut) = match self.text.char_indices().nth(self.max_chars) {
            Some((end, _)) => (&self.text[..end], true),
            None => (self.text, false),
        };
        for c in shown.chars() {
            if c == '"' || c == '\'' {
                // Quotes are not escaped: the text is shown unquoted.
                write!(f, "{c}")?;
            } else {
                write!(f, "{}", c.escape_debug())?;
            }
        }
        if cut {
            write!(f, "… ({} bytes)", self.text.len())?;
        }
        Ok(())
    }
}

/// A crash reason or error for a log line, bounded to [`CRASH_TEXT_CHARS`].
pub fn bounded_reason(reason: &impl fmt::Display) -> String {
    bounded_to(&reason.to_string(), CRASH_TEXT_CHARS).to_string()
}

/// A server's URL (`postgres://user:password@host/db`, `redis://…`) for a
/// log line or an error: the user and password replaced by `…`, so a secret
/// given on the command line never reaches a log.
pub fn url_without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_never_reaches_a_log_line() {
        assert_eq!(
            url_without_credentials("redis://user:secret@db.internal:6379/2"),
            "redis://…@db.internal:6379/2"
        );
        assert_eq!(
            url_without_credentials("postgres://shop:p@ss@db/shop"),
            "postgres://…@db/shop"
        );
        assert_eq!(
            url_without_credentials("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn short_text_is_shown_whole() {
        assert_eq!(bounded("ping").to_string(), "ping");
        assert_eq!(bounded("say \"hi\"").to_string(), "say \"hi\"");
    }

    #[test]
    fn long_text_is_cut_and_says_how_long_it_was() {
        let long = "x".repeat(5_000);
        let shown = bounded(&long).to_string();
        assert_eq!(shown, format!("{}… (5000 bytes)", "x".repeat(100)));
        assert!(bounded_to("héllo", 2).to_string().starts_with("hé…"));
    }

    #[test]
    fn control_characters_cannot_forge_a_log_line() {
        assert_eq!(
            bounded("a\nINFO fake\u{1b}[31m").to_string(),
            "a\\nINFO fake\\u{1b}[31m"
        );
    }
}
