//! Writes the seed corpus, `fuzz/seeds/<target>/`, from real messages made
//! by the real encoders (the `fuzzing` modules' examples) and the frames the
//! wire specification shows. Run by `scripts/fuzz.sh --write-seeds`; the
//! result is committed.

use std::path::Path;

use channels::token::{SignOptions, Signer};
use store_app::web::{ADMIN_TOKEN_SALT, CART_SOCKET_SALT};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, bytes: Vec<u8>| seeds.push((target, bytes));

    let v1 = [
        r#"{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#,
        r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}"#,
        r#"{"topic":"cart:abc","event":"add_item","payload":{"item_id":"2"},"ref":"3","join_ref":"1"}"#,
    ];
    let v2 = [
        r#"["1","1","room:lobby","phx_join",{}]"#,
        r#"[null,"2","phoenix","heartbeat",{}]"#,
        r#"["1","3","cart:abc","add_item",{"item_id":"2"}]"#,
        r#"["1","4","room:lobby","phx_leave",{}]"#,
        r#"["1","5","ping","ping",{"n":[1,2.5,-3e10,true,null,"é\u0000"]}]"#,
    ];
    for frame in v1 {
        add("v1_json", frame.into());
    }
    for frame in v2 {
        add("v2_json", frame.into());
    }
    // Binary push: kind 0, then the lengths of join_ref, ref, topic, event,
    // then those strings, then the payload bytes.
    let (join_ref, msg_ref, topic, event) = ("1", "7", "room:lobby", "file");
    let mut push = vec![
        0,
        join_ref.len() as u8,
        msg_ref.len() as u8,
        topic.len() as u8,
        event.len() as u8,
    ];
    for part in [join_ref, msg_ref, topic, event] {
        push.extend_from_slice(part.as_bytes());
    }
    push.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    add("v2_binary", push);
    add(
        "longpoll_body",
        [b"\x00".as_slice(), v2.join("\n").as_bytes()].concat(),
    );
    add(
        "longpoll_body",
        [b"\x01".as_slice(), v1.join("\n").as_bytes()].concat(),
    );

    // Tokens: as sent (one valid, one from another secret), and payloads to
    // be signed by the target (pick byte 1, 3, 5, 7: the salts in order).
    let fuzz_signer = Signer::new(channels::fuzzing::SECRET_KEY_BASE);
    let other = Signer::new("another-secret-key-base-".repeat(3));
    let valid = fuzz_signer.sign(CART_SOCKET_SALT, &"cart-id");
    let forged = other.sign(CART_SOCKET_SALT, &"cart-id");
    let expired = fuzz_signer.sign_with(
        ADMIN_TOKEN_SALT,
        &"admin",
        SignOptions {
            signed_at: Some(std::time::UNIX_EPOCH),
            ..SignOptions::default()
        },
    );
    for token in [valid, forged, expired] {
        add("tokens", [b"\x00".as_slice(), token.as_bytes()].concat());
    }
    let signed_at = 1_796_291_538_736u64;
    let payloads = [
        (1u8, format!(r#"["cart-id",{signed_at},86400]"#)),
        (3, format!(r#"["cart-id",{signed_at},604800]"#)),
        (5, format!(r#"["admin",{signed_at},300]"#)),
        (
            7,
            format!(r#"[{{"items":[{{"item_id":2,"product_id":1}}]}},{signed_at},604800]"#),
        ),
    ];
    for (pick, payload) in payloads {
        add("tokens", [vec![pick], payload.into_bytes()].concat());
    }

    for line in [
        "node.connect back@127.0.0.1",
        r#"pubsub.broadcast ping hi {"a": "b c", "d": [1, "]"]}"#,
        r#"inventory.release 'two words' "esc\"aped" a"b c"d"#,
        "# a comment",
    ] {
        add("console", [b"\x00".as_slice(), line.as_bytes()].concat());
    }
    for request in [
        r#"{"cookie":"c","command":"node.list"}"#,
        r#"{"cookie":"c","complete":{"line":"node.connect b","pos":14}}"#,
    ] {
        add("console", [b"\x01".as_slice(), request.as_bytes()].concat());
    }

    for bytes in runtime::fuzzing::monitor_examples() {
        add("cluster_wire", [vec![0], bytes].concat());
    }
    for (kind, bytes) in channels::fuzzing::cluster_examples() {
        let pick = if kind == "cluster_broadcast" { 1 } else { 2 };
        add("cluster_wire", [vec![pick], bytes].concat());
    }
    for (kind, bytes) in store_app::fuzzing::examples() {
        let pick = if kind == "store_call" { 3 } else { 4 };
        add("cluster_wire", [vec![pick], bytes].concat());
    }

    let mut counts = std::collections::BTreeMap::new();
    for (target, bytes) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("a seeds directory");
        let n = counts.entry(target).or_insert(0);
        *n += 1;
        std::fs::write(dir.join(format!("seed-{n:02}")), bytes).expect("a seed written");
    }
    for (target, n) in counts {
        println!("{target}: {n} seeds");
    }
}
