//! Integration tests of the simulator over real HTTP (reqwest against `127.0.0.1:0`).
//!
//! Goal: prove the behaviours a real Bitvavo client depends on, end to end through the socket:
//! authentication and its error codes, every order-validation error, rate-limit headers and bans,
//! each fault kind, public data shapes and the admin API. Method: each test spawns its own
//! simulator on an ephemeral loopback port with a `ManualClock` (so access windows, minutes and
//! bans are moved by hand, never by sleeping) and flat prices (so fills happen only when a test
//! sets the price), and signs requests with an HMAC written here, independent of the simulator's.

// Test helpers outside `#[test]` functions are test code too; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod auth;
mod faults;
mod orders;
mod public;
mod rate_limit;
mod support;
