//! Which web pages may open a socket: Phoenix's `check_origin`.
//!
//! A browser sends the page's origin (`Origin: https://shop.example`) with
//! every WebSocket handshake and long-poll request; without a check, any
//! site a shopper visits can open a socket to the store in the shopper's
//! name (their cookies go along). Phoenix checks by default in production
//! against the endpoint's host; here the production default is the same
//! idea without configuration: the origin must name the host the request
//! itself was sent to (`Host`). A request with no `Origin` (not a browser)
//! always passes, as in Phoenix.

use std::str::FromStr;

/// The origin check of a socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CheckOrigin {
    /// Any origin (development; Phoenix `check_origin: false`).
    #[default]
    Any,
    /// The request's own host: the origin's `host[:port]` must equal the
    /// `Host` header (Phoenix `check_origin: :conn`). The production default.
    SameHost,
    /// Exactly these origins, e.g. `https://shop.example` (Phoenix
    /// `check_origin: [...]`).
    Listed(Vec<String>),
}

impl CheckOrigin {
    /// Whether a request with this `Origin`, sent to `host` (its `Host`
    /// header), may connect.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            CheckOrigin::Any => true,
            CheckOrigin::SameHost => {
                let origin_host = origin
                    .split_once("://")
                    .map(|(_, rest)| rest.trim_end_matches('/'));
                matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
            }
            CheckOrigin::Listed(allowed) => allowed
                .iter()
                .any(|a| a.trim_end_matches('/') == origin.trim_end_matches('/')),
        }
    }
}

/// `--check-origin`: `any`, `host`, or a comma-separated list of origins.
impl FromStr for CheckOrigin {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "any" => Ok(CheckOrigin::Any),
            "host" => Ok(CheckOrigin::SameHost),
            list => {
                let origins: Vec<String> = list
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect();
                if origins.is_empty() {
                    return Err(
                        "expected `any`, `host` or origins such as https://shop.example".into(),
                    );
                }
                if let Some(bad) = origins.iter().find(|o| !o.contains("://")) {
                    return Err(format!("{bad:?} is not an origin (scheme://host[:port])"));
                }
                Ok(CheckOrigin::Listed(origins))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_origins_pass_and_others_do_not() {
        let check: CheckOrigin = "http://localhost:4000, https://shop.example/"
            .parse()
            .unwrap();
        assert!(check.allows(Some("http://localhost:4000"), Some("whatever")));
        assert!(check.allows(Some("https://shop.example"), None));
        assert!(!check.allows(Some("http://evil.example"), Some("localhost:4000")));
        assert!(!check.allows(Some("http://localhost:4001"), Some("localhost:4001")));
    }

    #[test]
    fn same_host_compares_the_origin_with_the_host_the_request_went_to() {
        let check = CheckOrigin::SameHost;
        assert!(check.allows(Some("http://127.0.0.1:4000"), Some("127.0.0.1:4000")));
        assert!(check.allows(Some("https://Shop.Example"), Some("shop.example")));
        assert!(!check.allows(Some("http://evil.example"), Some("127.0.0.1:4000")));
        assert!(!check.allows(Some("http://127.0.0.1:4001"), Some("127.0.0.1:4000")));
        assert!(!check.allows(Some("null"), Some("127.0.0.1:4000")));
        assert!(!check.allows(Some("http://127.0.0.1:4000"), None));
    }

    #[test]
    fn a_request_without_origin_always_passes() {
        for check in [
            CheckOrigin::Any,
            CheckOrigin::SameHost,
            "http://a.b".parse().unwrap(),
        ] {
            assert!(check.allows(None, None));
        }
        assert!(CheckOrigin::Any.allows(Some("http://anything"), None));
    }

    #[test]
    fn the_flag_parses_or_says_what_is_wrong() {
        assert_eq!("any".parse(), Ok(CheckOrigin::Any));
        assert_eq!("host".parse(), Ok(CheckOrigin::SameHost));
        assert!(" , ".parse::<CheckOrigin>().is_err());
        assert!("shop.example"
            .parse::<CheckOrigin>()
            .unwrap_err()
            .contains("not an origin"));
    }
}
