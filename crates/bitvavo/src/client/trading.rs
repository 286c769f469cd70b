//! The two capabilities of the trade key (I10): [`TradingClient`] places orders and is held only
//! by the executor; [`CancelClient`] cancels (one order, all open orders, the exchange's dead
//! man's switch) and is what cancel-open-orders, the dead man's switch and the sign-off hold.
//! Both sign with the trade key and share its rate-limit budget; neither has the other's
//! methods.
//!
//! Placing an order is split in two so the executor can follow its step order (DESIGN.md steps
//! 5 and 6): [`TradingClient::prepare_order`] reserves the rate-limit budget and signs, which
//! fixes the signing time and access window ([`RequestStamp`]); the executor commits
//! `SUBMITTING` with that stamp; [`TradingClient::submit_order`] then sends exactly the signed
//! request. [`TradingClient::create_order`] does both at once. Either way the stamp comes back
//! with the result, also on error, so the reconciler knows when the order can no longer appear.

use std::sync::Arc;

use vigil_core::{ClientOrderId, Market};

use crate::{
    endpoint::{
        CancelAck, CancelAllOrders, CancelOrder, CancelOrdersAfter, CancelOrdersAfterAck,
        CreateOrder, Endpoint, Order,
    },
    error::BitvavoError,
    transport::{Prepared, RequestStamp, Transport},
};

/// Places orders with the trade key: the order capability, held only by the executor.
#[derive(Debug, Clone)]
pub struct TradingClient {
    transport: Arc<Transport>,
}

/// Cancels orders with the trade key: the cancel capability, which cannot place an order.
#[derive(Debug, Clone)]
pub struct CancelClient {
    transport: Arc<Transport>,
}

/// A signed order request holding its rate-limit points, not yet sent. Dropping it sends
/// nothing and frees its place in the budget.
#[derive(Debug)]
pub struct PreparedOrder {
    order: CreateOrder,
    stamp: RequestStamp,
    prepared: Prepared,
}

impl PreparedOrder {
    /// When and for how long the request is signed (commit it with `SUBMITTING`).
    #[must_use]
    pub fn stamp(&self) -> RequestStamp {
        self.stamp
    }

    /// The order being placed.
    #[must_use]
    pub fn order(&self) -> &CreateOrder {
        &self.order
    }

    /// Its `clientOrderId`.
    #[must_use]
    pub fn client_order_id(&self) -> ClientOrderId {
        self.order.client_order_id()
    }

    /// Its market.
    #[must_use]
    pub fn market(&self) -> &Market {
        self.order.market_id()
    }
}

/// The result of placing an order, with the signing stamp even when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOrderOutcome {
    /// When and for how long the request was signed; `None` only when it failed before signing
    /// (then it was certainly not sent).
    pub stamp: Option<RequestStamp>,
    /// The accepted order, or why not (see [`BitvavoError::order_may_exist`]).
    pub result: Result<Order, BitvavoError>,
}

impl TradingClient {
    pub(crate) fn from_transport(transport: Arc<Transport>) -> Self {
        Self { transport }
    }

    /// The opaque identity of the API key this client signs with, to check that it is not the
    /// read-only key (I10) without handing the key out.
    #[must_use]
    pub fn key_id(&self) -> crate::keys::KeyId {
        self.transport.key_id()
    }

    /// What this client knows of the trade key's rate-limit budget (its own, separate from the
    /// read-only key's: Bitvavo counts weight per API key).
    #[must_use]
    pub fn rate_limit(&self) -> crate::RateLimitStatus {
        self.transport.rate_limit()
    }

    /// Reserves the budget and signs `order` (nothing is sent yet).
    ///
    /// # Errors
    /// `RateLimited` when the budget does not allow it within `rate_limit_wait_max`, `NotSent`
    /// when the request cannot be built. Either way nothing was sent.
    pub async fn prepare_order(&self, order: CreateOrder) -> Result<PreparedOrder, BitvavoError> {
        let prepared = self.transport.prepare(&order).await?;
        let stamp = prepared.stamp().ok_or_else(|| BitvavoError::NotSent {
            detail: "the order request was not signed; this is a bug in Vigil".into(),
        })?;
        Ok(PreparedOrder {
            order,
            stamp,
            prepared,
        })
    }

    /// Sends a prepared order. If its access window has already passed on the local clock (the
    /// commit between prepare and submit took too long), it is not sent at all: the exchange
    /// would refuse it with 304 anyway, and not sending is the certain outcome.
    pub async fn submit_order(&self, prepared: PreparedOrder) -> CreateOrderOutcome {
        let PreparedOrder {
            order,
            stamp,
            prepared,
        } = prepared;
        let now = self.transport.clock.now();
        if now >= stamp.local_deadline() {
            return CreateOrderOutcome {
                stamp: Some(stamp),
                result: Err(BitvavoError::NotSent {
                    detail: format!(
                        "the order's access window ({} ms from {}) had passed before it could be sent; prepare it again",
                        stamp.access_window_ms, stamp.signed_at
                    ),
                }),
            };
        }
        let result = match self.transport.send(prepared).await {
            // An answer is our order only when it echoes our request (#18 case 2).
            Ok(value) => order
                .parse(&value)
                .map_err(BitvavoError::from)
                .and_then(|placed| match order.answered_by(&placed) {
                    Ok(()) => Ok(placed),
                    Err(detail) => Err(BitvavoError::NotOurOrder { detail }),
                }),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::warn!(
                client_order_id = %order.client_order_id(),
                market = %order.market_id(),
                signed_at = %stamp.signed_at,
                order_may_exist = e.order_may_exist(),
                error = %e,
                "order not confirmed"
            );
        }
        CreateOrderOutcome {
            stamp: Some(stamp),
            result,
        }
    }

    /// Prepares and submits `order` in one step.
    pub async fn create_order(&self, order: CreateOrder) -> CreateOrderOutcome {
        match self.prepare_order(order).await {
            Ok(prepared) => self.submit_order(prepared).await,
            Err(e) => CreateOrderOutcome {
                stamp: None,
                result: Err(e),
            },
        }
    }
}

impl CancelClient {
    pub(crate) fn from_transport(transport: Arc<Transport>) -> Self {
        Self { transport }
    }

    /// The opaque identity of the API key this client signs with (the trade key).
    #[must_use]
    pub fn key_id(&self) -> crate::keys::KeyId {
        self.transport.key_id()
    }

    /// What this client knows of the trade key's rate-limit budget (shared with the
    /// [`TradingClient`]: one key, one budget).
    #[must_use]
    pub fn rate_limit(&self) -> crate::RateLimitStatus {
        self.transport.rate_limit()
    }

    /// `DELETE /order`, by `orderId` or `clientOrderId`, with `operatorId`. The answer only
    /// acknowledges the cancel; fetch the order (read-only client) for its fills.
    ///
    /// # Errors
    /// [`BitvavoError`]; 233 (already filled or canceled) and 240 (not found) are `Refused`.
    pub async fn cancel_order(&self, request: &CancelOrder) -> Result<CancelAck, BitvavoError> {
        self.transport.call(request).await
    }

    /// `DELETE /orders`: cancels all open orders of one market, or of the account.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn cancel_all_orders(
        &self,
        request: &CancelAllOrders,
    ) -> Result<Vec<CancelAck>, BitvavoError> {
        self.transport.call(request).await
    }

    /// `POST /cancelOrdersAfter`: arms or disarms the exchange's dead man's switch.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn cancel_orders_after(
        &self,
        request: &CancelOrdersAfter,
    ) -> Result<CancelOrdersAfterAck, BitvavoError> {
        self.transport.call(request).await
    }
}
