//! The API's routes under `/v2`: which endpoint a request is, its rate-limit weight
//! (bitvavo-api.md section 7), the permission it needs, and the call into the exchange state.

use http::Method;
use serde_json::{json, Value};

use crate::{
    config::Permission,
    error::ApiError,
    exchange::{params::Params, Caller, Exchange},
};

/// One endpoint of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Time,
    Markets,
    Assets,
    TickerPrice,
    TickerBook,
    Ticker24h,
    Candles(String),
    Book(String),
    PublicTrades(String),
    Balance,
    Account,
    AccountFees,
    CreateOrder,
    GetOrder,
    UpdateOrder,
    CancelOrder,
    Orders,
    OrdersOpen,
    CancelOrders,
    Trades,
    CancelOrdersAfter,
}

/// What a route needs from the caller's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Public,
    /// View permission (311 without).
    View,
    /// Reading orders and fills: view or trade permission (311 without either).
    ViewOrTrade,
    /// Trade permission (310 without).
    Trade,
}

impl Route {
    /// The route of `method` + `path` (path without the query), if any.
    pub(crate) fn resolve(method: &Method, path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/v2/")?;
        let segments: Vec<&str> = rest.split('/').collect();
        let m = method.as_str();
        let route = match (m, segments.as_slice()) {
            ("GET", ["time"]) => Self::Time,
            ("GET", ["markets"]) => Self::Markets,
            ("GET", ["assets"]) => Self::Assets,
            ("GET", ["ticker", "price"]) => Self::TickerPrice,
            ("GET", ["ticker", "book"]) => Self::TickerBook,
            ("GET", ["ticker", "24h"]) => Self::Ticker24h,
            ("GET", ["balance"]) => Self::Balance,
            ("GET", ["account"]) => Self::Account,
            ("GET", ["account", "fees"]) => Self::AccountFees,
            ("POST", ["order"]) => Self::CreateOrder,
            ("GET", ["order"]) => Self::GetOrder,
            ("PUT", ["order"]) => Self::UpdateOrder,
            ("DELETE", ["order"]) => Self::CancelOrder,
            ("GET", ["orders"]) => Self::Orders,
            ("DELETE", ["orders"]) => Self::CancelOrders,
            ("GET", ["ordersOpen"]) => Self::OrdersOpen,
            ("GET", ["trades"]) => Self::Trades,
            ("POST", ["cancelOrdersAfter"]) => Self::CancelOrdersAfter,
            ("GET", [market, "candles"]) => Self::Candles((*market).to_owned()),
            ("GET", [market, "book"]) => Self::Book((*market).to_owned()),
            ("GET", [market, "trades"]) => Self::PublicTrades((*market).to_owned()),
            _ => return None,
        };
        Some(route)
    }

    /// The counter and fault name, `METHOD /v2/template`.
    pub(crate) fn endpoint(&self) -> &'static str {
        match self {
            Self::Time => "GET /v2/time",
            Self::Markets => "GET /v2/markets",
            Self::Assets => "GET /v2/assets",
            Self::TickerPrice => "GET /v2/ticker/price",
            Self::TickerBook => "GET /v2/ticker/book",
            Self::Ticker24h => "GET /v2/ticker/24h",
            Self::Candles(_) => "GET /v2/{market}/candles",
            Self::Book(_) => "GET /v2/{market}/book",
            Self::PublicTrades(_) => "GET /v2/{market}/trades",
            Self::Balance => "GET /v2/balance",
            Self::Account => "GET /v2/account",
            Self::AccountFees => "GET /v2/account/fees",
            Self::CreateOrder => "POST /v2/order",
            Self::GetOrder => "GET /v2/order",
            Self::UpdateOrder => "PUT /v2/order",
            Self::CancelOrder => "DELETE /v2/order",
            Self::Orders => "GET /v2/orders",
            Self::OrdersOpen => "GET /v2/ordersOpen",
            Self::CancelOrders => "DELETE /v2/orders",
            Self::Trades => "GET /v2/trades",
            Self::CancelOrdersAfter => "POST /v2/cancelOrdersAfter",
        }
    }

    /// Rate-limit points (section 7; where the docs say "N/A" or disagree, the larger value).
    pub(crate) fn weight(&self, p: &Params) -> u32 {
        let with_market = p.has("market");
        match self {
            Self::Ticker24h | Self::OrdersOpen if !with_market => 25,
            Self::CancelOrders if !with_market => 100,
            Self::CancelOrders => 25,
            Self::PublicTrades(_)
            | Self::Balance
            | Self::Orders
            | Self::Trades
            | Self::CancelOrdersAfter => 5,
            _ => 1,
        }
    }

    /// The permission the route needs.
    pub(crate) fn access(&self) -> Access {
        match self {
            Self::Time
            | Self::Markets
            | Self::Assets
            | Self::TickerPrice
            | Self::TickerBook
            | Self::Ticker24h
            | Self::Candles(_)
            | Self::Book(_)
            | Self::PublicTrades(_) => Access::Public,
            Self::Balance | Self::Account | Self::AccountFees => Access::View,
            Self::GetOrder | Self::Orders | Self::OrdersOpen | Self::Trades => Access::ViewOrTrade,
            Self::CreateOrder
            | Self::UpdateOrder
            | Self::CancelOrder
            | Self::CancelOrders
            | Self::CancelOrdersAfter => Access::Trade,
        }
    }

    /// Whether the route takes its parameters from the body (POST, PUT).
    pub(crate) fn has_body(&self) -> bool {
        matches!(
            self,
            Self::CreateOrder | Self::UpdateOrder | Self::CancelOrdersAfter
        )
    }
}

/// Refuses a key that lacks what `access` needs.
pub(crate) fn check_permission(access: Access, permissions: &[Permission]) -> Result<(), ApiError> {
    let has = |p| permissions.contains(&p);
    match access {
        Access::Public => Ok(()),
        Access::View if has(Permission::View) => Ok(()),
        Access::ViewOrTrade if has(Permission::View) || has(Permission::Trade) => Ok(()),
        Access::Trade if has(Permission::Trade) => Ok(()),
        Access::Trade => Err(ApiError::new(
            310,
            "This key does not allow trading actions. Enable the trade permission for this API key.",
        )),
        Access::View | Access::ViewOrTrade => Err(ApiError::new(
            311,
            "This key does not allow showing account information. Enable the view permission for this API key.",
        )),
    }
}

/// Carries the request out. `now` is the sim clock; `server_now` includes any injected skew
/// (what `/time` reports).
pub(crate) fn dispatch(
    ex: &mut Exchange,
    route: &Route,
    caller: Option<&Caller>,
    p: &Params,
    now: i64,
    server_now: i64,
) -> Result<Value, ApiError> {
    let private = || {
        caller.ok_or_else(|| ApiError::new(300, "Authentication is required for this endpoint."))
    };
    match route {
        Route::Time => {
            p.only(&[])?;
            Ok(json!({ "time": server_now, "timeNs": i128::from(server_now) * 1_000_000 }))
        }
        Route::Markets => ex.markets_json(p),
        Route::Assets => ex.assets_json(p),
        Route::TickerPrice => ex.ticker_price(p, now),
        Route::TickerBook => ex.ticker_book(p, now),
        Route::Ticker24h => ex.ticker_24h(p, now),
        Route::Candles(m) => ex.candles(m, p, now),
        Route::Book(m) => ex.book(m, p, now),
        Route::PublicTrades(m) => ex.public_trades(m, p, now),
        Route::Balance => ex.balance_json(private()?, p),
        Route::Account => ex.account_json(private()?, p),
        Route::AccountFees => ex.fees_json(private()?, p),
        Route::CreateOrder => ex.create_order(private()?, p, now),
        Route::GetOrder => ex.get_order(private()?, p),
        Route::UpdateOrder => ex.update_order(private()?, p, now),
        Route::CancelOrder => ex.cancel_order(private()?, p, now),
        Route::Orders => ex.list_orders(private()?, p, now),
        Route::OrdersOpen => ex.open_orders(private()?, p),
        Route::CancelOrders => ex.cancel_orders(private()?, p, now),
        Route::Trades => ex.trades(private()?, p, now),
        Route::CancelOrdersAfter => ex.cancel_orders_after(private()?, p, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_market_segments() {
        assert_eq!(Route::resolve(&Method::GET, "/v2/time"), Some(Route::Time));
        assert_eq!(
            Route::resolve(&Method::GET, "/v2/BTC-EUR/candles"),
            Some(Route::Candles("BTC-EUR".into()))
        );
        assert_eq!(Route::resolve(&Method::PATCH, "/v2/order"), None);
        assert_eq!(Route::resolve(&Method::GET, "/api/v2/time"), None);
        assert_eq!(Route::resolve(&Method::GET, "/time"), None);
    }

    #[test]
    fn weights_follow_section_7() {
        let none = Params::from_query("");
        let market = Params::from_query("market=BTC-EUR");
        assert_eq!(Route::Balance.weight(&none), 5);
        assert_eq!(Route::Ticker24h.weight(&none), 25);
        assert_eq!(Route::Ticker24h.weight(&market), 1);
        assert_eq!(Route::OrdersOpen.weight(&none), 25);
        assert_eq!(Route::CreateOrder.weight(&none), 1);
        assert_eq!(Route::Trades.weight(&market), 5);
    }

    #[test]
    fn permissions() {
        let view = [Permission::View];
        let trade = [Permission::Trade];
        assert_eq!(
            check_permission(Access::Trade, &view).unwrap_err().code,
            310
        );
        assert_eq!(
            check_permission(Access::View, &trade).unwrap_err().code,
            311
        );
        assert!(check_permission(Access::ViewOrTrade, &trade).is_ok());
        assert!(check_permission(Access::ViewOrTrade, &view).is_ok());
    }
}
