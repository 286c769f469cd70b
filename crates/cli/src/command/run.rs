//! `vigil run` and `vigil run --paper`: Vigil as a service.
//!
//! One process runs, until Ctrl-C or SIGTERM: scheduler workers (leased scan jobs, I9:
//! `vigil_scan::Scheduler::run`), the hardened executor for every approved proposal (taken from
//! the database at start and every few seconds, and at once when the scheduler auto-approves
//! one: `vigil_engine::ApprovedProposals`), the reconciler every few seconds
//! (`vigil_engine::Reconciler::run`), the rate-limit watch (`vigil_alerting::RateLimitWatch`),
//! alert delivery and its watches, the exchange's dead man's switch, and the HTTP API. Each loop
//! lives in the crate that owns it and is the loop its tests run; this module wires them (the
//! executor and reconciler through `deployment::Trading::assemble`, as the one-shot commands do)
//! and prints or counts what they report. Paper trading is the same wiring pointed at the
//! built-in simulator, started in-process on loopback: the same client, signing, executor and
//! reconciler that trade real money.
//!
//! Before anything is written or sent, [`prepare`] checks every flag and configuration value
//! (and binds the API's address): a bad one is exit code 2 with nothing touched (#18 case 8).
//!
//! Shutdown is two-phase: the token stops the scheduler from leasing and the executor loop from
//! taking new proposals; then every task is joined, so an execution in flight reaches a safe
//! state (recorded outcome, or SUBMITTING for the reconciler) before the process exits.

use std::{process::ExitCode, sync::Arc, time::Duration};

use chrono::SecondsFormat;
use rust_decimal::Decimal;
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;
use vigil_alerting::RateLimitWatch;
use vigil_bitvavo::BitvavoClients;
use vigil_core::{Clock, ExecutionState, Market, Notional, Policy, ProposalId, SystemClock};
use vigil_engine::{ApprovedProposals, ExecuteError, ExecutionOutcome};
use vigil_scan::{
    advisor::{Advisor, AdvisorConfig, ModelPrice, PriceTable},
    Scheduler, SchedulerConfig,
};
use vigil_store::{DeploymentMode, ExecutionFilter, NewScanJob, ProposalFilter, Store, StoreError};

use super::{init::create_user_with_token, CommandError};
use crate::{
    args::RunArgs,
    config::Config,
    deployment::{alerts, exchange, Deployment, Settings},
    exit,
};

/// The demo user paper trading creates on first use.
const PAPER_USER: &str = "paper";
/// The pause between the end of one reconcile pass and the start of the next.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);
/// How often both keys' rate-limit budgets are sampled for a ban.
const RATE_LIMIT_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the status line is printed.
const STATUS_INTERVAL: Duration = Duration::from_secs(30);
/// Wake-ups for the executor loop; the scheduler waits (bounded) when it is full.
const HAND_OFF_CAPACITY: usize = 256;
/// How often the executor loop reads the approved proposals from the database.
const APPROVED_SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Everything `vigil run` was asked for, checked before the store or the exchange is touched
/// (#18 case 8): the flags (their ranges are also clap's), the `[sim]` table or the live
/// exchange's settings and keys, the scheduler's, reconciler's, alerts' and advisor's settings,
/// and the API's address (checked against `server.allow_non_loopback` and bound).
pub(crate) struct RunPlan {
    exchange: PlannedExchange,
    scheduler: SchedulerConfig,
    advisor: Option<AdvisorConfig>,
    listener: Option<tokio::net::TcpListener>,
    workers: usize,
}

enum PlannedExchange {
    /// The built-in simulator with this configuration.
    Paper(vigil_sim::SimConfig),
    /// The configured exchange, clients built but nothing sent yet.
    Live(exchange::LiveExchange),
}

/// Checks every flag and configuration value of `vigil run`; nothing is written or sent.
///
/// # Errors
/// A [`CommandError::Invalid`] (or a configuration error) naming the flag or key and what was
/// expected: exit code 2.
pub(crate) async fn prepare(args: &RunArgs, settings: &Settings) -> anyhow::Result<RunPlan> {
    let config = &settings.config;
    let scheduler = SchedulerConfig {
        poll_interval: Duration::from_millis(args.poll_ms),
        lease_ttl: Duration::from_secs(args.lease_ttl_seconds),
        ..SchedulerConfig::new(SchedulerConfig::random_instance_id())
    };
    let mut problems = Vec::new();
    if let Err(mut found) = scheduler.validate() {
        problems.append(&mut found);
    }
    let workers = usize::from(args.workers);
    if workers == 0 || workers > scheduler.workers_max {
        problems.push(vigil_core::ValidationError::new(
            "--workers",
            workers,
            format!("1 to {}", scheduler.workers_max),
        ));
    }
    if let Err(mut found) = exchange::reconciler_config(config).validate() {
        problems.append(&mut found);
    }
    if let Err(mut found) = config.alerts.delivery_config().validate() {
        problems.append(&mut found);
    }
    if !problems.is_empty() {
        return Err(CommandError::invalid(&problems).into());
    }
    if !args.no_api {
        vigil_server::ListenPolicy {
            allow_non_loopback: config.server.allow_non_loopback,
        }
        .check(args.listen)
        .map_err(|e| CommandError::Invalid(format!("--listen {}: {e}", args.listen)))?;
    }
    let exchange = if args.paper {
        let mut sim_config = match &config.sim {
            Some(table) => vigil_sim::SimConfig::from_toml_table(table.clone())
                .map_err(|e| CommandError::Invalid(format!("[sim] configuration: {e}")))?,
            None => vigil_sim::SimConfig::demo(args.seed),
        };
        sim_config.seed = args.seed;
        PlannedExchange::Paper(sim_config)
    } else {
        PlannedExchange::Live(settings.live_exchange()?)
    };
    let advisor = match &config.advisor {
        None => None,
        Some(wanted) => {
            let prices = PriceTable::new().with(
                wanted.model.clone(),
                ModelPrice {
                    prompt_usd_per_million: wanted.prompt_usd_per_million,
                    completion_usd_per_million: wanted.completion_usd_per_million,
                },
            );
            let advisor_config = AdvisorConfig {
                max_tokens: wanted.max_tokens,
                ..AdvisorConfig::new(
                    wanted.base_url.clone(),
                    wanted.model.clone(),
                    settings.advisor_key()?,
                    prices,
                )
            };
            advisor_config.validate().map_err(|p| {
                CommandError::Invalid(format!(
                    "the LLM advisor's settings ([advisor]): {}",
                    p.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
            Some(advisor_config)
        }
    };
    // Bound now, so an address that cannot be used is refused before anything is written.
    let listener = if args.no_api {
        None
    } else {
        let listen = args.listen;
        Some(tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            CommandError::Invalid(format!(
                "--listen {listen}: cannot listen there: {e}; choose another --listen address or --no-api"
            ))
        })?)
    };
    Ok(RunPlan {
        exchange,
        scheduler,
        advisor,
        listener,
        workers,
    })
}

/// Runs the service from a checked [`RunPlan`].
pub(crate) async fn run(
    ctx: &Deployment,
    args: &RunArgs,
    plan: RunPlan,
) -> anyhow::Result<ExitCode> {
    let config = ctx.config();
    let stop = stop_signal()?;
    let shutdown = CancellationToken::new();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let RunPlan {
        exchange: planned,
        scheduler: scheduler_config,
        advisor: advisor_config,
        listener,
        workers,
    } = plan;

    // The exchange: the built-in simulator for paper trading, else the configured one.
    let clients = match planned {
        PlannedExchange::Paper(sim_config) => {
            exchange::ensure_deployment_mode(&ctx.store, DeploymentMode::Paper).await?;
            paper_exchange(sim_config, config, &shutdown, &mut tasks).await?
        }
        PlannedExchange::Live(live) => {
            // `connect` refuses a paper database before the exchange is asked anything.
            live_checks(ctx).await?;
            live.connect(&ctx.store).await?
        }
    };
    if args.paper {
        paper_bootstrap(ctx).await?;
    }

    // Alerts go to the log and, when configured, to the webhook, through a bounded queue that
    // never blocks the order path; the watches raise alerts for kill-switch and policy changes
    // and for failed or overdue executions.
    let alerts = alerts::spawn_for_service(&ctx.store, config, &shutdown, &mut tasks).await?;
    // The executor and the reconciler, raising to that delivery: built by the same function as
    // the one-shot commands'.
    let exchange::Trading {
        read_only,
        cancel,
        executor,
        reconciler,
        alerts,
    } = exchange::Trading::assemble(&ctx.store, clients, config, alerts)?;
    // The exchange's dead man's switch: resting orders are cancelled if this process stops
    // re-arming it (it is disarmed on a clean shutdown).
    alerts::spawn_dead_mans_switch(cancel.clone(), &alerts, config, &shutdown, &mut tasks)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (approved_tx, approved_rx) = mpsc::channel::<ProposalId>(HAND_OFF_CAPACITY);
    let mut scheduler = Scheduler::new(
        ctx.store.clone(),
        read_only.clone(),
        Arc::clone(&clock),
        scheduler_config,
    )
    .map_err(|e| CommandError::Invalid(e.to_string()))?
    .with_approved_sink(approved_tx)
    .with_alerts(Arc::new(alerts.clone()));
    if let Some(advisor_config) = &advisor_config {
        let advisor = Advisor::new(
            ctx.store.clone(),
            read_only.clone(),
            Arc::clone(&clock),
            advisor_config,
        )
        .map_err(|e| CommandError::Invalid(format!("the LLM advisor: {e}")))?
        .with_alerts(Arc::new(alerts.clone()));
        crate::out!("{} LLM advisor: {} at {} (jobs with strategy llm_advisor use it, within each user's daily budget)", stamp(), advisor_config.model, advisor_config.base_url);
        scheduler = scheduler.with_advisor(Arc::new(advisor));
    }

    {
        let (scheduler, token) = (scheduler.clone(), shutdown.clone());
        tasks.spawn(async move {
            scheduler
                .run(workers, token)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    // One metrics registry for the API's /metrics and this process's executor and reconciler
    // loops, so every execution is counted wherever it was started or finished.
    let metrics = vigil_server::Metrics::new();
    {
        // The reconciler's own loop (the one its tests run): each execution a pass brings to a
        // final state is counted in the metrics, then printed; the loop logs a pass that left
        // something unresolved.
        let (metrics, token) = (metrics.clone(), shutdown.clone());
        tasks.spawn(async move {
            reconciler
                .run(RECONCILE_INTERVAL, token, |report| {
                    for (state, execution) in report.finished() {
                        metrics.execution_finished(state);
                        crate::out!(
                            "{} {:<8} execution {execution} (reconciler)",
                            stamp(),
                            state.as_str()
                        );
                    }
                })
                .await;
            Ok(())
        });
    }
    {
        // A `rate_limit_ban` alert when the exchange bans either key. The trade key's budget is
        // read through the cancel capability: the watch never needs the order capability, which
        // only the executor holds (I10).
        let watch =
            RateLimitWatch::new(read_only.clone(), cancel.clone(), Arc::new(alerts.clone()));
        let token = shutdown.clone();
        tasks.spawn(async move {
            watch.run(RATE_LIMIT_SAMPLE_INTERVAL, token).await;
            Ok(())
        });
    }
    {
        // The executor loop takes its work from the database (approved, unexpired, unexecuted),
        // at start and every sweep; the scheduler's hand-off only wakes it.
        let work = ApprovedProposals::new(
            ctx.store.clone(),
            executor.clone(),
            Arc::clone(&clock),
            APPROVED_SWEEP_INTERVAL,
        );
        let (metrics, token) = (metrics.clone(), shutdown.clone());
        tasks.spawn(async move {
            work.run(approved_rx, token, |proposal, outcome| {
                report_execution(&metrics, &proposal, outcome);
            })
            .await;
            Ok(())
        });
    }
    tasks.spawn(status_lines(ctx.store.clone(), shutdown.clone()));
    if let Some(listener) = listener {
        let mut deps = vigil_server::ApiDeps::new(ctx.store.clone(), Arc::clone(&clock));
        deps.exchange = Some(read_only.clone());
        deps.executor = Some(executor.clone());
        deps.metrics = metrics.clone();
        deps.config.ceilings = config.limits;
        // The server checks the bound listener again, with the same policy.
        deps.config.listen = vigil_server::ListenPolicy {
            allow_non_loopback: config.server.allow_non_loopback,
        };
        let state = vigil_server::ApiState::new(deps);
        let token = shutdown.clone();
        let bound = listener.local_addr()?;
        crate::out!(
            "{} api: http://{bound}/api/v1 (healthz, readyz, metrics, openapi.json)",
            stamp()
        );
        tasks.spawn(async move {
            vigil_server::run(listener, state, token)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    crate::out!(
        "{} vigil running ({}) with {} scheduler worker(s); Ctrl-C stops it",
        stamp(),
        if args.paper { "paper trading" } else { "LIVE" },
        workers
    );

    let mut failed = None;
    tokio::select! {
        () = stop => crate::out!("{} stopping: finishing in-flight work", stamp()),
        Some(joined) = tasks.join_next() => {
            failed = Some(describe(joined));
        }
    }
    shutdown.cancel();
    while let Some(joined) = tasks.join_next().await {
        if let Some(problem) = describe_failure(joined) {
            failed.get_or_insert(problem);
        }
    }
    ctx.store.close().await;
    match failed {
        Some(problem) if !problem.is_empty() => {
            Err(anyhow::anyhow!("a part of vigil run stopped: {problem}"))
        }
        _ => {
            crate::out!("{} stopped", stamp());
            Ok(exit::SUCCESS)
        }
    }
}

/// Live mode refuses to start unless the global kill switch can be read; both keys and their
/// difference are checked when the clients are built (I10).
async fn live_checks(ctx: &Deployment) -> anyhow::Result<()> {
    match ctx.store.kill_switch_read_global().await {
        Ok(true) => crate::out!(
            "{} the global kill switch is ON: nothing will be traded until `vigil kill-switch off`",
            stamp()
        ),
        Ok(false) => {}
        Err(e) => {
            return Err(anyhow::anyhow!(
                "refusing to start live: the global kill switch cannot be read ({e})"
            ))
        }
    }
    Ok(())
}

/// Starts the simulator in-process on loopback and connects to it with its demo keys.
async fn paper_exchange(
    sim_config: vigil_sim::SimConfig,
    config: &Config,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<BitvavoClients> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let token = shutdown.clone();
    tasks.spawn(async move {
        vigil_sim::run(listener, sim_config, token)
            .await
            .map_err(anyhow::Error::from)
    });
    crate::out!(
        "{} paper exchange: the built-in simulator at http://{addr} (admin log: /_sim/orders)",
        stamp()
    );
    exchange::paper_clients(config, &format!("http://{addr}")).await
}

/// On first use: the demo user, its allowlist (BTC-EUR, ETH-EUR), a policy that trades within the
/// 25 EUR cap with auto-approval, and two jobs at short demo intervals. Later runs keep what is
/// there (an operator may have changed it).
async fn paper_bootstrap(ctx: &Deployment) -> anyhow::Result<()> {
    match ctx.store.user_get_by_name(PAPER_USER).await {
        Ok(_) => {
            crate::out!(
                "{} paper user {PAPER_USER:?} exists; keeping its policy, allowlist and jobs",
                stamp()
            );
            return Ok(());
        }
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let (user, token) = create_user_with_token(ctx, PAPER_USER, true).await?;
    let by = ctx.attribution(Some("paper trading set-up"));
    let markets = [Market::parse("BTC-EUR")?, Market::parse("ETH-EUR")?];
    for market in &markets {
        ctx.store.allowlist_add(user.id, market, &by).await?;
    }
    let policy = Policy {
        trading_enabled: true,
        auto_approve: true,
        order_notional_max: Notional::from_whole(25),
        daily_notional_max: Notional::from_whole(250),
        cooldown_minutes: 1,
        anti_flip_minutes: 5,
        llm_daily_budget: Decimal::ZERO,
    };
    ctx.store
        .policy_set(user.id, &policy, &by, vigil_store::PolicyLimits::Operator)
        .await?;
    let now = ctx.clock.now();
    let jobs = [
        (
            "dca",
            markets[0].clone(),
            serde_json::json!({ "amount_quote": "10" }),
            60,
        ),
        (
            "sma_cross",
            markets[1].clone(),
            serde_json::json!({ "fast": 3, "slow": 8, "interval": "1m", "amount_quote": "10" }),
            30,
        ),
    ];
    for (strategy, market, params, interval_seconds) in jobs {
        let new = NewScanJob {
            user_id: user.id,
            strategy: strategy.into(),
            markets: vec![market],
            params,
            interval_seconds,
            first_run_at: now,
        };
        vigil_scan::strategy::validate_new_job(&new).map_err(|p| CommandError::invalid(&p))?;
        ctx.store.scan_job_create(&new, &by).await?;
    }
    crate::out!("{} paper user {PAPER_USER:?} created: allowlist BTC-EUR, ETH-EUR; trading on, auto-approve within 25 EUR per order; jobs dca (BTC-EUR, 60 s) and sma_cross (ETH-EUR, 30 s)", stamp());
    crate::out!("{} its API token (shown once): {token}", stamp());
    Ok(())
}

/// What `vigil run` prints for each executed proposal, and counts in the metrics.
fn report_execution(
    metrics: &vigil_server::Metrics,
    proposal: &vigil_core::Proposal,
    outcome: Result<ExecutionOutcome, ExecuteError>,
) {
    let what = format!(
        "{} {} {} {} ({})",
        proposal.source,
        proposal.side,
        proposal.market,
        size(&proposal.size),
        short(&proposal.id.to_string())
    );
    if let Ok(outcome) = &outcome {
        metrics.execute_answered(outcome);
    }
    match outcome {
        Ok(ExecutionOutcome::Placed(e)) => crate::out!(
            "{} PLACED   {what}: order {} (clientOrderId {})",
            stamp(),
            e.exchange_order_id.as_deref().unwrap_or("?"),
            e.client_order_id
        ),
        Ok(ExecutionOutcome::AlreadyClaimed(e)) => crate::out!(
            "{} ALREADY  {what}: execution {} is {}",
            stamp(),
            e.id,
            e.state
        ),
        Ok(ExecutionOutcome::Refused { refusal, .. }) => {
            crate::out!("{} REFUSED  {what}: {refusal}", stamp())
        }
        Ok(ExecutionOutcome::OutcomeUnknown(e)) => crate::out!(
            "{} UNKNOWN  {what}: execution {} waits for the reconciler",
            stamp(),
            e.id
        ),
        Ok(ExecutionOutcome::Failed(e)) => crate::out!(
            "{} FAILED   {what}: {}",
            stamp(),
            e.failure.as_deref().unwrap_or("?")
        ),
        Err(e) => crate::out!(
            "{} ERROR    {what}: {e}; the next sweep tries again",
            stamp()
        ),
    }
}

/// A progress line at a fixed interval: proposals and executions by state.
async fn status_lines(store: Store, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(STATUS_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        let proposals = store
            .proposal_list(&ProposalFilter {
                limit: vigil_store::LIST_LIMIT_MAX,
                ..ProposalFilter::default()
            })
            .await;
        let executions = store
            .execution_list(&ExecutionFilter {
                limit: vigil_store::LIST_LIMIT_MAX,
                ..ExecutionFilter::default()
            })
            .await;
        match (proposals, executions) {
            (Ok(proposals), Ok(executions)) => {
                let count = |s: ExecutionState| executions.iter().filter(|e| e.state == s).count();
                crate::out!(
                    "{} status: {} proposals; executions: {} filled, {} submitted, {} in flight, {} rejected, {} failed",
                    stamp(),
                    proposals.len(),
                    count(ExecutionState::Filled),
                    count(ExecutionState::Submitted),
                    count(ExecutionState::Submitting) + count(ExecutionState::Claimed),
                    count(ExecutionState::Rejected),
                    count(ExecutionState::Failed),
                );
            }
            (Err(e), _) | (_, Err(e)) => {
                crate::out!("{} status: the database did not answer ({e})", stamp())
            }
        }
    }
}

/// Ctrl-C, or SIGTERM on Unix, listened for from the moment this is called: a signal that
/// arrives while `vigil run` is still setting up is kept (the run stops as soon as it is up)
/// instead of killing the process half-way through its set-up.
fn stop_signal() -> std::io::Result<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(Box::pin(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(Box::pin(async {
            let _interrupted = tokio::signal::ctrl_c().await;
        }))
    }
}

fn describe(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> String {
    describe_failure(joined).unwrap_or_else(|| "a part finished unexpectedly".into())
}

fn describe_failure(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> Option<String> {
    match joined {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(e) => Some(e.to_string()),
    }
}

fn stamp() -> String {
    SystemClock.now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn size(size: &vigil_core::OrderSize) -> String {
    match size {
        vigil_core::OrderSize::Quote(n) => format!("{n} quote"),
        vigil_core::OrderSize::Base(q) => format!("{q} base"),
    }
}
