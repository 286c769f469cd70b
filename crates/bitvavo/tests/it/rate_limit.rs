//! The rate-limit budget against the simulator's real limiter.
//!
//! Time: the simulator and the client share one `ManualClock`. Tests that need minutes to pass
//! either move it by hand or run a "time-lapse" task that advances it 100 ms every real
//! millisecond tick (in practice 1 to 2 ms), so a simulated minute takes one or two seconds of
//! real time and the budget's waits (which re-read the clock in short slices) follow it. The
//! access window is set to its 60 s maximum so a request is never refused for the fast clock.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::{DateTime, TimeDelta};
use vigil_bitvavo::{
    BalanceQuery, BitvavoClients, BitvavoError, CandleInterval, CandlesQuery, MarketsQuery,
    OpenOrdersQuery, OrderBookQuery, RateLimitSource, ReadOnlyClient, Ticker24hQuery,
    TickerPriceQuery,
};
use vigil_core::{Clock, ManualClock, Timestamp};
use vigil_sim::BanCode;
use vigil_testkit::sim::{self, SimConfig, SpawnedSim};

use crate::support::{btc_eur, config, demo_keys, SEED};

fn start() -> Timestamp {
    // 40 s into a minute.
    DateTime::from_timestamp_millis(1_750_000_000_000).unwrap()
}

async fn sim_with_limit(clock: &ManualClock, points: u32, ban: BanCode) -> SpawnedSim {
    sim::spawn_with(
        SimConfig::demo(SEED)
            .with_flat_prices()
            .with_clock(Arc::new(clock.clone()))
            .with_rate_limit(points)
            .with_ban_code(ban),
    )
    .await
}

fn clients_on(sim: &SpawnedSim, clock: &ManualClock, wait_max: Duration) -> BitvavoClients {
    let mut cfg = config(sim);
    cfg.rate_limit_wait_max = wait_max;
    cfg.access_window = Duration::from_secs(60);
    let (read, trade) = demo_keys(sim);
    BitvavoClients::new(&cfg, read, trade, Arc::new(clock.clone())).unwrap()
}

/// API requests the simulator has counted (its admin calls are not HTTP and not counted).
fn api_requests(sim: &SpawnedSim) -> u64 {
    sim.handle
        .request_counts()
        .iter()
        .filter(|(endpoint, _)| endpoint.contains(" /v2/"))
        .map(|(_, n)| *n)
        .sum()
}

#[tokio::test]
async fn an_exhausted_budget_refuses_without_sending() {
    let clock = ManualClock::new(start());
    let sim = sim_with_limit(&clock, 10, BanCode::Current110).await;
    let read = clients_on(&sim, &clock, Duration::ZERO).read_only;
    read.balance(&BalanceQuery::default()).await.unwrap();
    read.balance(&BalanceQuery::default()).await.unwrap();
    let err = read.balance(&BalanceQuery::default()).await.unwrap_err();
    let BitvavoError::RateLimited { retry_at, by, .. } = &err else {
        panic!("seed {SEED}: {err}")
    };
    assert_eq!(*by, RateLimitSource::OwnBudget);
    // The window ends at the next minute (20 s ahead), plus the client's 1 s margin.
    assert_eq!(*retry_at, start() + TimeDelta::seconds(21));
    assert_eq!(
        sim.handle.request_count("GET /v2/balance"),
        2,
        "the third was never sent"
    );
}

#[tokio::test]
async fn a_caller_allowed_to_wait_is_sent_after_the_reset() {
    let clock = ManualClock::new(start());
    let sim = sim_with_limit(&clock, 10, BanCode::Current110).await;
    let read = clients_on(&sim, &clock, Duration::from_secs(60)).read_only;
    read.balance(&BalanceQuery::default()).await.unwrap();
    read.balance(&BalanceQuery::default()).await.unwrap();
    let waiting = {
        let read = read.clone();
        tokio::spawn(async move { read.balance(&BalanceQuery::default()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "it waits for the window to reset");
    assert_eq!(sim.handle.request_count("GET /v2/balance"), 2);
    clock.advance(TimeDelta::seconds(21));
    waiting.await.unwrap().unwrap();
    assert_eq!(sim.handle.request_count("GET /v2/balance"), 3);
}

/// Another process using the same key can still get it banned; the client then reports
/// `RateLimited` and sends nothing with that key until the ban ends, for both ban codes.
#[tokio::test]
async fn after_a_real_ban_nothing_is_sent_until_it_expires() {
    for (ban, code) in [(BanCode::Current110, 110), (BanCode::Legacy105, 105)] {
        let clock = ManualClock::new(start());
        let sim = sim_with_limit(&clock, 10, ban).await;
        let other_process = clients_on(&sim, &clock, Duration::ZERO).read_only;
        let ours = clients_on(&sim, &clock, Duration::ZERO).read_only;
        other_process
            .balance(&BalanceQuery::default())
            .await
            .unwrap();
        other_process
            .balance(&BalanceQuery::default())
            .await
            .unwrap();
        // Ours has not heard from the exchange yet, sends, and the key is banned.
        let err = ours.balance(&BalanceQuery::default()).await.unwrap_err();
        let BitvavoError::RateLimited { retry_at, by, .. } = &err else {
            panic!("seed {SEED}, code {code}: {err}")
        };
        assert_eq!(*by, RateLimitSource::Exchange { code: Some(code) });
        // Banned for the rest of this minute and the next: until 12:02:00 for 12:00:40.
        let ban_end = start() + TimeDelta::seconds(80);
        assert_eq!(*retry_at, ban_end, "code {code}");
        let sent = sim.handle.request_count("GET /v2/balance");
        let err = ours.balance(&BalanceQuery::default()).await.unwrap_err();
        assert!(
            matches!(
                err,
                BitvavoError::RateLimited {
                    by: RateLimitSource::OwnBudget,
                    ..
                }
            ),
            "{err}"
        );
        clock.set(ban_end - TimeDelta::milliseconds(1));
        assert!(ours.balance(&BalanceQuery::default()).await.is_err());
        assert_eq!(
            sim.handle.request_count("GET /v2/balance"),
            sent,
            "nothing sent while banned"
        );
        clock.set(ban_end);
        ours.balance(&BalanceQuery::default()).await.unwrap();
    }
}

/// One request of a mix of weights: mostly 1, a balance (5) every tenth, all 24h tickers (25)
/// every fiftieth. Returns its weight.
async fn one_request(read: &ReadOnlyClient, i: usize) -> Result<u32, BitvavoError> {
    let market = Some(btc_eur());
    Ok(match i % 50 {
        0 => read
            .ticker_24h(&Ticker24hQuery { market: None })
            .await
            .map(|_| 25)?,
        n if n % 10 == 0 => read.balance(&BalanceQuery::default()).await.map(|_| 5)?,
        n => match n % 5 {
            0 => read
                .ticker_price(&TickerPriceQuery { market })
                .await
                .map(|_| 1)?,
            1 => read
                .open_orders(&OpenOrdersQuery { market })
                .await
                .map(|_| 1)?,
            2 => read
                .candles(
                    &CandlesQuery::new(btc_eur(), CandleInterval::OneMinute)
                        .with_limit(3)
                        .unwrap(),
                )
                .await
                .map(|_| 1)?,
            3 => read
                .order_book(&OrderBookQuery::new(btc_eur()).with_depth(5).unwrap())
                .await
                .map(|_| 1)?,
            _ => read.markets(&MarketsQuery { market }).await.map(|_| 1)?,
        },
    })
}

/// 2,000 requests from 8 concurrent tasks against a limit of 500 points per minute: every one
/// succeeds, so the simulator never answered 429 (each of its answers reached a caller, and the
/// count of requests it served equals the count of calls made), while the points sent are
/// several times the limit, so the budget had to wait for resets many times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_requests_never_trigger_a_ban() {
    const LIMIT: u32 = 500;
    const TASKS: usize = 8;
    const PER_TASK: usize = 250;
    let clock = ManualClock::new(start());
    let sim = sim_with_limit(&clock, LIMIT, BanCode::Current110).await;
    let read = clients_on(&sim, &clock, Duration::from_secs(120)).read_only;

    let stop = Arc::new(AtomicBool::new(false));
    let time_lapse = {
        let (clock, stop) = (clock.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                clock.advance(TimeDelta::milliseconds(100));
            }
        })
    };
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let read = read.clone();
        tasks.push(tokio::spawn(async move {
            let mut points = 0u32;
            let mut failures = BTreeMap::new();
            for i in 0..PER_TASK {
                match one_request(&read, t * PER_TASK + i).await {
                    Ok(w) => points += w,
                    Err(e) => *failures.entry(e.to_string()).or_insert(0u32) += 1,
                }
            }
            (points, failures)
        }));
    }
    let mut points = 0;
    let mut failures: BTreeMap<String, u32> = BTreeMap::new();
    for task in tasks {
        let (p, f) = task.await.unwrap();
        points += p;
        for (k, v) in f {
            *failures.entry(k).or_default() += v;
        }
    }
    stop.store(true, Ordering::Relaxed);
    time_lapse.await.unwrap();

    assert!(failures.is_empty(), "seed {SEED}: failures {failures:#?}");
    assert_eq!(
        api_requests(&sim),
        (TASKS * PER_TASK) as u64,
        "no retries, no extra requests"
    );
    assert!(
        points > 3 * LIMIT,
        "the run spent {points} points: the budget had to wait"
    );
    let minutes = (clock.now() - start()).num_minutes();
    assert!(
        minutes >= i64::from(points / LIMIT) - 1,
        "{points} points in {minutes} minutes"
    );
}
