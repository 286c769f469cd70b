//! Step 6: what the answer to the order call means, recorded by compare-and-set
//! from `SUBMITTING` (bitvavo-api.md 8.4).
//!
//! - accepted → `SUBMITTED` with the exchange's order id, only when the answer is our order (it
//!   echoes our `clientOrderId`, market, side and size); an answer with another order is never
//!   adopted: a critical alert, and the execution stays `SUBMITTING` with `outcome_unknown`;
//! - `220` (an open order already has this `clientOrderId`) → that order is ours: look it up by
//!   `clientOrderId` (a read, with the read-only key) and record `SUBMITTED`; never `FAILED`;
//! - a definite refusal (or the exchange's rate limit) → `FAILED`, not placed;
//! - not sent at all (connection refused, the access window already passed) → `FAILED`, not
//!   placed, saying so;
//! - anything ambiguous (timeout, dropped connection, 5xx, 101, 109, an unreadable 2xx) →
//!   stays `SUBMITTING` with `outcome_unknown` for the reconciler. The order call is never
//!   repeated.
//!
//! If the reconciler got there first (the compare-and-set loses), the answer is the execution as
//! the reconciler left it.

use vigil_bitvavo::{BitvavoError, CreateOrderOutcome, GetOrder, RateLimitSource};
use vigil_core::{Execution, ExecutionEvent, ExecutionState};
use vigil_store::StoreError;

use crate::{
    alerts::{Alert, AlertKind, AlertSeverity},
    executor::Executor,
    outcome::{ExecuteError, ExecutionOutcome},
};

/// How often the answer is written when a concurrent flag keeps the row `SUBMITTING`.
const RECORD_ATTEMPTS: usize = 3;

/// The event the order call's answer stands for. `lookup` is the answer of the `220` lookup by
/// `clientOrderId`, when one was made.
fn event_for(
    execution: &Execution,
    result: &Result<vigil_bitvavo::Order, BitvavoError>,
    lookup: Option<&Result<vigil_bitvavo::Order, BitvavoError>>,
) -> ExecutionEvent {
    match result {
        // The client only answers `Ok` for an order that echoes our request; checked again here
        // because adopting another order would follow ITS fills under our execution.
        Ok(order) if order.client_order_id == Some(execution.client_order_id) => {
            ExecutionEvent::Accepted {
                exchange_order_id: order.key.order_id.to_string(),
            }
        }
        Ok(order) => ExecutionEvent::OutcomeUnknown {
            detail: format!(
                "the answer is order {} with clientOrderId {:?}, not ours",
                order.key.order_id, order.client_order_id
            ),
        },
        Err(BitvavoError::ClientOrderIdInUse { message, .. }) => match lookup {
            Some(Ok(order)) if order.client_order_id == Some(execution.client_order_id) => {
                ExecutionEvent::ReconciledFound {
                    exchange_order_id: order.key.order_id.to_string(),
                }
            }
            Some(Ok(order)) => ExecutionEvent::OutcomeUnknown {
                detail: format!(
                    "errorCode 220 ({message}), and the lookup by clientOrderId answered order {} with clientOrderId {:?}",
                    order.key.order_id, order.client_order_id
                ),
            },
            Some(Err(e)) => ExecutionEvent::OutcomeUnknown {
                detail: format!("errorCode 220 ({message}); the lookup by clientOrderId failed: {e}"),
            },
            None => ExecutionEvent::OutcomeUnknown {
                detail: format!("errorCode 220 ({message}); not looked up yet"),
            },
        },
        Err(e) if e.order_may_exist() => ExecutionEvent::OutcomeUnknown {
            detail: e.to_string(),
        },
        Err(BitvavoError::Refused { code, message, .. }) => ExecutionEvent::ExchangeRefused {
            error_code: *code,
            message: message.clone(),
        },
        Err(BitvavoError::RateLimited {
            by: RateLimitSource::Exchange { code },
            detail,
            ..
        }) => ExecutionEvent::ExchangeRefused {
            // HTTP 429 without a code in the body is recorded as code 0 with the detail.
            error_code: code.unwrap_or(0),
            message: format!("rate limited by the exchange: {detail}"),
        },
        Err(e) => ExecutionEvent::SendAborted {
            reason: format!("not placed: {e}"),
        },
    }
}

/// Records the answer to the order call.
///
/// # Errors
/// [`ExecuteError::Store`] when the database fails; the execution then stays `SUBMITTING` and
/// the reconciler resolves it by its `clientOrderId`.
pub(crate) async fn outcome(
    executor: &Executor,
    execution: Execution,
    sent: CreateOrderOutcome,
) -> Result<ExecutionOutcome, ExecuteError> {
    debug_assert_eq!(
        sent.stamp.map(|s| s.signed_at),
        execution.signed_at,
        "Invariant: the request was sent with the committed signing time"
    );
    let lookup = match &sent.result {
        Err(BitvavoError::ClientOrderIdInUse { .. }) => Some(
            executor
                .read_only
                .order(&GetOrder::by_client_order_id(
                    execution.market.clone(),
                    execution.client_order_id,
                ))
                .await,
        ),
        _ => None,
    };
    // An answer that is not our order (another clientOrderId, market, side or size) is never
    // adopted: the execution stays SUBMITTING, resolved by OUR clientOrderId (#18 case 2).
    let foreign = match &sent.result {
        Err(BitvavoError::NotOurOrder { detail }) => Some(detail.clone()),
        Ok(order) if order.client_order_id != Some(execution.client_order_id) => Some(format!(
            "order {} with clientOrderId {:?}",
            order.key.order_id, order.client_order_id
        )),
        _ => None,
    };
    if let Some(detail) = foreign {
        executor.alerts.raise(&Alert::execution(
            AlertKind::InvariantBroken,
            AlertSeverity::Critical,
            execution.id,
            execution.user_id,
            format!(
                "the exchange accepted the order request with clientOrderId {} but answered \
                 with another order ({detail}); that order is NOT adopted. The execution stays \
                 SUBMITTING and is resolved by its own clientOrderId; look at the exchange",
                execution.client_order_id
            ),
        ));
    }
    let event = event_for(&execution, &sent.result, lookup.as_ref());
    if let ExecutionEvent::OutcomeUnknown { detail } = &event {
        executor.alerts.raise(&Alert::execution(
            AlertKind::OutcomeUnknown,
            AlertSeverity::Warning,
            execution.id,
            execution.user_id,
            format!(
                "the order call ended without a definite answer ({detail}); the order may exist. \
                 It will NOT be sent again; the reconciler resolves it by clientOrderId {} and the \
                 market stays blocked for this user until then",
                execution.client_order_id
            ),
        ));
    }
    // The reconciler may flag this very row as outcome-unknown while the call was in flight
    // (its compare-and-set then beats ours although the row is still SUBMITTING). The answer
    // is still ours to record, so the write is tried again, a bounded number of times; it is a
    // database write, never a second order call.
    let mut recorded = Err(StoreError::NotFound {
        what: "execution",
        key: execution.id.to_string(),
    });
    for _attempt in 0..RECORD_ATTEMPTS {
        recorded = executor
            .store
            .execution_transition(
                execution.id,
                ExecutionState::Submitting,
                &event,
                executor.now(),
            )
            .await;
        match &recorded {
            Err(StoreError::ExecutionConflict { current, .. })
                if current.state == ExecutionState::Submitting => {}
            _ => break,
        }
    }
    match recorded {
        Ok(execution) => {
            tracing::info!(
                execution_id = %execution.id,
                state = %execution.state,
                event = event.name(),
                "order call recorded"
            );
            Ok(crate::executor::outcome_of(execution))
        }
        Err(e) => executor.after_conflict(e, "recording the order call's answer"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use vigil_core::{fixtures::ExecutionBuilder, Notional};

    use super::*;

    fn execution() -> Execution {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        ExecutionBuilder::new(t)
            .then(
                &ExecutionEvent::SubmitCommitted {
                    signed_at: t,
                    access_window_ms: 10_000,
                    notional: Notional::from_whole(10),
                },
                t,
            )
            .build()
    }

    #[test]
    fn answers_map_to_events_per_section_8_4() {
        let e = execution();
        let refused = Err(BitvavoError::Refused {
            code: 216,
            message: "balance".into(),
            http_status: 400,
        });
        assert_eq!(event_for(&e, &refused, None).name(), "exchange_refused");
        for ambiguous in [
            BitvavoError::Ambiguous {
                detail: "timeout".into(),
            },
            BitvavoError::Malformed {
                field: "orderId".into(),
                detail: "missing".into(),
            },
        ] {
            assert_eq!(
                event_for(&e, &Err(ambiguous), None).name(),
                "outcome_unknown"
            );
        }
        let not_sent = Err(BitvavoError::NotSent {
            detail: "connection refused".into(),
        });
        let ExecutionEvent::SendAborted { reason } = event_for(&e, &not_sent, None) else {
            panic!("NotSent must end as not placed");
        };
        assert!(reason.starts_with("not placed"), "{reason}");
        let limited = Err(BitvavoError::RateLimited {
            retry_at: e.created_at,
            by: RateLimitSource::Exchange { code: Some(110) },
            detail: "429".into(),
        });
        assert!(matches!(
            event_for(&e, &limited, None),
            ExecutionEvent::ExchangeRefused {
                error_code: 110,
                ..
            }
        ));
    }

    #[test]
    fn a_220_is_never_a_failure() {
        let e = execution();
        let in_use = Err(BitvavoError::ClientOrderIdInUse {
            message: "in use".into(),
            http_status: 400,
        });
        let lookup_failed = Err(BitvavoError::Ambiguous {
            detail: "timeout".into(),
        });
        for lookup in [None, Some(&lookup_failed)] {
            let event = event_for(&e, &in_use, lookup);
            assert_eq!(event.name(), "outcome_unknown", "{event:?}");
        }
    }
}
