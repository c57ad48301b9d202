//! Splitting a command line into words.
//!
//! Words are separated by whitespace, as in a shell, with three ways to put
//! spaces inside one word:
//!
//! - `'single quotes'`: taken literally;
//! - `"double quotes"`: `\"` and `\\` are escapes, any other backslash is kept;
//! - a word that *starts* with `{` or `[` runs to its matching bracket (JSON
//!   strings inside are respected), so `pubsub.broadcast ping hi {"a": "b c"}`
//!   has four words and the last is the JSON object as written.
//!
//! Quoted parts and bare parts next to each other make one word
//! (`a"b c"` is `ab c`), as in a shell.

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word, quotes removed.
    pub text: String,
    /// Byte offset of its first character in the line.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
}

/// A line that cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A quote was opened and never closed.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(char),
    /// A `{` or `[` word was never closed.
    #[error("unbalanced {0}: the JSON value is not closed")]
    Unbalanced(char),
}

/// Splits `line` into words. A line that is empty or only whitespace has none;
/// a line whose first non-blank character is `#` is a comment and has none.
pub fn split(line: &str) -> Result<Vec<Word>, ParseError> {
    if line.trim_start().starts_with('#') {
        return Ok(Vec::new());
    }
    let mut words = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut end = start;
        if c == '{' || c == '[' {
            end = json_value(line, start)?;
            text.push_str(&line[start..end]);
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
        }
        while let Some(&(_, c)) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => text.push(c),
                        None => return Err(ParseError::UnterminatedQuote('\'')),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c @ ('"' | '\\'))) => text.push(c),
                            Some((_, c)) => {
                                text.push('\\');
                                text.push(c);
                            }
                            None => return Err(ParseError::UnterminatedQuote('"')),
                        },
                        Some((_, c)) => text.push(c),
                        None => return Err(ParseError::UnterminatedQuote('"')),
                    }
                },
                c => text.push(c),
            }
            end = chars.peek().map_or(line.len(), |&(j, _)| j);
        }
        words.push(Word { text, start, end });
    }
    Ok(words)
}

/// The end (exclusive) of the bracketed JSON value starting at `start`.
fn json_value(line: &str, start: usize) -> Result<usize, ParseError> {
    let open = line[start..].chars().next().unwrap_or('{');
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line[start..].char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(start + i + 1);
                }
            }
            _ => {}
        }
    }
    Err(ParseError::Unbalanced(open))
}

/// For completion: the words of `line` before the cursor, split on whitespace
/// only (a half-typed line need not parse), and where the word under the
/// cursor starts. The last word is the partial one (empty after a space).
pub fn words_before(line: &str, pos: usize) -> (Vec<&str>, usize) {
    let pos = pos.min(line.len());
    let before = line.get(..pos).unwrap_or(line);
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let mut words: Vec<&str> = before[..start].split_whitespace().collect();
    words.push(&before[start..]);
    (words, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn plain_words() {
        assert_eq!(
            texts("  node.connect   back@127.0.0.1 "),
            ["node.connect", "back@127.0.0.1"]
        );
        assert!(texts("").is_empty());
        assert!(texts("   \t").is_empty());
        assert!(texts("# a comment").is_empty());
    }

    #[test]
    fn quotes() {
        assert_eq!(
            texts("a 'b c' \"d \\\"e\\\" f\""),
            ["a", "b c", "d \"e\" f"]
        );
        assert_eq!(texts(r#"x"y z"w"#), ["xy zw"]);
        assert_eq!(texts(r#""a\nb""#), [r"a\nb"]);
        assert_eq!(texts("''"), [""]);
    }

    #[test]
    fn json_words_keep_their_spaces() {
        assert_eq!(
            texts(r#"pubsub.broadcast ping hi {"a": "b } c", "n": [1, 2]} tail"#),
            [
                "pubsub.broadcast",
                "ping",
                "hi",
                r#"{"a": "b } c", "n": [1, 2]}"#,
                "tail"
            ]
        );
        assert_eq!(
            texts("broadcast ping request_ping {}"),
            ["broadcast", "ping", "request_ping", "{}"]
        );
        assert_eq!(texts("x [1, {\"a\": []}]"), ["x", "[1, {\"a\": []}]"]);
    }

    #[test]
    fn offsets() {
        let words = split("ab  'c d'").unwrap();
        assert_eq!((words[0].start, words[0].end), (0, 2));
        assert_eq!((words[1].start, words[1].end), (4, 9));
    }

    #[test]
    fn errors() {
        assert_eq!(split("a 'b"), Err(ParseError::UnterminatedQuote('\'')));
        assert_eq!(split("a \"b"), Err(ParseError::UnterminatedQuote('"')));
        assert_eq!(split("a {\"b\": 1"), Err(ParseError::Unbalanced('{')));
        assert!(split("a {\"b}\"")
            .unwrap_err()
            .to_string()
            .contains("not closed"));
    }

    #[test]
    fn words_for_completion() {
        assert_eq!(words_before("node.con", 8), (vec!["node.con"], 0));
        assert_eq!(
            words_before("node.connect ba", 15),
            (vec!["node.connect", "ba"], 13)
        );
        assert_eq!(
            words_before("node.connect ", 13),
            (vec!["node.connect", ""], 13)
        );
        assert_eq!(words_before("", 0), (vec![""], 0));
    }
}
