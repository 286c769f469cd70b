//! Per-user sections and the guarded transition: the concurrency that threatens I4, I6 and I7.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration as StdDuration,
};

use chrono::Duration;
use vigil_core::{Clock, ExecutionEvent, ExecutionState, ManualClock, Notional, Side, Timestamp};
use vigil_store::{
    Attribution, ExecutionFilter, GuardedTransition, KillSwitchScope, Store, StoreError, UserFacts,
};

use crate::fixture::{self, claimed, eur, market, submit, t0, user};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    sections_of_one_user_never_overlap,
    i6_twenty_concurrent_guarded_submits_make_one_in_flight_order,
    i7_daily_cap_counts_in_flight_orders_under_concurrency,
    i4_guarded_transition_rereads_the_kill_switch,
    i3_unknown_outcome_blocks_the_market_in_the_facts,
    facts_count_in_flight_orders_and_exclude_the_execution_itself,
    section_of_an_unknown_user_is_not_found,
    facts_history_queries_stay_on_their_indexes,
    i3_an_unknown_outcome_beyond_the_in_flight_list_still_blocks_its_market,
    the_guarded_transition_reads_the_time_once_the_section_is_held,
);

/// A clock standing still at `at`.
fn clock_at(at: Timestamp) -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(at))
}

async fn sections_of_one_user_never_overlap(store: Store) {
    let alice = user(&store, "alice").await;
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, inside, most) = (store.clone(), inside.clone(), most.clone());
            tokio::spawn(async move {
                store
                    .user_section(alice.id, move |txn| {
                        let (inside, most) = (inside.clone(), most.clone());
                        Box::pin(async move {
                            let now_inside = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now_inside, Ordering::SeqCst);
                            // Give any other section the chance to enter if it could.
                            tokio::time::sleep(StdDuration::from_millis(2)).await;
                            let switches = txn.kill_switch_read_in_txn(alice.id).await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                            switches.map(|_| ())
                        })
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "two sections of one user overlapped"
    );
}

/// PostgreSQL only: sections of DIFFERENT users run at the same time. Both sections must reach
/// a barrier while inside; if one waited for the other, the barrier would never open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_sections_of_different_users_overlap() {
    let Some(db) = fixture::TestDb::postgres().await else {
        return;
    };
    let store = db.store.clone();
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let tasks: Vec<_> = [alice.id, bob.id]
        .into_iter()
        .map(|id| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                store
                    .user_section(id, move |txn| {
                        let barrier = barrier.clone();
                        Box::pin(async move {
                            txn.kill_switch_read_in_txn(id).await?;
                            let met =
                                tokio::time::timeout(StdDuration::from_secs(30), barrier.wait())
                                    .await
                                    .is_ok();
                            Ok(met)
                        })
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(
            task.await.unwrap().unwrap(),
            "the other user's section never ran while this one was open"
        );
    }
}

/// Refuses when any order on the market is in flight or recent (a cooldown as long as the test).
fn cooldown_decide(
    at: chrono::DateTime<chrono::Utc>,
) -> impl Fn(&UserFacts) -> Option<ExecutionEvent> {
    move |facts: &UserFacts| {
        if facts.activity.last_order_at.is_some() {
            None
        } else {
            Some(submit(at, eur(10)))
        }
    }
}

async fn i6_twenty_concurrent_guarded_submits_make_one_in_flight_order(store: Store) {
    let alice = user(&store, "alice").await;
    let mut executions = Vec::new();
    for _ in 0..20 {
        executions.push(claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await);
    }
    let at = t0() + Duration::seconds(1);
    let tasks: Vec<_> = executions
        .iter()
        .map(|e| {
            let (store, e) = (store.clone(), e.clone());
            tokio::spawn(async move {
                store
                    .execution_transition_guarded(
                        &e,
                        ExecutionState::Claimed,
                        clock_at(at),
                        cooldown_decide(at),
                    )
                    .await
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            GuardedTransition::Applied { execution, facts } => {
                assert_eq!(execution.state, ExecutionState::Submitting);
                assert!(facts.activity.last_order_at.is_none());
                applied += 1;
            }
            GuardedTransition::Unchanged { execution, facts } => {
                assert_eq!(execution.state, ExecutionState::Claimed);
                assert_eq!(
                    facts.activity.last_order_at,
                    Some(at),
                    "saw the in-flight order"
                );
            }
        }
    }
    assert_eq!(applied, 1);
    let submitting = store
        .execution_list(&ExecutionFilter {
            user: Some(alice.id),
            state: Some(ExecutionState::Submitting),
            ..ExecutionFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(submitting.len(), 1, "exactly one order may be in flight");
}

async fn i7_daily_cap_counts_in_flight_orders_under_concurrency(store: Store) {
    let alice = user(&store, "alice").await;
    let mut executions = Vec::new();
    // Different markets, so only the daily cap (across markets) can stop them.
    for market_text in ["BTC-EUR", "ETH-EUR", "SOL-EUR", "ADA-EUR", "XRP-EUR"] {
        for _ in 0..3 {
            executions.push(claimed(&store, &alice, market_text, Side::Buy, t0()).await);
        }
    }
    let at = t0() + Duration::seconds(1);
    let cap = eur(25);
    let tasks: Vec<_> = executions
        .iter()
        .map(|e| {
            let (store, e) = (store.clone(), e.clone());
            tokio::spawn(async move {
                store
                    .execution_transition_guarded(
                        &e,
                        ExecutionState::Claimed,
                        clock_at(at),
                        move |facts| (facts.day_used + eur(10) <= cap).then(|| submit(at, eur(10))),
                    )
                    .await
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        if let GuardedTransition::Applied { .. } = task.await.unwrap().unwrap() {
            applied += 1;
        }
    }
    assert_eq!(applied, 2, "10 + 10 fits under 25, a third 10 does not");
    let facts = store
        .user_facts_read(alice.id, &market("BTC-EUR"), at, None)
        .await
        .unwrap();
    assert_eq!(facts.day_used, eur(20));
    // The next UTC day starts from zero.
    let tomorrow = store
        .user_facts_read(alice.id, &market("BTC-EUR"), at + Duration::days(1), None)
        .await
        .unwrap();
    assert_eq!(tomorrow.day_used, Notional::ZERO);
}

async fn i4_guarded_transition_rereads_the_kill_switch(store: Store) {
    let alice = user(&store, "alice").await;
    let execution = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    store
        .kill_switch_set(
            KillSwitchScope::User(alice.id),
            true,
            &Attribution::new("ops", t0()),
            vigil_store::Authority::Admin,
        )
        .await
        .unwrap();
    let outcome = store
        .execution_transition_guarded(
            &execution,
            ExecutionState::Claimed,
            clock_at(t0()),
            |facts| (!facts.kill_switches.any()).then(|| submit(facts.now, eur(10))),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, GuardedTransition::Unchanged { .. }));
    assert!(outcome.facts().kill_switches.user);
    assert!(!outcome.facts().kill_switches.global);
    assert_eq!(
        store.execution_get(execution.id).await.unwrap().state,
        ExecutionState::Claimed
    );
    // A guarded transition from the wrong state is a conflict carrying the truth.
    let err = store
        .execution_transition_guarded(
            &execution,
            ExecutionState::Submitting,
            clock_at(t0()),
            |_| None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ExecutionConflict { .. }),
        "{err:?}"
    );
}

async fn i3_unknown_outcome_blocks_the_market_in_the_facts(store: Store) {
    let alice = user(&store, "alice").await;
    let first = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    store
        .execution_transition(
            first.id,
            ExecutionState::Claimed,
            &submit(t0(), eur(10)),
            t0(),
        )
        .await
        .unwrap();
    store
        .execution_transition(
            first.id,
            ExecutionState::Submitting,
            &ExecutionEvent::OutcomeUnknown {
                detail: "timeout".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    let second = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let later = t0() + Duration::days(2);
    let facts = store
        .user_facts_read(alice.id, &market("BTC-EUR"), later, Some(second.id))
        .await
        .unwrap();
    assert_eq!(facts.activity.unresolved, Some(first.id));
    let elsewhere = store
        .user_facts_read(alice.id, &market("ETH-EUR"), later, Some(second.id))
        .await
        .unwrap();
    assert_eq!(
        elsewhere.activity.unresolved, None,
        "only that market is blocked"
    );
    // The execution itself is never its own blocker.
    let own = store
        .user_facts_read(alice.id, &market("BTC-EUR"), later, Some(first.id))
        .await
        .unwrap();
    assert_eq!(own.activity.unresolved, None);
}

async fn facts_count_in_flight_orders_and_exclude_the_execution_itself(store: Store) {
    let alice = user(&store, "alice").await;
    store
        .allowlist_add(alice.id, &market("BTC-EUR"), &Attribution::new("ops", t0()))
        .await
        .unwrap();
    let buy = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let signed = t0() + Duration::seconds(30);
    store
        .execution_transition(
            buy.id,
            ExecutionState::Claimed,
            &submit(signed, eur(10)),
            signed,
        )
        .await
        .unwrap();
    let sell = claimed(&store, &alice, "BTC-EUR", Side::Sell, t0()).await;
    // Claimed only: holds no order yet, so it is not counted.
    let facts = store
        .user_facts_read(alice.id, &market("BTC-EUR"), signed, Some(sell.id))
        .await
        .unwrap();
    assert_eq!(
        facts.activity.last_buy_at,
        Some(signed),
        "order time is the signing time"
    );
    assert_eq!(facts.activity.last_sell_at, None);
    assert_eq!(facts.activity.last_order_at, Some(signed));
    assert_eq!(facts.day_used, eur(10));
    assert_eq!(facts.in_flight.len(), 1);
    assert_eq!(
        facts
            .held_by_asset()
            .get(&vigil_core::Asset::parse("a", "EUR").unwrap()),
        Some(&rust_decimal::Decimal::from(10))
    );
    assert!(facts.allowlist.contains(&market("BTC-EUR")));
    assert!(!facts.policy.trading_enabled, "the default policy applies");
    // Excluding the in-flight execution itself removes it from every fact.
    let own = store
        .user_facts_read(alice.id, &market("BTC-EUR"), signed, Some(buy.id))
        .await
        .unwrap();
    assert_eq!(own.activity.last_order_at, None);
    assert_eq!(own.day_used, Notional::ZERO);
    assert!(own.in_flight.is_empty());
}

async fn section_of_an_unknown_user_is_not_found(store: Store) {
    let err = store
        .user_section(vigil_core::UserId::new(), |_txn| Box::pin(async { Ok(()) }))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
}

/// The fact read's cost must follow what it returns, not the user's history (BENCHMARKS.md,
/// section (e)): each of its history queries can be served by its own partial index (a query
/// whose state list drifts from the index predicate would lose it, on SQLite silently).
async fn facts_history_queries_stay_on_their_indexes(store: Store) {
    let alice = user(&store, "alice").await;
    for n in 0..6 {
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        let e = claimed(&store, &alice, "BTC-EUR", side, t0()).await;
        let at = t0() + Duration::seconds(n);
        store
            .execution_transition(e.id, ExecutionState::Claimed, &submit(at, eur(10)), at)
            .await
            .unwrap();
    }
    store.analyze().await.unwrap();
    let plans = store
        .user_facts_plans(alice.id, &market("BTC-EUR"), t0(), true)
        .await
        .unwrap();
    let names: Vec<_> = plans.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["last order per side", "day used", "in flight"]);
    for ((name, plan), index) in plans.iter().zip([
        "trade_executions_order_time_idx",
        "trade_executions_user_order_time_idx",
        "trade_executions_in_flight_idx",
    ]) {
        assert!(
            plan.iter().any(|line| line.contains(index)),
            "the {name} query is not planned on {index}: {plan:#?}"
        );
    }
}

/// The fact read answers the unknown-outcome check from the in-flight list, which stops at
/// `LIST_LIMIT_MAX` executions; an unknown outcome past that cut must still block its market.
async fn i3_an_unknown_outcome_beyond_the_in_flight_list_still_blocks_its_market(store: Store) {
    let alice = user(&store, "alice").await;
    let limit = usize::try_from(vigil_store::LIST_LIMIT_MAX).unwrap();
    for _ in 0..limit {
        let e = claimed(&store, &alice, "ETH-EUR", Side::Buy, t0()).await;
        store
            .execution_transition(e.id, ExecutionState::Claimed, &submit(t0(), eur(1)), t0())
            .await
            .unwrap();
    }
    let later = t0() + Duration::seconds(1);
    let unknown = claimed(&store, &alice, "BTC-EUR", Side::Buy, later).await;
    store
        .execution_transition(
            unknown.id,
            ExecutionState::Claimed,
            &submit(later, eur(1)),
            later,
        )
        .await
        .unwrap();
    store
        .execution_transition(
            unknown.id,
            ExecutionState::Submitting,
            &ExecutionEvent::OutcomeUnknown {
                detail: "timeout".into(),
            },
            later,
        )
        .await
        .unwrap();
    let facts = store
        .user_facts_read(alice.id, &market("BTC-EUR"), later, None)
        .await
        .unwrap();
    assert_eq!(facts.in_flight.len(), limit, "the list is cut at its limit");
    assert!(
        facts.in_flight.iter().all(|o| o.execution_id != unknown.id),
        "the unknown outcome is past the cut"
    );
    assert_eq!(facts.activity.unresolved, Some(unknown.id));
}

/// A clock that tells, at each read, whether the test had already released the section another
/// task held: a read before the release is a decision judged at an older moment than the facts.
#[derive(Debug)]
struct ReleaseAwareClock {
    inner: ManualClock,
    released: Arc<AtomicBool>,
    reads_before_release: AtomicUsize,
    first_read: tokio::sync::Notify,
}

impl Clock for ReleaseAwareClock {
    fn now(&self) -> Timestamp {
        if !self.released.load(Ordering::SeqCst) {
            self.reads_before_release.fetch_add(1, Ordering::SeqCst);
        }
        self.first_read.notify_one();
        self.inner.now()
    }
}

/// Fail-open edge (#11): the time a guarded transition judges expiry, cooldown and the UTC day by
/// is read once the user's section is held, not before waiting for it. Another section holds
/// the lock while the transition is asked for; the clock moves on while it waits; the facts
/// must carry the later time. A store that read the clock before taking the lock is seen by the
/// clock itself (a read while the other section was still held).
async fn the_guarded_transition_reads_the_time_once_the_section_is_held(store: Store) {
    let alice = user(&store, "alice").await;
    let execution = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let released = Arc::new(AtomicBool::new(false));
    let clock = Arc::new(ReleaseAwareClock {
        inner: ManualClock::new(t0()),
        released: released.clone(),
        reads_before_release: AtomicUsize::new(0),
        first_read: tokio::sync::Notify::new(),
    });
    let (entered, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let holder = {
        let (store, entered, release) = (store.clone(), entered.clone(), release.clone());
        tokio::spawn(async move {
            store
                .user_section(alice.id, move |_txn| {
                    let (entered, release) = (entered.clone(), release.clone());
                    Box::pin(async move {
                        entered.notify_one();
                        release.notified().await;
                        Ok(())
                    })
                })
                .await
        })
    };
    entered.notified().await;
    let waiting = {
        let (store, execution, clock) = (store.clone(), execution.clone(), clock.clone());
        tokio::spawn(async move {
            store
                .execution_transition_guarded(
                    &execution,
                    ExecutionState::Claimed,
                    clock,
                    |_facts| None,
                )
                .await
        })
    };
    // A store that reads the clock before the lock does so now; a correct one does not read it
    // until the section is released. The bound only limits how long a wrong store is given.
    let _ = tokio::time::timeout(StdDuration::from_millis(300), clock.first_read.notified()).await;
    clock.inner.advance(Duration::hours(1));
    released.store(true, Ordering::SeqCst);
    release.notify_one();
    holder.await.unwrap().unwrap();
    let outcome = waiting.await.unwrap().unwrap();
    assert_eq!(
        clock.reads_before_release.load(Ordering::SeqCst),
        0,
        "the guarded transition read the time while another section held the user's lock"
    );
    assert_eq!(
        outcome.facts().now,
        t0() + Duration::hours(1),
        "the facts must be judged at the time the section was entered"
    );
}
