//! `vigil-bench`: Vigil's benchmark harness (issue 7). Against the simulator in-process at zero
//! added latency and a fresh database per back end, it measures (a) the order path's latency
//! beside a bare signed create, split at the engine's step boundaries and, per execution, at the
//! instant the simulator recorded the order's arrival (the call until the order arrived, the
//! simulator's own handling of it, and the execute minus that handling: Vigil's own time), (b)
//! executions per second at 1, 8 and 32 users beside the database's bare one-row commits, (c)
//! the retry storm (exits non-zero unless exactly one order), (d) the scheduler's lease loop
//! beside a bare claim loop, (e) the preflight fact read as history grows, with its plans, and
//! (f) the client's orders per second beside the Python SDK. Once per run (on SQLite, whatever
//! `--backend` says), (g) measures the peak RSS of the real `vigil run --paper` process, started
//! as a child from the `vigil` binary next to this one (build it first: `cargo build [--release]
//! -p vigil-cli`), as executions through its HTTP API accumulate (10,000; 200 with `--quick`).
//! It prints tables and writes a JSON report and a markdown one next to it.
//!
//! Benchmarks never assert on time: the only failing checks are correctness ones (one order
//! per proposal, every job leased once, every execution placed and its order in the
//! simulator's log, a clean stop of `vigil run` on SIGTERM).
//!
//! ```text
//! cargo build [--release] -p vigil-cli   # (g) runs target/<profile>/vigil
//! cargo run [--release] -p vigil-bench -- [--quick] [--backend sqlite|postgres|both] [--out FILE] [--million]
//! ```

mod breakdown;
mod client;
mod error;
mod guards;
mod memory;
mod order_path;
mod raw;
mod report;
mod scheduler;
mod stats;
mod world;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, ValueEnum};
use vigil_store::BackendKind;

use crate::{
    error::{BenchError, During},
    report::{BackendReport, Report},
    world::World,
};

/// Which back ends to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backends {
    /// SQLite only.
    Sqlite,
    /// PostgreSQL only (`VIGIL_TEST_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres).
    Postgres,
    /// Both, SQLite first.
    Both,
}

/// Vigil's benchmarks.
#[derive(Debug, Parser)]
#[command(name = "vigil-bench", version)]
struct Args {
    /// Seconds, not minutes: small sample sizes, history up to 10^4 rows (for CI smoke runs).
    #[arg(long)]
    quick: bool,
    /// Which back ends.
    #[arg(long, value_enum, default_value = "both")]
    backend: Backends,
    /// Where to write the JSON report (the markdown report goes next to it, `.md`).
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
    /// Also measure 10^6 rows of history in (e) (full runs only; takes minutes).
    #[arg(long)]
    million: bool,
}

/// Sample sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    latency: usize,
    per_user: usize,
    bare_ops: usize,
    tx_cost: usize,
    storm: usize,
    jobs: usize,
    facts: usize,
    orders: usize,
    /// (g) executions through `vigil run --paper`'s API, and how many in flight.
    memory_executions: usize,
    memory_streams: usize,
}

impl Sizes {
    fn of(quick: bool) -> Sizes {
        if quick {
            Sizes {
                latency: 30,
                per_user: 3,
                bare_ops: 320,
                tx_cost: 10,
                storm: 1_000,
                jobs: 64,
                facts: 30,
                orders: 50,
                memory_executions: 200,
                memory_streams: 4,
            }
        } else {
            Sizes {
                latency: 500,
                per_user: 40,
                bare_ops: 4_000,
                tx_cost: 100,
                storm: 1_000,
                jobs: 1_000,
                facts: 300,
                orders: 500,
                memory_executions: 10_000,
                memory_streams: 4,
            }
        }
    }
}

async fn run_backend(
    backend: BackendKind,
    args: &Args,
    sizes: Sizes,
) -> Result<Option<BackendReport>, BenchError> {
    let Some(world) = World::new(backend).await? else {
        eprintln!("{backend:?}: unreachable, skipped");
        return Ok(None);
    };
    eprintln!("== {backend:?}: (a) order path");
    let order_path = order_path::order_path(&world, sizes.latency).await?;
    eprintln!("== {backend:?}: (b) throughput");
    let throughput =
        order_path::throughput(&world, &[1, 8, 32], sizes.per_user, sizes.bare_ops).await?;
    let tx_cost = order_path::tx_cost(&world, sizes.tx_cost, !args.quick).await?;
    let events_per_execution = events_per_execution(&world).await?;
    eprintln!("== {backend:?}: (c) retry storm");
    let storm = order_path::storm(&world, sizes.storm).await?;
    eprintln!("== {backend:?}: (d) scheduler");
    let scheduler = scheduler::scheduler(&world, &[1, 4, 16], sizes.jobs).await?;
    eprintln!("== {backend:?}: (e) guards");
    let levels: Vec<u64> = if args.quick {
        vec![1_000, 10_000]
    } else if args.million {
        vec![10_000, 100_000, 1_000_000]
    } else {
        vec![10_000, 100_000]
    };
    let guards = guards::guards(&world, &levels, sizes.facts).await?;
    eprintln!("== {backend:?}: (f) client");
    let client = client::client(&world, sizes.orders).await?;
    world.sim.handle.shutdown_token().cancel();
    world.store.close().await;
    Ok(Some(BackendReport {
        backend: format!("{backend:?}").to_lowercase(),
        order_path,
        throughput,
        tx_cost,
        events_per_execution_x100: events_per_execution,
        storm,
        scheduler,
        guards,
        client,
    }))
}

/// `execution_events` rows per placed execution (×100): each event is written by its own
/// transition, so this is a floor on write transactions per execution on either back end.
async fn events_per_execution(world: &World) -> Result<u64, BenchError> {
    let raw = raw::RawDb::connect(&world.url, 1).await?;
    let count = |sql: &'static str| {
        let raw = raw.clone();
        async move {
            match &raw {
                raw::RawDb::Postgres(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
                raw::RawDb::Sqlite(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
            }
            .during(sql)
        }
    };
    let events = count("SELECT COUNT(*) FROM execution_events").await?;
    let executions = count("SELECT COUNT(*) FROM trade_executions").await?;
    raw.close().await;
    Ok(u64::try_from(events * 100 / executions.max(1)).unwrap_or(0))
}

async fn run(args: Args) -> Result<(), BenchError> {
    let sizes = Sizes::of(args.quick);
    let backends = match args.backend {
        Backends::Sqlite => vec![BackendKind::Sqlite],
        Backends::Postgres => vec![BackendKind::Postgres],
        Backends::Both => vec![BackendKind::Sqlite, BackendKind::Postgres],
    };
    let mut report = Report::new(args.quick);
    for backend in backends {
        if let Some(r) = run_backend(backend, &args, sizes).await? {
            report.backends.push(r);
        }
    }
    eprintln!("== (g) memory of vigil run --paper (SQLite)");
    report.paper_run_memory =
        Some(memory::memory(sizes.memory_executions, sizes.memory_streams).await?);
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).during("creating the report's directory")?;
    }
    let json = serde_json::to_string_pretty(&report).during("serialising the report")?;
    std::fs::write(&args.out, json).during("writing the JSON report")?;
    let md_path = args.out.with_extension("md");
    std::fs::write(&md_path, markdown).during("writing the markdown report")?;
    eprintln!("reports: {} and {}", args.out.display(), md_path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
