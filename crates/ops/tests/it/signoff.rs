//! The sign-off, end to end on both back ends: it passes on a correctly configured paper
//! deployment (the configured exchange is a loopback simulator with the demo View and Trade
//! keys, alerts go to a webhook receiver), and it fails, naming the item, when the I1 unique
//! constraint is dropped, when the two keys are equal, and when no webhook is configured.

use std::{sync::Arc, time::Duration};

use rust_decimal::Decimal;
use secrecy::SecretString;
use vigil_alerting::{AlertDelivery, AlertDeliveryConfig};
use vigil_bitvavo::{ClientConfig, KeyError, ReadOnlyKey, TradeKey};
use vigil_core::{ClientOrderId, SystemClock};
use vigil_ops::signoff::{
    self, KeyMaterial, ScenarioExchange, SignoffExchange, SignoffInputs, SignoffReport,
};
use vigil_store::AuditFilter;
use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule, SimConfig, SpawnedSim};

use crate::{
    operator_support::{drop_i1_constraint, Answer, Receiver},
    support::{each_backend, Harness, Setup, SEED},
};

/// The in-process simulator of the scenarios, as the CLI provides it.
#[derive(Debug)]
struct SimExchange(SpawnedSim);

impl ScenarioExchange for SimExchange {
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.0.base_url.clone(), 77);
        config.request_timeout = Duration::from_secs(5);
        config
    }
    fn read_key(&self) -> Result<ReadOnlyKey, KeyError> {
        ReadOnlyKey::new(
            self.0.view_key,
            SecretString::from(self.0.view_secret.to_owned()),
        )
    }
    fn trade_key(&self) -> Result<TradeKey, KeyError> {
        TradeKey::new(
            self.0.trade_key,
            SecretString::from(self.0.trade_secret.to_owned()),
        )
    }
    fn orders_with_client_order_id(&self, id: ClientOrderId) -> usize {
        let id = id.to_string();
        self.0
            .handle
            .order_log()
            .iter()
            .filter(|o| o.client_order_id.as_deref() == Some(id.as_str()))
            .count()
    }
    fn lose_next_order_answer(&self) -> Result<(), String> {
        let rule = FaultRule::new("POST /v2/order", FaultKind::AcceptThenDrop).times(1);
        self.0
            .handle
            .set_faults(FaultPlan::single(rule))
            .map_err(|e| e.to_string())
    }
    fn clear_faults(&self) {
        self.0.handle.clear_faults();
    }
    fn set_balance(&self, asset: &str, available: Decimal) -> Result<(), String> {
        self.0
            .handle
            .set_balance(self.0.account, asset, available)
            .map_err(|e| e.to_string())
    }
}

fn key(key: &str, secret: &str) -> KeyMaterial {
    KeyMaterial {
        key: key.to_owned(),
        secret: SecretString::from(secret.to_owned()),
    }
}

async fn sim() -> SpawnedSim {
    vigil_testkit::sim::spawn_with(SimConfig::demo(SEED).with_flat_prices()).await
}

/// The inputs of a correctly configured paper deployment on `h`'s database.
async fn inputs(h: &Harness, live: &SpawnedSim, webhook: Option<&Receiver>) -> SignoffInputs {
    let alerts = webhook.map(|r| {
        AlertDelivery::new(
            AlertDeliveryConfig {
                webhook_url: Some(SecretString::from(r.url.clone())),
                ..AlertDeliveryConfig::default()
            },
            Arc::new(SystemClock),
        )
        .unwrap()
        .0
    });
    SignoffInputs {
        store: h.store.clone(),
        // Test databases have no password, so the printable URL is the whole URL.
        database_url: SecretString::from(h.store.url().to_owned()),
        exchange: Some(SignoffExchange {
            config: ClientConfig::new(live.base_url.clone(), 77),
            read: Some(key(live.view_key, live.view_secret)),
            trade: Some(key(live.trade_key, live.trade_secret)),
        }),
        alerts,
        scenario_exchange: Arc::new(SimExchange(sim().await)),
        clock: Arc::new(SystemClock),
        actor: "signoff-test".to_owned(),
    }
}

fn item<'a>(report: &'a SignoffReport, id: &str) -> &'a vigil_ops::signoff::SignoffItem {
    report
        .items
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no item {id} in\n{}", report.to_markdown()))
}

#[tokio::test]
async fn signoff_passes_on_a_correctly_configured_paper_deployment() {
    each_backend(Setup::default(), |h| async move {
        let live = sim().await;
        let receiver = Receiver::start(&[], Answer::Statuses).await;
        let report = signoff::run(&inputs(&h, &live, Some(&receiver)).await).await;
        assert!(report.passed, "{}", report.to_markdown());
        for id in [
            "i1_unique_constraint",
            "schema_constraints",
            "keys",
            "kill_switch_wired",
            "alerts",
            "rollback_dry_run",
            "t1_idempotency",
            "t2_retry_storm",
            "t4_kill_switch",
            "t5_allowlist",
            "e1_expired_proposal",
            "e2_exchange_timeout",
            "e3_balance_changed",
            "stability_window",
        ] {
            assert!(item(&report, id).passed, "{id}\n{}", report.to_markdown());
        }
        let keys = item(&report, "keys");
        assert!(keys.evidence.iter().any(|e| e.contains("310")), "{keys:?}");
        assert_eq!(receiver.received().len(), 1);
        assert_eq!(receiver.received()[0]["kind"], "test");
        // The live database keeps one audit line and nothing of the scenarios.
        let entries = h.store.audit_list(&AuditFilter::default()).await.unwrap();
        assert_eq!(
            entries.iter().filter(|e| e.action == "signoff.run").count(),
            1
        );
        assert_eq!(
            h.store.user_list().await.unwrap().len(),
            1,
            "scratch users stay in the scratch database"
        );
        assert!(
            live.handle.order_log().is_empty(),
            "nothing is ordered on the configured exchange"
        );
        let markdown = report.to_markdown();
        assert!(
            markdown.contains("| 1 | UNIQUE(user_id, proposal_id)"),
            "{markdown}"
        );
        assert!(!markdown.contains(live.view_secret) && !markdown.contains(live.trade_secret));
    })
    .await;
}

#[tokio::test]
async fn signoff_fails_naming_the_unique_constraint_when_it_is_dropped() {
    each_backend(Setup::default(), |h| async move {
        drop_i1_constraint(&h.store).await;
        let live = sim().await;
        let receiver = Receiver::start(&[], Answer::Statuses).await;
        let report = signoff::run(&inputs(&h, &live, Some(&receiver)).await).await;
        assert!(!report.passed);
        let i1 = item(&report, "i1_unique_constraint");
        assert!(!i1.passed, "{}", report.to_markdown());
        assert!(i1.evidence[0].contains("MISSING"), "{i1:?}");
        assert!(
            item(&report, "schema_constraints").passed,
            "{}",
            report.to_markdown()
        );
        assert!(report.to_markdown().contains("**FAIL**"));
    })
    .await;
}

#[tokio::test]
async fn signoff_fails_naming_the_keys_when_they_are_equal_and_alerts_when_unconfigured() {
    each_backend(Setup::default(), |h| async move {
        let live = sim().await;
        let mut inputs = inputs(&h, &live, None).await;
        if let Some(exchange) = inputs.exchange.as_mut() {
            exchange.read = Some(key(live.trade_key, live.trade_secret));
        }
        let report = signoff::run(&inputs).await;
        assert!(!report.passed);
        let keys = item(&report, "keys");
        assert!(!keys.passed);
        assert!(keys.evidence[0].contains("SAME key"), "{keys:?}");
        assert!(!item(&report, "alerts").passed);
        assert!(
            item(&report, "t1_idempotency").passed,
            "{}",
            report.to_markdown()
        );
        let failed: Vec<&str> = report.failed().iter().map(|i| i.id).collect();
        assert_eq!(failed, ["keys", "alerts"], "{}", report.to_markdown());
    })
    .await;
}
