//! The LLM budget guard (I8): reservations of the worst case, decided in the user's section,
//! never take a user past the daily budget, however many are made at once; settling and
//! releasing close a reservation exactly once and count the real cost; a new UTC day starts
//! a fresh budget.
//!
//! Method: many tasks reserve at once on a multi-threaded runtime, then the test sums what
//! `llm_usage_log` itself holds.

use std::str::FromStr;

use chrono::Duration;
use rust_decimal::Decimal;
use vigil_core::Policy;
use vigil_store::{
    Attribution, LlmBudgetError, LlmUsageFilter, LlmUsageStatus, Store, StoreError, TokenUsage,
};

use crate::fixture::{t0, user};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    i8_concurrent_reservations_never_exceed_the_budget,
    i8_settle_and_release_close_a_reservation_once_at_the_real_cost,
    i8_a_new_utc_day_has_a_fresh_budget,
    budget_input_is_validated,
);

fn usd(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

async fn with_budget(store: &Store, budget: &str) -> vigil_store::User {
    let alice = user(store, "alice").await;
    let policy = Policy {
        llm_daily_budget: usd(budget),
        ..Policy::default()
    };
    store
        .policy_set(
            alice.id,
            &policy,
            &Attribution::new("ops", t0()),
            vigil_store::PolicyLimits::Operator,
        )
        .await
        .unwrap();
    alice
}

async fn i8_concurrent_reservations_never_exceed_the_budget(store: Store) {
    let alice = with_budget(&store, "1.00").await;
    let now = t0();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .llm_budget_reserve(alice.id, "gpt-test", usd("0.15"), now)
                    .await
            })
        })
        .collect();
    let (mut granted, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => granted += 1,
            Err(LlmBudgetError::Exhausted(e)) => {
                assert_eq!(e.budget, usd("1.00"));
                assert!(e.spent + e.requested > e.budget);
                refused += 1;
            }
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    assert_eq!(
        (granted, refused),
        (6, 14),
        "6 × 0.15 = 0.90 fits, a 7th would not"
    );
    let rows = store
        .llm_usage_list(&LlmUsageFilter {
            user: Some(alice.id),
            ..LlmUsageFilter::default()
        })
        .await
        .unwrap();
    let reserved: Decimal = rows.iter().map(|r| r.reserved_cost).sum();
    assert_eq!(rows.len(), 6);
    assert!(reserved <= usd("1.00"), "reserved {reserved}");
    assert_eq!(
        store.llm_budget_spent(alice.id, now).await.unwrap(),
        usd("0.90")
    );
}

async fn i8_settle_and_release_close_a_reservation_once_at_the_real_cost(store: Store) {
    let alice = with_budget(&store, "1.00").await;
    let now = t0();
    let a = store
        .llm_budget_reserve(alice.id, "m", usd("0.60"), now)
        .await
        .unwrap();
    // 0.60 reserved: 0.50 more does not fit.
    assert!(matches!(
        store
            .llm_budget_reserve(alice.id, "m", usd("0.50"), now)
            .await,
        Err(LlmBudgetError::Exhausted(_))
    ));
    let usage = TokenUsage {
        prompt_tokens: 1_200,
        completion_tokens: 300,
    };
    let settled = store
        .llm_budget_settle(&a, usage, usd("0.10"), now)
        .await
        .unwrap();
    assert_eq!(settled.status, LlmUsageStatus::Settled);
    assert_eq!(settled.usage, usage);
    assert_eq!(settled.actual_cost, Some(usd("0.1")));
    // Settling frees the difference: now 0.50 fits (0.10 + 0.50 <= 1.00).
    let b = store
        .llm_budget_reserve(alice.id, "m", usd("0.50"), now)
        .await
        .unwrap();
    // A second settle of the same reservation is refused and changes nothing.
    assert!(matches!(
        store.llm_budget_settle(&a, usage, usd("0.01"), now).await,
        Err(LlmBudgetError::NotReserved {
            status: LlmUsageStatus::Settled,
            ..
        })
    ));
    // A failed call is released at what the provider billed.
    let released = store
        .llm_budget_release(&b, TokenUsage::default(), usd("0.02"), now)
        .await
        .unwrap();
    assert_eq!(released.status, LlmUsageStatus::Failed);
    assert!(matches!(
        store
            .llm_budget_release(&b, TokenUsage::default(), Decimal::ZERO, now)
            .await,
        Err(LlmBudgetError::NotReserved {
            status: LlmUsageStatus::Failed,
            ..
        })
    ));
    assert_eq!(
        store.llm_budget_spent(alice.id, now).await.unwrap(),
        usd("0.12")
    );
}

async fn i8_a_new_utc_day_has_a_fresh_budget(store: Store) {
    let alice = with_budget(&store, "0.50").await;
    let late = t0().date_naive().and_hms_opt(23, 59, 59).unwrap().and_utc();
    store
        .llm_budget_reserve(alice.id, "m", usd("0.50"), late)
        .await
        .unwrap();
    assert!(matches!(
        store
            .llm_budget_reserve(alice.id, "m", usd("0.01"), late)
            .await,
        Err(LlmBudgetError::Exhausted(_))
    ));
    let next_day = late + Duration::seconds(1);
    store
        .llm_budget_reserve(alice.id, "m", usd("0.50"), next_day)
        .await
        .unwrap();
    assert_eq!(
        store.llm_budget_spent(alice.id, next_day).await.unwrap(),
        usd("0.50")
    );
}

async fn budget_input_is_validated(store: Store) {
    let alice = with_budget(&store, "1").await;
    let Err(LlmBudgetError::Store(StoreError::InvalidInput(problems))) = store
        .llm_budget_reserve(alice.id, "m", usd("-0.01"), t0())
        .await
    else {
        panic!("a negative cost was accepted");
    };
    assert_eq!(problems[0].field, "worst_case_cost");
    let Err(LlmBudgetError::Store(StoreError::InvalidInput(problems))) = store
        .llm_budget_reserve(alice.id, " ", usd("0.01"), t0())
        .await
    else {
        panic!("an empty model name was accepted");
    };
    assert_eq!(problems[0].field, "model");
    assert!(matches!(
        store
            .llm_budget_reserve(vigil_core::UserId::new(), "m", usd("0.01"), t0())
            .await,
        Err(LlmBudgetError::Store(StoreError::NotFound { .. }))
    ));
}
