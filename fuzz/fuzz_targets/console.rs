//! The console: a command line as typed or sent by `rpc` (split into words,
//! completed), or a whole control-socket request line. The first byte picks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        if let Ok(line) = std::str::from_utf8(rest) {
            runtime::fuzzing::console_line(line);
        }
    } else {
        runtime::fuzzing::control_request(rest);
    }
});
