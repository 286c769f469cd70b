//! Running the `vigil` binary in a scratch directory against a chosen database.

use std::{path::PathBuf, process::Command};

use serde_json::Value;
use vigil_testkit::backends::BackendKind;

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

    /// Runs one test in a fresh deployment on `backend`: the runner of the CLI's
    /// `vigil_testkit::backend_tests!` suites. The tests block on `vigil` processes, so they are
    /// plain functions. Without a reachable PostgreSQL (outside CI) the PostgreSQL run is skipped.
    pub(crate) async fn run(backend: BackendKind, test: impl FnOnce(&Deployment)) {
        let deployment = match backend {
            BackendKind::Sqlite => Deployment::sqlite(),
            BackendKind::Postgres => {
                let Some(deployment) = Deployment::postgres().await else {
                    return;
                };
                deployment
            }
        };
        test(&deployment);
    }

    /// Runs `vigil ARGS` with `--database-url` set, in the deployment's directory.
    pub(crate) fn vigil(&self, args: &[&str]) -> Run {
        self.vigil_env(args, &[])
    }

    /// Runs `vigil ARGS` with extra environment variables.
    pub(crate) fn vigil_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self.command(args, env).output().expect("vigil runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `vigil ARGS` expecting it to end by itself within `limit`; a process still running
    /// then is killed and the test fails (a command that should have refused did not).
    pub(crate) fn vigil_within(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        limit: std::time::Duration,
    ) -> Run {
        let mut child = self
            .command(args, env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("vigil runs");
        let deadline = std::time::Instant::now() + limit;
        while child.try_wait().expect("vigil runs").is_none() {
            if std::time::Instant::now() > deadline {
                let _killed = child.kill();
                let out = child.wait_with_output().expect("vigil runs");
                panic!(
                    "`vigil {}` was still running after {limit:?}; its output:\n{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("vigil runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The `vigil ARGS` command with `--database-url` set, in the deployment's directory, with
    /// extra environment variables.
    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
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
        command
    }
}

pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigil"))
}

/// A question for the simulator, answered on its own thread.
type SimQuery = Box<dyn FnOnce(&vigil_sim::SimHandle) + Send>;

/// The simulator on its own thread and runtime, so that tests can run `vigil` processes with
/// plain blocking calls while the exchange keeps answering.
pub(crate) struct SimThread {
    pub(crate) base_url: String,
    queries: Option<std::sync::mpsc::Sender<SimQuery>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimThread {
    /// Starts the demo exchange with `seed`.
    pub(crate) fn start(seed: u64) -> SimThread {
        SimThread::start_with(vigil_sim::SimConfig::demo(seed))
    }

    /// Starts the simulator with `config` (it must keep the demo account and keys).
    pub(crate) fn start_with(config: vigil_sim::SimConfig) -> SimThread {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (query_tx, query_rx) = std::sync::mpsc::channel::<SimQuery>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let sim = vigil_testkit::sim::spawn_with(config).await;
                ready_tx.send(sim.base_url.clone()).unwrap();
                // Answer questions until the test drops its sender.
                while let Ok(query) = tokio::task::block_in_place(|| query_rx.recv()) {
                    query(&sim.handle);
                }
                sim.stop().await;
            });
        });
        let base_url = ready_rx.recv().expect("the simulator starts");
        SimThread {
            base_url,
            queries: Some(query_tx),
            thread: Some(thread),
        }
    }

    fn ask<T: Send + 'static>(
        &self,
        question: impl FnOnce(&vigil_sim::SimHandle) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        let query: SimQuery = Box::new(move |handle| {
            let _answered = tx.send(question(handle));
        });
        self.queries.as_ref().unwrap().send(query).unwrap();
        rx.recv().unwrap()
    }

    /// The simulator's log of every accepted order.
    pub(crate) fn order_log(&self) -> Vec<vigil_sim::OrderLogEntry> {
        self.ask(vigil_sim::SimHandle::order_log)
    }

    /// Every endpoint's request count (refused requests included).
    pub(crate) fn request_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.ask(vigil_sim::SimHandle::request_counts)
    }

    /// How many requests an endpoint (e.g. `GET /v2/ticker/price`) has served.
    pub(crate) fn request_count(&self, endpoint: &'static str) -> u64 {
        self.ask(move |h| h.request_count(endpoint))
    }

    /// The environment that points `vigil` at this simulator with its demo keys.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VIGIL_BITVAVO_BASE_URL", self.base_url.clone()),
            (
                "VIGIL_BITVAVO_READ_KEY",
                vigil_sim::DEMO_VIEW_KEY.to_owned(),
            ),
            (
                "VIGIL_BITVAVO_READ_SECRET",
                vigil_sim::DEMO_VIEW_SECRET.to_owned(),
            ),
            (
                "VIGIL_BITVAVO_TRADE_KEY",
                vigil_sim::DEMO_TRADE_KEY.to_owned(),
            ),
            (
                "VIGIL_BITVAVO_TRADE_SECRET",
                vigil_sim::DEMO_TRADE_SECRET.to_owned(),
            ),
        ]
    }
}

impl Drop for SimThread {
    fn drop(&mut self) {
        // Closing the question channel ends the serving loop, which stops the simulator.
        self.queries = None;
        if let Some(thread) = self.thread.take() {
            let _joined = thread.join();
        }
    }
}
