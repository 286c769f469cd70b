//! Shared setup: a simulator, clients built from its demo keys, and order builders.

use std::{sync::Arc, time::Duration};

use rust_decimal_macros::dec;
use secrecy::SecretString;
use vigil_bitvavo::{BitvavoClients, ClientConfig, CreateOrder, ReadOnlyKey, TradeKey};
use vigil_core::{ClientOrderId, Clock, Market, Price, Quantity, Side, SystemClock};
use vigil_testkit::sim::SpawnedSim;

/// The operatorId every test client sends.
pub(crate) const OPERATOR: i64 = 543_462;

/// The simulator seed tests use unless they say otherwise (printed in failure messages).
pub(crate) const SEED: u64 = 20_250_601;

/// A configuration pointing at `sim`, with timeouts short enough for tests.
pub(crate) fn config(sim: &SpawnedSim) -> ClientConfig {
    let mut config = ClientConfig::new(sim.base_url.clone(), OPERATOR);
    config.request_timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config
}

/// The demo account's view-only key as the read-only key and its trade key as the trade key.
pub(crate) fn demo_keys(sim: &SpawnedSim) -> (ReadOnlyKey, TradeKey) {
    (
        ReadOnlyKey::new(sim.view_key, SecretString::from(sim.view_secret.to_owned())).unwrap(),
        TradeKey::new(
            sim.trade_key,
            SecretString::from(sim.trade_secret.to_owned()),
        )
        .unwrap(),
    )
}

/// Clients on the wall clock with the default test configuration.
pub(crate) fn clients(sim: &SpawnedSim) -> BitvavoClients {
    clients_with(sim, &config(sim), Arc::new(SystemClock))
}

/// Clients with a given configuration and clock.
pub(crate) fn clients_with(
    sim: &SpawnedSim,
    config: &ClientConfig,
    clock: Arc<dyn Clock>,
) -> BitvavoClients {
    let (read, trade) = demo_keys(sim);
    BitvavoClients::new(config, read, trade, clock).unwrap()
}

pub(crate) fn btc_eur() -> Market {
    Market::parse("BTC-EUR").unwrap()
}

/// A limit buy far below the demo price (60,000) that rests in the book: 0.0002 BTC at 30,000
/// EUR (6 EUR, above the 5 EUR minimum).
pub(crate) fn resting_buy(client_order_id: ClientOrderId) -> CreateOrder {
    CreateOrder::limit(
        btc_eur(),
        Side::Buy,
        Quantity::positive("amount", dec!(0.0002)).unwrap(),
        Price::positive("price", dec!(30000)).unwrap(),
        client_order_id,
    )
    .unwrap()
}

/// How many orders with this clientOrderId the simulator's order log holds.
pub(crate) fn orders_in_log(sim: &SpawnedSim, client_order_id: ClientOrderId) -> usize {
    let wanted = client_order_id.to_string();
    sim.handle
        .order_log()
        .iter()
        .filter(|o| o.client_order_id.as_deref() == Some(wanted.as_str()))
        .count()
}
