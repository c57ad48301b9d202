//! What a well-behaved client sends and what it must get back, whatever the
//! transport: every push answered by a reply with its own ref and the right
//! content, every broadcast received once, in order, with no gap.
//!
//! A [`Checker`] writes a client's frames (V2 JSON, as phoenix.js does) and
//! reads everything the server sends it. Broadcasts are numbered: on
//! hello_sockets the broadcaster pushes `broadcast {"i": k}` and every member
//! must get `bcast {"i": k}` for k = 0, 1, 2…; on the store one tab adds and
//! removes a size in turn and every other tab must get the whole cart after
//! each change, the size in it after an add and gone after a remove.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::target::{Flavor, GoodPlan};

/// Most failure messages a report keeps.
const MAX_FAILURES: usize = 20;

/// What a reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// A join of this topic.
    Join(String),
    /// The n-th echo push.
    Echo(u64),
    /// The k-th broadcasting push (the broadcaster's).
    Change(u64),
    /// A heartbeat.
    Heartbeat,
}

/// What one frame from the server was, for the client driving the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A reply to a pending push; `ok`: as expected.
    Reply(Pending, bool),
    /// A numbered broadcast (or the cart pushed right after the join).
    Broadcast,
    /// Anything else (presence, pushes of other topics).
    Other,
}

/// One well-behaved client's bookkeeping.
#[derive(Debug)]
pub struct Checker {
    name: String,
    plan: GoodPlan,
    next_ref: u64,
    join_refs: HashMap<String, String>,
    outstanding: HashMap<String, Pending>,
    next_echo: u64,
    /// The store pushes the cart right after the join: not a broadcast.
    initial_push_due: bool,
    /// Replies the client waits or waited for.
    pub replies_expected: u64,
    /// Replies that came, right or wrong.
    pub replies_received: u64,
    /// Numbered broadcasts received.
    pub broadcasts_received: u64,
    failures: Vec<String>,
    failures_dropped: u64,
}

impl Checker {
    /// A checker for the client `name` following `plan`.
    pub fn new(name: impl Into<String>, plan: GoodPlan) -> Self {
        Checker {
            name: name.into(),
            initial_push_due: matches!(plan.flavor, Flavor::Cart { .. }),
            plan,
            next_ref: 0,
            join_refs: HashMap::new(),
            outstanding: HashMap::new(),
            next_echo: 0,
            replies_expected: 0,
            replies_received: 0,
            broadcasts_received: 0,
            failures: Vec::new(),
            failures_dropped: 0,
        }
    }

    /// Records a failure (the first `MAX_FAILURES` are kept).
    pub fn fail(&mut self, what: impl std::fmt::Display) {
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(format!("{}: {what}", self.name));
        } else {
            self.failures_dropped += 1;
        }
    }

    /// Whether anything went wrong.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// What went wrong so far.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Replies still awaited.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether the store's after-join cart push is still to come.
    pub fn initial_push_due(&self) -> bool {
        self.initial_push_due
    }

    fn frame(&mut self, topic: &str, event: &str, payload: Value, pending: Pending) -> String {
        self.next_ref += 1;
        let msg_ref = self.next_ref.to_string();
        let join_ref = if event == "phx_join" {
            self.join_refs.insert(topic.to_string(), msg_ref.clone());
            Value::String(msg_ref.clone())
        } else {
            self.join_refs
                .get(topic)
                .map_or(Value::Null, |r| Value::String(r.clone()))
        };
        self.outstanding.insert(msg_ref.clone(), pending);
        self.replies_expected += 1;
        json!([join_ref, msg_ref, topic, event, payload]).to_string()
    }

    /// The joins of the plan's topics (one when they are the same).
    pub fn joins(&mut self) -> Vec<String> {
        let mut topics = vec![self.plan.broadcast_topic.clone()];
        if self.plan.echo_topic != self.plan.broadcast_topic {
            topics.push(self.plan.echo_topic.clone());
        }
        topics
            .into_iter()
            .map(|topic| self.frame(&topic, "phx_join", json!({}), Pending::Join(topic.clone())))
            .collect()
    }

    /// The next echo push.
    pub fn echo(&mut self) -> String {
        let n = self.next_echo;
        self.next_echo += 1;
        let topic = self.plan.echo_topic.clone();
        let (event, payload) = match self.plan.flavor {
            Flavor::Bench => ("ping", json!({"n": n, "from": self.name})),
            Flavor::Cart { .. } => ("netfuzz_check", json!({"n": n})),
        };
        self.frame(&topic, event, payload, Pending::Echo(n))
    }

    /// The broadcaster's k-th push.
    pub fn change(&mut self, k: u64) -> String {
        let topic = self.plan.broadcast_topic.clone();
        let (event, payload) = match self.plan.flavor {
            Flavor::Bench => ("broadcast", json!({"i": k})),
            Flavor::Cart { item_id } if k % 2 == 0 => ("add_item", json!({"item_id": item_id})),
            Flavor::Cart { item_id } => ("remove_item", json!({"item_id": item_id})),
        };
        self.frame(&topic, event, payload, Pending::Change(k))
    }

    /// A heartbeat.
    pub fn heartbeat(&mut self) -> String {
        self.frame("phoenix", "heartbeat", json!({}), Pending::Heartbeat)
    }

    /// Reads one text frame from the server.
    pub fn receive(&mut self, text: &str) -> Received {
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
            self.fail(format!(
                "a frame that is not a V2 message: {}",
                shorten(text)
            ));
            return Received::Other;
        };
        let [join_ref, msg_ref, topic, event, payload] = match <[Value; 5]>::try_from(items) {
            Ok(items) => items,
            Err(_) => {
                self.fail(format!("a message without 5 elements: {}", shorten(text)));
                return Received::Other;
            }
        };
        let (Some(topic), Some(event)) = (topic.as_str(), event.as_str()) else {
            self.fail(format!(
                "a message with no topic or event: {}",
                shorten(text)
            ));
            return Received::Other;
        };
        match event {
            "phx_reply" => self.reply(msg_ref, topic, &payload),
            "phx_error" | "phx_close"
                if topic == self.plan.broadcast_topic || topic == self.plan.echo_topic =>
            {
                let current = self.join_refs.get(topic).map(|r| Value::String(r.clone()));
                if current.as_ref() == Some(&join_ref) {
                    self.fail(format!("{event} on {topic}: the channel went away"));
                }
                Received::Other
            }
            _ if topic == self.plan.broadcast_topic && event == self.broadcast_event() => {
                self.broadcast(&payload);
                Received::Broadcast
            }
            _ => Received::Other,
        }
    }

    fn broadcast_event(&self) -> &'static str {
        match self.plan.flavor {
            Flavor::Bench => "bcast",
            Flavor::Cart { .. } => "cart",
        }
    }

    fn reply(&mut self, msg_ref: Value, topic: &str, payload: &Value) -> Received {
        let Some(msg_ref) = msg_ref.as_str() else {
            self.fail(format!(
                "a reply without a string ref on {topic}: {payload}"
            ));
            return Received::Other;
        };
        let Some(pending) = self.outstanding.remove(msg_ref) else {
            self.fail(format!(
                "a reply to ref {msg_ref}, which is not awaited: {payload}"
            ));
            return Received::Other;
        };
        self.replies_received += 1;
        let status = payload.get("status").and_then(Value::as_str);
        let response = payload.get("response").cloned().unwrap_or(Value::Null);
        let ok = match (&pending, &self.plan.flavor) {
            (Pending::Join(_) | Pending::Heartbeat | Pending::Change(_), _) => status == Some("ok"),
            (Pending::Echo(n), Flavor::Bench) => {
                status == Some("ok") && response.get("n") == Some(&json!(n))
            }
            (Pending::Echo(_), Flavor::Cart { .. }) => {
                status == Some("error")
                    && response
                        .get("reason")
                        .and_then(Value::as_str)
                        .is_some_and(|r| r.contains("netfuzz_check"))
            }
        };
        if !ok {
            self.fail(format!(
                "ref {msg_ref} ({pending:?}) on {topic} was answered {payload}"
            ));
        }
        Received::Reply(pending, ok)
    }

    fn broadcast(&mut self, payload: &Value) {
        if std::mem::take(&mut self.initial_push_due) {
            if payload
                .get("items")
                .and_then(Value::as_array)
                .is_none_or(|i| !i.is_empty())
            {
                self.fail(format!(
                    "the cart pushed after the join is not empty: {payload}"
                ));
            }
            return;
        }
        let k = self.broadcasts_received;
        self.broadcasts_received += 1;
        match self.plan.flavor {
            Flavor::Bench => {
                let i = payload.get("i").and_then(Value::as_u64);
                if i != Some(k) {
                    self.fail(format!("broadcast {k} expected, got {payload}"));
                }
            }
            Flavor::Cart { item_id } => {
                let holds = payload
                    .get("items")
                    .and_then(Value::as_array)
                    .is_some_and(|items| {
                        items.iter().any(|i| i.get("id") == Some(&json!(item_id)))
                    });
                // After change k: an add when k is even, a remove when odd.
                if holds != (k % 2 == 0) {
                    self.fail(format!(
                        "cart {k} should {}hold item {item_id}: {}",
                        if k % 2 == 0 { "" } else { "not " },
                        shorten(&payload.to_string())
                    ));
                }
            }
        }
    }

    /// Hands the counts and failures to the report.
    pub fn into_report(self, broadcasts_expected: u64) -> GoodReport {
        GoodReport {
            clients: 1,
            replies_expected: self.replies_expected,
            replies_received: self.replies_received,
            broadcasts_expected,
            broadcasts_received: self.broadcasts_received,
            failures: self.failures,
            failures_dropped: self.failures_dropped,
        }
    }
}

fn shorten(text: &str) -> String {
    if text.len() <= 300 {
        return text.to_string();
    }
    let mut end = 300;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What the well-behaved clients saw, together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoodReport {
    /// How many there were.
    pub clients: u64,
    /// Replies they waited for.
    pub replies_expected: u64,
    /// Replies that came.
    pub replies_received: u64,
    /// Numbered broadcasts they should have received (each listener counts
    /// every broadcast).
    pub broadcasts_expected: u64,
    /// Numbered broadcasts they received.
    pub broadcasts_received: u64,
    /// Everything that went wrong, each with its client's name.
    pub failures: Vec<String>,
    /// Failures not kept.
    pub failures_dropped: u64,
}

impl GoodReport {
    /// Adds another client's report.
    pub fn merge(&mut self, other: GoodReport) {
        self.clients += other.clients;
        self.replies_expected += other.replies_expected;
        self.replies_received += other.replies_received;
        self.broadcasts_expected += other.broadcasts_expected;
        self.broadcasts_received += other.broadcasts_received;
        for failure in other.failures {
            if self.failures.len() < MAX_FAILURES {
                self.failures.push(failure);
            } else {
                self.failures_dropped += 1;
            }
        }
        self.failures_dropped += other.failures_dropped;
    }

    /// Every reply and every broadcast came, and all were right.
    pub fn lost_nothing(&self) -> bool {
        self.clients > 0
            && self.replies_received == self.replies_expected
            && self.broadcasts_received == self.broadcasts_expected
            && self.failures.is_empty()
            && self.failures_dropped == 0
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "clients": self.clients,
            "replies_expected": self.replies_expected,
            "replies_received": self.replies_received,
            "broadcasts_expected": self.broadcasts_expected,
            "broadcasts_received": self.broadcasts_received,
            "failures": self.failures,
            "failures_dropped": self.failures_dropped,
            "lost_nothing": self.lost_nothing(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(flavor: Flavor) -> GoodPlan {
        GoodPlan {
            socket_path: "/socket".into(),
            params: String::new(),
            broadcast_topic: "bench:g".into(),
            echo_topic: "bench:g".into(),
            flavor,
        }
    }

    #[test]
    fn replies_are_matched_by_ref_and_checked() {
        let mut checker = Checker::new("c", plan(Flavor::Bench));
        let join = checker.joins().remove(0);
        assert_eq!(join, r#"["1","1","bench:g","phx_join",{}]"#);
        let echo = checker.echo();
        assert!(echo.starts_with(r#"["1","2","bench:g","ping","#), "{echo}");
        let reply =
            r#"["1","2","bench:g","phx_reply",{"status":"ok","response":{"n":0,"from":"c"}}]"#;
        assert_eq!(
            checker.receive(reply),
            Received::Reply(Pending::Echo(0), true)
        );
        assert_eq!(checker.outstanding(), 1);
        let joined = r#"["1","1","bench:g","phx_reply",{"status":"ok","response":{}}]"#;
        assert_eq!(
            checker.receive(joined),
            Received::Reply(Pending::Join("bench:g".into()), true)
        );
        let report = checker.into_report(0);
        assert!(report.lost_nothing(), "{report:?}");
    }

    #[test]
    fn a_wrong_reply_a_gap_and_a_missing_reply_are_failures() {
        let mut checker = Checker::new("c", plan(Flavor::Bench));
        checker.joins();
        checker.echo();
        let wrong = r#"["1","2","bench:g","phx_reply",{"status":"ok","response":{"n":5}}]"#;
        assert_eq!(
            checker.receive(wrong),
            Received::Reply(Pending::Echo(0), false)
        );
        checker.receive(r#"[null,null,"bench:g","bcast",{"i":0}]"#);
        checker.receive(r#"[null,null,"bench:g","bcast",{"i":2}]"#);
        let report = checker.into_report(3);
        assert_eq!(report.replies_expected, 2);
        assert_eq!(report.replies_received, 1);
        assert_eq!(report.broadcasts_received, 2);
        assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
        assert!(!report.lost_nothing());
    }

    #[test]
    fn carts_alternate_after_the_initial_push() {
        let mut checker = Checker::new("tab", plan(Flavor::Cart { item_id: 9 }));
        assert!(checker.initial_push_due());
        checker.receive(r#"[null,null,"bench:g","cart",{"items":[]}]"#);
        assert!(!checker.initial_push_due());
        checker.receive(r#"[null,null,"bench:g","cart",{"items":[{"id":9}]}]"#);
        checker.receive(r#"[null,null,"bench:g","cart",{"items":[]}]"#);
        assert!(checker.into_report(2).lost_nothing());
        let mut checker = Checker::new("tab", plan(Flavor::Cart { item_id: 9 }));
        checker.receive(r#"[null,null,"bench:g","cart",{"items":[]}]"#);
        checker.receive(r#"[null,null,"bench:g","cart",{"items":[]}]"#);
        assert!(!checker.into_report(1).lost_nothing());
    }
}
