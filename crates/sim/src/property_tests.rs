//! Property tests of the simulator's own guarantees, run against the exchange state directly
//! (no HTTP, so thousands of operations run quickly):
//! - `prop_balances_are_conserved`: per asset, the sum over accounts (available + in order), the
//!   house and the fee pool never changes, no balance goes negative, and what is "in order"
//!   equals what open orders hold;
//! - `prop_no_client_order_id_filled_twice`: retries of a `clientOrderId` never produce a second
//!   live order, so no id is ever filled twice while it is in use; no order fills beyond its
//!   amount, and each order's fills add up to its filled amount (partial fills included);
//! - `prop_wrong_signature_is_always_refused`: any change of the signature, secret, target or
//!   body makes the request fail with 309, while the right one passes.
//!
//! Method: random operation sequences (limit and market orders of two accounts on two markets,
//! cancels, retried client order ids, clock moves, price overrides) over a `ManualClock`.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Duration};
use http::{HeaderMap, Method};
use proptest::prelude::*;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{json, Value};
use vigil_core::ManualClock;

use crate::{
    auth::{self, AccessHeaders, SignedRequest},
    config::{AccountConfig, KeyConfig, MarketConfig, Permission, SimConfig},
    exchange::{params::Params, Caller, Exchange},
};

const COIDS: [&str; 3] = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003",
];

#[derive(Debug, Clone)]
enum Op {
    Limit {
        account: usize,
        market: usize,
        buy: bool,
        ticks: i64,
        units: u32,
        coid: Option<usize>,
    },
    Market {
        account: usize,
        market: usize,
        buy: bool,
        units: u32,
    },
    Cancel {
        account: usize,
        market: usize,
        coid: usize,
    },
    Advance {
        minutes: i64,
    },
    SetPrice {
        market: usize,
        permille: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..2usize, any::<bool>(), -20..20i64, 1..40u32, proptest::option::of(0..3usize))
            .prop_map(|(account, market, buy, ticks, units, coid)| Op::Limit { account, market, buy, ticks, units, coid }),
        2 => (0..2usize, 0..2usize, any::<bool>(), 1..40u32)
            .prop_map(|(account, market, buy, units)| Op::Market { account, market, buy, units }),
        1 => (0..2usize, 0..2usize, 0..3usize).prop_map(|(account, market, coid)| Op::Cancel { account, market, coid }),
        2 => (1..30i64).prop_map(|minutes| Op::Advance { minutes }),
        1 => (0..2usize, -30..30i64).prop_map(|(market, permille)| Op::SetPrice { market, permille }),
    ]
}

fn exchange(seed: u64) -> (Exchange, ManualClock) {
    let clock = ManualClock::new(DateTime::from_timestamp(1_750_000_000, 0).unwrap());
    let key = |i: u8| format!("{i:0>64}");
    let markets = vec![
        // Partial fills on BTC-EUR (at most 0.0001 BTC per step), complete fills on ETH-EUR.
        MarketConfig::new("BTC-EUR", Decimal::ONE, 8, Decimal::from(50_000))
            .with_minimums(Decimal::new(1, 5), Decimal::ONE)
            .with_volatility(Decimal::new(5, 2))
            .with_max_fill_per_step(Decimal::new(1, 4)),
        MarketConfig::new("ETH-EUR", Decimal::new(1, 2), 6, Decimal::from(2_000))
            .with_minimums(Decimal::new(1, 4), Decimal::ONE)
            .with_volatility(Decimal::new(5, 2)),
    ];
    let accounts = (0..2u8)
        .map(|i| {
            AccountConfig::new(&format!("a{i}"))
                .with_balance("EUR", Decimal::from(20_000))
                .with_balance("BTC", Decimal::new(2, 1))
                .with_balance("ETH", Decimal::from(3))
                .with_key(KeyConfig::new(
                    &key(i),
                    "s",
                    &[Permission::View, Permission::Trade],
                ))
        })
        .collect();
    let config = SimConfig::demo(seed)
        .with_clock(Arc::new(clock.clone()))
        .with_markets(markets)
        .with_accounts(accounts);
    (Exchange::new(config).unwrap(), clock)
}

fn caller(account: usize) -> Caller {
    Caller {
        account,
        key: format!("{account:0>64}"),
    }
}

fn body(v: Value) -> Params {
    Params::from_body(serde_json::from_value(v).unwrap())
}

const MARKETS: [(&str, u32, i64, u32); 2] = [("BTC-EUR", 0, 1, 5), ("ETH-EUR", 2, 1, 4)];

/// Applies one operation; returns the create's outcome code (0 = accepted) when it was a create.
fn apply(ex: &mut Exchange, clock: &ManualClock, op: &Op) -> Option<(u16, Option<usize>)> {
    let now = clock.now_ms();
    ex.settle(now);
    match *op {
        Op::Limit {
            account,
            market,
            buy,
            ticks,
            units,
            coid,
        } => {
            let (name, tick_dp, _, amount_dp) = MARKETS[market];
            let m = ex.market(name).unwrap();
            let price = ex.current_price(m, now) + Decimal::new(ticks, tick_dp) * Decimal::from(50);
            let price = price.max(Decimal::new(1, tick_dp));
            let mut b = json!({
                "market": name, "side": if buy { "buy" } else { "sell" }, "orderType": "limit",
                "amount": Decimal::new(i64::from(units), amount_dp).to_string(),
                "price": price.to_string(), "operatorId": 7,
            });
            if let Some(c) = coid {
                b["clientOrderId"] = json!(COIDS[c]);
            }
            let code = ex
                .create_order(&caller(account), &body(b), now)
                .err()
                .map_or(0, |e| e.code);
            Some((code, coid))
        }
        Op::Market {
            account,
            market,
            buy,
            units,
        } => {
            let (name, _, _, amount_dp) = MARKETS[market];
            let b = json!({
                "market": name, "side": if buy { "buy" } else { "sell" }, "orderType": "market",
                "amount": Decimal::new(i64::from(units), amount_dp).to_string(), "operatorId": 7,
            });
            let code = ex
                .create_order(&caller(account), &body(b), now)
                .err()
                .map_or(0, |e| e.code);
            Some((code, None))
        }
        Op::Cancel {
            account,
            market,
            coid,
        } => {
            let q = format!(
                "market={}&clientOrderId={}&operatorId=7",
                MARKETS[market].0, COIDS[coid]
            );
            // Unknown or closed orders are refused; either way the state must stay consistent.
            ex.cancel_order(&caller(account), &Params::from_query(&q), now)
                .ok();
            None
        }
        Op::Advance { minutes } => {
            clock.advance(Duration::minutes(minutes));
            ex.settle(clock.now_ms());
            None
        }
        Op::SetPrice { market, permille } => {
            let m = ex.market(MARKETS[market].0).unwrap();
            let p = ex.current_price(m, now) * (Decimal::ONE + Decimal::new(permille, 3));
            ex.set_price(m, p).unwrap();
            None
        }
    }
}

trait NowMs {
    fn now_ms(&self) -> i64;
}

impl NowMs for ManualClock {
    fn now_ms(&self) -> i64 {
        vigil_core::Clock::now(self).timestamp_millis()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn prop_balances_are_conserved(seed in 0u64..1000, ops in proptest::collection::vec(op(), 1..60)) {
        let (mut ex, clock) = exchange(seed);
        let before = ex.total_per_asset();
        for op in &ops {
            apply(&mut ex, &clock, op);
            prop_assert_eq!(&ex.total_per_asset(), &before, "after {:?}", op);
            let mut held: BTreeMap<(usize, String), Decimal> = BTreeMap::new();
            for o in ex.open_orders_for_tests() {
                *held.entry((o.0, o.1)).or_default() += o.2;
            }
            for account in 0..2 {
                for (asset, b) in ex.balances(account) {
                    prop_assert!(b.available >= Decimal::ZERO, "{asset} available {} < 0", b.available);
                    let h = held.get(&(account, asset.clone())).copied().unwrap_or_default();
                    prop_assert_eq!(b.in_order, h, "in order of {} is not what open orders hold", asset);
                }
            }
        }
    }

    #[test]
    fn prop_no_client_order_id_filled_twice(seed in 0u64..1000, ops in proptest::collection::vec(op(), 1..60)) {
        let (mut ex, clock) = exchange(seed);
        for op in &ops {
            let was_open = |ex: &Exchange, account: usize, market: usize, coid: usize| {
                ex.open_orders_for_tests().iter().any(|o| {
                    o.0 == account && o.3 == MARKETS[market].0 && o.4.as_deref() == Some(COIDS[coid])
                })
            };
            let open_before = match *op {
                Op::Limit { account, market, coid: Some(c), .. } => Some(was_open(&ex, account, market, c)),
                _ => None,
            };
            let outcome = apply(&mut ex, &clock, op);
            if let (Some(true), Some((code, _))) = (open_before, outcome) {
                prop_assert_ne!(code, 0, "a retry of an open clientOrderId was accepted");
            }
            // At most one open order per (account, market, clientOrderId).
            let mut open: BTreeMap<(usize, String, String), u32> = BTreeMap::new();
            for o in ex.open_orders_for_tests() {
                if let Some(c) = o.4 {
                    *open.entry((o.0, o.3, c)).or_default() += 1;
                }
            }
            prop_assert!(open.values().all(|n| *n <= 1), "two open orders share a clientOrderId");
        }
        for o in ex.order_log() {
            let amount = o.amount.unwrap_or(o.filled_amount);
            prop_assert!(o.filled_amount <= amount, "order {} overfilled", o.order_id);
        }
        for (filled, fills_total) in ex.fill_totals_for_tests() {
            prop_assert_eq!(filled, fills_total, "an order's fills do not add up to its filled amount");
        }
    }

    #[test]
    fn prop_wrong_signature_is_always_refused(
        secret in "[ -~]{1,128}",
        other in "[ -~]{1,128}",
        path in "/v2/[a-zA-Z]{1,12}(\\?[a-z]{1,5}=[A-Za-z0-9-]{0,20}){0,1}",
        body in "\\{(\"[a-z]{1,6}\":\"[ -!#-~]{0,12}\"){0,1}\\}",
        flip in 0usize..64,
        post in any::<bool>(),
    ) {
        let key = "k".repeat(64);
        let method = if post { Method::POST } else { Method::GET };
        let signed_body = if post { body.as_str() } else { "" };
        let ts = 1_700_000_000_000i64;
        let good = auth::sign(&secret, &format!("{ts}{method}{path}{signed_body}"));
        let run = |sig: &str, target: &str, sent_body: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert("bitvavo-access-key", key.parse().unwrap());
            h.insert("bitvavo-access-timestamp", ts.to_string().parse().unwrap());
            h.insert("bitvavo-access-signature", sig.parse().unwrap());
            auth::verify(
                &AccessHeaders::read(&h),
                &SignedRequest { method: &method, target, body: sent_body },
                ts,
                1000,
                |_| Some(SecretString::from(secret.clone())),
            ).map(|_| ()).map_err(|e| e.code)
        };
        prop_assert_eq!(run(&good, &path, signed_body.as_bytes()), Ok(()));
        // One hex digit changed.
        let mut bad: Vec<char> = good.chars().collect();
        bad[flip] = if bad[flip] == '0' { '1' } else { '0' };
        let bad: String = bad.into_iter().collect();
        prop_assert_eq!(run(&bad, &path, signed_body.as_bytes()), Err(309));
        // Signed with another secret.
        if other != secret {
            let wrong = auth::sign(&other, &format!("{ts}{method}{path}{signed_body}"));
            prop_assert_eq!(run(&wrong, &path, signed_body.as_bytes()), Err(309));
        }
        // Another target.
        prop_assert_eq!(run(&good, &format!("{path}x"), signed_body.as_bytes()), Err(309));
        // A different body (POST only; GET ignores bodies).
        if post {
            prop_assert_eq!(run(&good, &path, b"{\"zz\":1}"), Err(309));
        }
    }
}
