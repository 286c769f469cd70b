//! No secret reaches the logs (I10 and the working rules): every log line the client, the HTTP
//! stack and the simulator emit at TRACE level during successful calls, refused calls, injected
//! faults and a wrong secret is captured and searched for the secrets.

use std::{
    io,
    sync::{Arc, Mutex},
};

use secrecy::SecretString;
use vigil_bitvavo::{BalanceQuery, BitvavoClients, TradeKey};
use vigil_core::{ClientOrderId, SystemClock};
use vigil_testkit::sim::{self, FaultKind, FaultPlan, FaultRule};

use crate::support::{clients, config, demo_keys, resting_buy, SEED};

/// Appends everything written to a shared buffer.
#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// One thread, so every task (client, HTTP connections, simulator) logs through the subscriber
// set for this thread.
#[tokio::test(flavor = "current_thread")]
async fn i10_no_secret_appears_in_any_log_line() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(Arc::clone(&buffer));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let plan = FaultPlan::default()
        .with(
            FaultRule::new("POST /v2/order", FaultKind::AcceptThenDrop)
                .skip(1)
                .times(1),
        )
        .with(
            FaultRule::new(
                "GET /v2/balance",
                FaultKind::Error {
                    error_code: 101,
                    http_status: 500,
                    message: None,
                },
            )
            .skip(1)
            .times(1),
        );
    let sim = sim::spawn(SEED, plan).await;
    let both = clients(&sim);
    both.read_only.sync_time().await.unwrap();
    both.read_only
        .balance(&BalanceQuery::default())
        .await
        .unwrap();
    assert!(both
        .read_only
        .balance(&BalanceQuery::default())
        .await
        .is_err());
    both.trading
        .create_order(resting_buy(ClientOrderId::new()))
        .await
        .result
        .unwrap();
    assert!(both
        .trading
        .create_order(resting_buy(ClientOrderId::new()))
        .await
        .result
        .is_err());

    let wrong = "a-wrong-secret-that-must-not-be-logged-either";
    let (read, _) = demo_keys(&sim);
    let bad = TradeKey::new(sim.trade_key, SecretString::from(wrong.to_owned())).unwrap();
    let bad =
        BitvavoClients::new(&config(&sim), read, bad, std::sync::Arc::new(SystemClock)).unwrap();
    let err = bad
        .trading
        .create_order(resting_buy(ClientOrderId::new()))
        .await
        .result
        .unwrap_err();
    tracing::error!(error = %err, debug = ?err, clients = ?bad, "the caller logs what it got");

    let text = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    assert!(
        text.contains("sending Bitvavo request"),
        "the capture works: {text}"
    );
    assert!(text.contains("Bitvavo request not carried out or outcome unknown"));
    for secret in [sim.trade_secret, sim.view_secret, wrong] {
        assert!(!text.contains(secret), "a secret reached the logs");
    }
}
