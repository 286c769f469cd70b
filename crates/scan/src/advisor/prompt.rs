//! What the advisor asks: a system message with the rules and the answer schema, and a user
//! message with the market context as JSON (recent closed candles and the last price of each
//! market of the job, the user's allowlist and caps). And the prompt's worst-case size.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use vigil_core::{Market, Policy, Timestamp};

use super::{chat::ChatMessage, AdvisorParams};
use crate::strategy::MarketSnapshot;

/// The rules and the schema. The answer is parsed strictly: anything else is dropped.
const SYSTEM: &str = "You advise a cautious crypto trading system. You only PROPOSE trades; \
a person or a policy approves them and separate safety checks run before any order. \
Answer with ONE JSON object and nothing else, of this exact form: \
{\"proposals\": [{\"market\": \"BTC-EUR\", \"side\": \"buy\", \"amount_quote\": \"10\", \
\"rationale\": \"why, with the numbers you used\", \"ttl_minutes\": 30}]}. \
Rules: market must be one of the markets in the context AND on the allowlist; side is \"buy\" \
or \"sell\"; amount_quote is a decimal string in the quote currency, greater than zero and at \
most order_notional_max; ttl_minutes is a whole number from 1 to ttl_minutes_max; at most \
max_proposals proposals and at most one per market; no other fields. When nothing is \
compelling, answer {\"proposals\": []}. Never invent prices: use only the context.";

/// The two messages of one advice request.
pub(crate) fn messages(
    snapshots: &[MarketSnapshot],
    policy: &Policy,
    allowlist: &BTreeSet<Market>,
    params: &AdvisorParams,
    now: Timestamp,
) -> Vec<ChatMessage> {
    let markets: Vec<Value> = snapshots
        .iter()
        .map(|s| {
            let candles: Vec<Value> = s
                .candles
                .iter()
                .map(|c| {
                    json!([
                        c.timestamp.to_rfc3339(),
                        c.open.to_string(),
                        c.high.to_string(),
                        c.low.to_string(),
                        c.close.to_string(),
                        c.volume.to_string()
                    ])
                })
                .collect();
            json!({
                "market": s.market.to_string(),
                "last_price": s.last_price.map(|p| p.to_string()),
                "candle_interval": s.interval.as_str(),
                "candles_oldest_first": candles,
                "candle_columns": ["start", "open", "high", "low", "close", "volume"],
            })
        })
        .collect();
    let context = json!({
        "now": now.to_rfc3339(),
        "allowlist": allowlist.iter().map(Market::to_string).collect::<Vec<_>>(),
        "order_notional_max": policy.order_notional_max.to_string(),
        "daily_notional_max": policy.daily_notional_max.to_string(),
        "max_proposals": params.max_proposals,
        "ttl_minutes_max": params.ttl_minutes_max,
        "markets": markets,
    });
    vec![
        ChatMessage {
            role: "system",
            content: SYSTEM.to_owned(),
        },
        ChatMessage {
            role: "user",
            content: context.to_string(),
        },
    ]
}

/// An upper bound of the prompt's tokens: its UTF-8 bytes plus a per-message allowance.
///
/// Byte-level BPE tokenizers (those of the OpenAI models and most others) never produce more
/// tokens than the text has bytes, and the chat format adds a few tokens per message; counting
/// bytes over-reserves (English runs about four bytes per token), which keeps the reservation a
/// true worst case: the settled cost cannot exceed it, so the budget holds (I8).
pub(crate) fn prompt_tokens_max(messages: &[ChatMessage]) -> u32 {
    let bytes: usize = messages
        .iter()
        .map(|m| m.content.len() + m.role.len() + 8)
        .sum();
    u32::try_from(bytes + 16).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_bound_counts_every_byte() {
        let messages = vec![
            ChatMessage {
                role: "system",
                content: "abc".into(),
            },
            ChatMessage {
                role: "user",
                content: "é".into(), // two bytes
            },
        ];
        // (3 + 6 + 8) + (2 + 4 + 8) + 16
        assert_eq!(prompt_tokens_max(&messages), 47);
    }
}
