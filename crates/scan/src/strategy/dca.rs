//! `dca`: dollar-cost averaging. Every run proposes the same quote amount, whatever the price;
//! the job's interval is the schedule ("buy 10 EUR of BTC every day").

use chrono::Duration;
use serde_json::Value;
use vigil_core::{Notional, Side, ValidationError};

use super::{params::ParamReader, shown, MarketSnapshot, Signal};

/// Parameters of `dca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcaParams {
    /// `amount_quote` (required): the quote amount per run, e.g. `"10"` EUR.
    pub amount_quote: Notional,
    /// `side` (default `"buy"`).
    pub side: Side,
    /// `ttl_minutes` (default 15): how long each proposal may wait.
    pub ttl_minutes: u32,
}

impl DcaParams {
    /// The parameter names, for messages.
    pub const FIELDS: &'static str = "amount_quote, side, ttl_minutes";

    /// Reads the parameters.
    ///
    /// # Errors
    /// Every problem, each naming its field.
    pub fn parse(params: &Value) -> Result<DcaParams, Vec<ValidationError>> {
        let mut r = ParamReader::new(params);
        let parsed = DcaParams {
            amount_quote: r.notional("amount_quote"),
            side: r.side("side", Side::Buy),
            ttl_minutes: r.ttl_minutes(15),
        };
        r.finish(Self::FIELDS).map(|()| parsed)
    }

    /// Always proposes the configured amount.
    #[must_use]
    pub fn evaluate(&self, snapshot: &MarketSnapshot) -> Signal {
        let quote = snapshot.market.quote();
        let price = snapshot.last_price.map_or_else(
            || "no last price".to_owned(),
            |p| format!("last price {} {quote}", shown(p.value())),
        );
        Signal {
            market: snapshot.market.clone(),
            side: self.side,
            amount_quote: self.amount_quote,
            rationale: format!(
                "dca: {} {} {quote} of {} on schedule ({price})",
                self.side, self.amount_quote, snapshot.market
            ),
            ttl: Duration::minutes(i64::from(self.ttl_minutes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strategy::snapshot::tests::hourly;

    #[test]
    fn proposes_the_amount_every_run_with_the_price_in_the_rationale() {
        let params = DcaParams::parse(&json!({"amount_quote": "10", "ttl_minutes": 30})).unwrap();
        let signal = params.evaluate(&hourly("BTC-EUR", &["50000", "50100.456"]));
        assert_eq!(signal.side, Side::Buy);
        assert_eq!(signal.amount_quote, Notional::from_whole(10));
        assert_eq!(signal.ttl, Duration::minutes(30));
        assert_eq!(
            signal.rationale,
            "dca: buy 10 EUR of BTC-EUR on schedule (last price 50100.46 EUR)"
        );
    }

    #[test]
    fn parameters_are_validated() {
        let problems = DcaParams::parse(&json!({"side": "short", "ttl_minutes": 0})).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["params.amount_quote", "params.side", "params.ttl_minutes"]
        );
    }
}
