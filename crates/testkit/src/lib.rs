//! Test harness shared by Vigil's crates (a dev-dependency only, never a normal one).
//!
//! Modules are added as the parts they serve land: the back-end test matrix
//! ([`backend_tests!`], one suite run on SQLite and on PostgreSQL), per-test PostgreSQL databases
//! cloned from a migrated template (skipped with one clear line outside CI when PostgreSQL is
//! unreachable, failing under `CI=true`), SQLite files, an in-process simulator on
//! `127.0.0.1:0`, and tracing that stays silent unless `VIGIL_TEST_LOG` is set; with the `engine` feature, the whole-engine
//! harness ([`engine`]: store + simulator + executor + reconciler on one `ManualClock`) and the
//! operator tools' fixtures ([`operator`]); and [`ExecutionBuilder`], which every test that needs an
//! execution value builds it with.

#[cfg(feature = "sim")]
pub mod sim;

#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod operator;

pub mod backends;
pub mod logs;
pub mod pg;
pub mod sqlite;

pub use vigil_core::fixtures::ExecutionBuilder;
