//! The account (bitvavo-api.md 4.10 and 4.11): `GET /balance` (weight 5) and
//! `GET /account/fees` (weight 1).

use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::{Asset, Market};

use super::{Endpoint, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire, wire::Obj, BitvavoError};

/// Asks for the balance of one asset, or of every asset with a non-zero balance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceQuery {
    /// One asset, or all non-zero balances when `None`.
    pub symbol: Option<Asset>,
}

/// The balance of one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetBalance {
    /// The asset.
    pub symbol: Asset,
    /// Spendable now.
    pub available: Decimal,
    /// Reserved by open orders.
    pub in_order: Decimal,
}

impl Endpoint for BalanceQuery {
    type Response = Vec<AssetBalance>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts::get("GET /v2/balance", "/balance", 5)
            .opt_param("symbol", self.symbol.as_ref()))
    }

    fn parse(&self, body: &Value) -> Result<Vec<AssetBalance>, Malformed> {
        wire::list(body, "balances", false, |o| {
            let available = o.decimal("available")?;
            let in_order = o.opt_decimal("inOrder")?.unwrap_or(Decimal::ZERO);
            for (name, v) in [("available", available), ("inOrder", in_order)] {
                if v.is_sign_negative() && !v.is_zero() {
                    return Err(Malformed::new(o.field(name), format!("{v} is negative")));
                }
            }
            Ok(AssetBalance {
                symbol: o.asset("symbol")?,
                available,
                in_order,
            })
        })
    }
}

/// Asks for the fee rates that apply to one market (or to category A without a market).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeesQuery {
    /// The market whose fee category applies.
    pub market: Option<Market>,
}

/// The account's fee rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFees {
    /// The fee tier.
    pub tier: String,
    /// 30-day volume in EUR.
    pub volume: Decimal,
    /// Rate for orders that take liquidity (e.g. 0.0025).
    pub taker: Decimal,
    /// Rate for orders that rest in the book.
    pub maker: Decimal,
}

impl Endpoint for FeesQuery {
    type Response = AccountFees;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(
            RequestParts::get("GET /v2/account/fees", "/account/fees", 1)
                .opt_param("market", self.market.as_ref()),
        )
    }

    fn parse(&self, body: &Value) -> Result<AccountFees, Malformed> {
        let o = Obj::new(body, "")?;
        let tier = match o.get("tier") {
            Some(v) => wire::int_value(v)
                .map(|n| n.to_string())
                .map_err(|d| Malformed::new("tier", d))?,
            None => String::new(),
        };
        Ok(AccountFees {
            tier,
            volume: o.opt_decimal("volume")?.unwrap_or(Decimal::ZERO),
            taker: o.decimal("taker")?,
            maker: o.decimal("maker")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn balances_and_fees() {
        let b = BalanceQuery::default()
            .parse(&json!([{"symbol": "EUR", "available": "1000", "inOrder": "0"}]))
            .unwrap();
        assert_eq!(b[0].available, Decimal::from(1000));
        let err = BalanceQuery::default()
            .parse(&json!([{"symbol": "EUR", "available": "-1"}]))
            .unwrap_err();
        assert_eq!(err.field, "balances[0].available");
        let f = FeesQuery::default()
            .parse(
                &json!({"tier": "0", "volume": "10000.00", "taker": "0.0025", "maker": "0.0015"}),
            )
            .unwrap();
        assert_eq!(f.taker.to_string(), "0.0025");
        assert_eq!(f.tier, "0");
        assert_eq!(
            BalanceQuery::default()
                .parts(OperatorId::new(1).unwrap())
                .unwrap()
                .weight,
            5
        );
    }
}
