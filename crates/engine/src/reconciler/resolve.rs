//! Resolving `SUBMITTING` executions by `clientOrderId` (I3; bitvavo-api.md 11.2).
//!
//! "Not found" is believed only when ALL of these hold: the signed request's access window plus
//! the margin has passed on the exchange's clock (before that the request may still arrive);
//! `GET /order` by `clientOrderId` answered 240; the order history of the market since shortly
//! before the signing time does not hold the id; the account's fills do not hold it; and a
//! second `GET /order` answered 240 again. Anything else either finds the order or leaves the
//! execution for the next pass. 240 on its own is never final. The exchange's clock is measured
//! (`GET /time`) at the start of every pass that has `SUBMITTING` executions; without a fresh
//! measurement nothing is declared absent.

use chrono::TimeDelta;
use vigil_bitvavo::{BitvavoError, GetOrder, OrderHistoryQuery, OrderId, TradeHistoryQuery};
use vigil_core::{Execution, ExecutionEvent, ExecutionState, Timestamp};
use vigil_store::StoreError;

use super::{ReconcileReport, Reconciler};
use crate::alerts::{Alert, AlertKind, AlertSeverity};

/// What the search after the window found.
enum Search {
    /// The order exists, with this id.
    Found(OrderId),
    /// Nowhere, in every place asked.
    Absent(String),
}

impl Reconciler {
    pub(super) async fn resolve_submitting(&self, report: &mut ReconcileReport) {
        let submitting = match self
            .store
            .execution_list_unresolved(self.config.batch_limit)
            .await
        {
            Ok(list) => list,
            Err(e) => {
                let detail = format!("listing SUBMITTING executions failed: {e}");
                self.problem(report, None, detail);
                return;
            }
        };
        if submitting.is_empty() {
            return;
        }
        // Windows are measured on the EXCHANGE's clock. Measure the offset to it once per pass
        // (GET /time), so a reconciler on a machine whose clock runs ahead cannot believe a
        // window closed early. Without a fresh measurement nothing is declared "not placed"
        // this pass; found orders are still recorded.
        let clock_synced = match self.read_only.sync_time().await {
            Ok(_) => true,
            Err(e) => {
                let detail = format!(
                    "measuring the offset to the exchange's clock (GET /time) failed: {e}; no \
                     execution is declared not placed this pass"
                );
                self.problem(report, None, detail);
                false
            }
        };
        for execution in submitting {
            self.resolve_one(execution, clock_synced, report).await;
        }
    }

    async fn resolve_one(
        &self,
        execution: Execution,
        clock_synced: bool,
        report: &mut ReconcileReport,
    ) {
        // Paired with the SUBMITTING commit (which writes both): a SUBMITTING row without its
        // signing time cannot be resolved safely, because nobody knows when its window closes.
        let (Some(signed_at), Some(window_ms)) = (execution.signed_at, execution.access_window_ms)
        else {
            self.alerts.raise(&Alert::execution(
                AlertKind::InvariantBroken,
                AlertSeverity::Critical,
                execution.id,
                execution.user_id,
                format!(
                    "execution {} is SUBMITTING without a signing time or access window; it \
                     cannot be resolved automatically: look its clientOrderId {} up on the \
                     exchange by hand",
                    execution.id, execution.client_order_id
                ),
            ));
            report.problems.push(super::ReconcileProblem {
                execution_id: Some(execution.id),
                detail: "SUBMITTING without signed_at / access_window_ms".into(),
            });
            return;
        };
        match self.lookup(&execution).await {
            Ok(Some(order_id)) => return self.record_found(execution, order_id, report).await,
            Ok(None) => {}
            Err(e) => {
                let detail = format!("GET /order by clientOrderId failed: {e}");
                return self.problem(report, Some(&execution), detail);
            }
        }
        let margin = TimeDelta::from_std(self.config.window_margin).unwrap_or(TimeDelta::MAX);
        let closes = signed_at + TimeDelta::milliseconds(i64::from(window_ms)) + margin;
        if !clock_synced || self.exchange_now() < closes {
            // The request may still reach the matching engine: never "not found" now. Flag the
            // row so the market stays blocked for the user until it is resolved.
            self.flag_unknown(&execution, closes).await;
            report.waiting.push(execution.id);
            return;
        }
        match self.search_after_window(&execution, signed_at).await {
            Ok(Search::Found(order_id)) => self.record_found(execution, order_id, report).await,
            Ok(Search::Absent(detail)) => {
                let detail = format!(
                    "{detail}; the order request signed at {} with a {window_ms} ms window could \
                     no longer be carried out after {} (margin included)",
                    signed_at.to_rfc3339(),
                    closes.to_rfc3339()
                );
                self.record_not_placed(execution, detail, report).await;
            }
            Err(detail) => self.problem(report, Some(&execution), detail),
        }
    }

    /// `GET /order` by `clientOrderId`: the order id, `None` for 240, or the error. An answer
    /// that is not an order of this market carrying our `clientOrderId` proves nothing either
    /// way: it is an error, and the execution waits for the next pass (#18 case 2).
    async fn lookup(&self, execution: &Execution) -> Result<Option<OrderId>, BitvavoError> {
        let query =
            GetOrder::by_client_order_id(execution.market.clone(), execution.client_order_id);
        match self.read_only.order(&query).await {
            Ok(order)
                if order.client_order_id == Some(execution.client_order_id)
                    && order.key.market == execution.market =>
            {
                Ok(Some(order.key.order_id))
            }
            Ok(order) => Err(BitvavoError::NotOurOrder {
                detail: format!(
                    "the lookup by clientOrderId {} answered order {} on {} with clientOrderId {:?}",
                    execution.client_order_id,
                    order.key.order_id,
                    order.key.market,
                    order.client_order_id
                ),
            }),
            Err(e) if e.is_order_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// After the window: order history, fills, and `GET /order` once more.
    async fn search_after_window(
        &self,
        execution: &Execution,
        signed_at: Timestamp,
    ) -> Result<Search, String> {
        let lookback =
            TimeDelta::from_std(self.config.history_lookback).unwrap_or(TimeDelta::minutes(1));
        let start = signed_at - lookback;
        let end = self.exchange_now().max(start);
        let coid = execution.client_order_id;

        let history = OrderHistoryQuery::new(execution.market.clone())
            .between(start, end)
            .and_then(|q| q.with_limit(1000))
            .map_err(|e| format!("building the order history query failed: {e}"))?;
        let orders = self
            .read_only
            .order_history(&history)
            .await
            .map_err(|e| format!("GET /orders failed: {e}"))?;
        if let Some(order) = orders
            .iter()
            .find(|o| o.client_order_id == Some(coid) && o.key.market == execution.market)
        {
            return Ok(Search::Found(order.key.order_id.clone()));
        }

        // Bitvavo allows at most 24 hours between start and end for fills.
        let fills_end = end.min(start + TimeDelta::hours(24));
        let fills = TradeHistoryQuery::new(execution.market.clone())
            .between(start, fills_end)
            .and_then(|q| q.with_limit(1000))
            .map_err(|e| format!("building the fills query failed: {e}"))?;
        let trades = self
            .read_only
            .trades(&fills)
            .await
            .map_err(|e| format!("GET /trades failed: {e}"))?;
        if let Some(trade) = trades.iter().find(|t| t.client_order_id == Some(coid)) {
            return match &trade.order_id {
                Some(order_id) => Ok(Search::Found(order_id.clone())),
                None => Err(format!(
                    "fill {} carries clientOrderId {coid} but no orderId; the order exists, \
                     resolve it by hand",
                    trade.id
                )),
            };
        }

        // 240 is not final on its own (bitvavo-api.md 11.2): ask once more.
        match self.lookup(execution).await {
            Ok(Some(order_id)) => Ok(Search::Found(order_id)),
            Ok(None) => Ok(Search::Absent(format!(
                "GET /order by clientOrderId {coid} answered 240 (no order found) twice; the \
                 order history of {} since {} ({} orders) and the fills ({}) do not hold it",
                execution.market,
                start.to_rfc3339(),
                orders.len(),
                trades.len()
            ))),
            Err(e) => Err(format!(
                "the second GET /order by clientOrderId failed: {e}"
            )),
        }
    }

    /// Sets `outcome_unknown` on a `SUBMITTING` row that does not have it yet (e.g. its process
    /// stopped right after the commit), so the market stays blocked (I3).
    async fn flag_unknown(&self, execution: &Execution, closes: Timestamp) {
        if execution.outcome_unknown {
            return;
        }
        let event = ExecutionEvent::OutcomeUnknown {
            detail: format!(
                "reconciler: not found by clientOrderId yet; waiting until {} before concluding",
                closes.to_rfc3339()
            ),
        };
        let result = self
            .store
            .execution_transition(execution.id, ExecutionState::Submitting, &event, self.now())
            .await;
        match result {
            // A concurrent writer (the executor recording its answer) went first: fine.
            Ok(_) | Err(StoreError::ExecutionConflict { .. }) => {}
            Err(e) => tracing::warn!(
                execution_id = %execution.id,
                error = %e,
                "could not flag the execution as outcome unknown"
            ),
        }
    }

    async fn record_found(
        &self,
        execution: Execution,
        order_id: OrderId,
        report: &mut ReconcileReport,
    ) {
        let event = ExecutionEvent::ReconciledFound {
            exchange_order_id: order_id.to_string(),
        };
        let result = self
            .store
            .execution_transition(execution.id, ExecutionState::Submitting, &event, self.now())
            .await;
        match result {
            Ok(_) => {
                tracing::info!(
                    execution_id = %execution.id,
                    order_id = %order_id,
                    "reconciled: the order exists; SUBMITTED"
                );
                report.found.push(execution.id);
            }
            Err(StoreError::ExecutionConflict { .. }) => {}
            Err(e) => self.problem(
                report,
                Some(&execution),
                format!("recording the found order {order_id} failed: {e}"),
            ),
        }
    }

    async fn record_not_placed(
        &self,
        execution: Execution,
        detail: String,
        report: &mut ReconcileReport,
    ) {
        let event = ExecutionEvent::ReconciledNotFound {
            detail: detail.clone(),
        };
        let result = self
            .store
            .execution_transition(execution.id, ExecutionState::Submitting, &event, self.now())
            .await;
        match result {
            Ok(_) => {
                self.alerts.raise(&Alert::execution(
                    AlertKind::DeclaredNotPlaced,
                    AlertSeverity::Warning,
                    execution.id,
                    execution.user_id,
                    format!(
                        "execution {} had an unknown outcome and is now FAILED, not placed: {detail}",
                        execution.id
                    ),
                ));
                report.not_placed.push(execution.id);
            }
            Err(StoreError::ExecutionConflict { .. }) => {}
            Err(e) => self.problem(
                report,
                Some(&execution),
                format!("recording 'not placed' failed: {e}"),
            ),
        }
    }
}
