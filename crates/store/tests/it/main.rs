//! The store's contract tests: ONE suite, run against both back ends.
//!
//! Goal: prove that the guarantees the engine builds on (I1 claims, compare-and-set
//! transitions, one event per transition, per-user sections, guard facts that count in-flight
//! executions, retries, append-only history, exact money) hold on SQLite AND PostgreSQL, through
//! the same public API the engine and the CLI use.
//!
//! Method: each contract test is an `async fn(Store)`; `vigil_testkit::backend_tests!` with the
//! runner [`fixture::TestDb::run`] instantiates it twice, as `<module>::sqlite::<name>` on a fresh SQLite file and as
//! `<module>::postgres::<name>` on a fresh PostgreSQL database cloned from the migrated
//! template (skipped with one line when PostgreSQL is unreachable outside CI). Concurrency tests
//! fire many real tasks at once on a multi-threaded runtime and then count rows; they never
//! assert on time. Tests that only make sense on one back end live beside them, named for it.

// clippy.toml's allow-unwrap-in-tests covers `#[test]` functions only, not the shared
// `async fn(Store)` bodies the macro calls; in this test-only crate a failed unwrap IS the
// failed assertion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a failed unwrap is a failed test"
)]

mod claims;
mod connect;
mod deployment;
mod fixture;
mod llm_usage;
mod operator;
mod retry;
mod scan_job_runs;
mod scan_jobs;
mod schema;
mod sections;
mod transitions;
