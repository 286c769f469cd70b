//! The scheduler (I9) against real parts: a real store on both back ends, market data from the
//! simulator over loopback HTTP with the read-only key, and the fake LLM where a run must be
//! held in the middle. Every count is taken from the database (`scan_job_runs`, `proposals`),
//! never from the workers' own bookkeeping, and time is a `ManualClock` moved by hand: a lease
//! expires because the test moves the clock, never because the machine was slow.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_core::RecordedAlerts;
use vigil_core::{Clock, ManualApproval, Notional, ProposalSource, ProposalStatus};
use vigil_scan::{JobRunEnd, Scheduler};
use vigil_store::{NewScanJob, ProposalFilter, RunFinish, ScanJob, ScanRunOutcome};
use vigil_testkit::sim::SimConfig;

use crate::scan_support::{
    each_backend, eventually, flat_sim, market, FakeLlm, Reply, ScanWorld, SEED,
};

async fn runs(world: &ScanWorld, job: &ScanJob) -> Vec<vigil_store::ScanJobRun> {
    world.store.scan_job_runs_list(job.id, 100).await.unwrap()
}

async fn proposals(world: &ScanWorld) -> Vec<vigil_core::Proposal> {
    world
        .store
        .proposal_list(&ProposalFilter {
            user: Some(world.user),
            limit: 1_000,
            ..ProposalFilter::default()
        })
        .await
        .unwrap()
}

fn dca() -> serde_json::Value {
    json!({"amount_quote": "10", "ttl_minutes": 30})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i9_two_instances_run_each_due_job_exactly_once() {
    each_backend(flat_sim, |world| async move {
        let mut jobs = Vec::new();
        for n in 0..12 {
            let markets = if n % 2 == 0 { ["BTC-EUR"] } else { ["ETH-EUR"] };
            jobs.push(world.job("dca", &markets, dca(), 3_600).await);
        }
        let shutdown = CancellationToken::new();
        let instances: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let scheduler = world.scheduler(name);
                let token = shutdown.clone();
                tokio::spawn(async move { scheduler.run(3, token).await })
            })
            .collect();
        eventually("every due job ran", || async {
            let mut done = 0;
            for job in &jobs {
                done += runs(&world, job).await.len();
            }
            done >= jobs.len()
        })
        .await;
        shutdown.cancel();
        for instance in instances {
            instance.await.unwrap().unwrap();
        }
        let mut workers = std::collections::BTreeSet::new();
        for job in &jobs {
            let recorded = runs(&world, job).await;
            assert_eq!(
                recorded.len(),
                1,
                "job {} ran {} times",
                job.id,
                recorded.len()
            );
            assert_eq!(recorded[0].outcome, ScanRunOutcome::Proposed);
            assert_eq!(recorded[0].due_at, job.next_run_at);
            workers.insert(recorded[0].worker.clone());
            let after = world.store.scan_job_get(job.id).await.unwrap();
            assert_eq!(after.locked_by, None);
            assert_eq!(after.next_run_at, job.next_run_at + Duration::hours(1));
        }
        assert!(workers
            .iter()
            .all(|w| w.starts_with("a/w") || w.starts_with("b/w")));
        let stored = proposals(&world).await;
        assert_eq!(stored.len(), jobs.len(), "one proposal per run, none twice");
        for p in &stored {
            assert_eq!(p.source, ProposalSource::Strategy("dca".into()));
            assert_eq!(p.status, ProposalStatus::Pending, "auto_approve is off");
            assert_eq!(p.expires_at, p.created_at + Duration::minutes(30));
            assert!(
                p.rationale.starts_with(&format!(
                    "dca: buy 10 EUR of {} on schedule (last price ",
                    p.market
                )),
                "{}",
                p.rationale
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i9_a_crashed_workers_job_is_taken_over_after_its_lease_expires() {
    each_backend(flat_sim, |world| async move {
        let job = world.job("dca", &["BTC-EUR"], dca(), 3_600).await;
        let scheduler = world.scheduler("b");
        let ttl = Duration::from_std(scheduler.config().lease_ttl).unwrap();
        // A worker of another instance leases the job, then its process dies.
        let crashed = world
            .store
            .scan_job_lease("a/w0", world.clock.now(), ttl, 1)
            .await
            .unwrap()
            .remove(0);
        let idle = CancellationToken::new();
        assert!(
            scheduler
                .run_due_once("b/w0", &idle)
                .await
                .unwrap()
                .is_none(),
            "a live lease is respected"
        );
        world.clock.advance(ttl + Duration::seconds(1));
        let summary = scheduler
            .run_due_once("b/w0", &idle)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(summary.job.job.id, job.id);
        assert_eq!(
            summary.job.due_at, job.next_run_at,
            "the missed due run is the one run"
        );
        assert!(matches!(
            summary.end,
            JobRunEnd::Recorded {
                outcome: ScanRunOutcome::Proposed,
                ..
            }
        ));
        let recorded = runs(&world, &job).await;
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].worker, "b/w0");
        // The crashed worker comes back: it can record nothing.
        let late = world
            .store
            .scan_job_run_finish(
                &crashed,
                vigil_store::RunReport {
                    outcome: ScanRunOutcome::NoSignal,
                    detail: None,
                    started_at: world.clock.now(),
                    proposals: Vec::new(),
                    next_run_at: world.clock.now(),
                },
                world.clock.now(),
            )
            .await
            .unwrap();
        assert_eq!(late, RunFinish::LeaseLost);
        assert_eq!(runs(&world, &job).await.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i9_a_worker_that_loses_its_lease_mid_run_writes_nothing() {
    each_backend(flat_sim, |world| async move {
        world
            .set_policy(|p| p.llm_daily_budget = "10".parse().unwrap())
            .await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::proposals(json!([{
            "market": "BTC-EUR", "side": "buy", "amount_quote": "10",
            "rationale": "momentum", "ttl_minutes": 20
        }])))
        .await;
        let alerts = RecordedAlerts::new();
        let advisor = std::sync::Arc::new(world.advisor(&llm, "1", 200, &alerts));
        let job = world
            .job("llm_advisor", &["BTC-EUR"], json!({"candles": 10}), 3_600)
            .await;
        let lease_alerts = std::sync::Arc::new(RecordedAlerts::new());
        let slow = world
            .scheduler("a")
            .with_advisor(advisor.clone())
            .with_alerts(lease_alerts.clone());
        let ttl = Duration::from_std(slow.config().lease_ttl).unwrap();
        llm.hold_answers();
        let token = CancellationToken::new();
        let running = {
            let (slow, token) = (slow.clone(), token.clone());
            tokio::spawn(async move { slow.run_due_once("a/w0", &token).await })
        };
        llm.wait_received(1).await;
        // The run stalls past its lease; another instance takes the job over.
        world.clock.advance(ttl + Duration::seconds(1));
        let taken = world
            .store
            .scan_job_lease("b/w0", world.clock.now(), ttl, 1)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1, "the expired lease was taken over");
        llm.release();
        let summary = running.await.unwrap().unwrap().unwrap();
        assert_eq!(summary.end, JobRunEnd::LeaseLost);
        assert_eq!(
            lease_alerts.of_kind(vigil_core::AlertKind::LeaseLost).len(),
            1,
            "a lost lease raises one lease_lost alert"
        );
        assert!(
            runs(&world, &job).await.is_empty(),
            "the stale worker recorded nothing"
        );
        assert!(
            proposals(&world).await.is_empty(),
            "the stale worker proposed nothing"
        );
        // The new holder runs it and records the one run.
        let fast = world.scheduler("b").with_advisor(advisor);
        let leased = taken[0].clone();
        let finish = world
            .store
            .scan_job_run_finish(
                &leased,
                vigil_store::RunReport {
                    outcome: ScanRunOutcome::NoSignal,
                    detail: None,
                    started_at: world.clock.now(),
                    proposals: Vec::new(),
                    next_run_at: world.clock.now() + Duration::hours(1),
                },
                world.clock.now(),
            )
            .await
            .unwrap();
        assert!(matches!(finish, RunFinish::Recorded { .. }));
        assert_eq!(runs(&world, &job).await[0].worker, "b/w0");
        drop(fast);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i9_a_renewal_that_finds_the_lease_lost_stops_the_run_at_once() {
    each_backend(flat_sim, |world| async move {
        world
            .set_policy(|p| p.llm_daily_budget = "10".parse().unwrap())
            .await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::proposals(json!([{
            "market": "BTC-EUR", "side": "buy", "amount_quote": "10",
            "rationale": "late", "ttl_minutes": 20
        }])))
        .await;
        let alerts = RecordedAlerts::new();
        let advisor = std::sync::Arc::new(world.advisor(&llm, "1", 200, &alerts));
        let job = world
            .job("llm_advisor", &["BTC-EUR"], json!({"candles": 10}), 3_600)
            .await;
        // Short leases: renewed every 300 ms of real time.
        let mut config = world.scheduler_config("a");
        config.lease_ttl = StdDuration::from_millis(900);
        let scheduler = Scheduler::new(
            world.store.clone(),
            world.read_only.clone(),
            world.clock(),
            config,
        )
        .unwrap()
        .with_advisor(advisor);
        llm.hold_answers();
        let running = {
            let scheduler = scheduler.clone();
            tokio::spawn(async move {
                scheduler
                    .run_due_once("a/w0", &CancellationToken::new())
                    .await
            })
        };
        llm.wait_received(1).await;
        world.clock.advance(Duration::seconds(2));
        let taken = world
            .store
            .scan_job_lease("b/w0", world.clock.now(), Duration::minutes(5), 1)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        // The LLM still holds its answer: only the failed renewal can end the run.
        let summary = running.await.unwrap().unwrap().unwrap();
        assert_eq!(summary.end, JobRunEnd::LeaseLost);
        llm.release();
        assert!(runs(&world, &job).await.is_empty());
        assert!(proposals(&world).await.is_empty());
        assert_eq!(
            world
                .store
                .scan_job_get(job.id)
                .await
                .unwrap()
                .locked_by
                .as_deref(),
            Some("b/w0")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_approved_proposals_are_handed_to_the_executor_queue() {
    each_backend(flat_sim, |world| async move {
        world
            .set_policy(|p| {
                p.auto_approve = true;
                p.order_notional_max = Notional::from_whole(25);
            })
            .await;
        world.allow(&["BTC-EUR"]).await;
        let small = world
            .job("dca", &["BTC-EUR"], json!({"amount_quote": "10"}), 600)
            .await;
        let big = world
            .job("dca", &["BTC-EUR"], json!({"amount_quote": "30"}), 600)
            .await;
        let (sink, mut queue) = mpsc::channel(8);
        let scheduler = world.scheduler("a").with_approved_sink(sink);
        let token = CancellationToken::new();
        let mut approved = Vec::new();
        for _ in 0..2 {
            let summary = scheduler
                .run_due_once("a/w0", &token)
                .await
                .unwrap()
                .unwrap();
            if let JobRunEnd::Recorded { approved: ids, .. } = summary.end {
                approved.extend(ids);
            }
        }
        assert!(scheduler
            .run_due_once("a/w0", &token)
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            approved.len(),
            1,
            "only the proposal within the cap is approved"
        );
        let handed = queue.try_recv().unwrap();
        assert_eq!(handed, approved[0]);
        assert!(queue.try_recv().is_err(), "nothing else was handed over");
        let stored = proposals(&world).await;
        let status = |job: &ScanJob| {
            let amount = if job.id == small.id { "10" } else { "30" };
            stored
                .iter()
                .find(|p| p.rationale.contains(&format!("buy {amount} EUR")))
                .unwrap()
                .status
        };
        assert_eq!(status(&small), ProposalStatus::Approved);
        assert_eq!(status(&big), ProposalStatus::Pending);
        // The reason the big one waits is the per-order cap.
        assert!(matches!(
            vigil_core::Policy {
                auto_approve: true,
                trading_enabled: true,
                ..vigil_core::Policy::default()
            }
            .auto_approval(
                stored
                    .iter()
                    .find(|p| p.status == ProposalStatus::Pending)
                    .unwrap(),
                true
            ),
            Err(ManualApproval::AboveOrderCap { .. })
        ));
    })
    .await;
}

/// The simulator replays BTC-EUR 1-minute candles closing 11, 10, 9, 12 before "now": SMA(2)
/// crosses above SMA(3) on the last closed candle.
fn golden_cross_sim() -> SimConfig {
    let dir = std::env::temp_dir().join(format!("vigil-engine-sma-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("btc-golden-cross.csv");
    std::fs::write(
        &file,
        "timestamp,open,high,low,close,volume\n\
         0,11,11,11,11,1\n0,10,10,10,10,1\n0,9,9,9,9,1\n0,12,12,12,12,1\n0,12,12,12,12,1\n",
    )
    .unwrap();
    let mut config = SimConfig::demo(SEED).with_flat_prices();
    for m in &mut config.markets {
        if m.market == "BTC-EUR" {
            m.candles_csv = Some(file.clone());
            m.replay_start_row = 4;
            m.tick_size = "0.01".parse().unwrap();
        }
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sma_cross_proposes_a_buy_on_a_golden_cross_in_exchange_candles() {
    each_backend(golden_cross_sim, |world| async move {
        let job = world
            .job(
                "sma_cross",
                &["BTC-EUR"],
                json!({"fast": 2, "slow": 3, "interval": "1m", "amount_quote": "15"}),
                60,
            )
            .await;
        let scheduler = world.scheduler("a");
        let summary = scheduler
            .run_due_once("a/w0", &CancellationToken::new())
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(
                summary.end,
                JobRunEnd::Recorded {
                    outcome: ScanRunOutcome::Proposed,
                    ..
                }
            ),
            "{summary:?}"
        );
        let stored = proposals(&world).await;
        assert_eq!(stored.len(), 1);
        let p = &stored[0];
        assert_eq!(p.source, ProposalSource::Strategy("sma_cross".into()));
        assert_eq!(p.side, vigil_core::Side::Buy);
        assert_eq!(
            p.rationale,
            "sma_cross: golden cross on BTC-EUR 1m: SMA(2) 10.5 rose above SMA(3) 10.33 \
             (previous candle: 9.5 <= 10); last close 12; buy 15 EUR"
        );
        assert_eq!(
            runs(&world, &job).await[0].outcome,
            ScanRunOutcome::Proposed
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_recorded_with_a_detail_and_scheduled_sensibly() {
    each_backend(flat_sim, |world| async move {
        // Parameters that no longer parse (written around the engine's validation).
        let broken = world
            .store
            .scan_job_create(
                &NewScanJob {
                    user_id: world.user,
                    strategy: "dca".into(),
                    markets: vec![market("BTC-EUR")],
                    params: json!({"amount": "10"}),
                    interval_seconds: 3_600,
                    first_run_at: world.clock.now(),
                },
                &world.ops(),
            )
            .await
            .unwrap();
        // A market the exchange does not list: market data fails, which may pass.
        let unknown = world.job("dca", &["ADA-EUR"], dca(), 86_400).await;
        let scheduler = world.scheduler("a");
        let token = CancellationToken::new();
        while scheduler
            .run_due_once("a/w0", &token)
            .await
            .unwrap()
            .is_some()
        {}
        let now = world.clock.now();
        let run = &runs(&world, &broken).await[0];
        assert_eq!(run.outcome, ScanRunOutcome::Failed);
        let detail = run.detail.clone().unwrap();
        assert!(
            detail.contains("params.amount_quote") && detail.contains("params.amount"),
            "{detail}"
        );
        assert_eq!(
            world
                .store
                .scan_job_get(broken.id)
                .await
                .unwrap()
                .next_run_at,
            now + Duration::hours(1),
            "a job that cannot run waits for its schedule"
        );
        let run = &runs(&world, &unknown).await[0];
        assert_eq!(run.outcome, ScanRunOutcome::Failed);
        assert!(run
            .detail
            .clone()
            .unwrap()
            .contains("market data for ADA-EUR could not be read"));
        let retry = chrono::Duration::from_std(scheduler.config().failure_retry).unwrap();
        assert_eq!(
            world
                .store
                .scan_job_get(unknown.id)
                .await
                .unwrap()
                .next_run_at,
            now + retry,
            "a failure that may pass is retried before the next daily slot"
        );
        assert!(proposals(&world).await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_stops_leasing_and_lets_the_run_in_progress_finish() {
    each_backend(flat_sim, |world| async move {
        world
            .set_policy(|p| p.llm_daily_budget = "10".parse().unwrap())
            .await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::proposals(json!([{
            "market": "BTC-EUR", "side": "buy", "amount_quote": "5",
            "rationale": "dip", "ttl_minutes": 10
        }])))
        .await;
        let alerts = RecordedAlerts::new();
        let advisor = std::sync::Arc::new(world.advisor(&llm, "1", 200, &alerts));
        let job = world
            .job("llm_advisor", &["BTC-EUR"], json!({"candles": 10}), 3_600)
            .await;
        llm.hold_answers();
        let scheduler: Scheduler = world.scheduler("a").with_advisor(advisor);
        let token = CancellationToken::new();
        let running = {
            let (scheduler, token) = (scheduler.clone(), token.clone());
            tokio::spawn(async move { scheduler.run(1, token).await })
        };
        llm.wait_received(1).await;
        // Phase one: no more leasing. A job due now is not picked up.
        token.cancel();
        let later = world.job("dca", &["BTC-EUR"], dca(), 3_600).await;
        // Phase two: the run in progress finishes within the grace.
        llm.release();
        running.await.unwrap().unwrap();
        let recorded = runs(&world, &job).await;
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].outcome, ScanRunOutcome::Proposed);
        assert!(runs(&world, &later).await.is_empty());
        assert_eq!(
            world.store.scan_job_get(later.id).await.unwrap().locked_by,
            None
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_abandons_a_run_that_outlasts_the_grace_and_leaves_the_lease_to_expire() {
    each_backend(flat_sim, |world| async move {
        world
            .set_policy(|p| p.llm_daily_budget = "10".parse().unwrap())
            .await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::Hang).await;
        let alerts = RecordedAlerts::new();
        // The request timeout (20 s) is far beyond the grace: only the grace ends the run.
        let advisor = world.advisor(&llm, "1", 200, &alerts);
        let job = world
            .job("llm_advisor", &["BTC-EUR"], json!({"candles": 10}), 3_600)
            .await;
        let mut config = world.scheduler_config("a");
        config.shutdown_grace = StdDuration::from_millis(100);
        let scheduler = Scheduler::new(
            world.store.clone(),
            world.read_only.clone(),
            world.clock(),
            config,
        )
        .unwrap()
        .with_advisor(std::sync::Arc::new(advisor));
        let token = CancellationToken::new();
        let running = {
            let (scheduler, token) = (scheduler.clone(), token.clone());
            tokio::spawn(async move { scheduler.run(1, token).await })
        };
        llm.wait_received(1).await;
        token.cancel();
        running.await.unwrap().unwrap();
        assert!(
            runs(&world, &job).await.is_empty(),
            "nothing of the abandoned run was written"
        );
        let after = world.store.scan_job_get(job.id).await.unwrap();
        assert_eq!(
            after.locked_by.as_deref(),
            Some("a/w0"),
            "the lease is left to expire"
        );
        assert_eq!(
            after.next_run_at, job.next_run_at,
            "the due run is still due"
        );
    })
    .await;
}
