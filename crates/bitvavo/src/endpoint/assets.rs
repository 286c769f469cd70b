//! `GET /assets`: the assets Bitvavo lists (bitvavo-api.md 4.3; weight 1).

use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::Asset;

use super::{Endpoint, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire, wire::Obj, BitvavoError};

/// Asks for all assets or one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetsQuery {
    /// One asset, or all when `None`.
    pub symbol: Option<Asset>,
}

/// An asset as `/assets` describes it (the fields Vigil reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetInfo {
    /// The symbol, e.g. `BTC`.
    pub symbol: Asset,
    /// Its name.
    pub name: Option<String>,
    /// Decimals the asset is counted in.
    pub decimals: Option<u32>,
    /// `OK` when deposits are open.
    pub deposit_status: Option<String>,
    /// `OK` when withdrawals are open.
    pub withdrawal_status: Option<String>,
    /// Fee per withdrawal.
    pub withdrawal_fee: Option<Decimal>,
    /// Smallest withdrawal.
    pub withdrawal_min_amount: Option<Decimal>,
    /// Networks the asset moves on.
    pub networks: Vec<String>,
}

fn parse_asset(o: Obj<'_>) -> Result<AssetInfo, Malformed> {
    Ok(AssetInfo {
        symbol: o.asset("symbol")?,
        name: o.opt_str("name")?.map(str::to_owned),
        decimals: o.opt_u32("decimals")?,
        deposit_status: o.opt_str("depositStatus")?.map(str::to_owned),
        withdrawal_status: o.opt_str("withdrawalStatus")?.map(str::to_owned),
        withdrawal_fee: o.opt_decimal("withdrawalFee")?,
        withdrawal_min_amount: o.opt_decimal("withdrawalMinAmount")?,
        networks: o.opt_strings("networks")?,
    })
}

impl Endpoint for AssetsQuery {
    type Response = Vec<AssetInfo>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts::get("GET /v2/assets", "/assets", 1)
            .opt_param("symbol", self.symbol.as_ref()))
    }

    fn parse(&self, body: &Value) -> Result<Vec<AssetInfo>, Malformed> {
        wire::list(body, "assets", true, parse_asset)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_assets() {
        let v = json!([{"symbol": "BTC", "name": "Bitcoin", "decimals": 8, "depositFee": "0",
                        "withdrawalFee": "0.0002", "networks": ["Mainnet"]}]);
        let a = AssetsQuery::default().parse(&v).unwrap();
        assert_eq!(a[0].symbol.as_str(), "BTC");
        assert_eq!(a[0].withdrawal_fee.unwrap().to_string(), "0.0002");
        assert_eq!(
            AssetsQuery::default()
                .parse(&json!([{"symbol": 5}]))
                .unwrap_err()
                .field,
            "assets[0].symbol"
        );
    }
}
