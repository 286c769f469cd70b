//! Integration tests of the Bitvavo client against the simulator, over real loopback HTTP.
//!
//! Goal: show that every endpoint round-trips through the client's signing, budget and parsing
//! against an independent implementation of the exchange (`vigil-sim`, which shares no code with
//! the client), that every fault the simulator can inject is classified the way the executor
//! needs (refused / ambiguous / rate limited / not sent), that keys are enforced, and that the
//! rate-limit budget keeps a long run free of bans.
//!
//! Method: each test starts its own simulator on `127.0.0.1:0` through `vigil_testkit::sim`,
//! builds the clients from the simulator's demo keys, and asserts on the client's results *and*
//! on the simulator's own records (its order log and request counters), never on our view alone.
//! Fault rules are deterministic (`skip`/`times`), and each test states its seed in failure
//! messages so a failure replays.
//!
//! Modules: `endpoints` (round trips), `faults` (classification of injected faults), `auth`
//! (access window, secrets, key permissions), `logs` (no secret in any log line), `rate_limit`
//! (budgeting against the simulator).

// Test helpers outside `#[test]` functions are test code too; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod endpoints;
mod faults;
mod logs;
mod rate_limit;
mod support;
