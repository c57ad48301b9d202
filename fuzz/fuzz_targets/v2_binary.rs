//! A binary frame on a V2 connection: phoenix.js's binary push layout
//! (kind, lengths, join ref, ref, topic, event, payload bytes).
#![no_main]

use channels::serializer::{Frame, Serializer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Serializer::V2.decode(&Frame::Binary(data.to_vec().into()));
});
