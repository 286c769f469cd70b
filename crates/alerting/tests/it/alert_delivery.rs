//! Alert delivery against a real webhook receiver on 127.0.0.1:0: delivery with a chat `text`
//! and structured fields, de-duplication (ManualClock), the rate limit, retry after a 500, no
//! retry after a 400, never blocking the raiser when the receiver hangs, draining on shutdown,
//! and the audit-log watch that alerts on kill-switch and policy changes.

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use vigil_alerting::{AlertDelivery, AlertDeliveryConfig, OperatorActionWatch};
use vigil_core::{Alert, AlertKind, AlertSeverity, Alerts, RecordedAlerts};
use vigil_core::{Clock, ExecutionId, ManualClock, Notional, Policy, SystemClock, UserId};
use vigil_store::{Attribution, KillSwitchScope};

use crate::{
    operator_support::{eventually, Answer, Receiver},
    support::{each_backend, start_time, Setup},
};

fn config(url: &str) -> AlertDeliveryConfig {
    AlertDeliveryConfig {
        webhook_url: Some(SecretString::from(url.to_owned())),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        attempt_timeout: Duration::from_secs(5),
        delivery_deadline: Duration::from_secs(20),
        source: "vigil-test".to_owned(),
        ..AlertDeliveryConfig::default()
    }
}

fn alert(kind: AlertKind, execution: ExecutionId) -> Alert {
    Alert::execution(
        kind,
        AlertSeverity::Critical,
        execution,
        UserId::new(),
        "an order's outcome is unknown; the reconciler will resolve it",
    )
}

/// Delivery running in its own task; `stop` cancels it and waits.
struct Running {
    delivery: AlertDelivery,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(config: AlertDeliveryConfig, clock: Arc<dyn Clock>) -> Running {
        let (delivery, dispatcher) = AlertDelivery::new(config, clock).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(dispatcher.run(shutdown.clone()));
        Running {
            delivery,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn an_alert_reaches_the_webhook_with_a_chat_text_and_structured_fields() {
    let receiver = Receiver::start(&[], Answer::Statuses).await;
    let running = Running::start(config(&receiver.url), Arc::new(SystemClock));
    let execution = ExecutionId::new();
    running
        .delivery
        .raise(&alert(AlertKind::OutcomeUnknown, execution));
    eventually("the webhook got the alert", || {
        receiver.received().len() == 1
    })
    .await;
    let body = &receiver.received()[0];
    assert_eq!(body["kind"], "outcome_unknown");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["source"], "vigil-test");
    assert_eq!(body["execution_id"], execution.to_string());
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("[CRITICAL] vigil-test: outcome_unknown"),
        "{text}"
    );
    eventually("the delivery is counted", || {
        running.delivery.stats().delivered == 1
    })
    .await;
    // The webhook's token never shows in what can be printed.
    let shown = format!("{:?}", running.delivery);
    assert!(!shown.contains("T0K3N"), "{shown}");
    assert_eq!(
        running.delivery.webhook_display().unwrap(),
        format!("{}/…", receiver.url.split("/hook").next().unwrap())
    );
    running.stop().await;
}

#[tokio::test]
async fn the_same_alert_within_the_window_is_sent_once_and_again_after_it() {
    let receiver = Receiver::start(&[], Answer::Statuses).await;
    let clock = ManualClock::new(start_time());
    let running = Running::start(
        AlertDeliveryConfig {
            dedupe_window: Duration::from_secs(300),
            ..config(&receiver.url)
        },
        Arc::new(clock.clone()),
    );
    let execution = ExecutionId::new();
    let same = alert(AlertKind::Unresolved, execution);
    for _ in 0..3 {
        running.delivery.raise(&same);
        clock.advance(TimeDelta::seconds(60));
    }
    // Another key is not a duplicate.
    running
        .delivery
        .raise(&alert(AlertKind::Unresolved, ExecutionId::new()));
    eventually("two alerts delivered", || {
        running.delivery.stats().delivered == 2
    })
    .await;
    assert_eq!(running.delivery.stats().deduplicated, 2);
    // 180 s have passed; at 300 s after the first the same key goes out again.
    clock.advance(TimeDelta::seconds(120));
    running.delivery.raise(&same);
    eventually("the repeat after the window is delivered", || {
        running.delivery.stats().delivered == 3
    })
    .await;
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(running.delivery.stats().raised, 5);
    running.stop().await;
}

#[tokio::test]
async fn the_rate_limit_caps_alerts_per_minute() {
    let receiver = Receiver::start(&[], Answer::Statuses).await;
    let clock = ManualClock::new(start_time());
    let running = Running::start(
        AlertDeliveryConfig {
            rate_limit_per_minute: 2,
            ..config(&receiver.url)
        },
        Arc::new(clock.clone()),
    );
    for _ in 0..5 {
        running
            .delivery
            .raise(&alert(AlertKind::Unresolved, ExecutionId::new()));
    }
    eventually("two delivered", || running.delivery.stats().delivered == 2).await;
    assert_eq!(running.delivery.stats().rate_limited, 3);
    clock.advance(TimeDelta::seconds(61));
    running
        .delivery
        .raise(&alert(AlertKind::Unresolved, ExecutionId::new()));
    eventually("a third after the minute", || {
        running.delivery.stats().delivered == 3
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn delivery_is_retried_after_a_500() {
    let receiver = Receiver::start(&[500, 503], Answer::Statuses).await;
    let running = Running::start(config(&receiver.url), Arc::new(SystemClock));
    running
        .delivery
        .raise(&alert(AlertKind::SendAborted, ExecutionId::new()));
    eventually("delivered after the retries", || {
        running.delivery.stats().delivered == 1
    })
    .await;
    assert_eq!(
        receiver.received().len(),
        3,
        "two failures, then the success"
    );
    assert_eq!(running.delivery.stats().retries, 2);
    assert_eq!(running.delivery.stats().failed, 0);
    running.stop().await;
}

#[tokio::test]
async fn a_400_is_final_and_attempts_are_bounded() {
    let receiver = Receiver::start(&[400], Answer::Statuses).await;
    let running = Running::start(config(&receiver.url), Arc::new(SystemClock));
    let failed = running
        .delivery
        .send_now(&alert(AlertKind::Test, ExecutionId::new()))
        .await
        .unwrap_err();
    assert_eq!(failed.attempts, 1, "a 400 is not retried: {failed}");
    assert!(failed.to_string().contains("HTTP 400"), "{failed}");
    assert!(!failed.to_string().contains("T0K3N"), "{failed}");

    // Always 500: at most max_attempts tries, then a failure that says so.
    let always = Receiver::start(&[500; 10], Answer::Statuses).await;
    let (bounded, _dispatcher) = AlertDelivery::new(
        AlertDeliveryConfig {
            max_attempts: 3,
            ..config(&always.url)
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let failed = bounded
        .send_now(&alert(AlertKind::Test, ExecutionId::new()))
        .await
        .unwrap_err();
    assert_eq!(failed.attempts, 3);
    assert_eq!(always.received().len(), 3);
    assert_eq!(bounded.stats().failed, 1);
    running.stop().await;
}

#[tokio::test]
async fn raising_never_blocks_when_the_receiver_hangs() {
    let receiver = Receiver::start(&[], Answer::Hang).await;
    let running = Running::start(
        AlertDeliveryConfig {
            queue_capacity: 2,
            rate_limit_per_minute: 600,
            attempt_timeout: Duration::from_secs(30),
            delivery_deadline: Duration::from_secs(60),
            ..config(&receiver.url)
        },
        Arc::new(SystemClock),
    );
    // The dispatcher takes the first alert and waits on the hanging receiver.
    running
        .delivery
        .raise(&alert(AlertKind::OutcomeUnknown, ExecutionId::new()));
    eventually("the receiver holds the first request", || {
        receiver.received().len() == 1
    })
    .await;
    // Every further raise returns at once: two fill the queue, the rest are dropped and
    // counted. (`raise` is not async: it cannot wait on the network by construction; this
    // shows the full queue drops instead of growing.)
    for _ in 0..50 {
        running
            .delivery
            .raise(&alert(AlertKind::OutcomeUnknown, ExecutionId::new()));
    }
    let stats = running.delivery.stats();
    assert_eq!(stats.raised, 51);
    assert_eq!(stats.queued, 3, "{stats:?}");
    assert_eq!(stats.dropped, 48, "{stats:?}");
    assert_eq!(stats.delivered, 0);
    running.task.abort();
}

#[tokio::test]
async fn shutdown_delivers_what_is_queued_then_refuses_new_alerts() {
    let receiver = Receiver::start(&[], Answer::Statuses).await;
    let (delivery, dispatcher) =
        AlertDelivery::new(config(&receiver.url), Arc::new(SystemClock)).unwrap();
    for _ in 0..3 {
        delivery.raise(&alert(AlertKind::Abandoned, ExecutionId::new()));
    }
    // Cancelled before it even starts: the queued alerts are still delivered.
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    dispatcher.run(shutdown).await;
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(delivery.stats().delivered, 3);
    delivery.raise(&alert(AlertKind::Abandoned, ExecutionId::new()));
    assert_eq!(
        delivery.stats().dropped,
        1,
        "the queue is closed after shutdown"
    );
}

#[tokio::test]
async fn without_a_webhook_alerts_go_to_the_log_only_and_a_test_send_fails() {
    let (delivery, _dispatcher) =
        AlertDelivery::new(AlertDeliveryConfig::default(), Arc::new(SystemClock)).unwrap();
    assert!(!delivery.has_webhook());
    delivery.raise(&alert(AlertKind::Unresolved, ExecutionId::new()));
    assert_eq!(delivery.stats().raised, 1);
    assert_eq!(delivery.stats().queued, 0);
    let failed = delivery
        .send_now(&alert(AlertKind::Test, ExecutionId::new()))
        .await
        .unwrap_err();
    assert!(
        failed.to_string().contains("alerts.webhook_url"),
        "{failed}"
    );
}

#[tokio::test]
async fn operator_actions_in_the_audit_log_raise_alerts() {
    each_backend(Setup::default(), |h| async move {
        let recorded = RecordedAlerts::new();
        let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
        let mut watch =
            OperatorActionWatch::start(h.store.clone(), Arc::new(recorded.clone()), clock)
                .await
                .unwrap();
        // What happened before the watch started is not replayed.
        assert_eq!(watch.poll_once().await.unwrap(), 0);
        h.advance(TimeDelta::seconds(1));
        h.kill(KillSwitchScope::Global, true).await;
        let raised_policy = Policy {
            trading_enabled: true,
            order_notional_max: Notional::from_whole(50),
            ..Policy::default()
        };
        h.store
            .policy_set(
                h.user,
                &raised_policy,
                &Attribution::new("ops", h.now()).because("more room"),
                vigil_store::PolicyLimits::Operator,
            )
            .await
            .unwrap();
        assert_eq!(watch.poll_once().await.unwrap(), 2);
        assert_eq!(
            watch.poll_once().await.unwrap(),
            0,
            "each entry alerts once"
        );
        let switched = recorded.of_kind(AlertKind::KillSwitchToggled);
        assert_eq!(switched.len(), 1);
        assert_eq!(switched[0].severity, AlertSeverity::Critical);
        let policy = recorded.of_kind(AlertKind::PolicyChanged);
        assert_eq!(policy.len(), 1);
        assert!(
            policy[0].message.contains("order_notional_max: 25 → 50"),
            "{}",
            policy[0].message
        );
        assert_eq!(policy[0].user_id, Some(h.user));
    })
    .await;
}

#[tokio::test]
async fn a_failed_execution_and_an_overdue_submitting_raise_alerts_once() {
    use vigil_alerting::ExecutionWatch;
    use vigil_engine::ExecutionOutcome;
    use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule};

    use crate::support::{eth, Spec};

    // The first order is refused by the exchange (FAILED), the second one's answer is lost.
    let plan = FaultPlan::single(
        FaultRule::new(
            "POST /v2/order",
            FaultKind::Error {
                error_code: 216,
                http_status: 400,
                message: None,
            },
        )
        .times(1),
    );
    let setup = Setup {
        sim: Setup::default().sim.with_faults(plan),
        ..Setup::default()
    }
    .allowlist(vec![crate::support::btc(), eth()]);
    each_backend(setup, |h| async move {
        let recorded = RecordedAlerts::new();
        let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
        let mut watch = ExecutionWatch::new(
            h.store.clone(),
            Arc::new(recorded.clone()),
            clock,
            Duration::from_secs(300),
        );
        let failed = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, failed).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Failed(_)),
            "{outcome:?}"
        );
        h.sim
            .handle
            .set_faults(FaultPlan::single(
                FaultRule::new("POST /v2/order", FaultKind::AcceptThenDrop).times(1),
            ))
            .unwrap();
        let unknown = h.approved(Spec::default().market(eth())).await;
        let outcome = h.executor.execute(h.user, unknown).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::OutcomeUnknown(_)),
            "{outcome:?}"
        );

        assert_eq!(
            watch.poll_once().await.unwrap(),
            1,
            "the failure; the unknown is young"
        );
        let failures = recorded.of_kind(AlertKind::ExecutionFailed);
        assert_eq!(failures[0].execution_id, Some(h.execution(failed).await.id));
        // Past the window (10 s) plus the margin (300 s), without a reconciler.
        h.advance(TimeDelta::seconds(311));
        assert_eq!(watch.poll_once().await.unwrap(), 1);
        assert_eq!(
            watch.poll_once().await.unwrap(),
            0,
            "each execution alerts once"
        );
        let overdue = recorded.of_kind(AlertKind::SubmittingOverdue);
        assert_eq!(overdue[0].execution_id, Some(h.execution(unknown).await.id));
    })
    .await;
}

#[tokio::test]
async fn the_advisor_s_budget_alert_goes_to_the_webhook_as_llm_budget_exhausted() {
    // The advisor raises exactly this alert through the `Alerts` seam (vigil-scan's advisor
    // tests prove that); here: delivery routes it to the webhook under its stable name.
    let receiver = Receiver::start(&[], Answer::Statuses).await;
    let running = Running::start(config(&receiver.url), Arc::new(SystemClock));
    let user = UserId::new();
    running.delivery.raise(&Alert {
        kind: AlertKind::LlmBudgetExhausted,
        severity: AlertSeverity::Warning,
        execution_id: None,
        user_id: Some(user),
        message: "the LLM budget is spent".to_owned(),
    });
    eventually("the budget alert is delivered", || {
        receiver.received().len() == 1
    })
    .await;
    let body = &receiver.received()[0];
    assert_eq!(body["kind"], "llm_budget_exhausted");
    assert_eq!(body["user_id"], user.to_string());
    running.stop().await;
}
