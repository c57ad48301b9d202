//! Node names: `name@host`, and `name@host:port` where a port can be given.
//!
//! A node is known by an Erlang-style name such as `app@127.0.0.1`. The host
//! part is not decoration: ractor_cluster advertises `host:port` to its peers as
//! the address to reach this node by (that is how transitive connections find
//! it), so the host must be an address or host name the other nodes can
//! connect to. The `:port` suffix is only for connecting — `node.connect
//! back@127.0.0.1:9101` skips the local name directory ([`super::directory`]).
//!
//! Names are validated strictly because they end up as file names in the name
//! directory and in log lines: the name part is `[A-Za-z0-9_-]`, the host part a
//! host name or IPv4 address (`[A-Za-z0-9._-]`, not starting or ending with `.`
//! or `-`). IPv6 literals are not supported (the `:` would be ambiguous with the
//! port suffix).

use std::fmt;
use std::str::FromStr;

/// Longest accepted name part (before the `@`).
pub const MAX_NAME_LEN: usize = 64;
/// Longest accepted host part (after the `@`), as for DNS names.
pub const MAX_HOST_LEN: usize = 253;

/// Why a node name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// There is no `@` between name and host.
    #[error("{0:?} is not a node name: expected name@host, e.g. app@127.0.0.1")]
    MissingAt(String),
    /// The part before the `@` is empty.
    #[error("{0:?}: the name before the @ is empty")]
    EmptyName(String),
    /// The part after the `@` is empty.
    #[error("{0:?}: the host after the @ is empty")]
    EmptyHost(String),
    /// The name part contains a character outside `[A-Za-z0-9_-]`.
    #[error("{input:?}: {ch:?} is not allowed in a node name (use letters, digits, _ and -)")]
    BadNameChar {
        /// The whole input.
        input: String,
        /// The offending character.
        ch: char,
    },
    /// The host part is not a host name or IPv4 address.
    #[error("{input:?}: {host:?} is not a valid host (a host name or IPv4 address)")]
    BadHost {
        /// The whole input.
        input: String,
        /// The host part.
        host: String,
    },
    /// The name or host part is too long.
    #[error("{0:?} is too long")]
    TooLong(String),
    /// A `:port` suffix is not a port number in 1..=65535.
    #[error("{input:?}: {port:?} is not a port number (1-65535)")]
    BadPort {
        /// The whole input.
        input: String,
        /// The text after the last `:`.
        port: String,
    },
    /// A port was given where only a node name is expected.
    #[error("{0:?}: a port is not part of a node name (only of a connect address)")]
    UnexpectedPort(String),
}

/// A validated node name, `name@host`.
///
/// Ordered and compared as the full `name@host` string, so every node sorts a
/// set of names the same way (used to pick one owner of a service).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName {
    full: String,
    at: usize,
}

impl NodeName {
    /// Builds a name from its two parts, validating both.
    pub fn new(name: &str, host: &str) -> Result<Self, NameError> {
        format!("{name}@{host}").parse()
    }

    /// The part before the `@`.
    pub fn name(&self) -> &str {
        &self.full[..self.at]
    }

    /// The part after the `@`: the address other nodes connect to.
    pub fn host(&self) -> &str {
        &self.full[self.at + 1..]
    }

    /// The full `name@host`.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.full)
    }
}

impl FromStr for NodeName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let address: NodeAddress = s.parse()?;
        match address.port {
            Some(_) => Err(NameError::UnexpectedPort(s.to_string())),
            None => Ok(address.node),
        }
    }
}

impl TryFrom<&str> for NodeName {
    type Error = NameError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// What `connect` accepts: a node name with an optional port, `name@host[:port]`.
///
/// Without a port the port is looked up in the local name directory, which
/// only knows the nodes of this host (as EPMD does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    /// The node's name.
    pub node: NodeName,
    /// The node's distribution port, if given.
    pub port: Option<u16>,
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.node),
            None => write!(f, "{}", self.node),
        }
    }
}

impl FromStr for NodeAddress {
    type Err = NameError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let err_input = || s.to_string();
        let (name, rest) = s
            .split_once('@')
            .ok_or_else(|| NameError::MissingAt(err_input()))?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let parsed = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| NameError::BadPort {
                        input: err_input(),
                        port: port.to_string(),
                    })?;
                (host, Some(parsed))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(NameError::EmptyName(err_input()));
        }
        if host.is_empty() {
            return Err(NameError::EmptyHost(err_input()));
        }
        if name.len() > MAX_NAME_LEN || host.len() > MAX_HOST_LEN {
            return Err(NameError::TooLong(err_input()));
        }
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(NameError::BadNameChar {
                input: err_input(),
                ch,
            });
        }
        if !valid_host(host) {
            return Err(NameError::BadHost {
                input: err_input(),
                host: host.to_string(),
            });
        }
        Ok(NodeAddress {
            node: NodeName {
                full: format!("{name}@{host}"),
                at: name.len(),
            },
            port,
        })
    }
}

fn valid_host(host: &str) -> bool {
    let allowed = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let bad_edge = |c: char| c == '.' || c == '-';
    allowed && !host.starts_with(bad_edge) && !host.ends_with(bad_edge) && !host.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_host() {
        let n: NodeName = "app@127.0.0.1".parse().unwrap();
        assert_eq!(n.name(), "app");
        assert_eq!(n.host(), "127.0.0.1");
        assert_eq!(n.to_string(), "app@127.0.0.1");
        assert_eq!(n, NodeName::new("app", "127.0.0.1").unwrap());
        let n: NodeName = "back-2_x@my-host.local".parse().unwrap();
        assert_eq!(n.name(), "back-2_x");
        assert_eq!(n.host(), "my-host.local");
    }

    #[test]
    fn parses_an_optional_port() {
        let a: NodeAddress = "back@127.0.0.1:9101".parse().unwrap();
        assert_eq!(a.node.as_str(), "back@127.0.0.1");
        assert_eq!(a.port, Some(9101));
        assert_eq!(a.to_string(), "back@127.0.0.1:9101");
        let a: NodeAddress = " back@127.0.0.1 ".parse().unwrap();
        assert_eq!(a.port, None);
    }

    #[test]
    fn a_node_name_has_no_port() {
        assert!(matches!(
            "back@127.0.0.1:9101".parse::<NodeName>(),
            Err(NameError::UnexpectedPort(_))
        ));
    }

    #[test]
    fn rejects_malformed_names() {
        let bad = |s: &str| s.parse::<NodeAddress>().unwrap_err();
        assert!(matches!(bad("app"), NameError::MissingAt(_)));
        assert!(matches!(bad("@host"), NameError::EmptyName(_)));
        assert!(matches!(bad("app@"), NameError::EmptyHost(_)));
        assert!(matches!(bad("app@:90"), NameError::EmptyHost(_)));
        assert!(matches!(
            bad("a/b@host"),
            NameError::BadNameChar { ch: '/', .. }
        ));
        assert!(matches!(
            bad("a.b@host"),
            NameError::BadNameChar { ch: '.', .. }
        ));
        assert!(matches!(bad("app@ho st"), NameError::BadHost { .. }));
        assert!(matches!(bad("app@a@b"), NameError::BadHost { .. }));
        assert!(matches!(bad("app@.host"), NameError::BadHost { .. }));
        assert!(matches!(bad("app@host-"), NameError::BadHost { .. }));
        assert!(matches!(bad("app@a..b"), NameError::BadHost { .. }));
        assert!(matches!(bad("app@host:0"), NameError::BadPort { .. }));
        assert!(matches!(bad("app@host:70000"), NameError::BadPort { .. }));
        assert!(matches!(bad("app@host:x"), NameError::BadPort { .. }));
        assert!(matches!(
            bad("app@::1"),
            NameError::BadPort { .. } | NameError::BadHost { .. }
        ));
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(bad(&format!("{long}@h")), NameError::TooLong(_)));
    }

    #[test]
    fn errors_say_what_is_expected() {
        let e = "app".parse::<NodeName>().unwrap_err().to_string();
        assert!(e.contains("name@host"), "{e}");
    }

    #[test]
    fn names_order_by_their_full_text() {
        let mut v: Vec<NodeName> = ["b@h", "a@z", "a@h"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let v: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        assert_eq!(v, ["a@h", "a@z", "b@h"]);
    }
}
