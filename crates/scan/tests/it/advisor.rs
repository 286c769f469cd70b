//! The LLM advisor (I8) against a fake OpenAI-compatible server on `127.0.0.1:0` inside the
//! suite, market data from the simulator, and a real store on both back ends.
//!
//! What is proved: concurrent scans never take a user past the daily budget (counted in
//! `llm_usage_log` and in the calls the fake served), with the budget spent no call is made and
//! one alert is raised per user and day, a valid answer becomes `advisor:<model>` proposals and
//! invalid ones are dropped, and a malformed answer, a refusal, a timeout and a 500 make no
//! proposal while their reservation is settled or released at the right cost.

use std::{sync::Arc, time::Duration};

use rust_decimal::Decimal;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use vigil_core::{AlertKind, RecordedAlerts};
use vigil_scan::{
    advisor::{AdvisorError, AdvisorParams},
    JobRunEnd,
};
use vigil_store::{LlmUsage, LlmUsageFilter, LlmUsageStatus, ScanRunOutcome};

use crate::scan_support::{each_backend, flat_sim, usd, FakeLlm, Reply, ScanWorld, MODEL};

async fn usage(world: &ScanWorld) -> Vec<LlmUsage> {
    world
        .store
        .llm_usage_list(&LlmUsageFilter {
            user: Some(world.user),
            limit: 1_000,
            ..LlmUsageFilter::default()
        })
        .await
        .unwrap()
}

fn valid_buy() -> serde_json::Value {
    json!({"market": "BTC-EUR", "side": "buy", "amount_quote": "10",
           "rationale": "three higher lows", "ttl_minutes": 20})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i8_concurrent_scans_never_exceed_the_llm_budget() {
    each_backend(flat_sim, |world| async move {
        let budget = usd("0.10");
        world.set_policy(|p| p.llm_daily_budget = budget).await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::proposals(json!([]))).await;
        let alerts = RecordedAlerts::new();
        // 10 USD per 1M tokens: a worst case of a few cents, an actual cost of 0.0046.
        let advisor = Arc::new(world.advisor(&llm, "10", 100, &alerts));
        let job = world
            .job("llm_advisor", &["BTC-EUR"], json!({"candles": 10}), 60)
            .await;
        let params = AdvisorParams::parse(&job.params).unwrap();
        let scans: Vec<_> = (0..20)
            .map(|_| {
                let (advisor, job, params) = (advisor.clone(), job.clone(), params.clone());
                tokio::spawn(async move { advisor.advise(&job, &params).await })
            })
            .collect();
        let (mut asked, mut refused) = (0, 0);
        for scan in scans {
            match scan.await.unwrap() {
                Ok(_) => asked += 1,
                Err(AdvisorError::BudgetExhausted(e)) => {
                    assert_eq!(e.budget, budget);
                    refused += 1;
                }
                Err(other) => panic!("unexpected: {other}"),
            }
        }
        let rows = usage(&world).await;
        let counted: Decimal = rows.iter().map(LlmUsage::counted_cost).sum();
        assert!(
            counted <= budget,
            "the day counts {counted} USD, over the budget {budget}"
        );
        assert!(rows.iter().all(|r| r.status == LlmUsageStatus::Settled));
        assert_eq!(
            u64::try_from(rows.len()).unwrap(),
            llm.served(),
            "one usage row per call served"
        );
        assert_eq!(llm.received(), llm.served());
        assert_eq!(asked, rows.len());
        assert!(
            asked >= 1 && refused >= 1,
            "asked {asked}, refused {refused}"
        );
        // Every reservation was a true worst case: the settled cost never exceeds it.
        assert!(rows
            .iter()
            .all(|r| r.actual_cost.unwrap() <= r.reserved_cost));
        assert_eq!(
            alerts.of_kind(AlertKind::LlmBudgetExhausted).len(),
            1,
            "one alert per user and day, however many refusals"
        );
        assert_eq!(
            alerts.of_kind(AlertKind::LlmBudgetExhausted)[0].user_id,
            Some(world.user)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_answer_becomes_advisor_proposals_and_settles_the_real_cost() {
    each_backend(flat_sim, |world| async move {
        world.set_policy(|p| p.llm_daily_budget = usd("1")).await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::proposals(json!([
            valid_buy(),
            {"market": "ETH-EUR", "side": "buy", "amount_quote": "10",
             "rationale": "not allowlisted", "ttl_minutes": 20},
        ])))
        .await;
        let alerts = RecordedAlerts::new();
        let advisor = Arc::new(world.advisor(&llm, "1", 300, &alerts));
        let job = world
            .job(
                "llm_advisor",
                &["BTC-EUR", "ETH-EUR"],
                json!({"candles": 12, "interval": "1h"}),
                3_600,
            )
            .await;
        let scheduler = world.scheduler("a").with_advisor(advisor);
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
        let proposals = world
            .store
            .proposal_list(&vigil_store::ProposalFilter::default())
            .await
            .unwrap();
        assert_eq!(proposals.len(), 1, "the ETH-EUR proposal was dropped");
        let p = &proposals[0];
        assert_eq!(p.source, vigil_core::ProposalSource::Advisor(MODEL.into()));
        assert_eq!(
            p.rationale,
            format!("llm_advisor ({MODEL}): three higher lows")
        );
        assert_eq!(p.expires_at, p.created_at + chrono::Duration::minutes(20));
        let run = &world.store.scan_job_runs_list(job.id, 10).await.unwrap()[0];
        assert!(run
            .detail
            .clone()
            .unwrap()
            .contains("market ETH-EUR is not on the allowlist"));
        // Usage: settled at 400 prompt + 60 completion tokens at 1 USD per 1M.
        let rows = usage(&world).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, LlmUsageStatus::Settled);
        assert_eq!(rows[0].actual_cost, Some(usd("0.00046")));
        assert_eq!(rows[0].usage.prompt_tokens, 400);
        // What was sent: the key as a bearer token, the model, the bound, the context.
        let (body, auth) = llm.last_request().unwrap();
        assert_eq!(auth.as_deref(), Some("Bearer sk-test-not-a-secret"));
        assert_eq!(body["model"], MODEL);
        assert_eq!(body["max_tokens"], 300);
        assert_eq!(body["response_format"]["type"], "json_object");
        let context = body["messages"][1]["content"].as_str().unwrap();
        let context: serde_json::Value = serde_json::from_str(context).unwrap();
        assert_eq!(context["allowlist"], json!(["BTC-EUR"]));
        assert_eq!(context["order_notional_max"], "25");
        assert_eq!(
            context["markets"][0]["candles_oldest_first"]
                .as_array()
                .unwrap()
                .len(),
            12
        );
        assert!(context["markets"][0]["last_price"].is_string());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_failures_make_no_proposal_and_close_the_reservation_at_the_right_cost() {
    each_backend(flat_sim, |world| async move {
        world.set_policy(|p| p.llm_daily_budget = usd("5")).await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::Status(500)).await;
        let alerts = RecordedAlerts::new();
        let advisor =
            world.advisor_with_timeout(&llm, "1", 100, &alerts, Duration::from_millis(400));
        let job = world
            .job("llm_advisor", &["BTC-EUR"], json!({"candles": 5}), 60)
            .await;
        let params = AdvisorParams::parse(&job.params).unwrap();

        // A 500: released at zero (an error answer is not billed).
        let err = advisor.advise(&job, &params).await.unwrap_err();
        assert!(
            matches!(err, AdvisorError::Call(ref d) if d.contains("HTTP 500")),
            "{err}"
        );
        let row = usage(&world).await.remove(0);
        assert_eq!(
            (row.status, row.actual_cost),
            (LlmUsageStatus::Failed, Some(Decimal::ZERO))
        );

        world.clock.advance(chrono::Duration::minutes(1));
        // Not JSON: the whole answer is dropped; the call is settled at its usage.
        llm.set_reply(Reply::Content {
            content: "Buy BTC now, trust me".into(),
            prompt_tokens: 500,
            completion_tokens: 20,
        });
        let err = advisor.advise(&job, &params).await.unwrap_err();
        assert!(
            matches!(err, AdvisorError::Unreadable(ref d) if d.contains("not JSON")),
            "{err}"
        );
        let row = usage(&world).await.remove(0);
        assert_eq!(
            (row.status, row.actual_cost),
            (LlmUsageStatus::Settled, Some(usd("0.00052")))
        );

        world.clock.advance(chrono::Duration::minutes(1));
        // A refusal: no proposal; settled.
        llm.set_reply(Reply::Refusal("I can't provide financial advice.".into()));
        let advice = advisor.advise(&job, &params).await.unwrap();
        assert!(advice.signals.is_empty());
        assert_eq!(
            advice.refusal.as_deref(),
            Some("I can't provide financial advice.")
        );
        let row = usage(&world).await.remove(0);
        assert_eq!(
            (row.status, row.actual_cost),
            (LlmUsageStatus::Settled, Some(usd("0.000312")))
        );

        world.clock.advance(chrono::Duration::minutes(1));
        // A success status whose body is not a completion and reports no usage: the call
        // may have run, so the worst case stays counted.
        llm.set_reply(Reply::Body("<html>upstream hiccup</html>".into()));
        let err = advisor.advise(&job, &params).await.unwrap_err();
        assert!(matches!(err, AdvisorError::Unreadable(_)), "{err}");
        let row = usage(&world).await.remove(0);
        assert_eq!(row.status, LlmUsageStatus::Failed);
        assert_eq!(row.actual_cost, Some(row.reserved_cost));

        world.clock.advance(chrono::Duration::minutes(1));
        // No answer in time: it may have been processed, so the worst case stays counted.
        llm.set_reply(Reply::Hang);
        let err = advisor.advise(&job, &params).await.unwrap_err();
        assert!(matches!(err, AdvisorError::Call(_)), "{err}");
        let row = usage(&world).await.remove(0);
        assert_eq!(row.status, LlmUsageStatus::Failed);
        assert_eq!(
            row.actual_cost,
            Some(row.reserved_cost),
            "a timeout keeps its worst case"
        );

        assert_eq!(llm.received(), 5);
        assert!(world
            .store
            .proposal_list(&vigil_store::ProposalFilter::default())
            .await
            .unwrap()
            .is_empty());
        assert!(alerts.of_kind(AlertKind::LlmBudgetExhausted).is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i8_with_the_budget_spent_no_call_is_made_and_one_alert_is_raised_per_day() {
    each_backend(flat_sim, |world| async move {
        world
            .set_policy(|p| p.llm_daily_budget = usd("0.000001"))
            .await;
        world.allow(&["BTC-EUR"]).await;
        let llm = FakeLlm::spawn(Reply::proposals(json!([valid_buy()]))).await;
        let alerts = RecordedAlerts::new();
        let advisor = Arc::new(world.advisor(&llm, "1", 100, &alerts));
        let job = world
            .job("llm_advisor", &["BTC-EUR"], json!({"candles": 5}), 60)
            .await;
        let scheduler = world.scheduler("a").with_advisor(advisor.clone());
        let token = CancellationToken::new();
        for _ in 0..3 {
            let summary = scheduler
                .run_due_once("a/w0", &token)
                .await
                .unwrap()
                .unwrap();
            assert!(
                matches!(
                    summary.end,
                    JobRunEnd::Recorded {
                        outcome: ScanRunOutcome::Skipped,
                        ..
                    }
                ),
                "{summary:?}"
            );
            world.clock.advance(chrono::Duration::minutes(1));
        }
        assert_eq!(llm.received(), 0, "no call with the budget spent");
        assert!(usage(&world).await.is_empty());
        assert_eq!(alerts.of_kind(AlertKind::LlmBudgetExhausted).len(), 1);
        let run = &world.store.scan_job_runs_list(job.id, 10).await.unwrap()[0];
        assert!(run.detail.clone().unwrap().contains("budget"), "{run:?}");
        // The next UTC day alerts again (once).
        world.clock.advance(chrono::Duration::days(1));
        let params = AdvisorParams::parse(&job.params).unwrap();
        for _ in 0..2 {
            assert!(matches!(
                advisor.advise(&job, &params).await,
                Err(AdvisorError::BudgetExhausted(_))
            ));
        }
        assert_eq!(alerts.of_kind(AlertKind::LlmBudgetExhausted).len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_allowlisted_market_the_model_is_not_asked() {
    each_backend(flat_sim, |world| async move {
        world.set_policy(|p| p.llm_daily_budget = usd("1")).await;
        let llm = FakeLlm::spawn(Reply::proposals(json!([valid_buy()]))).await;
        let alerts = RecordedAlerts::new();
        let advisor = world.advisor(&llm, "1", 100, &alerts);
        let job = world.job("llm_advisor", &["BTC-EUR"], json!({}), 60).await;
        let advice = advisor
            .advise(&job, &AdvisorParams::parse(&job.params).unwrap())
            .await
            .unwrap();
        assert!(advice.signals.is_empty());
        assert!(advice.not_asked.unwrap().contains("allowlist"));
        assert_eq!(llm.received(), 0);
        assert!(usage(&world).await.is_empty());
    })
    .await;
}
