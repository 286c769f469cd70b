//! Property test: random interleavings of proposals, executes, retries (also concurrent ones),
//! bursts of distinct proposals executed at once,
//! kill-switch flips, exchange faults, crashes at step boundaries, clock moves and reconciler
//! passes, on both back ends, against a small reference model. Whatever the sequence:
//! - the simulator's order log never shows two orders for one proposal, nor an order that is
//!   not one of our executions (I1);
//! - no order appears while a kill switch is on (I4);
//! - no order in the log breaks a guard: allowlisted market (I5), cooldown and anti-flip per
//!   market (I6), per-order and daily caps (I7);
//! - after the windows pass and the reconciler runs, nothing is `CLAIMED` or `SUBMITTING`, and
//!   every execution's state agrees with the log (I2, I3).
//!
//! The case count is modest so the suite stays fast; a failure prints the sequence (proptest
//! shrinks it) and the simulator seed.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, TimeDelta};
use futures::future::join_all;
use proptest::prelude::*;
use rust_decimal::Decimal;
use vigil_core::{ExecutionState, Market, ProposalId, Side};
use vigil_engine::Step;
use vigil_sim::OrderLogEntry;
use vigil_store::KillSwitchScope;
use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule};

use crate::support::{btc, each_backend, eth, order_notional, CrashAt, Harness, Setup, Spec};

#[derive(Debug, Clone)]
enum Op {
    Propose {
        market: u8,
        sell: bool,
        eur: u32,
    },
    Execute {
        pick: usize,
    },
    ExecuteLatest,
    Concurrent {
        pick: usize,
        callers: usize,
    },
    /// `count` new proposals on one market (mixed sides), executed at once: distinct proposals
    /// racing each other through the guards.
    Burst {
        market: u8,
        count: usize,
    },
    Crash {
        pick: usize,
        step: usize,
    },
    Kill {
        global: bool,
        on: bool,
    },
    Fault {
        kind: usize,
    },
    Advance {
        minutes: i64,
    },
    Reconcile,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, any::<bool>(), 4u32..=27)
            .prop_map(|(market, sell, eur)| Op::Propose { market, sell, eur }),
        4 => any::<usize>().prop_map(|pick| Op::Execute { pick }),
        4 => Just(Op::ExecuteLatest),
        1 => (any::<usize>(), 2usize..5).prop_map(|(pick, callers)| Op::Concurrent { pick, callers }),
        2 => (0u8..2, 2usize..6).prop_map(|(market, count)| Op::Burst { market, count }),
        1 => (any::<usize>(), 0usize..4).prop_map(|(pick, step)| Op::Crash { pick, step }),
        // Off more often than on, so sequences spend most of their time able to trade.
        1 => (any::<bool>(), prop::bool::weighted(0.3)).prop_map(|(global, on)| Op::Kill { global, on }),
        1 => (0usize..6).prop_map(|kind| Op::Fault { kind }),
        2 => prop_oneof![Just(1i64), Just(6), Just(61), Just(24 * 60)]
            .prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Reconcile),
    ]
}

fn market(index: u8) -> Market {
    match index {
        0 => btc(),
        1 => eth(),
        // Not on the allowlist.
        _ => Market::parse("XRP-EUR").unwrap(),
    }
}

fn fault(kind: usize) -> FaultKind {
    match kind {
        0 => FaultKind::AcceptThenDrop,
        1 => FaultKind::DropRequest,
        2 => FaultKind::Error {
            error_code: 101,
            http_status: 500,
            message: None,
        },
        3 => FaultKind::Error {
            error_code: 109,
            http_status: 503,
            message: None,
        },
        4 => FaultKind::AcceptThenError {
            error_code: 101,
            http_status: 500,
        },
        _ => FaultKind::Error {
            error_code: 216,
            http_status: 400,
            message: None,
        },
    }
}

/// What the model knows: the proposals and the kill switches.
#[derive(Debug, Default)]
struct Model {
    proposals: Vec<ProposalId>,
    global: bool,
    user: bool,
}

async fn run_ops(h: &Harness, ops: &[Op]) {
    let mut model = Model::default();
    for op in ops {
        let before = h.orders().len();
        let killed = model.global || model.user;
        match op {
            Op::Propose {
                market: m,
                sell,
                eur,
            } => {
                let side = if *sell { Side::Sell } else { Side::Buy };
                let spec = Spec::default().market(market(*m)).side(side).eur(*eur);
                model.proposals.push(h.approved(spec).await);
            }
            Op::Execute { pick } => {
                if let Some(&p) = pick_one(&model.proposals, *pick) {
                    h.executor.execute(h.user, p).await.unwrap();
                }
            }
            Op::ExecuteLatest => {
                if let Some(&p) = model.proposals.last() {
                    h.executor.execute(h.user, p).await.unwrap();
                }
            }
            Op::Concurrent { pick, callers } => {
                if let Some(&p) = pick_one(&model.proposals, *pick) {
                    let tasks = (0..*callers).map(|_| {
                        let (executor, user) = (h.executor.clone(), h.user);
                        tokio::spawn(async move { executor.execute(user, p).await })
                    });
                    for joined in join_all(tasks).await {
                        joined.unwrap().unwrap();
                    }
                }
            }
            Op::Burst { market: m, count } => {
                let mut burst = Vec::new();
                for i in 0..*count {
                    let side = if i % 3 == 2 { Side::Sell } else { Side::Buy };
                    let spec = Spec::default().market(market(*m)).side(side).eur(10);
                    burst.push(h.approved(spec).await);
                }
                model.proposals.extend(&burst);
                let tasks: Vec<_> = burst
                    .into_iter()
                    .map(|p| {
                        let (executor, user) = (h.executor.clone(), h.user);
                        tokio::spawn(async move { executor.execute(user, p).await })
                    })
                    .collect();
                for joined in join_all(tasks).await {
                    joined.unwrap().unwrap();
                }
            }
            Op::Crash { pick, step } => {
                if let Some(&p) = pick_one(&model.proposals, *pick) {
                    let crashing = h.executor_with(Arc::new(CrashAt(Step::ALL[*step])));
                    // Interrupted, or an outcome when the crash step was never reached.
                    let _interrupted_or_answered = crashing.execute(h.user, p).await;
                }
            }
            Op::Kill { global, on } => {
                let scope = if *global {
                    model.global = *on;
                    KillSwitchScope::Global
                } else {
                    model.user = *on;
                    KillSwitchScope::User(h.user)
                };
                h.kill(scope, *on).await;
            }
            Op::Fault { kind } => {
                let rule = FaultRule::new("POST /v2/order", fault(*kind)).times(1);
                h.sim.handle.set_faults(FaultPlan::single(rule)).unwrap();
            }
            Op::Advance { minutes } => h.advance(TimeDelta::minutes(*minutes)),
            Op::Reconcile => {
                h.reconciler.reconcile_once().await;
            }
        }
        if killed {
            assert_eq!(
                h.orders().len(),
                before,
                "I4: an order while a kill switch was on ({op:?})"
            );
        }
    }
    // Let every window and abandon age pass, then resolve everything.
    h.sim.handle.clear_faults();
    h.advance(TimeDelta::minutes(10));
    h.reconciler.reconcile_once().await;
    h.reconciler.reconcile_once().await;
    check_final(h, &model).await;
}

fn pick_one(proposals: &[ProposalId], pick: usize) -> Option<&ProposalId> {
    (!proposals.is_empty()).then(|| &proposals[pick % proposals.len()])
}

async fn check_final(h: &Harness, model: &Model) {
    let orders = h.orders();
    let mut by_client_order_id = BTreeMap::<String, Vec<&OrderLogEntry>>::new();
    for order in &orders {
        let coid = order
            .client_order_id
            .clone()
            .expect("every order carries a clientOrderId");
        by_client_order_id.entry(coid).or_default().push(order);
    }
    let mut ours = 0;
    for &proposal in &model.proposals {
        let Some(execution) = h
            .store
            .execution_get_by_proposal(h.user, proposal)
            .await
            .unwrap()
        else {
            continue;
        };
        let placed = by_client_order_id
            .get(&execution.client_order_id.to_string())
            .map_or(0, Vec::len);
        ours += placed;
        assert!(placed <= 1, "I1: {placed} orders for proposal {proposal}");
        assert!(
            !matches!(
                execution.state,
                ExecutionState::Claimed | ExecutionState::Submitting
            ),
            "I3: execution {} stuck in {}",
            execution.id,
            execution.state
        );
        let holds = matches!(
            execution.state,
            ExecutionState::Submitted | ExecutionState::Filled | ExecutionState::Canceled
        );
        assert_eq!(
            holds,
            placed == 1,
            "I2/I3: {execution:?} vs {placed} orders"
        );
    }
    assert_eq!(
        ours,
        orders.len(),
        "I1: an order in the log that is no execution of ours"
    );
    check_guards_on_log(&orders);
}

/// Every order in the log respects the guards, judged from the log alone.
fn check_guards_on_log(orders: &[OrderLogEntry]) {
    let at = |o: &OrderLogEntry| DateTime::from_timestamp_millis(o.created).unwrap();
    let mut per_day = BTreeMap::<chrono::NaiveDate, Decimal>::new();
    for (i, order) in orders.iter().enumerate() {
        assert!(
            order.market == "BTC-EUR" || order.market == "ETH-EUR",
            "I5: an order on {}",
            order.market
        );
        let notional = order_notional(order);
        assert!(
            notional <= Decimal::from(25),
            "I7: an order worth {notional}"
        );
        *per_day.entry(at(order).date_naive()).or_default() += notional;
        for earlier in &orders[..i] {
            if earlier.market != order.market {
                continue;
            }
            let gap = at(order) - at(earlier);
            assert!(
                gap >= TimeDelta::minutes(5),
                "I6 cooldown: {earlier:?} then {order:?}"
            );
            if earlier.side != order.side {
                assert!(
                    gap >= TimeDelta::minutes(60),
                    "I6 anti-flip: {earlier:?} then {order:?}"
                );
            }
        }
    }
    for (day, total) in per_day {
        assert!(total <= Decimal::from(100), "I7: {total} ordered on {day}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn prop_no_interleaving_places_twice_or_breaks_a_guard(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let setup = Setup::default().allowlist(vec![btc(), eth()]);
        runtime.block_on(each_backend(setup, |h| {
            let ops = ops.clone();
            async move { run_ops(&h, &ops).await }
        }));
    }
}
