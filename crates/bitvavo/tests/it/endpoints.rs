//! Every endpoint round-trips against the simulator: market data, account, the order life cycle
//! (create, find by either id, list, cancel by either id, cancel all), fills and the dead man's
//! switch. The simulator's order log confirms what the client reports.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta};
use rust_decimal_macros::dec;
use vigil_bitvavo::{
    AssetsQuery, BalanceQuery, CancelAllOrders, CancelOrder, CancelOrdersAfter, CandleInterval,
    CandlesQuery, CreateOrder, FeesQuery, GetOrder, MarketsQuery, OpenOrdersQuery, OrderBookQuery,
    OrderHistoryQuery, OrderStatus, Ticker24hQuery, TickerBookQuery, TickerPriceQuery,
    TradeHistoryQuery,
};
use vigil_core::{
    Asset, ClientOrderId, Clock, ManualClock, MarketStatus, Notional, OrderSize, Side,
};
use vigil_testkit::sim::{self, FaultPlan, SimConfig};

use crate::support::{
    btc_eur, clients, clients_with, config, orders_in_log, resting_buy, OPERATOR, SEED,
};

#[tokio::test]
async fn market_data_round_trips() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let c = clients(&sim).read_only;

    let time = c.server_time().await.unwrap();
    assert!(time.time.timestamp_millis() > 0);

    let markets = c.markets(&MarketsQuery::default()).await.unwrap();
    assert!(markets.len() >= 4, "seed {SEED}: {markets:?}");
    let one = c
        .markets(&MarketsQuery {
            market: Some(btc_eur()),
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let rules = &one[0].rules;
    assert_eq!(rules.market, btc_eur());
    assert_eq!(rules.status, MarketStatus::Trading);
    assert_eq!(rules.tick_size.value(), dec!(1));
    assert_eq!(rules.quantity_decimals, 8);
    assert_eq!(rules.min_order_quote.value(), dec!(5));

    let assets = c.assets(&AssetsQuery::default()).await.unwrap();
    assert!(assets.iter().any(|a| a.symbol.as_str() == "BTC"));
    let btc = c
        .assets(&AssetsQuery {
            symbol: Some(Asset::parse("symbol", "BTC").unwrap()),
        })
        .await
        .unwrap();
    assert_eq!(btc.len(), 1);

    let prices = c.ticker_price(&TickerPriceQuery::default()).await.unwrap();
    assert!(prices.len() >= 4);
    let price = c
        .ticker_price(&TickerPriceQuery {
            market: Some(btc_eur()),
        })
        .await
        .unwrap();
    assert!(price[0].price.is_some());

    let book_tickers = c
        .ticker_book(&TickerBookQuery {
            market: Some(btc_eur()),
        })
        .await
        .unwrap();
    let (bid, ask) = (book_tickers[0].bid.unwrap(), book_tickers[0].ask.unwrap());
    assert!(bid < ask, "seed {SEED}: bid {bid} ask {ask}");
    assert!(
        c.ticker_book(&TickerBookQuery::default())
            .await
            .unwrap()
            .len()
            >= 4
    );

    let day = c
        .ticker_24h(&Ticker24hQuery {
            market: Some(btc_eur()),
        })
        .await
        .unwrap();
    assert_eq!(day[0].market, btc_eur());
    assert!(
        c.ticker_24h(&Ticker24hQuery::default())
            .await
            .unwrap()
            .len()
            >= 4
    );

    let candles = c
        .candles(
            &CandlesQuery::new(btc_eur(), CandleInterval::OneMinute)
                .with_limit(5)
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(!candles.is_empty() && candles.len() <= 5);
    assert!(
        candles.windows(2).all(|w| w[0].timestamp > w[1].timestamp),
        "newest first"
    );
    assert!(candles.iter().all(|k| k.low <= k.high));

    let book = c
        .order_book(&OrderBookQuery::new(btc_eur()).with_depth(3).unwrap())
        .await
        .unwrap();
    assert_eq!(book.market, btc_eur());
    assert!(book.bids.len() <= 3 && book.asks.len() <= 3);
    if let (Some(b), Some(a)) = (book.bids.first(), book.asks.first()) {
        assert!(b.price < a.price);
    }
}

#[tokio::test]
async fn account_round_trips() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let c = clients(&sim).read_only;
    let balances = c.balance(&BalanceQuery::default()).await.unwrap();
    let eur = balances
        .iter()
        .find(|b| b.symbol.as_str() == "EUR")
        .unwrap();
    assert_eq!(eur.available, dec!(1000));
    let btc = c
        .balance(&BalanceQuery {
            symbol: Some(Asset::parse("symbol", "BTC").unwrap()),
        })
        .await
        .unwrap();
    assert_eq!(btc.len(), 1);
    assert_eq!(btc[0].available, dec!(0.05));
    let fees = c
        .account_fees(&FeesQuery {
            market: Some(btc_eur()),
        })
        .await
        .unwrap();
    assert_eq!(fees.taker, dec!(0.0025));
    assert_eq!(fees.maker, dec!(0.0015));
}

#[tokio::test]
async fn order_life_cycle_by_order_id_and_client_order_id() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let both = clients(&sim);
    let (read, trade, cancel) = (both.read_only, both.trading, both.cancel);

    // Create, with the stamp returned alongside the order.
    let coid = ClientOrderId::new();
    let outcome = trade.create_order(resting_buy(coid)).await;
    let stamp = outcome.stamp.expect("a signed create has a stamp");
    assert_eq!(stamp.access_window_ms, 10_000);
    let order = outcome.result.unwrap();
    assert_eq!(order.client_order_id, Some(coid));
    assert_eq!(order.status, OrderStatus::New);
    assert_eq!(order.operator_id, Some(OPERATOR));
    assert_eq!(order.key.market, btc_eur());

    // The simulator recorded exactly this order, with our operatorId and lower-case id.
    let log = sim.handle.order_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].operator_id, OPERATOR);
    assert_eq!(
        log[0].client_order_id.as_deref(),
        Some(coid.to_string().as_str())
    );
    assert_eq!(log[0].order_id, order.key.order_id.as_str());
    assert_eq!(log[0].api_key, sim.trade_key);

    // Found by either id.
    let by_id = read
        .order(&GetOrder::by_order_id(
            btc_eur(),
            order.key.order_id.clone(),
        ))
        .await
        .unwrap();
    let by_coid = read
        .order(&GetOrder::by_client_order_id(btc_eur(), coid))
        .await
        .unwrap();
    assert_eq!(by_id.key, order.key);
    assert_eq!(by_coid.key, order.key);

    // Listed as open and in the history (also within a time range).
    let open = read
        .open_orders(&OpenOrdersQuery {
            market: Some(btc_eur()),
        })
        .await
        .unwrap();
    assert!(open.iter().any(|o| o.key == order.key));
    assert!(read
        .open_orders(&OpenOrdersQuery { market: None })
        .await
        .unwrap()
        .iter()
        .any(|o| o.key == order.key));
    let history = read
        .order_history(
            &OrderHistoryQuery::new(btc_eur())
                .with_limit(10)
                .unwrap()
                .between(
                    order.created - TimeDelta::minutes(1),
                    order.created + TimeDelta::minutes(1),
                )
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(history.iter().any(|o| o.client_order_id == Some(coid)));

    // Cancel by clientOrderId; the order is then canceled on the exchange.
    let ack = cancel
        .cancel_order(&CancelOrder::by_client_order_id(btc_eur(), coid))
        .await
        .unwrap();
    assert_eq!(ack.order_id, order.key.order_id);
    let after = read
        .order(&GetOrder::by_order_id(
            btc_eur(),
            order.key.order_id.clone(),
        ))
        .await
        .unwrap();
    assert!(after.status.is_final(), "{:?}", after.status);

    // A second resting order, canceled by orderId.
    let second = trade
        .create_order(resting_buy(ClientOrderId::new()))
        .await
        .result
        .unwrap();
    let ack = cancel
        .cancel_order(&CancelOrder::by_order_id(
            btc_eur(),
            second.key.order_id.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(ack.order_id, second.key.order_id);

    // Canceling a canceled order is a definite refusal (233) or not found (240).
    let again = cancel
        .cancel_order(&CancelOrder::by_order_id(btc_eur(), second.key.order_id))
        .await
        .unwrap_err();
    assert!(matches!(again.error_code(), Some(233 | 240)), "{again}");
}

#[tokio::test]
async fn market_order_fills_and_shows_in_trades_and_cancel_all_clears_the_book() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let both = clients(&sim);
    let (read, trade, cancel) = (both.read_only, both.trading, both.cancel);

    let coid = ClientOrderId::new();
    let order = CreateOrder::market(
        btc_eur(),
        Side::Buy,
        OrderSize::Quote(Notional::positive("amount_quote", dec!(10)).unwrap()),
        coid,
    )
    .unwrap();
    let placed = trade.create_order(order).await.result.unwrap();
    let filled = read
        .order(&GetOrder::by_client_order_id(btc_eur(), coid))
        .await
        .unwrap();
    assert_eq!(filled.key, placed.key);
    assert_eq!(filled.status, OrderStatus::Filled, "seed {SEED}");
    assert!(!filled.filled_amount.is_zero());
    let trades = read
        .trades(&TradeHistoryQuery::new(btc_eur()).with_limit(50).unwrap())
        .await
        .unwrap();
    assert!(trades
        .iter()
        .any(|t| t.client_order_id == Some(coid)
            && t.order_id.as_ref() == Some(&placed.key.order_id)));

    for _ in 0..3 {
        trade
            .create_order(resting_buy(ClientOrderId::new()))
            .await
            .result
            .unwrap();
    }
    let canceled = cancel
        .cancel_all_orders(&CancelAllOrders {
            market: Some(btc_eur()),
        })
        .await
        .unwrap();
    assert_eq!(canceled.len(), 3);
    let open = read
        .open_orders(&OpenOrdersQuery { market: None })
        .await
        .unwrap();
    assert!(open.is_empty(), "{open:?}");
    // Cancel-all over every market, with nothing open, answers an empty list.
    assert!(cancel
        .cancel_all_orders(&CancelAllOrders { market: None })
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn dead_mans_switch_arms_and_disarms() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let cancel = clients(&sim).cancel;
    let armed = cancel
        .cancel_orders_after(&CancelOrdersAfter::arm(1, 60).unwrap())
        .await
        .unwrap();
    assert_eq!(armed.cod_group_id, 1);
    assert!(armed.time_of_expiry_seconds > 0);
    cancel
        .cancel_orders_after(&CancelOrdersAfter::disarm(1).unwrap())
        .await
        .unwrap();
}

/// The client measures the offset to the exchange's clock and signs with it: a client whose
/// clock is 30 s behind (three access windows) is refused with 304 until it synchronises.
#[tokio::test]
async fn clock_offset_is_measured_and_applied_to_signing() {
    let start = DateTime::from_timestamp_millis(1_750_000_000_000).unwrap();
    let exchange_clock = ManualClock::new(start);
    let sim = sim::spawn_with(
        SimConfig::demo(SEED)
            .with_flat_prices()
            .with_clock(Arc::new(exchange_clock.clone())),
    )
    .await;
    let local = ManualClock::new(start - TimeDelta::seconds(30));
    let both = clients_with(&sim, &config(&sim), Arc::new(local.clone()));
    let read = both.read_only;

    let refused = read.balance(&BalanceQuery::default()).await.unwrap_err();
    assert_eq!(refused.error_code(), Some(304), "{refused}");
    assert!(!refused.order_may_exist());

    let sync = read.sync_time().await.unwrap();
    assert_eq!(sync.offset_ms, 30_000);
    assert_eq!(sync.server_time, exchange_clock.now());
    assert_eq!(read.clock_offset_ms(), 30_000);
    read.balance(&BalanceQuery::default()).await.unwrap();

    // The trading client built alongside signs with the same offset, and says so in its stamp.
    let outcome = both
        .trading
        .create_order(resting_buy(ClientOrderId::new()))
        .await;
    let stamp = outcome.stamp.unwrap();
    outcome.result.unwrap();
    assert_eq!(stamp.signed_at, exchange_clock.now());
    assert_eq!(stamp.clock_offset_ms, 30_000);
    assert_eq!(stamp.local_deadline(), local.now() + TimeDelta::seconds(10));
}

/// The executor's two-step path: prepare (stamp known), then submit exactly that request; and a
/// prepared order whose window has passed is not sent at all.
#[tokio::test]
async fn i3_prepared_order_carries_its_stamp_and_an_expired_one_is_never_sent() {
    let start = DateTime::from_timestamp_millis(1_750_000_000_000).unwrap();
    let clock = ManualClock::new(start);
    let sim = sim::spawn_with(
        SimConfig::demo(SEED)
            .with_flat_prices()
            .with_clock(Arc::new(clock.clone())),
    )
    .await;
    let trade = clients_with(&sim, &config(&sim), Arc::new(clock.clone())).trading;

    let coid = ClientOrderId::new();
    let prepared = trade.prepare_order(resting_buy(coid)).await.unwrap();
    assert_eq!(prepared.stamp().signed_at, start);
    assert_eq!(prepared.client_order_id(), coid);
    let outcome = trade.submit_order(prepared).await;
    assert_eq!(outcome.stamp.unwrap().signed_at, start);
    assert_eq!(outcome.result.unwrap().client_order_id, Some(coid));

    let late = ClientOrderId::new();
    let prepared = trade.prepare_order(resting_buy(late)).await.unwrap();
    let before = sim.handle.request_count("POST /v2/order");
    clock.advance(TimeDelta::seconds(11));
    let outcome = trade.submit_order(prepared).await;
    let err = outcome.result.unwrap_err();
    assert!(
        matches!(err, vigil_bitvavo::BitvavoError::NotSent { .. }),
        "{err}"
    );
    assert!(!err.order_may_exist());
    assert_eq!(
        sim.handle.request_count("POST /v2/order"),
        before,
        "nothing was sent"
    );
    assert_eq!(orders_in_log(&sim, late), 0);
}
