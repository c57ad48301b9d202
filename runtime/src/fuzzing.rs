//! Entry points for the fuzz targets in `fuzz/`, compiled only under
//! `cargo fuzz` (which sets `--cfg fuzzing`). Each takes untrusted input to
//! the code that reads it in a running node; none may panic, hang or
//! allocate without bound, whatever the input.

use ractor::message::SerializedMessage;

use crate::console::control::Request;
use crate::console::parse;

/// A console line (typed at `remote`, or sent by `rpc`): split into words,
/// and the words before a few cursor positions, as completion asks.
pub fn console_line(line: &str) {
    let _ = parse::split(line);
    for pos in [0, line.len() / 2, line.len()] {
        let pos = (0..=pos)
            .rev()
            .find(|p| line.is_char_boundary(*p))
            .unwrap_or(0);
        let _ = parse::words_before(line, pos);
    }
}

/// A line on the control socket, read as the node reads it (then its
/// command or completion line split).
pub fn control_request(line: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<Request>(line) {
        if let Some(command) = &request.command {
            console_line(command);
        }
        if let Some(completion) = &request.complete {
            // The cursor comes from the client too.
            let _ = parse::words_before(&completion.line, completion.pos);
        }
    }
}

/// A cast for the node monitor from a peer node, as ractor_cluster hands it
/// over.
pub fn monitor_cast(args: &[u8]) {
    let message = SerializedMessage::Cast {
        variant: String::new(),
        args: args.to_vec(),
        metadata: None,
    };
    let _ = <crate::node::monitor::MonitorMsg as ractor::Message>::deserialize(message);
}

/// Real monitor casts (bincode), for the seed corpus.
pub fn monitor_examples() -> Vec<Vec<u8>> {
    use crate::node::monitor::Wire;
    let messages = [
        Wire::Tick {
            from: "a@127.0.0.1".into(),
            to: "b@127.0.0.1".into(),
            services: 3,
        },
        Wire::Services {
            from: "a@127.0.0.1".into(),
            to: "b@127.0.0.1".into(),
            version: 3,
            names: vec!["store".into()],
        },
        Wire::SyncServices {
            from: "b@127.0.0.1".into(),
            to: "a@127.0.0.1".into(),
        },
    ];
    messages
        .iter()
        .filter_map(|m| crate::node::wire::encode(m).ok())
        .collect()
}
