//! What another node sends, decoded as the receiving node decodes it: node
//! monitor casts, cluster PubSub broadcasts (bincode), tracker gossip (JSON,
//! merged into a replica), store calls and answers (bincode), replication
//! events (JSON, applied to memory). The first byte picks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 5 {
        0 => runtime::fuzzing::monitor_cast(rest),
        1 => channels::fuzzing::cluster_broadcast(rest),
        2 => channels::fuzzing::tracker_gossip(rest),
        3 => store_app::fuzzing::store_call(rest),
        _ => store_app::fuzzing::replication_event(rest),
    }
});
