//! The API's integration tests: ONE binary, the REAL server, both stores.
//!
//! Goal: prove what a user of the API relies on: nothing is served without credentials, no user
//! can see or touch another user's resources, every endpoint does what `docs/api.md` says, bad
//! input gets a JSON error with a stable `error_code` and the field, every answer carries a
//! request id, the OpenAPI document lists exactly the served routes (pinned by a golden file)
//! and exactly the statuses each one answers (`statuses.rs`),
//! `/metrics` exposes the named series, and `/readyz` tells the truth about the database, the
//! exchange and the reconciler.
//!
//! Method: each test is an `async fn(&TestApp)`; `vigil_testkit::backend_tests!` with the runner
//! [`app::TestApp::run`] instantiates it as `<module>::sqlite::<name>` on a fresh SQLite file
//! and `<module>::postgres::<name>` on a fresh PostgreSQL database (skipped with one line when
//! PostgreSQL is unreachable outside CI). The server is started with `vigil_server::run` on `127.0.0.1:0` and called over HTTP with
//! reqwest. Time is a `ManualClock`, moved by hand; no test asserts on elapsed time. The route
//! walks read the router's own table (`vigil_server::route_table`), never a copy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a failed unwrap is a failed test"
)]

mod app;
mod auth;
mod cross_user;
mod errors;
mod execute;
mod health;
mod openapi;
mod resources;
mod statuses;

/// Fills a route's path template with the given parameter values (`{name}` → value).
pub(crate) fn fill_path(template: &str, value_of: impl Fn(&str) -> String) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        path.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|i| start + i).unwrap();
        path.push_str(&value_of(&rest[start + 1..end]));
        rest = &rest[end + 1..];
    }
    path.push_str(rest);
    path
}
