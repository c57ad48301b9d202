//! The frames the fuzzer sends, generated and mutated from a seed: every
//! connection's generator is seeded by a `u64` derived from the run's seed and
//! the session's number, so a failure is replayed by its seed.
//!
//! Frames are built as raw JSON text from fragments, so that they can hold
//! what a JSON library would never write: numbers out of range, nesting past
//! any limit, escaped lone surrogates, bytes that are not UTF-8. Each frame
//! says whether the server's serializer will decode it ([`predict_decodes`]
//! applies the same rules with the same JSON parser): a frame that does not
//! decode ends a WebSocket connection (close 1007), so a session knows when to
//! expect that — and a server that closes on a frame that decodes, or keeps a
//! connection open after one that does not, is noted.

use std::sync::Arc;

use fastrand::Rng;
use serde_json::{json, Value};

use super::target::SocketSpec;

/// A frame as it goes on the wire.
#[derive(Debug, Clone)]
pub enum Wire {
    /// A text frame (or a long-poll line); may be invalid UTF-8.
    Text(Vec<u8>),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Wire {
    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Wire::Text(b) | Wire::Binary(b) => b,
        }
    }
}

/// One generated frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// What kind of input it is (counted per kind).
    pub kind: &'static str,
    /// Its bytes.
    pub wire: Wire,
    /// Whether the server's serializer decodes it into a message.
    pub decodes: bool,
}

/// Which Phoenix serializer a connection uses (`vsn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vsn {
    /// `1.0.0`: JSON objects.
    V1,
    /// `2.0.0`: JSON arrays and binary pushes.
    V2,
}

/// Whether the server's serializer decodes `wire` (the rules of
/// `channels/src/serializer`, with the same `serde_json`).
pub fn predict_decodes(wire: &Wire, vsn: Vsn) -> bool {
    match (wire, vsn) {
        (Wire::Text(bytes), _) => {
            let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
                return false;
            };
            match vsn {
                Vsn::V2 => matches!(&value, Value::Array(items)
                    if items.len() >= 5 && items[2].is_string() && items[3].is_string()),
                Vsn::V1 => matches!(&value, Value::Object(map)
                    if map.get("topic").is_some_and(Value::is_string)
                        && map.get("event").is_some_and(Value::is_string)
                        && map.contains_key("payload")
                        && map.contains_key("ref")),
            }
        }
        (Wire::Binary(_), Vsn::V1) => false,
        (Wire::Binary(data), Vsn::V2) => {
            if data.len() < 5 || data[0] != 0 {
                return false;
            }
            let mut at = 5;
            for &size in &data[1..5] {
                let end = at + usize::from(size);
                match data.get(at..end) {
                    Some(field) if std::str::from_utf8(field).is_ok() => at = end,
                    _ => return false,
                }
            }
            true
        }
    }
}

/// Numbers that break parsers or the code behind them.
const HUGE_NUMBERS: &[&str] = &[
    "1e999",
    "-1e400",
    "1e-400",
    "18446744073709551616",
    "18446744073709551615",
    "-9223372036854775809",
    "9223372036854775807",
    "4611686018427387904",
    "340282366920938463463374607431768211456",
    "1.7976931348623157e308",
    "-0",
    "0.000000000000000000000000000001",
    "123456789012345678901234567890e300",
    "NaN",
    "Infinity",
    "0x10",
    "01",
];

/// Strings a server's text handling may trip on (valid UTF-8 on the wire).
const AWKWARD_STRINGS: &[&str] = &[
    r#""""#,
    r#""\u0000""#,
    r#""\ud800""#,
    r#""\udfff\ud800""#,
    r#""\uffff""#,
    r#""\ufeff""#,
    r#""\u202e""#,
    r#""🎉日本語ü""#,
    r#""\\\\\\\"""#,
    r#""%00%ff""#,
    r#""../../etc/passwd""#,
    r#""phoenix""#,
    r#""phx_join""#,
    r#""*""#,
    r#"":""#,
];

/// Byte sequences that are not UTF-8.
const NOT_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\x80",
    b"\xed\xa0\x80",
    b"\xf5\x80\x80\x80",
    b"\xe2\x82",
    b"\xf0\x9f\x8e",
    b"\xfe\xfe\xff\xff",
];

/// Events channels never expect from a client.
const SERVER_EVENTS: &[&str] = &[
    "phx_reply",
    "phx_close",
    "phx_error",
    "presence_diff",
    "presence_state",
];

/// JSON fragments of one Phoenix message, each raw JSON text.
struct Parts {
    join_ref: String,
    msg_ref: String,
    topic: String,
    event: String,
    payload: String,
}

/// The frame generator of one connection.
pub struct Frames {
    rng: Rng,
    spec: Arc<SocketSpec>,
    vsn: Vsn,
    /// Text must be valid UTF-8 (a WebSocket library writes it).
    utf8_only: bool,
    /// Largest frame the server takes.
    max_frame_bytes: usize,
    next_ref: u64,
    /// Topics joined by this connection's valid joins, with their join refs.
    joined: Vec<(String, String)>,
}

impl Frames {
    /// A generator for a connection to `spec`'s socket, seeded by `seed`.
    pub fn new(
        seed: u64,
        spec: Arc<SocketSpec>,
        vsn: Vsn,
        utf8_only: bool,
        max_frame_bytes: usize,
    ) -> Self {
        Frames {
            rng: Rng::with_seed(seed),
            spec,
            vsn,
            utf8_only,
            max_frame_bytes,
            next_ref: 0,
            joined: Vec::new(),
        }
    }

    /// The generator's random source, for the session's own choices.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The socket this connection is to.
    pub fn spec(&self) -> &SocketSpec {
        &self.spec
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.f64() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.usize(..items.len())]
    }

    fn key(&mut self) -> String {
        let spec = self.spec.clone();
        self.pick(&spec.payload_keys).to_string()
    }

    fn new_ref(&mut self) -> String {
        self.next_ref += 1;
        format!("\"{}\"", self.next_ref)
    }

    fn quoted(text: &str) -> String {
        Value::String(text.to_string()).to_string()
    }

    /// A value to put where a `*` stands in a topic pattern.
    fn topic_fill(&mut self) -> String {
        if !self.spec.known_ids.is_empty() && self.chance(0.4) {
            return {
                let spec = self.spec.clone();
                self.pick(&spec.known_ids).clone()
            };
        }
        match self.rng.u8(..14) {
            0..=3 => self.rng.u32(0..=200).to_string(),
            4 => self.pick(&HUGE_NUMBERS[..9]).to_string(),
            5 => format!("{}:{}", self.rng.i64(..), self.rng.i64(..)),
            6 => "4611686018427387904:-9223372036854775808".into(),
            7 => String::new(),
            8 => "x".repeat(self.rng.usize(100..3000)),
            9 => "üñí©ødé🎉".into(),
            10 => "a:b:c".into(),
            11 => " 1".into(),
            12 => "-1".into(),
            _ => (0..self.rng.usize(1..12))
                .map(|_| self.rng.alphanumeric())
                .collect(),
        }
    }

    /// A topic: one of the socket's patterns filled in, or anything at all.
    fn topic(&mut self) -> String {
        let topic = if self.chance(0.9) {
            let spec = self.spec.clone();
            let pattern = self.pick(&spec.topics).clone();
            let mut topic = String::new();
            for (i, part) in pattern.split('*').enumerate() {
                if i > 0 {
                    topic.push_str(&self.topic_fill());
                }
                topic.push_str(part);
            }
            topic
        } else {
            match self.rng.u8(..4) {
                0 => "phoenix".into(),
                1 => String::new(),
                2 => "x".repeat(self.rng.usize(256..20_000)),
                _ => (0..self.rng.usize(1..30))
                    .map(|_| self.rng.char(..))
                    .collect(),
            }
        };
        // Never the good clients' own topics: their counts must be theirs.
        if self.spec.forbidden_topics.contains(&topic) {
            return "ping".into();
        }
        topic
    }

    fn event(&mut self) -> String {
        match self.rng.u8(..10) {
            0..=6 => {
                let spec = self.spec.clone();
                self.pick(&spec.events).to_string()
            }
            7 => self.pick(SERVER_EVENTS).to_string(),
            8 => format!("ping_{}", self.rng.u32(..)),
            _ => (0..self.rng.usize(0..40))
                .map(|_| self.rng.char(..))
                .collect(),
        }
    }

    /// A random JSON value, nested at most `depth` deep.
    fn value(&mut self, depth: u32) -> Value {
        let leaf = depth == 0 || self.chance(0.5);
        if leaf {
            return match self.rng.u8(..8) {
                0 => Value::Null,
                1 => Value::Bool(self.rng.bool()),
                2 => json!(self.rng.i64(..)),
                3 => json!(self.rng.u64(..)),
                4 => json!(self.rng.f64() * 1e10),
                5 => json!(self.rng.u32(0..1000)),
                _ => Value::String(
                    (0..self.rng.usize(0..24))
                        .map(|_| {
                            if self.chance(0.8) {
                                self.rng.alphanumeric()
                            } else {
                                self.rng.char(..)
                            }
                        })
                        .collect(),
                ),
            };
        }
        if self.rng.bool() {
            Value::Array(
                (0..self.rng.usize(0..5))
                    .map(|_| self.value(depth - 1))
                    .collect(),
            )
        } else {
            let spec = self.spec.clone();
            let keys = &spec.payload_keys;
            Value::Object(
                (0..self.rng.usize(0..5))
                    .map(|_| {
                        let key = if self.chance(0.6) {
                            self.pick(keys).to_string()
                        } else {
                            (0..self.rng.usize(0..10))
                                .map(|_| self.rng.alphanumeric())
                                .collect()
                        };
                        (key, self.value(depth - 1))
                    })
                    .collect(),
            )
        }
    }

    /// A payload a channel might expect: an object of its keys.
    fn payload(&mut self) -> String {
        let spec = self.spec.clone();
        let mut map = serde_json::Map::new();
        for _ in 0..self.rng.usize(0..4) {
            let key = self.pick(&spec.payload_keys).to_string();
            let value = match self.rng.u8(..4) {
                0 if !self.spec.known_ids.is_empty() => {
                    let id = self.pick(&spec.known_ids).clone();
                    id.parse::<u64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(id))
                }
                1 => json!(self.rng.u32(0..5000)),
                _ => self.value(3),
            };
            map.insert(key, value);
        }
        Value::Object(map).to_string()
    }

    fn encode(&self, parts: &Parts) -> Vec<u8> {
        let Parts {
            join_ref,
            msg_ref,
            topic,
            event,
            payload,
        } = parts;
        match self.vsn {
            Vsn::V2 => format!("[{join_ref},{msg_ref},{topic},{event},{payload}]"),
            Vsn::V1 => format!(
                r#"{{"topic":{topic},"event":{event},"payload":{payload},"ref":{msg_ref},"join_ref":{join_ref}}}"#
            ),
        }
        .into_bytes()
    }

    fn frame(&self, kind: &'static str, wire: Wire) -> Frame {
        let wire = match wire {
            Wire::Text(bytes) if self.utf8_only && std::str::from_utf8(&bytes).is_err() => {
                Wire::Text(String::from_utf8_lossy(&bytes).into_owned().into_bytes())
            }
            other => other,
        };
        Frame {
            kind,
            decodes: predict_decodes(&wire, self.vsn),
            wire,
        }
    }

    fn text(&self, kind: &'static str, parts: &Parts) -> Frame {
        self.frame(kind, Wire::Text(self.encode(parts)))
    }

    /// A join of one of the socket's topics, as a client would send it.
    pub fn join(&mut self) -> Frame {
        let topic = self.topic();
        let msg_ref = self.new_ref();
        self.joined.push((topic.clone(), msg_ref.clone()));
        if self.joined.len() > 8 {
            self.joined.remove(0);
        }
        let payload = if self.chance(0.8) {
            self.payload()
        } else {
            self.value(2).to_string()
        };
        let parts = Parts {
            join_ref: msg_ref.clone(),
            msg_ref,
            topic: Self::quoted(&topic),
            event: "\"phx_join\"".into(),
            payload,
        };
        self.text("valid", &parts)
    }

    /// A topic this connection joined (or tried to), else any.
    fn joined_topic(&mut self) -> (String, String) {
        if self.joined.is_empty() || self.chance(0.1) {
            let topic = self.topic();
            return (topic, "null".into());
        }
        self.pick(&self.joined.clone()).clone()
    }

    /// A well-formed message: a join, a push to a joined topic, a heartbeat
    /// or a leave.
    pub fn valid(&mut self) -> Frame {
        let roll = self.rng.u8(..20);
        if roll < 4 {
            return self.join();
        }
        let msg_ref = self.new_ref();
        let parts = if roll < 6 {
            Parts {
                join_ref: "null".into(),
                msg_ref,
                topic: "\"phoenix\"".into(),
                event: "\"heartbeat\"".into(),
                payload: "{}".into(),
            }
        } else if roll < 7 {
            let (topic, join_ref) = self.joined_topic();
            Parts {
                join_ref,
                msg_ref,
                topic: Self::quoted(&topic),
                event: "\"phx_leave\"".into(),
                payload: "{}".into(),
            }
        } else {
            let (topic, join_ref) = self.joined_topic();
            let event = self.event();
            Parts {
                join_ref,
                msg_ref: if self.chance(0.9) {
                    msg_ref
                } else {
                    "null".into()
                },
                topic: Self::quoted(&topic),
                event: Self::quoted(&event),
                payload: self.payload(),
            }
        };
        self.text("valid", &parts)
    }

    /// A fragment of the wrong JSON type.
    fn wrong_value(&mut self) -> String {
        match self.rng.u8(..7) {
            0 => "null".into(),
            1 => self.rng.i64(..).to_string(),
            2 => "true".into(),
            3 => "[]".into(),
            4 => "{}".into(),
            5 => self.value(3).to_string(),
            _ => "[\"1\",{\"a\":[null]}]".into(),
        }
    }

    /// Right shape, wrong types: refs that are objects, topics that are
    /// numbers, payloads that are not objects, too few or too many elements.
    pub fn wrong_types(&mut self) -> Frame {
        let (topic, join_ref) = self.joined_topic();
        let event = self.event();
        let mut parts = Parts {
            join_ref,
            msg_ref: self.new_ref(),
            topic: Self::quoted(&topic),
            event: Self::quoted(&event),
            payload: self.payload(),
        };
        for _ in 0..self.rng.usize(1..3) {
            let wrong = self.wrong_value();
            match self.rng.u8(..5) {
                0 => parts.join_ref = wrong,
                1 => parts.msg_ref = wrong,
                2 => parts.topic = wrong,
                3 => parts.event = wrong,
                _ => parts.payload = wrong,
            }
        }
        let mut bytes = self.encode(&parts);
        match self.rng.u8(..8) {
            // Too few elements, too many, or the other version's shape.
            0 => {
                let items = [parts.join_ref, parts.msg_ref, parts.topic, parts.event];
                let n = self.rng.usize(0..4);
                bytes = format!("[{}]", items[..n].join(",")).into_bytes();
            }
            1 => {
                bytes.pop();
                bytes.extend_from_slice(b",1,2,{\"extra\":true}]");
            }
            2 => bytes = format!("{{\"frame\":{}}}", String::from_utf8_lossy(&bytes)).into_bytes(),
            _ => {}
        }
        self.frame("wrong_types", Wire::Text(bytes))
    }

    /// Numbers out of range, or at the edges, where refs, ids and payload
    /// values go.
    pub fn huge_numbers(&mut self) -> Frame {
        let number = self.pick(HUGE_NUMBERS).to_string();
        let (topic, join_ref) = self.joined_topic();
        let mut parts = Parts {
            join_ref,
            msg_ref: self.new_ref(),
            topic: Self::quoted(&topic),
            event: Self::quoted(&self.event()),
            payload: self.payload(),
        };
        let key = self.key();
        match self.rng.u8(..5) {
            0 => parts.msg_ref = number,
            1 => parts.join_ref = number,
            2 => {
                let prefix = topic.split(':').next().unwrap_or("").to_string();
                parts.topic = Self::quoted(&format!("{prefix}:{}", number.trim_start_matches('-')));
                parts.event = "\"phx_join\"".into();
            }
            3 => parts.payload = format!("{{\"{key}\":{number}}}"),
            _ => parts.payload = format!("{{\"{key}\":\"{number}\",\"n\":[{number},{number}]}}"),
        }
        self.text("huge_numbers", &parts)
    }

    /// Payloads (or refs) nested from a little to far past any parser's
    /// recursion limit.
    pub fn deep_nesting(&mut self) -> Frame {
        let depth = *self.pick(&[2usize, 64, 126, 127, 128, 129, 200, 1000, 10_000, 100_000]);
        let nested = if self.rng.bool() {
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
        };
        let (topic, join_ref) = self.joined_topic();
        let mut parts = Parts {
            join_ref,
            msg_ref: self.new_ref(),
            topic: Self::quoted(&topic),
            event: Self::quoted(&self.event()),
            payload: nested.clone(),
        };
        match self.rng.u8(..4) {
            0 => parts.msg_ref = nested,
            1 => parts.event = "\"phx_join\"".into(),
            _ => {}
        }
        self.text("deep_nesting", &parts)
    }

    /// Strings with escaped lone surrogates, NULs, byte-order marks and
    /// direction overrides — valid UTF-8 on the wire.
    pub fn bad_unicode(&mut self) -> Frame {
        let awkward = self.pick(AWKWARD_STRINGS).to_string();
        let (topic, join_ref) = self.joined_topic();
        let mut parts = Parts {
            join_ref,
            msg_ref: self.new_ref(),
            topic: Self::quoted(&topic),
            event: Self::quoted(&self.event()),
            payload: self.payload(),
        };
        let key = self.key();
        match self.rng.u8(..4) {
            0 => parts.topic = awkward,
            1 => parts.event = awkward,
            2 => parts.msg_ref = awkward,
            _ => parts.payload = format!("{{\"{key}\":{awkward}}}"),
        }
        self.text("bad_unicode", &parts)
    }

    /// A message with bytes that are not UTF-8 inside one of its strings.
    /// Over a WebSocket library (`utf8_only`) the bytes are replaced by
    /// U+FFFD, so this kind is only drawn where raw bytes can be sent.
    pub fn invalid_utf8(&mut self) -> Frame {
        let (topic, join_ref) = self.joined_topic();
        let event = self.event();
        let parts = Parts {
            join_ref,
            msg_ref: self.new_ref(),
            topic: Self::quoted(&topic),
            event: Self::quoted(&event),
            payload: self.payload(),
        };
        let mut bytes = self.encode(&parts);
        let bad = self.pick(NOT_UTF8);
        // Inside the first string of the frame, after its opening quote.
        let at = bytes.iter().position(|&b| b == b'"').map_or(0, |q| q + 1);
        bytes.splice(at..at, bad.iter().copied());
        Frame {
            kind: "invalid_utf8",
            decodes: false,
            wire: Wire::Text(bytes),
        }
    }

    /// A valid message with one to eight byte-level mutations: bit flips,
    /// interesting bytes, deleted, repeated or inserted spans, truncation.
    pub fn mutated(&mut self) -> Frame {
        let mut bytes = self.valid().wire.bytes().to_vec();
        for _ in 0..self.rng.usize(1..=8) {
            if bytes.is_empty() {
                bytes.push(b'[');
            }
            let at = self.rng.usize(..bytes.len());
            match self.rng.u8(..8) {
                0 => bytes[at] ^= 1 << self.rng.u8(..8),
                1 => bytes[at] = *self.pick(b"\"\\[]{},:0-e\x00\x7f\xff"),
                2 => {
                    let end = (at + self.rng.usize(1..16)).min(bytes.len());
                    bytes.drain(at..end);
                }
                3 => {
                    let end = (at + self.rng.usize(1..32)).min(bytes.len());
                    let span = bytes[at..end].to_vec();
                    for _ in 0..self.rng.usize(1..64) {
                        bytes.splice(at..at, span.iter().copied());
                    }
                }
                4 => {
                    let token: &[u8] = self.pick::<&[u8]>(&[
                        &b"null"[..],
                        b"1e999",
                        b"\\u0000",
                        b"\\ud800",
                        b"[[[[",
                        b"}}}}",
                        b"\",\"",
                        b"\\",
                    ]);
                    bytes.splice(at..at, token.iter().copied());
                }
                5 => bytes.truncate(at),
                6 => {
                    let random: Vec<u8> =
                        (0..self.rng.usize(1..8)).map(|_| self.rng.u8(..)).collect();
                    bytes.splice(at..at, random);
                }
                _ => {
                    let other = self.rng.usize(..bytes.len());
                    bytes.swap(at, other);
                }
            }
        }
        self.frame("mutated", Wire::Text(bytes))
    }

    /// Random bytes, printable or not.
    pub fn random(&mut self) -> Frame {
        let len = self.rng.usize(0..512);
        let bytes: Vec<u8> = if self.rng.bool() {
            (0..len).map(|_| self.rng.u8(0x20..0x7f)).collect()
        } else {
            (0..len).map(|_| self.rng.u8(..)).collect()
        };
        self.frame("random", Wire::Text(bytes))
    }

    /// A V2 binary push: well-formed, or with its header lying (kind, sizes,
    /// fields that are not UTF-8, frames shorter than their header).
    pub fn binary(&mut self) -> Frame {
        let (topic, join_ref) = self.joined_topic();
        let fields = [
            join_ref.trim_matches('"').to_string(),
            self.new_ref().trim_matches('"').to_string(),
            topic,
            self.event(),
        ];
        let mut data = vec![0u8];
        let mut body = Vec::new();
        for field in &fields {
            let bytes = &field.as_bytes()[..field.len().min(255)];
            data.push(bytes.len() as u8);
            body.extend_from_slice(bytes);
        }
        data.extend_from_slice(&body);
        let payload_len = self.rng.usize(0..2048);
        data.extend((0..payload_len).map(|_| self.rng.u8(..)));
        match self.rng.u8(..8) {
            0 => data[0] = *self.pick(&[1u8, 2, 3, 255]),
            1 => {
                let i = self.rng.usize(1..5);
                data[i] = 255;
                data.truncate(5 + self.rng.usize(0..40));
            }
            2 => data.truncate(self.rng.usize(0..5)),
            3 => {
                // A field that is not UTF-8.
                data[1] = data[1].max(1);
                data[5] = 0xff;
            }
            _ => {}
        }
        self.frame("binary", Wire::Binary(data))
    }

    /// One text frame just over the server's frame limit (it closes 1009
    /// before decoding anything).
    pub fn oversized(&mut self) -> Frame {
        let size = self.max_frame_bytes + 1 + self.rng.usize(0..64 * 1024);
        let mut bytes = br#"["1","1","ping","ping",{"pad":""#.to_vec();
        bytes.resize(size - 3, b'a');
        bytes.extend_from_slice(b"\"}]");
        Frame {
            kind: "oversized",
            decodes: false,
            wire: Wire::Text(bytes),
        }
    }

    /// Phoenix control messages at the wrong time: leaves of topics never
    /// joined or with another join's ref, pushes before any join, server
    /// events sent by the client, joins without refs, heartbeats on the
    /// wrong topic, the same join twice.
    pub fn wrong_time(&mut self) -> Frame {
        let msg_ref = self.new_ref();
        let (topic, join_ref) = self.joined_topic();
        let parts = match self.rng.u8(..7) {
            0 => Parts {
                join_ref: "\"999999\"".into(),
                msg_ref,
                topic: Self::quoted(&topic),
                event: "\"phx_leave\"".into(),
                payload: "{}".into(),
            },
            1 => Parts {
                join_ref,
                msg_ref,
                topic: Self::quoted(&topic),
                event: Self::quoted(self.pick::<&str>(SERVER_EVENTS)),
                payload: r#"{"status":"ok","response":{}}"#.into(),
            },
            2 => Parts {
                join_ref: "null".into(),
                msg_ref: "null".into(),
                topic: Self::quoted(&topic),
                event: "\"phx_join\"".into(),
                payload: "{}".into(),
            },
            3 => Parts {
                join_ref: "null".into(),
                msg_ref,
                topic: Self::quoted(&topic),
                event: "\"heartbeat\"".into(),
                payload: "{}".into(),
            },
            4 => Parts {
                join_ref: "null".into(),
                msg_ref,
                topic: "\"phoenix\"".into(),
                event: Self::quoted(&self.event()),
                payload: "{}".into(),
            },
            5 => Parts {
                // A rejoin: the earlier channel is replaced.
                join_ref: msg_ref.clone(),
                msg_ref,
                topic: Self::quoted(&topic),
                event: "\"phx_join\"".into(),
                payload: self.payload(),
            },
            _ => Parts {
                join_ref: "\"1\"".into(),
                msg_ref: "\"1\"".into(),
                topic: Self::quoted(&topic),
                event: Self::quoted(&self.event()),
                payload: self.payload(),
            },
        };
        self.text("wrong_time", &parts)
    }

    /// `n` joins of distinct topics, as fast as they can be sent: past the
    /// channel limit (100 per connection), and past the message rate limit
    /// when `n` is large.
    pub fn join_flood(&mut self, n: usize) -> Vec<Frame> {
        (0..n)
            .map(|i| {
                let topic = match self.spec.topics.first() {
                    Some(pattern) => pattern.replace('*', &format!("flood{i}")),
                    None => format!("flood:{i}"),
                };
                let msg_ref = self.new_ref();
                let topic = if self.spec.forbidden_topics.contains(&topic) {
                    format!("flood:{i}")
                } else {
                    topic
                };
                let parts = Parts {
                    join_ref: msg_ref.clone(),
                    msg_ref,
                    topic: Self::quoted(&topic),
                    event: "\"phx_join\"".into(),
                    payload: "{}".into(),
                };
                self.text("join_flood", &parts)
            })
            .collect()
    }

    /// A frame of any kind but the flood and the oversized frame, by weight;
    /// raw bytes that are not UTF-8 only when the transport can send them.
    pub fn any(&mut self) -> Frame {
        let roll = self.rng.u32(..100);
        match roll {
            0..=29 => self.valid(),
            30..=39 => self.wrong_types(),
            40..=46 => self.huge_numbers(),
            47..=52 => self.deep_nesting(),
            53..=57 => self.bad_unicode(),
            58..=61 if !self.utf8_only => self.invalid_utf8(),
            58..=61 => self.bad_unicode(),
            62..=79 => self.mutated(),
            80..=82 => self.random(),
            83..=90 => self.binary(),
            _ => self.wrong_time(),
        }
    }

    /// A frame of any kind that the server decodes (drawn until one does).
    pub fn decodable(&mut self) -> Frame {
        loop {
            let frame = self.any();
            if frame.decodes {
                return frame;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SocketSpec {
        SocketSpec {
            path: "/socket".into(),
            params: vec![String::new()],
            longpoll: true,
            topics: vec!["bench:*".into(), "ping".into()],
            events: vec!["ping", "broadcast"],
            payload_keys: vec!["item_id", "n"],
            known_ids: vec![],
            forbidden_topics: vec!["bench:good".into()],
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_frames() {
        let run = |seed| {
            let mut frames = Frames::new(seed, Arc::new(spec()), Vsn::V2, false, 1 << 20);
            (0..200)
                .map(|_| frames.any().wire.bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn the_prediction_follows_the_serializers_rules() {
        let text = |s: &str| Wire::Text(s.as_bytes().to_vec());
        assert!(predict_decodes(&text(r#"["1","2","t","e",{}]"#), Vsn::V2));
        assert!(predict_decodes(&text(r#"[{},[],"t","e",1,2]"#), Vsn::V2));
        assert!(!predict_decodes(&text(r#"["1","2",3,"e",{}]"#), Vsn::V2));
        assert!(!predict_decodes(&text(r#"["1","2","t","e"]"#), Vsn::V2));
        assert!(!predict_decodes(
            &text(r#"["1",1e999,"t","e",{}]"#),
            Vsn::V2
        ));
        let deep = format!(
            r#"["1","2","t","e",{}{}]"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(!predict_decodes(&text(&deep), Vsn::V2));
        assert!(predict_decodes(
            &text(r#"{"topic":"t","event":"e","payload":{},"ref":null}"#),
            Vsn::V1
        ));
        assert!(!predict_decodes(
            &text(r#"{"topic":"t","event":"e","payload":{}}"#),
            Vsn::V1
        ));
        assert!(predict_decodes(
            &Wire::Binary(vec![0, 1, 0, 1, 1, b'a', b't', b'e', 9]),
            Vsn::V2
        ));
        assert!(!predict_decodes(
            &Wire::Binary(vec![0, 1, 0, 1, 1, b'a', b't']),
            Vsn::V2
        ));
        assert!(!predict_decodes(
            &Wire::Binary(vec![0, 1, 0, 1, 1, 0xff, b't', b'e']),
            Vsn::V2
        ));
        assert!(!predict_decodes(
            &Wire::Binary(vec![0, 0, 0, 0, 0]),
            Vsn::V1
        ));
    }

    #[test]
    fn every_kind_is_drawn_and_the_good_topics_never_are() {
        let mut frames = Frames::new(1, Arc::new(spec()), Vsn::V2, false, 1 << 20);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let frame = frames.any();
            kinds.insert(frame.kind);
            let text = String::from_utf8_lossy(frame.wire.bytes()).into_owned();
            assert!(!text.contains("\"bench:good\""), "{text}");
        }
        let all = [
            "valid",
            "wrong_types",
            "huge_numbers",
            "deep_nesting",
            "bad_unicode",
            "invalid_utf8",
            "mutated",
            "random",
            "binary",
            "wrong_time",
        ];
        assert_eq!(kinds, all.into_iter().collect());
    }

    #[test]
    fn text_for_a_websocket_library_is_always_utf8() {
        let mut frames = Frames::new(3, Arc::new(spec()), Vsn::V2, true, 1 << 20);
        for _ in 0..5000 {
            if let Wire::Text(bytes) = frames.any().wire {
                assert!(std::str::from_utf8(&bytes).is_ok());
            }
        }
    }

    #[test]
    fn an_oversized_frame_is_just_over_the_limit() {
        let mut frames = Frames::new(5, Arc::new(spec()), Vsn::V2, true, 1000);
        let frame = frames.oversized();
        assert!(frame.wire.bytes().len() > 1000);
        assert!(serde_json::from_slice::<Value>(frame.wire.bytes()).is_ok());
    }
}
