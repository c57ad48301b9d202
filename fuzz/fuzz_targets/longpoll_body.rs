//! A long-poll `POST` body: newline-separated messages, decoded until the
//! first bad one. The first byte picks the connection's serializer.
#![no_main]

use channels::serializer::Serializer;
use channels::transport::longpoll::body_messages;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let serializer = if pick % 2 == 0 {
        Serializer::V2
    } else {
        Serializer::V1
    };
    if let Ok(messages) = body_messages(serializer, body) {
        for message in messages {
            if message.is_err() {
                break;
            }
        }
    }
});
