//! The order path: (a) latency of one execute, beside a bare signed create against the same
//! simulator, split at the engine's step boundaries and, per execution, at the instants the
//! simulator recorded for the order's create request (its arrival, its answer ready; Vigil's own
//! time is the execute minus that order's handling); (b) executions per second at 1, 8 and 32
//! concurrent users beside the database's bare one-row insert commits at the same concurrency;
//! (c) the retry storm, 1,000 concurrent executes of one proposal, which must place exactly one
//! order.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde::Serialize;
use vigil_bitvavo::{BalanceQuery, CreateOrder, TickerPriceQuery};
use vigil_core::{ClientOrderId, Notional, OrderSize, Side};
use vigil_engine::ExecutionOutcome;

use crate::{
    breakdown::{Arrival, Arrivals, Breakdown, Segments, StepTimer},
    error::{BenchError, During},
    raw::{RawDb, Value},
    stats::{per_second, Latency},
    world::{btc, World, ORDER_EUR, POOL_SIZE},
};

/// (a) The order path's latency.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OrderPath {
    /// `execute` until it returns `Placed` (the `SUBMITTED` row committed).
    pub(crate) execute: Latency,
    /// A bare signed create (`TradingClient::create_order`) against the same simulator.
    pub(crate) bare_create: Latency,
    /// The two fresh reads every execute makes (ticker price and balance), timed bare.
    pub(crate) bare_reads: Latency,
    /// The execute's segments, between the engine's step boundaries.
    pub(crate) breakdown: Breakdown,
    /// Per execution, from the simulator's record of its order: the call until the order
    /// arrived, the simulator's handling, and the execute minus that handling.
    pub(crate) arrival: Arrival,
    /// Simulator HTTP requests per execute (from its request counters).
    pub(crate) requests_per_execute: u64,
    /// `execute` p50 minus (create p50 + reads p50): Vigil's own time, at the median.
    pub(crate) overhead_p50_us: u64,
    /// `execute` p99 minus (create p50 + reads p50): Vigil's own time at p99 (the simulator's
    /// share taken at its median, so this leans pessimistic).
    pub(crate) overhead_p99_us: u64,
}

fn total_requests(world: &World) -> u64 {
    world.sim.handle.request_counts().values().sum()
}

fn placed(outcome: &ExecutionOutcome) -> Result<(), BenchError> {
    match outcome {
        ExecutionOutcome::Placed(_) => Ok(()),
        other => Err(BenchError::Invariant(format!(
            "a bench execution was meant to place an order, got {other:?}"
        ))),
    }
}

/// Executions between two reconciler passes in (a) (about 0.1-0.2 s of executions here).
const RECONCILE_EVERY: usize = 10;

/// Runs (a) with `n` sequential executions of one user, with a reconciler pass (untimed) after
/// every [`RECONCILE_EVERY`].
///
/// # Errors
/// A setup error, or an execution that did not place its order.
pub(crate) async fn order_path(world: &World, n: usize) -> Result<OrderPath, BenchError> {
    let user = world.user("latency").await?;
    // Warm up: the market-data cache, the pool's connections, the HTTP connection.
    for _ in 0..3 {
        let p = world.approved(user).await?;
        placed(
            &world
                .executor
                .execute(user, p)
                .await
                .during("warm-up execute")?,
        )?;
    }
    let mut execute = Vec::with_capacity(n);
    let timer = StepTimer::new();
    let timed = world.executor.clone().with_hooks(timer.clone());
    let mut segments = Segments::default();
    let mut runs = Vec::with_capacity(n);
    let before = total_requests(world);
    let mut reconcile_requests = 0;
    for i in 0..n {
        // Untimed: the reconciler's pass, as `vigil run` runs one every 5 s. Without it the
        // user's SUBMITTED orders pile up (500 in flight at the end), which the in-flight list
        // of both guard sections then carries, a state a user's cooldown never lets arise.
        if i % RECONCILE_EVERY == RECONCILE_EVERY - 1 {
            let from = total_requests(world);
            world.reconciler.reconcile_once().await;
            reconcile_requests += total_requests(world) - from;
        }
        let p = world.approved(user).await?;
        timer.take();
        let start = Instant::now();
        let outcome = timed.execute(user, p).await.during("execute")?;
        let end = Instant::now();
        execute.push(end - start);
        segments.add(start, &timer.take(), end);
        placed(&outcome)?;
        if let ExecutionOutcome::Placed(e) = &outcome {
            runs.push((start, end, e.client_order_id.to_string()));
        }
    }
    let requests = total_requests(world) - before - reconcile_requests;
    let arrival = arrivals(world, &runs)?;
    let mut bare_create = Vec::with_capacity(n);
    let mut bare_reads = Vec::with_capacity(n);
    for _ in 0..n {
        let order = CreateOrder::market(
            btc(),
            Side::Buy,
            OrderSize::Quote(Notional::from_whole(ORDER_EUR)),
            ClientOrderId::new(),
        )
        .during("building an order")?;
        let start = Instant::now();
        let outcome = world.clients.trading.create_order(order).await;
        bare_create.push(start.elapsed());
        outcome.result.during("bare create")?;
        let start = Instant::now();
        world
            .clients
            .read_only
            .ticker_price(&TickerPriceQuery {
                market: Some(btc()),
            })
            .await
            .during("bare ticker read")?;
        world
            .clients
            .read_only
            .balance(&BalanceQuery::default())
            .await
            .during("bare balance read")?;
        bare_reads.push(start.elapsed());
    }
    let (execute, bare_create, bare_reads) = (
        Latency::of(&execute),
        Latency::of(&bare_create),
        Latency::of(&bare_reads),
    );
    let exchange = bare_create.p50_us + bare_reads.p50_us;
    Ok(OrderPath {
        breakdown: segments.summary(),
        arrival,
        requests_per_execute: requests / u64::try_from(n.max(1)).unwrap_or(1),
        overhead_p50_us: execute.p50_us.saturating_sub(exchange),
        overhead_p99_us: execute.p99_us.saturating_sub(exchange),
        execute,
        bare_create,
        bare_reads,
    })
}

/// Matches each timed execute (start, end, clientOrderId) with the simulator's record of its
/// order. Every placed order must be in the log with its request timing.
fn arrivals(world: &World, runs: &[(Instant, Instant, String)]) -> Result<Arrival, BenchError> {
    let log: HashMap<String, _> = world
        .sim
        .handle
        .order_log()
        .into_iter()
        .filter_map(|o| Some((o.client_order_id?, o.request)))
        .collect();
    let mut arrivals = Arrivals::default();
    for (start, end, coid) in runs {
        match log.get(coid) {
            Some(Some(timing)) => arrivals.add(*start, *end, *timing),
            Some(None) => {
                return Err(BenchError::Invariant(format!(
                    "the simulator logged order {coid} without its request timing"
                )))
            }
            None => {
                return Err(BenchError::Invariant(format!(
                    "a placed execution's order {coid} is not in the simulator's log"
                )))
            }
        }
    }
    Ok(arrivals.summary())
}

/// (b) One concurrency level's throughput.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Throughput {
    /// Concurrent users (one proposal stream each).
    pub(crate) users: usize,
    /// Executions that placed an order.
    pub(crate) executions: u64,
    /// Executions per second.
    pub(crate) executions_per_s: u64,
    /// Bare one-row insert commits per second, same pool size, same concurrency.
    pub(crate) bare_tx_per_s: u64,
}

/// Runs (b) at each level in `levels`, `per_user` executions per user.
///
/// # Errors
/// A setup error, or an execution that did not place its order.
pub(crate) async fn throughput(
    world: &World,
    levels: &[usize],
    per_user: usize,
    bare_ops: usize,
) -> Result<Vec<Throughput>, BenchError> {
    let raw = RawDb::connect(&world.url, POOL_SIZE).await?;
    raw.execute(
        "CREATE TABLE bench_bare (id TEXT PRIMARY KEY, at TEXT NOT NULL)",
        &[],
    )
    .await?;
    let mut results = Vec::new();
    for (level_index, &users) in levels.iter().enumerate() {
        let mut streams = Vec::with_capacity(users);
        for u in 0..users {
            let user = world.user(&format!("tp{level_index}_{u}")).await?;
            let mut proposals = Vec::with_capacity(per_user);
            for _ in 0..per_user {
                proposals.push(world.approved(user).await?);
            }
            streams.push((user, proposals));
        }
        let start = Instant::now();
        let tasks = streams.into_iter().map(|(user, proposals)| {
            let executor = world.executor.clone();
            tokio::spawn(async move {
                for p in proposals {
                    let outcome = executor.execute(user, p).await.during("execute")?;
                    placed(&outcome)?;
                }
                Ok::<(), BenchError>(())
            })
        });
        for joined in join_all(tasks).await {
            joined.during("an execution task")??;
        }
        let elapsed = start.elapsed();
        let executions = u64::try_from(users * per_user).unwrap_or(u64::MAX);
        let bare = bare_inserts(&raw, users, bare_ops, level_index).await?;
        results.push(Throughput {
            users,
            executions,
            executions_per_s: per_second(executions, elapsed),
            bare_tx_per_s: per_second(u64::try_from(bare_ops).unwrap_or(0), bare),
        });
    }
    raw.close().await;
    Ok(results)
}

/// `total` one-row unique-key insert commits spread over `concurrency` tasks; wall time.
async fn bare_inserts(
    raw: &RawDb,
    concurrency: usize,
    total: usize,
    round: usize,
) -> Result<Duration, BenchError> {
    let per_task = total / concurrency.max(1);
    let start = Instant::now();
    let tasks = (0..concurrency).map(|t| {
        let raw = raw.clone();
        tokio::spawn(async move {
            for i in 0..per_task {
                raw.execute(
                    "INSERT INTO bench_bare (id, at) VALUES ($1, $2)",
                    &[
                        Value::Text(format!("{round}-{t}-{i}")),
                        Value::Text("2026-01-01T00:00:00.000000Z".into()),
                    ],
                )
                .await?;
            }
            Ok::<(), BenchError>(())
        })
    });
    for joined in join_all(tasks).await {
        joined.during("a bare insert task")??;
    }
    Ok(start.elapsed())
}

/// (b') How many transactions one execution costs, measured on PostgreSQL.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TxCost {
    /// Executions measured.
    pub(crate) executions: u64,
    /// Committed transactions per execution (reads in autocommit included), ×100; `None` in
    /// quick runs, which do not wait for the statistics to settle.
    pub(crate) commits_per_execution_x100: Option<i64>,
    /// Transactions that wrote (were assigned an id) per execution, ×100.
    pub(crate) writes_per_execution_x100: i64,
}

/// Counts PostgreSQL's commits and assigned transaction ids around `n` executions (the
/// counters cover the whole database; nothing else uses it during the count).
///
/// # Errors
/// A setup error, or an execution that did not place its order.
pub(crate) async fn tx_cost(
    world: &World,
    n: usize,
    exact_commits: bool,
) -> Result<Option<TxCost>, BenchError> {
    let settle = if exact_commits {
        Duration::from_secs(11)
    } else {
        Duration::ZERO
    };
    let raw = RawDb::connect(&world.url, 1).await?;
    let user = world.user("txcost").await?;
    let mut proposals = Vec::with_capacity(n);
    for _ in 0..n {
        proposals.push(world.approved(user).await?);
    }
    let Some((c0, x0)) = raw.pg_counters(settle).await? else {
        raw.close().await;
        return Ok(None);
    };
    for p in proposals {
        placed(&world.executor.execute(user, p).await.during("execute")?)?;
    }
    let Some((c1, x1)) = raw.pg_counters(settle).await? else {
        return Ok(None);
    };
    raw.close().await;
    let n64 = i64::try_from(n.max(1)).unwrap_or(1);
    // The counter reads themselves: 2 statements (each a commit) and one assigned id (the
    // `txid_current()` of the first reading) fall inside the window.
    Ok(Some(TxCost {
        executions: u64::try_from(n).unwrap_or(0),
        commits_per_execution_x100: exact_commits.then(|| (c1 - c0 - 2) * 100 / n64),
        writes_per_execution_x100: (x1 - x0 - 1) * 100 / n64,
    }))
}

/// (c) The retry storm.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Storm {
    /// Concurrent callers.
    pub(crate) callers: usize,
    /// Wall time until every caller had its answer, in ms.
    pub(crate) wall_ms: u64,
    /// Orders the simulator accepted for the proposal's clientOrderId (must be 1).
    pub(crate) orders: usize,
    /// Callers answered `Placed`.
    pub(crate) placed: usize,
    /// Callers answered `AlreadyClaimed`.
    pub(crate) already_claimed: usize,
    /// Callers that got anything else, or an error.
    pub(crate) other: usize,
}

/// Runs (c): `callers` concurrent executes of ONE proposal.
///
/// # Errors
/// A setup error; more or fewer than one order is [`BenchError::Invariant`].
pub(crate) async fn storm(world: &World, callers: usize) -> Result<Storm, BenchError> {
    let user = world.user("storm").await?;
    let proposal = world.approved(user).await?;
    let start = Instant::now();
    let tasks = (0..callers).map(|_| {
        let executor = world.executor.clone();
        tokio::spawn(async move { executor.execute(user, proposal).await })
    });
    let answers = join_all(tasks).await;
    let wall = start.elapsed();
    let (mut placed_n, mut claimed, mut other) = (0, 0, 0);
    for answer in answers {
        match answer {
            Ok(Ok(ExecutionOutcome::Placed(_))) => placed_n += 1,
            Ok(Ok(ExecutionOutcome::AlreadyClaimed(_))) => claimed += 1,
            _ => other += 1,
        }
    }
    let execution = world
        .store
        .execution_get_by_proposal(user, proposal)
        .await
        .during("reading the storm's execution")?
        .ok_or_else(|| BenchError::Invariant("the storm left no execution".into()))?;
    let wanted = execution.client_order_id.to_string();
    let orders = world
        .sim
        .handle
        .order_log()
        .iter()
        .filter(|o| o.client_order_id.as_deref() == Some(wanted.as_str()))
        .count();
    let storm = Storm {
        callers,
        wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
        orders,
        placed: placed_n,
        already_claimed: claimed,
        other,
    };
    if orders != 1 || placed_n != 1 {
        return Err(BenchError::Invariant(format!(
            "I1: {callers} concurrent executes of one proposal must place exactly one order: {storm:?}"
        )));
    }
    Ok(storm)
}
