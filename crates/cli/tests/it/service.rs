//! `vigil run` as real processes: paper trading end to end, and T3, scheduler locking (I9), with
//! several `vigil run` processes against one PostgreSQL.
//!
//! Method: the simulator runs in the test process (its own thread); each `vigil run` is a child
//! process pointed at it. Runs are counted in three independent places: the `scan_job_runs` rows
//! written inside each run's final transaction, the proposals that transaction inserts, and the
//! simulator's own request counter (every strategy run asks for the ticker exactly once), so a
//! job run twice would show up even though the database refuses to record it twice.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use sqlx::{Connection, PgConnection};
use vigil_core::{Clock, Market, SystemClock};
use vigil_sim::{FaultKind, FaultPlan, FaultRule, SimConfig};
use vigil_store::{NewScanJob, Store, StoreOptions};

use crate::support::{binary, Deployment, SimThread};

/// Spawns `vigil run ...` with stdout piped line by line into a channel.
fn spawn_run(
    d: &Deployment,
    args: &[&str],
    env: &[(&str, String)],
) -> (Child, mpsc::Receiver<String>) {
    let mut command = Command::new(binary());
    command
        .current_dir(d.dir.path())
        .args(["--database-url", &d.database_url, "run"])
        .args(args);
    let log = tempfile::NamedTempFile::new_in(d.dir.path())
        .unwrap()
        .keep()
        .unwrap()
        .1;
    command
        .env_remove("VIGIL_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        command.env(k, v);
    }
    spawn_lines(command)
}

/// Spawns `command` with its stdout (piped) sent line by line into a channel.
fn spawn_lines(mut command: Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Sends SIGTERM (a graceful stop), waits, and asserts a clean exit (showing the process's
/// stderr, kept in the deployment's directory, when it was not).
fn terminate(d: &Deployment, mut child: Child) {
    let _sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    if !status.success() {
        let mut logs = String::new();
        for entry in std::fs::read_dir(d.dir.path()).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tmp") {
                logs.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        panic!("vigil run did not stop cleanly on SIGTERM ({status:?}); stderr of the run processes:\n{logs}");
    }
}

/// The value of one series (`name{labels}`) in a Prometheus text scrape.
fn sample(metrics: &str, series: &str) -> i64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in the scrape:\n{metrics}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {e}"))
}

/// One HTTP/1.1 GET on loopback, the body as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn paper_run_places_an_order_through_the_simulator_and_stops_cleanly() {
    let d = Deployment::sqlite();
    let (child, lines) = spawn_run(
        &d,
        &["--paper", "--listen", "127.0.0.1:0", "--poll-ms", "100"],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    let mut api = None;
    let placed = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(remaining) {
            Ok(line) if line.contains("PLACED") => break line,
            Ok(line) => {
                if let Some(rest) = line.split("api: http://").nth(1) {
                    api = rest.split('/').next().map(str::to_owned);
                }
                seen.push(line);
            }
            Err(_) => panic!("no PLACED line within 90 s; output so far: {seen:#?}"),
        }
    };
    assert!(placed.contains("strategy:dca buy BTC-EUR"), "{placed}");
    // The reconciler follows the market order to FILLED and says so, after counting it in
    // /metrics.
    let api = api.unwrap_or_else(|| panic!("no api line: {seen:#?}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(remaining) {
            Ok(line) if line.contains("FILLED") && line.contains("(reconciler)") => break,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no FILLED line from the reconciler within 30 s: {seen:#?}"),
        }
    }
    let metrics = http_get(&api, "/metrics");
    assert!(
        metrics.contains("vigil_executions_final_total{state=\"FILLED\"} 1"),
        "FILLED not counted in /metrics:\n{metrics}"
    );
    // Each key's budget is sampled from its client (a series per key appears only once it was
    // observed). Its value is not pinned: by the time the order is FILLED the exchange's
    // one-minute window may have reset to the full 1,000 points.
    for key in ["read_only", "trade"] {
        let remaining = sample(
            &metrics,
            &format!("vigil_exchange_rate_limit_remaining{{key=\"{key}\"}}"),
        );
        assert!(
            (0..=1000).contains(&remaining),
            "{key}: remaining {remaining}"
        );
        let banned = sample(
            &metrics,
            &format!("vigil_exchange_rate_limit_banned{{key=\"{key}\"}}"),
        );
        assert_eq!(banned, 0, "{key}");
    }
    // The executor loop of `vigil run` times the order path like the API does.
    for stage in ["claim_to_order_sent", "order_sent_to_submitted"] {
        let observed = sample(
            &metrics,
            &format!("vigil_order_path_seconds_count{{stage=\"{stage}\"}}"),
        );
        assert!(observed >= 1, "{stage}: {observed}");
    }
    terminate(&d, child);
    let executions = d.vigil(&["executions", "list", "--json"]).ok().json();
    let states: Vec<&str> = executions
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert!(
        states.iter().any(|s| matches!(*s, "SUBMITTED" | "FILLED")),
        "{states:?}"
    );
}

async fn counts(url: &str) -> (i64, i64, i64, i64) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let (runs, jobs, workers): (i64, i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT job_id), count(DISTINCT split_part(worker, '/', 1)) FROM scan_job_runs")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let (proposals,): (i64,) = sqlx::query_as("SELECT count(*) FROM proposals")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (runs, jobs, workers, proposals)
}

/// Creates `n` DCA jobs for `alice`, all due now, each due once during the test (weekly).
async fn due_jobs(url: &str, n: usize) {
    let store = Store::connect(url, StoreOptions::default()).await.unwrap();
    let user = store.user_get_by_name("alice").await.unwrap();
    let by = vigil_store::Attribution::new("test", SystemClock.now());
    let now = SystemClock.now() - chrono::Duration::seconds(1);
    for _ in 0..n {
        let new = NewScanJob {
            user_id: user.id,
            strategy: "dca".into(),
            markets: vec![Market::parse("BTC-EUR").unwrap()],
            params: serde_json::json!({ "amount_quote": "10" }),
            interval_seconds: vigil_store::SCAN_JOB_INTERVAL_SECONDS_MAX,
            first_run_at: now,
        };
        store.scan_job_create(&new, &by).await.unwrap();
    }
    store.close().await;
}

fn i9_processes_share_due_jobs_each_run_exactly_once(processes: usize) {
    const JOBS: usize = 1_000;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(d) = runtime.block_on(Deployment::postgres()) else {
        return;
    };
    let sim = SimThread::start_with(SimConfig::demo(3).with_rate_limit(1_000_000));
    let env = sim.env();
    d.vigil(&["init", "--user", "alice"]).ok();
    runtime.block_on(due_jobs(&d.database_url, JOBS));

    let children: Vec<_> = (0..processes)
        .map(|_| spawn_run(&d, &["--no-api", "--workers", "1", "--poll-ms", "50"], &env).0)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (runs, ..) = runtime.block_on(counts(&d.database_url));
        if runs >= JOBS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {runs} of {JOBS} runs within 240 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for child in children {
        terminate(&d, child);
    }
    let (runs, jobs, instances, proposals) = runtime.block_on(counts(&d.database_url));
    assert_eq!(
        (runs, jobs),
        (JOBS as i64, JOBS as i64),
        "every due job runs exactly once"
    );
    assert_eq!(
        proposals, JOBS as i64,
        "one proposal per run, none from a duplicate run"
    );
    assert_eq!(
        sim.request_count("GET /v2/ticker/price"),
        JOBS as u64,
        "the exchange saw each run exactly once"
    );
    assert!(
        instances > 1,
        "the {processes} processes did not share the jobs (runs by {instances} instance)"
    );
}

#[test]
fn i9_two_worker_processes_run_each_of_1000_due_jobs_exactly_once() {
    i9_processes_share_due_jobs_each_run_exactly_once(2);
}

#[test]
fn i9_eight_worker_processes_run_each_of_1000_due_jobs_exactly_once() {
    i9_processes_share_due_jobs_each_run_exactly_once(8);
}

#[test]
fn i9_a_killed_worker_process_job_runs_again_after_its_lease_exactly_once_more() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(d) = runtime.block_on(Deployment::postgres()) else {
        return;
    };
    // The first candle request of the run hangs long enough to kill the process mid-run.
    let slow = FaultRule::new(
        "GET /v2/{market}/candles",
        FaultKind::Latency { ms: 20_000 },
    )
    .times(1);
    let sim = SimThread::start_with(SimConfig::demo(4).with_faults(FaultPlan::single(slow)));
    let env = sim.env();
    d.vigil(&["init", "--user", "alice"]).ok();
    runtime.block_on(due_jobs(&d.database_url, 1));
    let lease = [
        "--no-api",
        "--workers",
        "1",
        "--poll-ms",
        "50",
        "--lease-ttl-seconds",
        "2",
    ];

    let (mut first, _lines) = spawn_run(&d, &lease, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.request_count("GET /v2/{market}/candles") == 0 {
        assert!(
            Instant::now() < deadline,
            "the first process never started the run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().unwrap(); // SIGKILL, mid-run
    first.wait().unwrap();
    assert_eq!(
        runtime.block_on(counts(&d.database_url)).0,
        0,
        "the killed run recorded something"
    );

    let (second, _lines) = spawn_run(&d, &lease, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while runtime.block_on(counts(&d.database_url)).0 == 0 {
        assert!(
            Instant::now() < deadline,
            "the job was not taken over after its lease expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The graceful stop joins every run in flight, so whatever the second process started is
    // recorded (or not) before the counts are read.
    terminate(&d, second);
    let (runs, _, _, proposals) = runtime.block_on(counts(&d.database_url));
    assert_eq!(
        (runs, proposals),
        (1, 1),
        "exactly once more after the lease"
    );
    assert_eq!(
        sim.request_count("GET /v2/{market}/candles"),
        2,
        "the killed attempt and the one rerun"
    );
    assert_eq!(
        sim.request_count("GET /v2/ticker/price"),
        1,
        "only the rerun got past the candles"
    );
}

/// Runs `vigil run --paper` on `d` until it has set up its paper user, then stops it.
fn set_up_paper(d: &Deployment) {
    let (child, lines) = spawn_run(d, &["--paper", "--no-api", "--poll-ms", "100"], &[]);
    if let Err(seen) = wait_for_paper_user(&lines) {
        panic!("the paper run never created its user; output: {seen:#?}");
    }
    terminate(d, child);
}

/// Waits up to 60 s for a paper run's "paper user created" line; the lines seen when it never came.
fn wait_for_paper_user(lines: &mpsc::Receiver<String>) -> Result<(), Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains("paper user \"paper\" created") => return Ok(()),
            Ok(line) => seen.push(line),
            Err(_) => return Err(seen),
        }
    }
}

/// #18 case 11: paper and live never share a database. A live `vigil run` on a database a paper
/// run set up refuses (exit 5, naming the paper deployment and what to do) before it asks the
/// exchange anything, so the paper user's jobs never trade with real keys; and a paper run
/// refuses a database `vigil init` set up for live trading.
#[test]
fn a_live_run_refuses_a_paper_database_and_a_paper_run_refuses_a_live_one() {
    let paper = Deployment::sqlite();
    set_up_paper(&paper);
    let sim = SimThread::start(11);
    let env = sim.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let live = paper.vigil_within(
        &["run", "--no-api", "--poll-ms", "100"],
        &env,
        Duration::from_secs(30),
    );
    assert_eq!(live.code, 5, "{live:#?}");
    assert!(
        live.stderr.contains("holds a paper deployment")
            && live.stderr.contains("vigil run --paper"),
        "{live:#?}"
    );
    assert!(!live.stdout.contains("PLACED"), "{live:#?}");
    for endpoint in ["GET /v2/time", "GET /v2/account", "POST /v2/order"] {
        assert_eq!(
            sim.request_count(endpoint),
            0,
            "{endpoint}: the live run asked the exchange before refusing"
        );
    }
    assert!(sim.order_log().is_empty());
    // The one-shot live commands refuse it the same way.
    let reconcile = paper.vigil_within(&["reconcile"], &env, Duration::from_secs(30));
    assert_eq!(reconcile.code, 5, "{reconcile:#?}");

    let live_db = Deployment::sqlite();
    live_db.vigil(&["init", "--user", "alice"]).ok();
    let refused = live_db.vigil_within(
        &["run", "--paper", "--no-api"],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(
        refused.code, 5,
        "a paper run on a live database: {refused:#?}"
    );
    assert!(
        refused.stderr.contains("holds a live deployment"),
        "{refused:#?}"
    );
    let users = live_db.vigil(&["users", "list", "--json"]).ok().json();
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["name"] != "paper"),
        "the refused paper run wrote its user: {users}"
    );
}

/// #18 case 11: with no database configured, `vigil run --paper` keeps its state in
/// ./vigil-data/paper.db, never in the live default ./vigil-data/vigil.db.
#[test]
fn a_paper_run_without_a_configured_database_uses_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(binary());
    command
        .current_dir(dir.path())
        .args(["run", "--paper", "--no-api", "--poll-ms", "100"])
        .env_remove("VIGIL_DATABASE_URL")
        .env_remove("VIGIL_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let (mut child, lines) = spawn_lines(command);
    let created = wait_for_paper_user(&lines);
    let _sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _status = child.wait().unwrap();
    if let Err(seen) = created {
        panic!("the paper run never created its user; output: {seen:#?}");
    }
    assert!(dir.path().join("vigil-data/paper.db").exists());
    assert!(!dir.path().join("vigil-data/vigil.db").exists());
}

/// The key the loopback refusal names exists: with `server.allow_non_loopback = true` in the
/// configuration (VIGIL_SERVER_ALLOW_NON_LOOPBACK) `vigil run --listen 0.0.0.0:PORT` serves the
/// API there; without it the same command is refused (exit 2) before anything is written.
#[test]
fn server_allow_non_loopback_lets_the_api_listen_on_any_address() {
    let d = Deployment::sqlite();
    let refused = d.vigil_within(
        &["run", "--paper", "--listen", "0.0.0.0:0"],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(
        refused.stderr.contains("server.allow_non_loopback"),
        "{refused:#?}"
    );
    assert!(
        !d.dir.path().join("data").exists(),
        "the refused run created its database"
    );
    let (child, lines) = spawn_run(
        &d,
        &["--paper", "--listen", "0.0.0.0:0", "--poll-ms", "100"],
        &[("VIGIL_SERVER_ALLOW_NON_LOOPBACK", "true".to_owned())],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let port = loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if let Some(rest) = line.split("api: http://0.0.0.0:").nth(1) {
                    break rest.split('/').next().unwrap().to_owned();
                }
                seen.push(line);
            }
            Err(_) => panic!("no api line on 0.0.0.0 within 60 s; output: {seen:#?}"),
        }
    };
    let health = http_get(&format!("127.0.0.1:{port}"), "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    terminate(&d, child);
}
