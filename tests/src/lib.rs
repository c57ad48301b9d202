//! The workspace's cross-crate and multi-process tests live in `tests/tests/`;
//! what they share comes from `runtime::testkit`. The library holds what is
//! bigger than a test: [`netfuzz`], the network fuzzer that attacks a running
//! node (the `netfuzz` binary and `tests/netfuzz_test.rs` run it).

pub mod netfuzz;
