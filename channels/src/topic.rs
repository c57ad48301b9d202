//! Channel routes: which channel serves a topic.
//!
//! Phoenix's `channel "room:lobby", RoomChannel` matches one topic exactly, and
//! `channel "room:*", RoomChannel` matches every topic with the prefix `room:`
//! (the star may only end the pattern). Routes are tried in the order they were
//! declared; the first match wins.

/// A route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicPattern {
    /// Exactly this topic.
    Exact(String),
    /// Every topic starting with this prefix (the pattern without its `*`).
    Prefix(String),
}

/// A pattern that is not a valid route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid channel route {0:?}: `*` may only end the pattern")]
pub struct InvalidPattern(pub String);

impl TopicPattern {
    /// Parses `"room:lobby"` or `"room:*"`.
    pub fn parse(pattern: &str) -> Result<Self, InvalidPattern> {
        match pattern.find('*') {
            None => Ok(TopicPattern::Exact(pattern.to_string())),
            Some(star) if star == pattern.len() - 1 => {
                Ok(TopicPattern::Prefix(pattern[..star].to_string()))
            }
            Some(_) => Err(InvalidPattern(pattern.to_string())),
        }
    }

    /// Whether `topic` is served by this route.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::Exact(exact) => topic == exact,
            TopicPattern::Prefix(prefix) => topic.starts_with(prefix.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_wildcard_routes() {
        let ping = TopicPattern::parse("ping").unwrap();
        let ping_any = TopicPattern::parse("ping:*").unwrap();
        assert!(ping.matches("ping"));
        assert!(!ping.matches("ping:1"));
        assert!(ping_any.matches("ping:1"));
        assert!(ping_any.matches("ping:"));
        assert!(!ping_any.matches("ping"));
        assert!(!ping_any.matches("pingx:1"));
        assert!(TopicPattern::parse("*").unwrap().matches("anything"));
    }

    #[test]
    fn a_star_in_the_middle_is_refused() {
        assert!(TopicPattern::parse("room:*:x").is_err());
    }
}
