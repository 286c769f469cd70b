//! Cancelling open orders on the exchange, for `vigil kill-switch on --cancel-open-orders`.
//!
//! The kill switch stops NEW orders (I4); resting orders placed before it keep trading. This
//! cancels them with the trade key (and `operatorId`), and reports each one: market, order id,
//! clientOrderId and the Vigil execution (and user) it belongs to, if any.
//!
//! - [`CancelScope::Account`] (the global switch): every open order of the account, Vigil's or
//!   not, in one `DELETE /orders` — the account is Vigil's, and the operator asked for a stop.
//! - [`CancelScope::User`] (a user's switch): only the open orders whose `clientOrderId` belongs
//!   to that user's executions, one `DELETE /order` each; other users keep theirs.
//!
//! The open orders are listed first with the read-only key, so the report can say what each
//! cancelled order was. The reconciler then follows the executions to `CANCELED` as usual.

use std::collections::HashMap;

use serde::Serialize;
use vigil_bitvavo::{
    BitvavoError, CancelAllOrders, CancelClient, CancelOrder, OpenOrdersQuery, Order,
    ReadOnlyClient,
};
use vigil_core::{ClientOrderId, Execution, ExecutionId, ExecutionState, UserId};
use vigil_store::{ExecutionFilter, Store, StoreError, LIST_LIMIT_MAX};

/// Whose open orders to cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelScope {
    /// Every open order of the account.
    Account,
    /// Only this user's orders (by their executions' `clientOrderId`).
    User(UserId),
}

/// One order that was cancelled (or could not be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelledOrder {
    /// The market.
    pub market: String,
    /// The exchange's order id.
    pub order_id: String,
    /// The order's `clientOrderId`, if it had one.
    pub client_order_id: Option<ClientOrderId>,
    /// `buy` or `sell`.
    pub side: String,
    /// The Vigil execution it belongs to, if any.
    pub execution_id: Option<ExecutionId>,
    /// That execution's user.
    pub user_id: Option<UserId>,
}

/// What was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CancelReport {
    /// Cancelled, as the exchange acknowledged.
    pub cancelled: Vec<CancelledOrder>,
    /// Orders that could not be cancelled, with the exchange's answer.
    pub failed: Vec<(CancelledOrder, String)>,
    /// Open orders left alone (another user's, for a user scope).
    pub left_open: usize,
}

/// Why nothing could be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// The open orders could not be listed.
    #[error("cannot list the open orders on the exchange: {0}; nothing was cancelled, try again")]
    List(BitvavoError),
    /// The cancel-all call failed; some orders may have been cancelled.
    #[error("the exchange did not confirm cancelling the open orders: {0}; check with `vigil audit` or the exchange, and try again")]
    CancelAll(BitvavoError),
    /// The store could not be read.
    #[error("cannot read the executions: {0}")]
    Store(#[from] StoreError),
}

/// Vigil's executions that may have an open order, by `clientOrderId`.
async fn open_executions(store: &Store) -> Result<HashMap<ClientOrderId, Execution>, StoreError> {
    let mut by_client = HashMap::new();
    for user in store.user_list().await? {
        for state in [ExecutionState::Submitting, ExecutionState::Submitted] {
            let page = store
                .execution_list(&ExecutionFilter {
                    user: Some(user.id),
                    state: Some(state),
                    market: None,
                    limit: LIST_LIMIT_MAX,
                })
                .await?;
            by_client.extend(page.into_iter().map(|e| (e.client_order_id, e)));
        }
    }
    Ok(by_client)
}

fn describe(order: &Order, owner: Option<&Execution>) -> CancelledOrder {
    CancelledOrder {
        market: order.key.market.to_string(),
        order_id: order.key.order_id.to_string(),
        client_order_id: order.client_order_id,
        side: order.side.as_str().to_owned(),
        execution_id: owner.map(|e| e.id),
        user_id: owner.map(|e| e.user_id),
    }
}

/// Cancels the open orders of `scope`.
///
/// # Errors
/// [`CancelError::List`] when the open orders cannot be listed (nothing was cancelled);
/// [`CancelError::CancelAll`] when the account-wide cancel failed; [`CancelError::Store`].
pub async fn cancel_open_orders(
    store: &Store,
    read_only: &ReadOnlyClient,
    cancel: &CancelClient,
    scope: CancelScope,
) -> Result<CancelReport, CancelError> {
    let open = read_only
        .open_orders(&OpenOrdersQuery { market: None })
        .await
        .map_err(CancelError::List)?;
    let owners = open_executions(store).await?;
    let owner_of = |o: &Order| o.client_order_id.and_then(|c| owners.get(&c));
    let mut report = CancelReport::default();
    match scope {
        CancelScope::Account => {
            let acks = cancel
                .cancel_all_orders(&CancelAllOrders { market: None })
                .await
                .map_err(CancelError::CancelAll)?;
            let by_id: HashMap<String, &Order> = open
                .iter()
                .map(|o| (o.key.order_id.to_string(), o))
                .collect();
            for ack in acks {
                let id = ack.order_id.to_string();
                report.cancelled.push(match by_id.get(&id) {
                    Some(order) => describe(order, owner_of(order)),
                    // Placed between the listing and the cancel: still cancelled.
                    None => CancelledOrder {
                        market: "(not listed)".to_owned(),
                        order_id: id,
                        client_order_id: None,
                        side: String::new(),
                        execution_id: None,
                        user_id: None,
                    },
                });
            }
        }
        CancelScope::User(user) => {
            for order in &open {
                let owner = owner_of(order).filter(|e| e.user_id == user);
                let Some(owner) = owner else {
                    report.left_open += 1;
                    continue;
                };
                let request =
                    CancelOrder::by_order_id(order.key.market.clone(), order.key.order_id.clone());
                match cancel.cancel_order(&request).await {
                    Ok(_) => report.cancelled.push(describe(order, Some(owner))),
                    Err(e) => report
                        .failed
                        .push((describe(order, Some(owner)), e.to_string())),
                }
            }
        }
    }
    for order in &report.cancelled {
        tracing::warn!(
            market = %order.market,
            order_id = %order.order_id,
            execution_id = ?order.execution_id,
            "open order cancelled (kill switch)"
        );
    }
    Ok(report)
}
