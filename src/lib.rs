//! zabd: a ZooKeeper-style ensemble node.
//!
//! Module map (see ../shared/design.md): pure protocol cores (`election`, `zab`) take events
//! and return actions; the runtime shell (`peer`, `net`, `server`, `storage`) executes them.
//!
//! No `unwrap`/`expect` outside tests: everything that reads the network, the disk or a
//! configuration returns errors instead, and clippy enforces it (the lint below; CI runs
//! clippy with `-D warnings`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[cfg(not(feature = "sim"))]
pub mod admin;
pub mod config;
/// Entry points for the fuzz targets in `fuzz/` and the corpus replay in `tests/fuzz_corpus.rs`;
/// not part of the server's API. Its `expect`s are the fuzzing oracles (a decoded value must
/// re-encode, a recovered log must reopen, ...): a panic there is the finding the fuzzer
/// reports. Nothing in the server calls this module.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod fuzz_entry;
pub mod ids;
pub mod net;
pub mod server;

pub mod api;
pub mod auth;
pub mod election;
pub mod node;
pub mod peer;
pub mod planted;
pub mod replica;
#[cfg(feature = "sim")]
pub mod sim;
pub mod status;
pub mod storage;
pub mod tree;
pub mod wallclock;
pub mod zab;
