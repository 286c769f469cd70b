//! Property tests of the guards: for random facts and intents, [`evaluate`] refuses exactly when
//! one of the rails is crossed, and the refusal it gives is the first rail crossed in the
//! documented order. The reference model below restates each rule independently of the guard
//! code, with plain comparisons.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::{
    market::MarketStatus,
    money::{Notional, Quantity},
};

fn market(i: u8) -> Market {
    Market::parse(["BTC-EUR", "ETH-EUR", "SOL-EUR"][usize::from(i % 3)]).unwrap()
}

fn rules(m: &Market, status_trading: bool) -> MarketRules {
    MarketRules {
        market: m.clone(),
        status: if status_trading {
            MarketStatus::Trading
        } else {
            MarketStatus::Halted
        },
        tick_size: Price::positive("t", Decimal::ONE).unwrap(),
        quantity_decimals: 8,
        notional_decimals: 2,
        min_order_base: Quantity::positive("m", Decimal::new(1, 6)).unwrap(),
        min_order_quote: Notional::from_whole(5),
        max_order_base: None,
        max_order_quote: None,
    }
}

prop_compose! {
    fn scenario()(
        global in any::<bool>(), user in any::<bool>(), enabled in any::<bool>(),
        market_i in 0u8..3, allow_mask in 0u8..8, buy in any::<bool>(),
        amount_cents in 100i64..5_000, day_used in 0u32..150,
        cooldown in 0u32..30, anti_flip in 0u32..120,
        last_ago in proptest::option::of(0i64..200), opposite_ago in proptest::option::of(0i64..200),
        unresolved in any::<bool>(), ttl in -5i64..60, trading in any::<bool>(),
        quote_avail in 0u32..60,
    ) -> (GuardFacts, ExchangeFacts, OrderIntent) {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let m = market(market_i);
        let side = if buy { Side::Buy } else { Side::Sell };
        let allowlist: BTreeSet<Market> = (0..3u8).filter(|i| allow_mask & (1 << i) != 0).map(market).collect();
        let last = last_ago.map(|a| now - Duration::minutes(a));
        let opposite = opposite_ago.map(|a| now - Duration::minutes(a));
        let (last_buy_at, last_sell_at) = match side { Side::Buy => (last, opposite), Side::Sell => (opposite, last) };
        let last_order_at = last.max(opposite);
        let policy = Policy { trading_enabled: enabled, cooldown_minutes: cooldown, anti_flip_minutes: anti_flip, ..Policy::default() };
        let facts = GuardFacts {
            now, global_kill_switch: global, user_kill_switch: user, policy, allowlist,
            activity: MarketActivity { last_order_at, last_buy_at, last_sell_at, unresolved: unresolved.then(crate::ids::ExecutionId::new) },
            day_used: Notional::from_whole(day_used),
        };
        let exchange = ExchangeFacts {
            market_rules: Some(rules(&m, trading)),
            reference_price: Some(Price::positive("p", Decimal::from(50_000)).unwrap()),
            balance: BalanceFact { quote_available: Decimal::from(quote_avail), base_available: Decimal::ONE, fee_rate: Decimal::ZERO },
        };
        let intent = OrderIntent {
            market: m, side, order_type: OrderType::Market,
            size: OrderSize::Quote(Notional::positive("a", Decimal::new(amount_cents, 2)).unwrap()),
            limit_price: None, expires_at: now + Duration::minutes(ttl),
        };
        (facts, exchange, intent)
    }
}

/// The reference model: the first rule crossed, restated with plain comparisons.
fn model(f: &GuardFacts, x: &ExchangeFacts, i: &OrderIntent) -> Option<&'static str> {
    let OrderSize::Quote(amount) = i.size else {
        return Some("unexpected");
    };
    let amount = amount.value();
    let since = |t: Option<Timestamp>, minutes: u32| {
        t.is_some_and(|t| f.now < t + Duration::minutes(i64::from(minutes)))
    };
    if f.global_kill_switch {
        return Some("kill_switch_global");
    }
    if f.user_kill_switch {
        return Some("kill_switch_user");
    }
    if !f.policy.trading_enabled {
        return Some("trading_disabled");
    }
    if f.now >= i.expires_at {
        return Some("proposal_expired");
    }
    if !f.allowlist.contains(&i.market) {
        return Some("market_not_allowlisted");
    }
    if f.activity.unresolved.is_some() {
        return Some("unresolved_execution");
    }
    if since(f.activity.last_order_at, f.policy.cooldown_minutes) {
        return Some("cooldown_active");
    }
    if since(
        f.activity.last_on(i.side.opposite()),
        f.policy.anti_flip_minutes,
    ) {
        return Some("anti_flip");
    }
    let rules = x.market_rules.as_ref()?;
    if rules.status != MarketStatus::Trading {
        return Some("market_not_trading");
    }
    if amount < Decimal::from(5) {
        return Some("below_minimum_notional");
    }
    if amount > Decimal::from(25) {
        return Some("cap_per_order");
    }
    if f.day_used.value() + amount > Decimal::from(100) {
        return Some("cap_daily");
    }
    let balance = &x.balance;
    match i.side {
        Side::Buy if balance.quote_available < amount => Some("insufficient_balance"),
        Side::Sell if balance.base_available < amount / Decimal::from(50_000) => {
            Some("insufficient_balance")
        }
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn prop_guards_refuse_exactly_when_a_rail_is_crossed((facts, exchange, intent) in scenario()) {
        let got = evaluate(&facts, &exchange, &intent);
        match model(&facts, &exchange, &intent) {
            None => prop_assert!(got.is_ok(), "model allows, guards refused: {got:?}"),
            Some(code) => prop_assert_eq!(got.map_err(|r| r.code()), Err(code)),
        }
    }

    #[test]
    fn prop_an_allowed_order_is_within_every_cap((facts, exchange, intent) in scenario()) {
        if let Ok(notional) = evaluate(&facts, &exchange, &intent) {
            prop_assert!(notional <= facts.policy.order_notional_max);
            prop_assert!(facts.day_used + notional <= facts.policy.daily_notional_max);
            prop_assert!(facts.allowlist.contains(&intent.market));
            prop_assert!(!facts.global_kill_switch && !facts.user_kill_switch);
        }
    }
}
