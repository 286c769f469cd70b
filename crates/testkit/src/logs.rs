//! Test logging: silent unless `VIGIL_TEST_LOG` is set.
//!
//! `VIGIL_TEST_LOG=debug` (or any `tracing` filter such as `vigil_store=trace`) prints the logs
//! of the code under test through the test harness's capture, so they show for failing tests
//! only (or for all with `--nocapture`).

/// The environment variable that turns test logging on and holds its filter.
pub const LOG_VAR: &str = "VIGIL_TEST_LOG";

/// Installs the test subscriber once per process; does nothing unless [`LOG_VAR`] is set.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(filter) = std::env::var(LOG_VAR) else {
            return;
        };
        let filter = if filter.trim().is_empty() {
            "debug".to_owned()
        } else {
            filter
        };
        let installed = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
        if let Err(e) = installed {
            eprintln!("{LOG_VAR} is set but a tracing subscriber was already installed: {e}");
        }
    });
}
