//! A text frame on a V2 (`vsn=2.0.0`, JSON arrays) connection: what
//! phoenix.js sends. Text frames reach the decoder only as UTF-8.
#![no_main]

use channels::serializer::{Frame, Serializer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Serializer::V2.decode(&Frame::Text(text.into()));
    }
});
