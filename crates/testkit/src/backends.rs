//! The back-end test matrix: one suite, instantiated once per store back end.
//!
//! [`backend_tests!`](crate::backend_tests) turns a list of test functions of the calling
//! module into `<module>::sqlite::<name>` and `<module>::postgres::<name>` tests. It only
//! names them; how a test's world is built on a back end, handed to the test and torn down is
//! the job of a *runner*, an ordinary async function of the calling crate:
//!
//! ```text
//! async fn run(backend: BackendKind, test: impl AsyncFnOnce(&World))
//! ```
//!
//! The runner opens the world on `backend`, runs `test` with it (by reference, by value, with
//! a second argument, or a plain `FnOnce` for blocking tests: whatever the suite's tests take),
//! and closes it. For PostgreSQL it opens through [`pg::fresh_database`](crate::pg::fresh_database)
//! and returns without running the test when that gives `None`: outside CI, an unreachable
//! PostgreSQL prints its one line and the PostgreSQL half is skipped; with `CI=true` it fails.

pub use vigil_store::BackendKind;

/// Instantiates each named test function of the calling module once per back end.
///
/// `backend_tests!(#[RUNTIME] RUNNER; name, ...)` declares, for every `name`, a test
/// `sqlite::name` that awaits `RUNNER(BackendKind::Sqlite, super::name)` and a test
/// `postgres::name` that awaits `RUNNER(BackendKind::Postgres, super::name)`, each with the
/// attribute `#[RUNTIME]` (a `#[tokio::test(..)]`, so each suite states the runtime its tests
/// need). `RUNNER` is a path from the crate root (`crate::...`), because the tests live in
/// submodules; see the [module docs](crate::backends) for its shape.
///
/// ```ignore
/// vigil_testkit::backend_tests!(
///     #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
///     crate::fixture::TestDb::run;
///     claims_are_exclusive,
///     transitions_compare_and_set,
/// );
/// ```
#[macro_export]
macro_rules! backend_tests {
    (#[$runtime:meta] $runner:path; $($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[$runtime]
                async fn $name() {
                    $runner($crate::backends::BackendKind::Sqlite, super::$name).await;
                }
            )+
        }
        mod postgres {
            $(
                #[$runtime]
                async fn $name() {
                    $runner($crate::backends::BackendKind::Postgres, super::$name).await;
                }
            )+
        }
    };
}
