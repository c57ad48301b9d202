//! A WebSocket frame on a V1 (`vsn=1.0.0`, JSON objects) connection. Text
//! frames reach the decoder only as UTF-8 (the WebSocket layer checks it);
//! a binary frame is refused by V1.
#![no_main]

use channels::serializer::{Frame, Serializer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Serializer::V1.decode(&Frame::Text(text.into()));
    }
    let _ = Serializer::V1.decode(&Frame::Binary(data.to_vec().into()));
});
