//! (g) Memory: the peak RSS of the real `vigil run --paper` process as executions accumulate.
//!
//! The bench starts the `vigil` binary (next to its own executable, same profile) as a child
//! process on a fresh temp directory (SQLite, the embedded default), with the HTTP API on
//! `127.0.0.1:0` and the paper simulator's rate limit out of the way (a `[sim.rate_limit]` table in
//! the child's config file). Before it starts, the `vigil` CLI sets up one user per stream with a
//! bearer token (`vigil init --paper`: the database is a paper deployment), a permissive policy (cooldown 0, anti-flip 0, large caps, the raise through
//! `--override-stability-window` by the first, admin user) and BTC-EUR allowlisted. `vigil run
//! --paper` then does its own paper bootstrap (the `paper` user and its two demo jobs, which keep
//! running and placing a few orders of their own). The bench funds the simulator's demo account
//! through its admin API (`PUT /_sim/balances`, loopback), then drives executions through Vigil's
//! HTTP API (create a proposal, approve it, execute it), one stream per user, all streams at
//! once, and reads `/proc/<pid>/status` (`VmHWM`: peak RSS; `VmRSS`: current) once the API
//! answers and after 10 %, 50 % and 100 % of the executions, so a leak shows as RSS rising with
//! executions. Every execution must answer `placed`, and every one of their orders must be in the
//! simulator's order log at the end; otherwise the bench fails. Then SIGTERM, and the process must
//! exit cleanly.
//!
//! The simulator runs inside the measured process: its order log (one entry per order, never
//! trimmed) is part of the RSS.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdout, Command},
};

use crate::{
    error::{BenchError, During},
    stats::per_second,
};

/// The order every execution places: a 10 EUR market buy of BTC.
const ORDER_EUR: &str = "10";
/// How long the child may take to start, and to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// One reading of the child's `/proc/<pid>/status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RssPoint {
    /// Executions placed through the API so far.
    pub(crate) executions: u64,
    /// `VmHWM`: the peak resident set size so far, in KiB.
    pub(crate) peak_kib: u64,
    /// `VmRSS`: the resident set size now, in KiB.
    pub(crate) rss_kib: u64,
    /// Executions per second since the previous reading (0 for the first).
    pub(crate) executions_per_s: u64,
}

/// (g)'s figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Memory {
    /// The binary measured.
    pub(crate) binary: String,
    /// Executions driven through the API.
    pub(crate) executions: u64,
    /// Concurrent streams (one user each).
    pub(crate) streams: usize,
    /// The readings: at start-up (0 executions, the API answering), then at each checkpoint.
    pub(crate) points: Vec<RssPoint>,
    /// Executions per second over the whole drive (create + approve + execute, all streams).
    pub(crate) executions_per_s: u64,
    /// Orders in the in-process simulator's log at the end (the paper jobs' included).
    pub(crate) sim_orders: u64,
}

/// The `vigil` binary next to this executable (same target directory and profile).
fn vigil_binary() -> Result<PathBuf, BenchError> {
    let me = std::env::current_exe().during("(g) locating the bench's own executable")?;
    let dir = me.parent().ok_or_else(|| BenchError::Step {
        during: "(g) locating the vigil binary".into(),
        detail: format!("{} has no directory", me.display()),
    })?;
    let vigil = dir.join(format!("vigil{}", std::env::consts::EXE_SUFFIX));
    if vigil.is_file() {
        return Ok(vigil);
    }
    let release = if dir.ends_with("release") {
        " --release"
    } else {
        ""
    };
    Err(BenchError::Step {
        during: "(g) locating the vigil binary".into(),
        detail: format!(
            "{} is missing: run `cargo build{release} -p vigil-cli` first (the same profile as the bench)",
            vigil.display()
        ),
    })
}

/// `vigil` with the deployment's config and database, no `VIGIL_*` settings inherited.
fn vigil(binary: &Path, dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .arg("--config")
        .arg(dir.join("vigil.toml"))
        .arg("--database-url")
        .arg(database_url)
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VIGIL_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs one CLI command to completion; its stdout when it succeeded.
async fn cli(
    binary: &Path,
    dir: &Path,
    database_url: &str,
    args: &[&str],
) -> Result<String, BenchError> {
    let output = vigil(binary, dir, database_url)
        .args(args)
        .output()
        .await
        .during("(g) running the vigil CLI")?;
    if !output.status.success() {
        return Err(BenchError::Step {
            during: format!("(g) vigil {}", args.join(" ")),
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The token in `vigil init` / `vigil users add` output (`api token: vigil_…`).
fn token_of(stdout: &str) -> Result<String, BenchError> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("api token:"))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| BenchError::Step {
            during: "(g) reading a user's API token".into(),
            detail: format!("no `api token:` line in {stdout:?}"),
        })
}

/// Creates `streams` users (the first an admin) with the permissive policy; their tokens.
async fn set_up_users(
    binary: &Path,
    dir: &Path,
    database_url: &str,
    streams: usize,
) -> Result<Vec<String>, BenchError> {
    let mut tokens = Vec::with_capacity(streams);
    for i in 0..streams {
        let name = format!("bench{i}");
        let out = if i == 0 {
            cli(
                binary,
                dir,
                database_url,
                &["init", "--paper", "--user", &name],
            )
            .await?
        } else {
            cli(binary, dir, database_url, &["users", "add", &name]).await?
        };
        tokens.push(token_of(&out)?);
        cli(
            binary,
            dir,
            database_url,
            &[
                "--actor",
                "bench0",
                "policy",
                "set",
                "--user",
                &name,
                "--trading-enabled",
                "true",
                "--order-notional-max",
                "1000000",
                "--daily-notional-max",
                "1000000000",
                "--cooldown-minutes",
                "0",
                "--anti-flip-minutes",
                "0",
                "--override-stability-window",
                "--reason",
                "vigil-bench (g): a permissive policy for the memory drive",
            ],
        )
        .await?;
        cli(
            binary,
            dir,
            database_url,
            &["allowlist", "add", "--user", &name, "BTC-EUR"],
        )
        .await?;
    }
    Ok(tokens)
}

/// `VmHWM` and `VmRSS` of `pid`, in KiB.
fn rss(pid: u32, executions: u64) -> Result<RssPoint, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .during("(g) reading /proc/<pid>/status of vigil run")?;
    let field = |name: &str| -> Result<u64, BenchError> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| BenchError::Step {
                during: "(g) reading /proc/<pid>/status".into(),
                detail: format!("no {name} line"),
            })
    };
    Ok(RssPoint {
        executions,
        peak_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
        executions_per_s: 0,
    })
}

/// Reads the child's stdout until it has printed the simulator's and the API's addresses;
/// then keeps draining it in the background (a full pipe would block the service).
async fn addresses(stdout: ChildStdout) -> Result<(String, String), BenchError> {
    let mut lines = BufReader::new(stdout).lines();
    let (mut sim, mut api, mut seen) = (None, None, Vec::new());
    let found = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines
            .next_line()
            .await
            .during("(g) reading vigil run's output")?
        {
            let after = |marker: &str| {
                line.split(marker)
                    .nth(1)
                    .and_then(|rest| rest.split(['/', ' ', ')']).next())
                    .map(str::to_owned)
            };
            if let Some(a) = after("the built-in simulator at http://") {
                sim = Some(a);
            }
            if let Some(a) = after("api: http://") {
                api = Some(a);
            }
            seen.push(line);
            if let (Some(s), Some(a)) = (&sim, &api) {
                return Ok::<_, BenchError>(Some((s.clone(), a.clone())));
            }
        }
        Ok(None)
    })
    .await;
    match found {
        Ok(Ok(Some(found))) => {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(found)
        }
        Ok(Err(e)) => Err(e),
        Ok(Ok(None)) | Err(_) => Err(BenchError::Step {
            during: "(g) starting vigil run --paper".into(),
            detail: format!(
                "no simulator and api address lines within {} s; its output: {seen:?}",
                START_TIMEOUT.as_secs()
            ),
        }),
    }
}

/// One execution through the API: create, approve, execute; its clientOrderId when placed.
async fn one_execution(
    http: &reqwest::Client,
    api: &str,
    token: &str,
) -> Result<String, BenchError> {
    let call = |path: String, body: Option<Value>| {
        let mut request = http
            .post(format!("http://{api}/api/v1{path}"))
            .bearer_auth(token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        async move {
            let response = request.send().await.during("(g) an API request")?;
            let status = response.status();
            let body: Value = response.json().await.during("(g) reading an API answer")?;
            if !status.is_success() {
                return Err(BenchError::Step {
                    during: format!("(g) POST /api/v1{path}"),
                    detail: format!("{status}: {body}"),
                });
            }
            Ok(body)
        }
    };
    let proposal = call(
        "/proposals".into(),
        Some(json!({
            "market": "BTC-EUR",
            "side": "buy",
            "amount_quote": ORDER_EUR,
            "rationale": "vigil-bench (g)",
        })),
    )
    .await?;
    let id = proposal["id"].as_str().unwrap_or_default().to_owned();
    call(format!("/proposals/{id}/approve"), None).await?;
    let executed = call(format!("/proposals/{id}/execute"), None).await?;
    match (
        executed["outcome"].as_str(),
        executed["execution"]["client_order_id"].as_str(),
    ) {
        (Some("placed"), Some(coid)) => Ok(coid.to_owned()),
        _ => Err(BenchError::Invariant(format!(
            "(g) every execution through the API was meant to place its order, got {executed}"
        ))),
    }
}

/// Drives executions number `done..target` over one task per token; their clientOrderIds.
async fn drive(
    http: &reqwest::Client,
    api: &str,
    tokens: &[String],
    done: usize,
    target: usize,
) -> Result<Vec<String>, BenchError> {
    let next = Arc::new(AtomicUsize::new(done));
    let tasks = tokens.iter().map(|token| {
        let (http, api, token, next) = (
            http.clone(),
            api.to_owned(),
            token.clone(),
            Arc::clone(&next),
        );
        tokio::spawn(async move {
            let mut placed = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < target {
                placed.push(one_execution(&http, &api, &token).await?);
            }
            Ok::<_, BenchError>(placed)
        })
    });
    let mut placed = Vec::with_capacity(target - done);
    for joined in join_all(tasks).await {
        placed.extend(joined.during("(g) a drive task")??);
    }
    Ok(placed)
}

/// Sends SIGTERM and waits for a clean exit (an unclean one fails the bench with its stderr).
async fn terminate(child: &mut Child, stderr_log: &Path) -> Result<(), BenchError> {
    let pid = child.id().ok_or_else(|| BenchError::Step {
        during: "(g) stopping vigil run".into(),
        detail: "it has already exited".into(),
    })?;
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .during("(g) sending SIGTERM to vigil run")?;
    if !sent.success() {
        return Err(BenchError::Step {
            during: "(g) sending SIGTERM to vigil run".into(),
            detail: format!("kill -TERM {pid}: {sent}"),
        });
    }
    let status = tokio::time::timeout(STOP_TIMEOUT, child.wait())
        .await
        .during("(g) waiting for vigil run to stop after SIGTERM")?
        .during("(g) waiting for vigil run")?;
    if status.success() {
        return Ok(());
    }
    let log = std::fs::read_to_string(stderr_log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    Err(BenchError::Step {
        during: "(g) vigil run did not stop cleanly on SIGTERM".into(),
        detail: format!(
            "{status}; last lines of its stderr:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ),
    })
}

/// Runs (g): `executions` executions over `streams` concurrent users.
///
/// # Errors
/// A missing `vigil` binary, a set-up step that failed, an execution that did not place its
/// order, an order missing from the simulator's log, or an unclean stop.
pub(crate) async fn memory(executions: usize, streams: usize) -> Result<Memory, BenchError> {
    let binary = vigil_binary()?;
    let dir = tempfile::tempdir().during("(g) creating a temp directory")?;
    let database_url = format!("sqlite://{}", dir.path().join("data/vigil.db").display());
    // The paper simulator's demo configuration, with its rate limit out of the way (each
    // execution costs 7 points of the default 1,000 per minute).
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[sim.rate_limit]\npoints_per_minute = 1000000000\n",
    )
    .during("(g) writing the config file")?;
    let tokens = set_up_users(&binary, dir.path(), &database_url, streams.max(1)).await?;
    let stderr_log = dir.path().join("run.stderr");
    let mut child = vigil(&binary, dir.path(), &database_url)
        .args(["run", "--paper", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_log).during("(g) creating the stderr log")?)
        .kill_on_drop(true)
        .spawn()
        .during("(g) starting vigil run --paper")?;
    let pid = child.id().unwrap_or_default();
    let stdout = child.stdout.take().ok_or_else(|| BenchError::Step {
        during: "(g) starting vigil run --paper".into(),
        detail: "no stdout pipe".into(),
    })?;
    let (sim, api) = addresses(stdout).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .during("(g) building the HTTP client")?;
    let started = Instant::now();
    loop {
        let ok = http
            .get(format!("http://{api}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(BenchError::Step {
                during: "(g) waiting for vigil run's API".into(),
                detail: format!(
                    "/healthz did not answer 200 within {} s",
                    START_TIMEOUT.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Enough EUR for every order (the demo account starts with 1,000).
    let funded = http
        .put(format!("http://{sim}/_sim/balances"))
        .json(&json!({ "account": vigil_sim::DEMO_ACCOUNT, "asset": "EUR", "available": "1000000000000" }))
        .send()
        .await
        .during("(g) funding the paper simulator's demo account")?;
    if !funded.status().is_success() {
        return Err(BenchError::Step {
            during: "(g) funding the paper simulator's demo account".into(),
            detail: funded.status().to_string(),
        });
    }
    let mut points = vec![rss(pid, 0)?];
    let mut checkpoints: Vec<usize> = [executions / 10, executions / 2, executions]
        .into_iter()
        .filter(|&c| c > 0)
        .collect();
    checkpoints.dedup();
    let (mut done, mut placed, mut driving) = (0, Vec::with_capacity(executions), Duration::ZERO);
    for target in checkpoints {
        let start = Instant::now();
        placed.extend(drive(&http, &api, &tokens, done, target).await?);
        let phase = start.elapsed();
        driving += phase;
        let mut point = rss(pid, u64::try_from(target).unwrap_or(u64::MAX))?;
        point.executions_per_s = per_second(u64::try_from(target - done).unwrap_or(0), phase);
        eprintln!(
            "   (g) {target} executions: VmHWM {} KiB, VmRSS {} KiB, {} executions/s since the last reading",
            point.peak_kib, point.rss_kib, point.executions_per_s
        );
        points.push(point);
        done = target;
    }
    // After the last reading (the log's JSON is large): every placed order reached the simulator.
    let log: Vec<vigil_sim::OrderLogEntry> = http
        .get(format!("http://{sim}/_sim/orders"))
        .send()
        .await
        .during("(g) reading the simulator's order log")?
        .json()
        .await
        .during("(g) parsing the simulator's order log")?;
    let logged: HashSet<&str> = log
        .iter()
        .filter_map(|o| o.client_order_id.as_deref())
        .collect();
    let missing = placed
        .iter()
        .filter(|c| !logged.contains(c.as_str()))
        .count();
    if missing > 0 || placed.len() != executions {
        return Err(BenchError::Invariant(format!(
            "(g) {} executions placed, {executions} wanted; {missing} of their orders are not in the simulator's log",
            placed.len()
        )));
    }
    terminate(&mut child, &stderr_log).await?;
    Ok(Memory {
        binary: binary.display().to_string(),
        executions: u64::try_from(executions).unwrap_or(u64::MAX),
        streams: tokens.len(),
        points,
        executions_per_s: per_second(u64::try_from(executions).unwrap_or(0), driving),
        sim_orders: u64::try_from(log.len()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_the_cli_output() {
        let out =
            "user:      bench0 (admin, id 1)\napi token: vigil_abc\n           (shown once)\n";
        assert_eq!(token_of(out).unwrap(), "vigil_abc");
        assert!(token_of("nothing here").is_err());
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        let p = rss(std::process::id(), 3).unwrap();
        assert!(p.peak_kib >= p.rss_kib && p.rss_kib > 0, "{p:?}");
        assert_eq!(p.executions, 3);
    }
}
