//! Concurrency that threatens the guarantees: N identical executes of one proposal at once
//! (retry storm, I1), N distinct proposals of one user on one market at once (cooldown, I6), and
//! concurrent proposals that together would pass the daily cap (I7). Every task is spawned at
//! once; afterwards the simulator's order log, not our tables, says how many orders exist.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use futures::future::join_all;
use vigil_core::{Notional, Refusal, Side};
use vigil_engine::ExecutionOutcome;

use crate::support::{each_backend, order_notional, Harness, Setup, Spec};

async fn storm(h: &Harness, callers: usize) {
    let proposal = h.approved(Spec::default()).await;
    let tasks = (0..callers).map(|_| {
        let (executor, user) = (h.executor.clone(), h.user);
        tokio::spawn(async move { executor.execute(user, proposal).await })
    });
    let outcomes: Vec<ExecutionOutcome> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().unwrap())
        .collect();
    let placed: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, ExecutionOutcome::Placed(_)))
        .collect();
    assert_eq!(placed.len(), 1, "exactly one caller places: {outcomes:?}");
    let winner = placed[0].execution().unwrap().id;
    for outcome in &outcomes {
        match outcome {
            ExecutionOutcome::Placed(_) => {}
            ExecutionOutcome::AlreadyClaimed(e) => assert_eq!(e.id, winner),
            other => panic!("every other caller gets the existing execution, not {other:?}"),
        }
    }
    assert_eq!(h.orders().len(), 1, "one order in the simulator's log");
    let execution = h.execution(proposal).await;
    assert_eq!(h.orders_for(execution.client_order_id), 1);
}

#[tokio::test]
async fn i1_ten_concurrent_executes_of_one_proposal_place_one_order() {
    each_backend(Setup::default(), |h| async move { storm(&h, 10).await }).await;
}

#[tokio::test]
async fn i1_two_hundred_concurrent_executes_of_one_proposal_place_one_order() {
    each_backend(Setup::default(), |h| async move { storm(&h, 200).await }).await;
}

#[tokio::test]
async fn i6_twenty_concurrent_proposals_on_one_market_place_one_order() {
    each_backend(Setup::default(), |h| async move {
        let mut proposals = Vec::new();
        for _ in 0..20 {
            proposals.push(h.approved(Spec::default().eur(10)).await);
        }
        let tasks = proposals.iter().map(|&p| {
            let (executor, user) = (h.executor.clone(), h.user);
            tokio::spawn(async move { executor.execute(user, p).await })
        });
        let outcomes: Vec<_> = join_all(tasks)
            .await
            .into_iter()
            .map(|j| j.unwrap().unwrap())
            .collect();
        let mut by_kind = BTreeMap::<&str, usize>::new();
        for outcome in &outcomes {
            let kind = match outcome {
                ExecutionOutcome::Placed(_) => "placed",
                ExecutionOutcome::Refused {
                    refusal: Refusal::CooldownActive { .. },
                    ..
                } => "cooldown",
                other => panic!("unexpected {other:?}"),
            };
            *by_kind.entry(kind).or_default() += 1;
        }
        assert_eq!(by_kind.get("placed"), Some(&1), "{by_kind:?}");
        assert_eq!(by_kind.get("cooldown"), Some(&19), "{by_kind:?}");
        assert_eq!(h.orders().len(), 1, "one order in the simulator's log");

        // An opposite-side proposal inside the anti-flip window (after the cooldown) is refused.
        h.advance(TimeDelta::minutes(6));
        let sell = h.approved(Spec::default().side(Side::Sell).eur(10)).await;
        let outcome = h.executor.execute(h.user, sell).await.unwrap();
        assert_eq!(
            outcome.refusal().map(Refusal::code),
            Some("anti_flip"),
            "{outcome:?}"
        );
        assert_eq!(h.orders().len(), 1);

        // A same-side one is fine once the cooldown passed.
        let buy = h.approved(Spec::default().eur(10)).await;
        let outcome = h.executor.execute(h.user, buy).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Placed(_)),
            "{outcome:?}"
        );

        // After both windows pass, the opposite side goes through.
        h.advance(TimeDelta::minutes(61));
        let sell = h.approved(Spec::default().side(Side::Sell).eur(10)).await;
        let outcome = h.executor.execute(h.user, sell).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Placed(_)),
            "{outcome:?}"
        );
        let orders = h.orders();
        assert_eq!(orders.len(), 3);
        assert_eq!(orders[2].side, "sell");
    })
    .await;
}

#[tokio::test]
async fn i7_concurrent_executions_cannot_pass_the_daily_cap_together() {
    let setup = Setup::default().policy(|p| {
        p.cooldown_minutes = 0;
        p.daily_notional_max = Notional::from_whole(50);
    });
    each_backend(setup, |h| async move {
        let mut proposals = Vec::new();
        for _ in 0..6 {
            proposals.push(h.approved(Spec::default().eur(20)).await);
        }
        let tasks = proposals.iter().map(|&p| {
            let (executor, user) = (h.executor.clone(), h.user);
            tokio::spawn(async move { executor.execute(user, p).await })
        });
        let outcomes: Vec<_> = join_all(tasks)
            .await
            .into_iter()
            .map(|j| j.unwrap().unwrap())
            .collect();
        let placed = outcomes
            .iter()
            .filter(|o| matches!(o, ExecutionOutcome::Placed(_)))
            .count();
        assert_eq!(placed, 2, "{outcomes:?}");
        for outcome in &outcomes {
            if let Some(refusal) = outcome.refusal() {
                assert_eq!(refusal.code(), "cap_daily", "{outcome:?}");
            }
        }
        let orders = h.orders();
        assert_eq!(orders.len(), 2);
        let total: rust_decimal::Decimal = orders.iter().map(order_notional).sum();
        assert!(total <= rust_decimal::Decimal::from(50), "{total}");
    })
    .await;
}
