//! The workspace's cross-crate and multi-process tests live in `tests/tests/`;
//! what they share comes from `runtime::testkit`. This library is empty: a
//! package needs a target, and the tests are that package's.
