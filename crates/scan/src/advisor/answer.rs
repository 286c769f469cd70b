//! Reading the LLM's answer into signals, strictly. An answer that is not the schema's JSON
//! object is dropped whole; a proposal that fails any check (unknown market, not allowlisted,
//! unknown side, an amount that is not a positive decimal or is above the per-order cap, a
//! time to live out of range, a missing rationale, an unknown field) is dropped with its
//! reason. Nothing is repaired or guessed: a dropped proposal is logged, never "fixed".

use std::{collections::BTreeSet, str::FromStr};

use chrono::Duration;

use serde_json::{Map, Value};
use vigil_core::{Market, Notional, Side};

use crate::strategy::Signal;

/// The longest rationale accepted from the model, in characters.
pub(crate) const RATIONALE_CHARS_MAX: usize = 1_000;

/// What a proposal is checked against.
#[derive(Debug, Clone)]
pub(crate) struct AnswerRules<'a> {
    /// The job's markets (the only ones the context described).
    pub(crate) markets: &'a [Market],
    /// The user's allowlist.
    pub(crate) allowlist: &'a BTreeSet<Market>,
    /// The user's per-order cap.
    pub(crate) order_cap: Notional,
    /// The longest time to live.
    pub(crate) ttl_minutes_max: u32,
    /// The most proposals taken from one answer.
    pub(crate) max_proposals: u8,
    /// The model, for the rationale.
    pub(crate) model: &'a str,
}

/// The answer's valid proposals, and why the others were dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadAnswer {
    pub(crate) signals: Vec<Signal>,
    pub(crate) dropped: Vec<String>,
}

const FIELDS: [&str; 5] = ["market", "side", "amount_quote", "rationale", "ttl_minutes"];

/// Reads the answer; `Err` when it is not the schema's object at all.
pub(crate) fn read_answer(content: &str, rules: &AnswerRules<'_>) -> Result<ReadAnswer, String> {
    let value: Value = serde_json::from_str(content.trim())
        .map_err(|e| format!("the answer is not JSON ({e})"))?;
    let object = value
        .as_object()
        .ok_or_else(|| "the answer is not a JSON object".to_owned())?;
    if let Some(extra) = object.keys().find(|k| k.as_str() != "proposals") {
        return Err(format!("the answer has an unknown field {extra:?}"));
    }
    let items = object
        .get("proposals")
        .and_then(Value::as_array)
        .ok_or_else(|| "the answer has no \"proposals\" array".to_owned())?;
    let mut read = ReadAnswer::default();
    let mut markets_used = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        if read.signals.len() >= usize::from(rules.max_proposals) {
            read.dropped.push(format!(
                "proposals[{i}]: more than max_proposals ({})",
                rules.max_proposals
            ));
            continue;
        }
        match read_one(item, rules) {
            Ok(signal) if !markets_used.insert(signal.market.clone()) => read.dropped.push(
                format!("proposals[{i}]: a second proposal for {}", signal.market),
            ),
            Ok(signal) => read.signals.push(signal),
            Err(reason) => read.dropped.push(format!("proposals[{i}]: {reason}")),
        }
    }
    Ok(read)
}

fn text<'v>(item: &'v Map<String, Value>, name: &str) -> Result<&'v str, String> {
    item.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name} is missing or not a string"))
}

fn read_one(item: &Value, rules: &AnswerRules<'_>) -> Result<Signal, String> {
    let item = item.as_object().ok_or("not a JSON object")?;
    if let Some(extra) = item.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field {extra:?}"));
    }
    let market_text = text(item, "market")?;
    let market = Market::parse(market_text).map_err(|e| e.to_string())?;
    if !rules.markets.contains(&market) {
        return Err(format!(
            "unknown market {market}: not one of the job's markets"
        ));
    }
    if !rules.allowlist.contains(&market) {
        return Err(format!("market {market} is not on the allowlist"));
    }
    let side_text = text(item, "side")?;
    let side = Side::from_str(side_text).map_err(|_| format!("unknown side {side_text:?}"))?;
    let amount = match item.get("amount_quote") {
        Some(Value::String(s)) => vigil_core::parse_exact_decimal("amount_quote", s, "").ok(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            vigil_core::parse_exact_decimal("amount_quote", &n.to_string(), "").ok()
        }
        _ => None,
    }
    .ok_or("amount_quote is not a decimal string that fits exactly")?;
    let amount_quote = Notional::positive("amount_quote", amount)
        .map_err(|_| format!("amount_quote {amount} is not greater than zero"))?;
    if amount_quote > rules.order_cap {
        return Err(format!(
            "amount_quote {amount_quote} is above the per-order cap {}",
            rules.order_cap
        ));
    }
    let ttl = item
        .get("ttl_minutes")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=rules.ttl_minutes_max).contains(n))
        .ok_or_else(|| {
            format!(
                "ttl_minutes is not a whole number from 1 to {}",
                rules.ttl_minutes_max
            )
        })?;
    let rationale = text(item, "rationale")?.trim();
    if rationale.is_empty() || rationale.chars().count() > RATIONALE_CHARS_MAX {
        return Err(format!(
            "rationale is empty or longer than {RATIONALE_CHARS_MAX} characters"
        ));
    }
    Ok(Signal {
        market,
        side,
        amount_quote,
        rationale: format!("llm_advisor ({}): {rationale}", rules.model),
        ttl: Duration::minutes(i64::from(ttl)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with_rules<T>(f: impl FnOnce(&AnswerRules<'_>) -> T) -> T {
        let markets = [
            Market::parse("BTC-EUR").unwrap(),
            Market::parse("ETH-EUR").unwrap(),
        ];
        let allowlist: BTreeSet<Market> = [Market::parse("BTC-EUR").unwrap()].into();
        f(&AnswerRules {
            markets: &markets,
            allowlist: &allowlist,
            order_cap: Notional::from_whole(25),
            ttl_minutes_max: 60,
            max_proposals: 2,
            model: "m",
        })
    }

    fn proposal(market: &str, side: &str, amount: Value, ttl: u64) -> Value {
        json!({"market": market, "side": side, "amount_quote": amount,
               "rationale": "RSI 28", "ttl_minutes": ttl})
    }

    #[test]
    fn a_valid_proposal_becomes_a_signal() {
        let answer = json!({"proposals": [proposal("BTC-EUR", "buy", json!("12.5"), 30)]});
        let read = with_rules(|r| read_answer(&answer.to_string(), r)).unwrap();
        assert!(read.dropped.is_empty(), "{:?}", read.dropped);
        let s = &read.signals[0];
        assert_eq!(
            (s.side, s.amount_quote.to_string()),
            (Side::Buy, "12.5".into())
        );
        assert_eq!(s.ttl, Duration::minutes(30));
        assert_eq!(s.rationale, "llm_advisor (m): RSI 28");
    }

    #[test]
    fn each_invalid_proposal_is_dropped_with_its_reason() {
        let answer = json!({"proposals": [
            proposal("DOGE-EUR", "buy", json!("5"), 30),
            proposal("ETH-EUR", "buy", json!("5"), 30),
            proposal("BTC-EUR", "hold", json!("5"), 30),
            proposal("BTC-EUR", "buy", json!("-5"), 30),
            proposal("BTC-EUR", "buy", json!("26"), 30),
            proposal("BTC-EUR", "buy", json!(5.5), 30),
            proposal("BTC-EUR", "buy", json!("5"), 0),
            {"market": "BTC-EUR", "side": "buy", "amount_quote": "5", "rationale": "x",
             "ttl_minutes": 5, "leverage": 10},
        ]});
        let read = with_rules(|r| read_answer(&answer.to_string(), r)).unwrap();
        assert!(read.signals.is_empty());
        let reasons = read.dropped.join("\n");
        for expected in [
            "proposals[0]: unknown market DOGE-EUR",
            "proposals[1]: market ETH-EUR is not on the allowlist",
            "proposals[2]: unknown side \"hold\"",
            "proposals[3]: amount_quote -5 is not greater than zero",
            "proposals[4]: amount_quote 26 is above the per-order cap 25",
            "proposals[5]: amount_quote is not a decimal string",
            "proposals[6]: ttl_minutes is not a whole number from 1 to 60",
            "proposals[7]: unknown field \"leverage\"",
        ] {
            assert!(
                reasons.contains(expected),
                "missing {expected:?} in\n{reasons}"
            );
        }
    }

    #[test]
    fn limits_per_answer_and_per_market() {
        let answer = json!({"proposals": [
            proposal("BTC-EUR", "buy", json!("5"), 30),
            proposal("BTC-EUR", "sell", json!("5"), 30),
        ]});
        let read = with_rules(|r| read_answer(&answer.to_string(), r)).unwrap();
        assert_eq!(read.signals.len(), 1);
        assert!(read.dropped[0].contains("a second proposal for BTC-EUR"));
    }

    #[test]
    fn an_answer_that_is_not_the_schema_is_dropped_whole() {
        for bad in [
            "I think you should buy BTC",
            "```json\n{\"proposals\": []}\n```",
            "[]",
            "{\"trades\": []}",
            "{\"proposals\": [], \"note\": \"x\"}",
        ] {
            assert!(with_rules(|r| read_answer(bad, r)).is_err(), "{bad}");
        }
        let empty = with_rules(|r| read_answer("{\"proposals\": []}", r)).unwrap();
        assert_eq!(empty, ReadAnswer::default());
    }
}
