//! Following `SUBMITTED` orders to their end (bitvavo-api.md section 5): `filled` → `FILLED`;
//! any `canceled…`, `expired` or `rejected` → `CANCELED` (possibly partly filled). Fills are
//! recorded in `trade_history` with their fees, idempotently (a fill already recorded changes
//! nothing), every time they are seen, so partial fills of an open order show up early. Each
//! pass follows one page of `batch_limit` executions in claim order, going on after the page
//! of the pass before, so orders resting on the book for long never starve newer ones.

use chrono::TimeDelta;
use vigil_bitvavo::{GetOrder, Order, OrderId, OrderStatus, TradeHistoryQuery};
use vigil_core::{Execution, ExecutionEvent, ExecutionState};
use vigil_store::{Fill, StoreError};

use super::{ReconcileReport, Reconciler};
use crate::alerts::{Alert, AlertKind, AlertSeverity};

impl Reconciler {
    pub(super) async fn follow_submitted(&self, report: &mut ReconcileReport) {
        let after = self.cursor().clone();
        let batch = self.config.batch_limit;
        let mut listed = self
            .store
            .execution_list_submitted(after.as_ref(), batch)
            .await;
        // Nothing after the cursor: the previous page ended exactly at the newest, start over.
        if after.is_some() && listed.as_ref().is_ok_and(Vec::is_empty) {
            listed = self.store.execution_list_submitted(None, batch).await;
        }
        let submitted = match listed {
            Ok(list) => list,
            Err(e) => {
                let detail = format!("listing SUBMITTED executions failed: {e}");
                self.problem(report, None, detail);
                return;
            }
        };
        // A full page may have more behind it: the next pass goes on from its last execution.
        // A shorter one reached the newest: the next pass starts again from the oldest.
        let full = u32::try_from(submitted.len()).unwrap_or(u32::MAX) >= batch;
        *self.cursor() = submitted.last().filter(|_| full).cloned();
        for execution in submitted {
            self.follow_one(execution, report).await;
        }
    }

    fn cursor(&self) -> std::sync::MutexGuard<'_, Option<Execution>> {
        self.follow_cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn follow_one(&self, execution: Execution, report: &mut ReconcileReport) {
        // Paired with the transition into SUBMITTED, which always records the order id.
        let order_id = match execution.exchange_order_id.as_deref().map(OrderId::parse) {
            Some(Ok(id)) => id,
            other => {
                self.alerts.raise(&Alert::execution(
                    AlertKind::InvariantBroken,
                    AlertSeverity::Critical,
                    execution.id,
                    execution.user_id,
                    format!(
                        "execution {} is SUBMITTED without a usable exchange order id ({other:?})",
                        execution.id
                    ),
                ));
                report.problems.push(super::ReconcileProblem {
                    execution_id: Some(execution.id),
                    detail: "SUBMITTED without an exchange order id".into(),
                });
                return;
            }
        };
        let query = GetOrder::by_order_id(execution.market.clone(), order_id.clone());
        let order = match self.read_only.order(&query).await {
            Ok(order) => order,
            Err(e) => {
                let detail = format!("GET /order {order_id} failed: {e}");
                return self.problem(report, Some(&execution), detail);
            }
        };
        // Only an order that carries our clientOrderId is ours: another order's status and
        // fills are never written under this execution (#18 case 2).
        if order.client_order_id != Some(execution.client_order_id)
            || order.key.market != execution.market
        {
            let detail = format!(
                "GET /order {order_id} answered order {} on {} with clientOrderId {:?}, not this \
                 execution's {}; nothing was recorded from it",
                order.key.order_id,
                order.key.market,
                order.client_order_id,
                execution.client_order_id
            );
            self.alerts.raise(&Alert::execution(
                AlertKind::InvariantBroken,
                AlertSeverity::Critical,
                execution.id,
                execution.user_id,
                detail.clone(),
            ));
            return self.problem(report, Some(&execution), detail);
        }
        if let Err(detail) = self.record_fills(&execution, &order, report).await {
            return self.problem(report, Some(&execution), detail);
        }
        let event = match &order.status {
            status if status.is_open() => {
                report.open.push(execution.id);
                return;
            }
            OrderStatus::Filled => ExecutionEvent::Filled {
                filled_notional: order.filled_amount_quote,
            },
            status if status.is_final() => ExecutionEvent::Canceled {
                exchange_status: status.as_wire(),
                filled_notional: order.filled_amount_quote,
            },
            other => {
                let detail = format!(
                    "order {order_id} has the status {other}, which Vigil does not know; look at \
                     it on the exchange"
                );
                return self.problem(report, Some(&execution), detail);
            }
        };
        let result = self
            .store
            .execution_transition(execution.id, ExecutionState::Submitted, &event, self.now())
            .await;
        match result {
            Ok(ended) => match ended.state {
                ExecutionState::Filled => report.filled.push(ended.id),
                _ => report.canceled.push(ended.id),
            },
            Err(StoreError::ExecutionConflict { .. }) => {}
            Err(e) => self.problem(
                report,
                Some(&execution),
                format!("recording the end of order {order_id} failed: {e}"),
            ),
        }
    }

    /// Records the order's fills: those embedded in the order object, or, when the answer has
    /// none although something filled, the account's fills of that order from `GET /trades`.
    async fn record_fills(
        &self,
        execution: &Execution,
        order: &Order,
        report: &mut ReconcileReport,
    ) -> Result<(), String> {
        let quote = execution.market.quote().clone();
        let mut fills: Vec<Fill> = order
            .fills
            .iter()
            .map(|f| Fill {
                user_id: execution.user_id,
                execution_id: Some(execution.id),
                market: execution.market.clone(),
                fill_id: f.id.clone(),
                order_id: order.key.order_id.to_string(),
                client_order_id: Some(execution.client_order_id.to_string()),
                side: execution.side,
                amount: f.amount,
                price: f.price,
                fee: f.fee.unwrap_or_default(),
                fee_currency: f.fee_currency.clone().unwrap_or_else(|| quote.clone()),
                filled_at: f.timestamp,
            })
            .collect();
        if fills.is_empty() && !order.filled_amount.is_zero() {
            let start = order.created - TimeDelta::minutes(1);
            let end = self
                .exchange_now()
                .max(start)
                .min(start + TimeDelta::hours(24));
            let query = TradeHistoryQuery::new(execution.market.clone())
                .between(start, end)
                .and_then(|q| q.with_limit(1000))
                .map_err(|e| format!("building the fills query failed: {e}"))?;
            let trades = self
                .read_only
                .trades(&query)
                .await
                .map_err(|e| format!("GET /trades failed: {e}"))?;
            fills = trades
                .into_iter()
                .filter(|t| {
                    t.order_id.as_ref() == Some(&order.key.order_id)
                        && t.client_order_id
                            .is_none_or(|c| c == execution.client_order_id)
                })
                .map(|t| Fill {
                    user_id: execution.user_id,
                    execution_id: Some(execution.id),
                    market: execution.market.clone(),
                    fill_id: t.id,
                    order_id: order.key.order_id.to_string(),
                    client_order_id: Some(execution.client_order_id.to_string()),
                    side: execution.side,
                    amount: t.amount,
                    price: t.price,
                    fee: t.fee.unwrap_or_default(),
                    fee_currency: t.fee_currency.unwrap_or_else(|| quote.clone()),
                    filled_at: t.timestamp,
                })
                .collect();
        }
        for fill in &fills {
            let inserted = self
                .store
                .fill_record(fill, self.now())
                .await
                .map_err(|e| format!("recording fill {} failed: {e}", fill.fill_id))?;
            if inserted {
                report.fills_recorded += 1;
            }
        }
        Ok(())
    }
}
