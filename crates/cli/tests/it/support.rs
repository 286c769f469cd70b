//! Running the `vigil` binary in a scratch directory against a chosen database.

use std::{path::PathBuf, process::Command};

use serde_json::Value;

/// The outcome of one `vigil` invocation.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The stdout as JSON (panics with the whole output when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts success and returns self.
    pub(crate) fn ok(self) -> Run {
        assert_eq!(self.code, 0, "vigil failed: {self:#?}");
        self
    }
}

/// A scratch directory and database for one test.
pub(crate) struct Deployment {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) database_url: String,
    // Keeps a PostgreSQL test database alive (and drops it) with the deployment.
    _pg: Option<vigil_testkit::pg::PgTestDb>,
}

impl Deployment {
    /// SQLite in a fresh directory.
    pub(crate) fn sqlite() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("data/vigil.db").display());
        Deployment {
            dir,
            database_url,
            _pg: None,
        }
    }

    /// A fresh PostgreSQL database, or None when PostgreSQL is unreachable outside CI.
    pub(crate) async fn postgres() -> Option<Deployment> {
        let pg = vigil_testkit::pg::fresh_database().await?;
        Some(Deployment {
            dir: tempfile::tempdir().unwrap(),
            database_url: pg.url().to_owned(),
            _pg: Some(pg),
        })
    }

    /// Runs `vigil ARGS` with `--database-url` set, in the deployment's directory.
    pub(crate) fn vigil(&self, args: &[&str]) -> Run {
        self.vigil_env(args, &[])
    }

    /// Runs `vigil ARGS` with extra environment variables.
    pub(crate) fn vigil_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(binary());
        command
            .current_dir(self.dir.path())
            .arg("--database-url")
            .arg(&self.database_url)
            .args(args);
        command
            .env_remove("VIGIL_DATABASE_URL")
            .env_remove("VIGIL_CONFIG")
            .env("USER", "tester");
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().expect("vigil runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigil"))
}

/// Declares one test per back end from a function taking a `&Deployment`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&crate::support::Deployment::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(deployment) = crate::support::Deployment::postgres().await else { return };
                    super::$name(&deployment);
                }
            )*
        }
    };
}
pub(crate) use both_backends;
