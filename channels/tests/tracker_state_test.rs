//! `tracker::State`, the replicated set behind Tracker and Presence, as
//! phoenix_pubsub's `StateTest` checks `Tracker.State`: joins and leaves,
//! merges of deltas and of whole transfers, replicas going down and away —
//! and, as properties over random histories of three replicas, that merging
//! commutes, associates and is idempotent, and that replicas that exchanged
//! everything hold the same set.

use channels::tracker::{Dot, Entry, Pid, ReplicaId, State};
use proptest::prelude::*;
use serde_json::{json, Value};

fn replica(node: &str) -> ReplicaId {
    ReplicaId {
        node: format!("{node}@127.0.0.1"),
        vsn: 1,
    }
}

fn pid(of: &State, id: u64) -> Pid {
    Pid {
        replica: of.replica().clone(),
        id,
    }
}

/// Three replicas that know each other.
fn three() -> (State, State, State) {
    let (mut a, mut b, mut c) = (
        State::new(replica("a")),
        State::new(replica("b")),
        State::new(replica("c")),
    );
    for (state, others) in [
        (&mut a, ["b", "c"]),
        (&mut b, ["a", "c"]),
        (&mut c, ["a", "b"]),
    ] {
        for other in others {
            state.replica_up(&replica(other));
        }
    }
    (a, b, c)
}

/// What a replica lists, comparable: (dot, topic, pid, key, meta), sorted.
fn listed(state: &State) -> Vec<(Dot, String, Pid, String, String)> {
    let mut list: Vec<_> = state
        .online_list()
        .into_iter()
        .map(
            |(
                Entry {
                    topic,
                    pid,
                    key,
                    meta,
                },
                dot,
            )| (dot, topic, pid, key, meta.to_string()),
        )
        .collect();
    list.sort_by(|x, y| (&x.0, &x.1, &x.2, &x.3).cmp(&(&y.0, &y.1, &y.2, &y.3)));
    list
}

/// `to` takes everything `from` has.
fn transfer(from: &State, to: &mut State) {
    let whole = from.extract(to.replica(), to.context());
    to.merge_transfer(&whole);
}

/// `to` takes `from`'s delta if it follows on, else the whole set.
fn deliver_delta(from: &State, to: &mut State) {
    if to.can_merge(from.delta()) {
        to.merge_delta(from.delta());
    } else {
        transfer(from, to);
    }
}

#[test]
fn a_join_is_listed_by_topic_and_a_leave_removes_it() {
    let (mut a, _, _) = three();
    a.join(pid(&a, 1), "lobby", "alice", json!({"status": "away"}))
        .unwrap();
    a.join(pid(&a, 2), "lobby", "bob", json!({})).unwrap();
    a.join(pid(&a, 1), "room:1", "alice", json!({})).unwrap();
    let lobby: Vec<String> = a
        .get_by_topic("lobby")
        .into_iter()
        .map(|(e, _)| e.key)
        .collect();
    assert_eq!(lobby, vec!["alice", "bob"]);
    assert!(
        a.join(pid(&a, 1), "lobby", "alice", json!({})).is_err(),
        "tracked twice"
    );

    a.leave(&pid(&a, 2), "lobby", "bob").unwrap();
    assert_eq!(a.get_by_topic("lobby").len(), 1);
    // A process that exits leaves everywhere.
    let left = a.leave_all(&pid(&a, 1));
    assert_eq!(left.len(), 2);
    assert!(a.is_empty());
    assert!(a.leave(&pid(&a, 1), "lobby", "alice").is_err());
}

#[test]
fn deltas_carry_joins_leaves_and_updates_to_other_replicas() {
    let (mut a, mut b, _) = three();
    a.join(pid(&a, 1), "lobby", "alice", json!({"v": 1}))
        .unwrap();
    a.join(pid(&a, 2), "lobby", "bob", json!({})).unwrap();
    assert!(a.has_delta());
    assert!(b.can_merge(a.delta()));
    let diff = b.merge_delta(a.delta());
    assert_eq!(diff.joins.len(), 2);
    a.reset_delta();
    assert!(!a.has_delta());

    a.leave(&pid(&a, 2), "lobby", "bob").unwrap();
    a.update(&pid(&a, 1), "lobby", "alice", json!({"v": 2}))
        .unwrap();
    // b's context took in a's first delta, so the next one follows on.
    assert!(b.can_merge(a.delta()));
    let diff = b.merge_delta(a.delta());
    let mut left: Vec<_> = diff
        .leaves
        .iter()
        .map(|e| (e.key.clone(), e.meta.clone()))
        .collect();
    left.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        left,
        vec![
            ("alice".to_string(), json!({"v": 1})),
            ("bob".to_string(), json!({}))
        ]
    );
    assert_eq!(diff.joins.len(), 1);
    assert_eq!(diff.joins[0].meta, json!({"v": 2}));
    assert_eq!(listed(&a), listed(&b));
}

#[test]
fn deltas_and_transfers_travel_as_json() {
    let (mut a, mut b, _) = three();
    a.join(pid(&a, 1), "lobby", "alice", json!({"status": "here"}))
        .unwrap();
    a.join(pid(&a, 2), "lobby", "bob", json!({})).unwrap();
    a.leave(&pid(&a, 2), "lobby", "bob").unwrap();
    let delta: channels::tracker::Delta =
        serde_json::from_str(&serde_json::to_string(a.delta()).unwrap()).unwrap();
    assert_eq!(&delta, a.delta());
    b.merge_delta(&delta);
    let whole = a.extract(b.replica(), b.context());
    let whole: channels::tracker::Transfer =
        serde_json::from_str(&serde_json::to_string(&whole).unwrap()).unwrap();
    b.merge_transfer(&whole);
    assert_eq!(listed(&a), listed(&b));
}

#[test]
fn a_missed_delta_is_detected_and_a_transfer_catches_up() {
    let (mut a, mut b, _) = three();
    a.join(pid(&a, 1), "lobby", "alice", json!({})).unwrap();
    a.reset_delta(); // broadcast lost
    a.join(pid(&a, 2), "lobby", "bob", json!({})).unwrap();
    assert!(!b.can_merge(a.delta()), "b missed a's first delta");
    transfer(&a, &mut b);
    assert_eq!(listed(&a), listed(&b));
    a.reset_delta();
    a.leave(&pid(&a, 1), "lobby", "alice").unwrap();
    assert!(b.can_merge(a.delta()));
    b.merge_delta(a.delta());
    assert_eq!(listed(&a), listed(&b));
}

#[test]
fn a_re_track_wins_over_a_stale_view_of_its_removal() {
    let (mut a, mut b, mut c) = three();
    let alice = pid(&a, 1);
    a.join(alice.clone(), "lobby", "alice", json!({"v": 1}))
        .unwrap();
    transfer(&a, &mut b); // b holds alice@v1
    a.leave(&alice, "lobby", "alice").unwrap();
    a.join(alice.clone(), "lobby", "alice", json!({"v": 2}))
        .unwrap();
    transfer(&a, &mut c); // c holds alice@v2
                          // b's stale view neither removes the new entry nor brings the old back.
    transfer(&b, &mut c);
    let metas: Vec<Value> = c
        .get_by_topic("lobby")
        .into_iter()
        .map(|(e, _)| e.meta)
        .collect();
    assert_eq!(metas, vec![json!({"v": 2})]);
    // And b, told by c, converges.
    transfer(&c, &mut b);
    assert_eq!(listed(&b), listed(&c));
}

#[test]
fn a_replica_down_is_hidden_and_a_replica_gone_is_forgotten() {
    let (mut a, mut b, _) = three();
    a.join(pid(&a, 1), "lobby", "alice", json!({})).unwrap();
    b.join(pid(&b, 1), "lobby", "bob", json!({})).unwrap();
    transfer(&a, &mut b);
    let down = b.replica_down(a.replica());
    assert_eq!(down.leaves.len(), 1);
    assert_eq!(
        b.get_by_topic("lobby").len(),
        1,
        "alice hidden while a is down"
    );
    let up = b.replica_up(a.replica());
    assert_eq!(up.joins.len(), 1, "and back when it is heard from again");
    b.replica_down(a.replica());
    b.remove_down_replica(a.replica());
    assert_eq!(b.len(), 1);
    assert!(!b.replicas().contains_key(a.replica()));
    // A forgotten replica's transfer is ignored until it is seen up again.
    transfer(&a, &mut b);
    assert_eq!(b.len(), 1);
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// Replica `r` tracks its process `pid` under `key` in `topic`.
    Track {
        r: usize,
        pid: u64,
        topic: u8,
        key: u8,
    },
    /// Replica `r` untracks its `n`-th entry.
    Untrack { r: usize, n: usize },
    /// Replica `r` updates its `n`-th entry.
    Update { r: usize, n: usize, v: u8 },
    /// Replica `r`'s process `pid` exits.
    Exit { r: usize, pid: u64 },
    /// Replica `r` broadcasts its delta (lost for `lost` replicas).
    Broadcast { r: usize, lost: [bool; 3] },
    /// Replica `to` gets `from`'s whole set.
    Transfer { from: usize, to: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 0..4u64, 0..3u8, 0..3u8).prop_map(|(r, pid, topic, key)| Step::Track { r, pid, topic, key }),
        2 => (0..3usize, 0..8usize).prop_map(|(r, n)| Step::Untrack { r, n }),
        1 => (0..3usize, 0..8usize, 0..9u8).prop_map(|(r, n, v)| Step::Update { r, n, v }),
        1 => (0..3usize, 0..4u64).prop_map(|(r, pid)| Step::Exit { r, pid }),
        3 => (0..3usize, any::<[bool; 3]>()).prop_map(|(r, lost)| Step::Broadcast { r, lost }),
        1 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Transfer { from, to }),
    ]
}

fn own_entries(state: &State) -> Vec<(String, String, Pid)> {
    state
        .online_list()
        .into_iter()
        .filter(|(_, dot)| &dot.replica == state.replica())
        .map(|(e, _)| (e.topic, e.key, e.pid))
        .collect()
}

fn run(states: &mut [State; 3], steps: &[Step]) {
    for step in steps {
        match step.clone() {
            Step::Track {
                r,
                pid: p,
                topic,
                key,
            } => {
                let pid = pid(&states[r], p);
                let _ = states[r].join(pid, &format!("t{topic}"), &format!("k{key}"), json!({}));
            }
            Step::Untrack { r, n } => {
                let own = own_entries(&states[r]);
                if let Some((topic, key, pid)) = own.get(n % own.len().max(1)).cloned() {
                    states[r].leave(&pid, &topic, &key).unwrap();
                }
            }
            Step::Update { r, n, v } => {
                let own = own_entries(&states[r]);
                if let Some((topic, key, pid)) = own.get(n % own.len().max(1)).cloned() {
                    states[r]
                        .update(&pid, &topic, &key, json!({ "v": v }))
                        .unwrap();
                }
            }
            Step::Exit { r, pid: p } => {
                let pid = pid(&states[r], p);
                states[r].leave_all(&pid);
            }
            Step::Broadcast { r, lost } => {
                let from = states[r].clone();
                for (to, state) in states.iter_mut().enumerate() {
                    if to != r && !lost[to] {
                        deliver_delta(&from, state);
                    }
                }
                states[r].reset_delta();
            }
            Step::Transfer { from, to } => {
                if from != to {
                    let sender = states[from].clone();
                    transfer(&sender, &mut states[to]);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// After any history, replicas that exchange their whole sets hold the
    /// same entries: exactly every replica's own live entries.
    #[test]
    fn replicas_converge_on_every_replicas_own_entries(steps in prop::collection::vec(step(), 0..60)) {
        let (a, b, c) = three();
        let mut states = [a, b, c];
        run(&mut states, &steps);
        let mut truth: Vec<_> = states.iter().flat_map(|s| {
            listed(s).into_iter().filter(|(dot, ..)| &dot.replica == s.replica()).collect::<Vec<_>>()
        }).collect();
        truth.sort_by(|x, y| (&x.0, &x.1, &x.2, &x.3).cmp(&(&y.0, &y.1, &y.2, &y.3)));
        for _ in 0..2 {
            for from in 0..3 {
                for to in 0..3 {
                    if from != to {
                        let sender = states[from].clone();
                        transfer(&sender, &mut states[to]);
                    }
                }
            }
        }
        for state in &states {
            prop_assert_eq!(&listed(state), &truth);
        }
    }

    /// Merging is commutative, associative and idempotent.
    #[test]
    fn merges_commute_associate_and_repeat_harmlessly(
        steps in prop::collection::vec(step(), 0..40),
        local in prop::collection::vec(step(), 0..20),
    ) {
        let (a, b, c) = three();
        let mut states = [a, b, c];
        run(&mut states, &steps);
        // Then each replica changes on its own, unsynchronised.
        let local: Vec<Step> = local.into_iter().filter(|s| !matches!(s, Step::Broadcast { .. } | Step::Transfer { .. })).collect();
        run(&mut states, &local);
        let [a, b, c] = states;

        let mut b_then_c = a.clone();
        transfer(&b, &mut b_then_c);
        transfer(&c, &mut b_then_c);
        let mut c_then_b = a.clone();
        transfer(&c, &mut c_then_b);
        transfer(&b, &mut c_then_b);
        prop_assert_eq!(listed(&b_then_c), listed(&c_then_b));

        let mut bc = b.clone();
        transfer(&c, &mut bc);
        let mut a_bc = a.clone();
        transfer(&bc, &mut a_bc);
        prop_assert_eq!(listed(&a_bc), listed(&b_then_c));

        let mut twice = b_then_c.clone();
        transfer(&b, &mut twice);
        transfer(&c, &mut twice);
        prop_assert_eq!(listed(&twice), listed(&b_then_c));
    }
}
