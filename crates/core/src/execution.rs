//! An execution: one hardened attempt to turn an approved proposal into at most one order, and
//! its lifecycle as ONE transition table.
//!
//! ```text
//! CLAIMED ──preflight fails──▶ REJECTED
//! CLAIMED ──▶ SUBMITTING ──accepted──▶ SUBMITTED ──▶ FILLED | CANCELED
//!                        ──refused───▶ FAILED
//!                        ──unknown───▶ (reconciler) ▶ SUBMITTED … | FAILED
//! ```
//!
//! [`ExecutionState::apply`] is the only place that decides which moves are legal; every line
//! names the invariant it serves. [`Execution::apply`] builds the next row from it, and the store
//! writes an execution and its `execution_events` row only from that result, so the database can
//! never hold a state this table does not allow.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{
    clock::Timestamp,
    error::ValidationError,
    ids::{ClientOrderId, ExecutionId, ProposalId, UserId},
    market::{Market, OrderSize, OrderType, Side},
    money::{Notional, Price},
    refusal::Refusal,
};

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    /// The execution row exists (the I1 claim); no order has been sent.
    Claimed,
    /// Committed durably before the order is sent (I2); the outcome may be unknown.
    Submitting,
    /// The exchange accepted the order.
    Submitted,
    /// The order filled completely.
    Filled,
    /// The order ended without filling completely (canceled, expired or rejected by the
    /// exchange after acceptance), possibly partly filled.
    Canceled,
    /// A guard refused it; no order was sent.
    Rejected,
    /// The exchange refused the order definitively, or it was never placed.
    Failed,
}

impl ExecutionState {
    /// Every state.
    pub const ALL: [ExecutionState; 7] = [
        ExecutionState::Claimed,
        ExecutionState::Submitting,
        ExecutionState::Submitted,
        ExecutionState::Filled,
        ExecutionState::Canceled,
        ExecutionState::Rejected,
        ExecutionState::Failed,
    ];

    /// The database and display spelling (`CLAIMED`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Claimed => "CLAIMED",
            ExecutionState::Submitting => "SUBMITTING",
            ExecutionState::Submitted => "SUBMITTED",
            ExecutionState::Filled => "FILLED",
            ExecutionState::Canceled => "CANCELED",
            ExecutionState::Rejected => "REJECTED",
            ExecutionState::Failed => "FAILED",
        }
    }

    /// Whether nothing can happen to it any more.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionState::Filled
                | ExecutionState::Canceled
                | ExecutionState::Rejected
                | ExecutionState::Failed
        )
    }

    /// Whether an order may exist or come to exist for it (in flight or placed): what cooldown,
    /// anti-flip, the daily cap and held balance count (I6, I7).
    #[must_use]
    pub const fn may_hold_an_order(self) -> bool {
        matches!(
            self,
            ExecutionState::Submitting
                | ExecutionState::Submitted
                | ExecutionState::Filled
                | ExecutionState::Canceled
        )
    }

    /// The transition table: the next state after `event`, or a refusal of an illegal move.
    ///
    /// # Errors
    /// [`IllegalTransition`] for any (state, event) pair not listed.
    pub fn apply(self, event: &ExecutionEvent) -> Result<ExecutionState, IllegalTransition> {
        use ExecutionEvent as E;
        use ExecutionState as S;
        match (self, event) {
            (S::Claimed, E::Rejected { .. }) => Ok(S::Rejected), // I4, I5, I6, I7: a guard said no
            (S::Claimed, E::Abandoned) => Ok(S::Rejected), // I3: crashed before sending; no order exists
            (S::Claimed, E::SubmitCommitted { .. }) => Ok(S::Submitting), // I2: durable before the send
            (S::Submitting, E::SendAborted { .. }) => Ok(S::Failed), // I2: fail closed; nothing was sent
            (S::Submitting, E::Accepted { .. }) => Ok(S::Submitted), // I1: the one order exists
            (S::Submitting, E::ExchangeRefused { .. }) => Ok(S::Failed), // definite refusal: not placed
            (S::Submitting, E::OutcomeUnknown { .. }) => Ok(S::Submitting), // I3: left for the reconciler
            (S::Submitting, E::ReconciledFound { .. }) => Ok(S::Submitted), // I3: found by clientOrderId
            (S::Submitting, E::ReconciledNotFound { .. }) => Ok(S::Failed), // I3: absent after the window
            (S::Submitted, E::Filled { .. }) => Ok(S::Filled),
            (S::Submitted, E::Canceled { .. }) => Ok(S::Canceled),
            (state, event) => Err(IllegalTransition {
                state,
                event: event.name(),
            }),
        }
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutionState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                ValidationError::new(
                    "state",
                    s,
                    "CLAIMED, SUBMITTING, SUBMITTED, FILLED, CANCELED, REJECTED or FAILED",
                )
            })
    }
}

/// What became of an execution, in the words a person reading a list of proposals needs: a
/// proposal's own status says only that it was handed to the executor (`EXECUTED`), not whether
/// an order exists. Derived from the state alone (and the unknown-outcome flag), never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderOutcome {
    /// Claimed or being sent; no answer from the exchange yet.
    InProgress,
    /// The order call ended without a definite answer; the reconciler resolves it (I3).
    OutcomeUnknown,
    /// The exchange accepted the order (`SUBMITTED`).
    Placed,
    /// The order filled.
    Filled,
    /// The order was canceled on the exchange.
    Canceled,
    /// A safety rail refused it; nothing was sent (`REJECTED`, with the refusal).
    Refused,
    /// It was not placed: the exchange refused it, it could not be sent, or the reconciler found
    /// no order after the access window (`FAILED`, with the reason).
    NotPlaced,
}

impl OrderOutcome {
    /// The outcome of an execution in `state`, whose order call's outcome is unknown when
    /// `outcome_unknown` is set.
    #[must_use]
    pub const fn of(state: ExecutionState, outcome_unknown: bool) -> OrderOutcome {
        match state {
            ExecutionState::Claimed => OrderOutcome::InProgress,
            ExecutionState::Submitting if outcome_unknown => OrderOutcome::OutcomeUnknown,
            ExecutionState::Submitting => OrderOutcome::InProgress,
            ExecutionState::Submitted => OrderOutcome::Placed,
            ExecutionState::Filled => OrderOutcome::Filled,
            ExecutionState::Canceled => OrderOutcome::Canceled,
            ExecutionState::Rejected => OrderOutcome::Refused,
            ExecutionState::Failed => OrderOutcome::NotPlaced,
        }
    }

    /// The stable name: `IN_PROGRESS`, `OUTCOME_UNKNOWN`, `PLACED`, `FILLED`, `CANCELED`,
    /// `REFUSED` or `NOT_PLACED`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderOutcome::InProgress => "IN_PROGRESS",
            OrderOutcome::OutcomeUnknown => "OUTCOME_UNKNOWN",
            OrderOutcome::Placed => "PLACED",
            OrderOutcome::Filled => "FILLED",
            OrderOutcome::Canceled => "CANCELED",
            OrderOutcome::Refused => "REFUSED",
            OrderOutcome::NotPlaced => "NOT_PLACED",
        }
    }
}

impl fmt::Display for OrderOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened to an execution. Each is written as one `execution_events` row (I11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum ExecutionEvent {
    /// A guard refused the execution before anything was sent.
    Rejected {
        /// Why.
        refusal: Refusal,
    },
    /// The reconciler found a `CLAIMED` execution abandoned by a crashed process.
    Abandoned,
    /// `SUBMITTING` was committed; the order request is signed at `signed_at` with this window.
    SubmitCommitted {
        /// The signing time of the order request (the `Bitvavo-Access-Timestamp`).
        signed_at: Timestamp,
        /// The request's access window in milliseconds.
        access_window_ms: u32,
        /// What the order is worth as preflight valued it: recorded with `SUBMITTING` so the
        /// daily cap counts this in-flight order from the moment it may exist (I7).
        notional: Notional,
    },
    /// The last check before the send failed; nothing was sent (fail closed).
    SendAborted {
        /// What the check found.
        reason: String,
    },
    /// The exchange accepted the order.
    Accepted {
        /// The exchange's order id (unique within the market).
        exchange_order_id: String,
    },
    /// The exchange refused the order definitively; it was not placed.
    ExchangeRefused {
        /// Bitvavo's `errorCode`.
        error_code: i64,
        /// Bitvavo's `error` text.
        message: String,
    },
    /// The order call ended without a definite answer; the order may exist.
    OutcomeUnknown {
        /// What happened (timeout, dropped connection, 5xx, 101, 109).
        detail: String,
    },
    /// The reconciler found the order on the exchange by its `clientOrderId`.
    ReconciledFound {
        /// The exchange's order id.
        exchange_order_id: String,
    },
    /// The reconciler looked everywhere after the access window and found no order.
    ReconciledNotFound {
        /// Where it looked and when.
        detail: String,
    },
    /// The order filled completely.
    Filled {
        /// The quote value filled.
        filled_notional: Notional,
    },
    /// The order ended without filling completely.
    Canceled {
        /// The exchange's final status (`canceled`, `expired`, `rejected`, …).
        exchange_status: String,
        /// The quote value filled before it ended.
        filled_notional: Notional,
    },
}

impl ExecutionEvent {
    /// The event's name as stored in `execution_events.event`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            ExecutionEvent::Rejected { .. } => "rejected",
            ExecutionEvent::Abandoned => "abandoned",
            ExecutionEvent::SubmitCommitted { .. } => "submit_committed",
            ExecutionEvent::SendAborted { .. } => "send_aborted",
            ExecutionEvent::Accepted { .. } => "accepted",
            ExecutionEvent::ExchangeRefused { .. } => "exchange_refused",
            ExecutionEvent::OutcomeUnknown { .. } => "outcome_unknown",
            ExecutionEvent::ReconciledFound { .. } => "reconciled_found",
            ExecutionEvent::ReconciledNotFound { .. } => "reconciled_not_found",
            ExecutionEvent::Filled { .. } => "filled",
            ExecutionEvent::Canceled { .. } => "canceled",
        }
    }
}

/// A move the transition table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal execution transition: {event} in state {state}")]
pub struct IllegalTransition {
    /// The state it was in.
    pub state: ExecutionState,
    /// The event's name.
    pub event: &'static str,
}

/// An execution row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// Its id.
    pub id: ExecutionId,
    /// Whose it is.
    pub user_id: UserId,
    /// The proposal it executes; unique per user (I1).
    pub proposal_id: ProposalId,
    /// The `clientOrderId` sent with the one order; chosen at the claim, before anything is sent.
    pub client_order_id: ClientOrderId,
    /// The market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub order_type: OrderType,
    /// How much.
    pub size: OrderSize,
    /// The limit price of a limit order.
    pub limit_price: Option<Price>,
    /// What the order is worth as valued by preflight (what the caps count); zero until then.
    pub notional: Notional,
    /// Its state.
    pub state: ExecutionState,
    /// Set while the order call's outcome is unknown (I3); cleared when the reconciler resolves it.
    pub outcome_unknown: bool,
    /// Why a guard refused it (state `REJECTED`).
    pub refusal: Option<Refusal>,
    /// Why it failed (state `FAILED`): the exchange's refusal or the reconciler's finding.
    pub failure: Option<String>,
    /// The exchange's order id once known (unique within the market).
    pub exchange_order_id: Option<String>,
    /// When the order request was signed (set with `SUBMITTING`).
    pub signed_at: Option<Timestamp>,
    /// The order request's access window in milliseconds (set with `SUBMITTING`).
    pub access_window_ms: Option<u32>,
    /// The quote value filled so far.
    pub filled_notional: Notional,
    /// When it was claimed.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Execution {
    /// A fresh `CLAIMED` execution for `proposal` at `now`, with a new `clientOrderId` chosen
    /// before anything is sent (the executor stores it with the claim, I1/I3). This is the only
    /// way an execution starts; every later state comes from [`Execution::apply`].
    #[must_use]
    pub fn claimed_for(proposal: &crate::proposal::Proposal, now: Timestamp) -> Execution {
        Execution {
            id: ExecutionId::new(),
            user_id: proposal.user_id,
            proposal_id: proposal.id,
            client_order_id: ClientOrderId::new(),
            market: proposal.market.clone(),
            side: proposal.side,
            order_type: proposal.order_type,
            size: proposal.size,
            limit_price: proposal.limit_price,
            notional: Notional::ZERO,
            state: ExecutionState::Claimed,
            outcome_unknown: false,
            refusal: None,
            failure: None,
            exchange_order_id: None,
            signed_at: None,
            access_window_ms: None,
            filled_notional: Notional::ZERO,
            created_at: now,
            updated_at: now,
        }
    }

    /// The next version of this execution after `event` at `now`, if the table allows the move.
    /// The store persists exactly this value together with the event row.
    ///
    /// # Errors
    /// [`IllegalTransition`] when the table refuses the move.
    pub fn apply(
        &self,
        event: &ExecutionEvent,
        now: Timestamp,
    ) -> Result<Execution, IllegalTransition> {
        let state = self.state.apply(event)?;
        let mut next = self.clone();
        next.state = state;
        next.updated_at = now;
        match event {
            ExecutionEvent::Rejected { refusal } => next.refusal = Some(refusal.clone()),
            ExecutionEvent::Abandoned => {
                next.failure = Some(
                    "abandoned before any order was sent (process stopped after the claim)".into(),
                );
            }
            ExecutionEvent::SubmitCommitted {
                signed_at,
                access_window_ms,
                notional,
            } => {
                next.signed_at = Some(*signed_at);
                next.access_window_ms = Some(*access_window_ms);
                next.notional = *notional;
            }
            ExecutionEvent::SendAborted { reason } => {
                next.failure = Some(format!("send aborted: {reason}"))
            }
            ExecutionEvent::Accepted { exchange_order_id }
            | ExecutionEvent::ReconciledFound { exchange_order_id } => {
                next.exchange_order_id = Some(exchange_order_id.clone());
                next.outcome_unknown = false;
            }
            ExecutionEvent::ExchangeRefused {
                error_code,
                message,
            } => {
                next.failure = Some(format!(
                    "exchange refused with errorCode {error_code}: {message}"
                ));
                next.outcome_unknown = false;
            }
            ExecutionEvent::OutcomeUnknown { .. } => next.outcome_unknown = true,
            ExecutionEvent::ReconciledNotFound { detail } => {
                next.failure = Some(format!("not placed: {detail}"));
                next.outcome_unknown = false;
            }
            ExecutionEvent::Filled { filled_notional } => next.filled_notional = *filled_notional,
            ExecutionEvent::Canceled {
                filled_notional, ..
            } => next.filled_notional = *filled_notional,
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// #18 case 14: a refused execution reads REFUSED, an unresolved one OUTCOME_UNKNOWN; only
    /// SUBMITTED and after read as an order that exists.
    #[test]
    fn the_outcome_a_person_reads_follows_the_state() {
        use ExecutionState as S;
        use OrderOutcome as O;
        let cases = [
            (S::Claimed, false, O::InProgress),
            (S::Submitting, false, O::InProgress),
            (S::Submitting, true, O::OutcomeUnknown),
            (S::Submitted, false, O::Placed),
            (S::Filled, false, O::Filled),
            (S::Canceled, false, O::Canceled),
            (S::Rejected, false, O::Refused),
            (S::Failed, false, O::NotPlaced),
        ];
        for (state, unknown, outcome) in cases {
            assert_eq!(
                OrderOutcome::of(state, unknown),
                outcome,
                "{state} {unknown}"
            );
        }
        assert_eq!(O::Refused.to_string(), "REFUSED");
        assert_eq!(serde_json::to_value(O::NotPlaced).unwrap(), "NOT_PLACED");
    }

    #[test]
    fn final_states_accept_nothing() {
        let events = sample_events();
        for state in ExecutionState::ALL.into_iter().filter(|s| s.is_final()) {
            for event in &events {
                assert!(
                    state.apply(event).is_err(),
                    "{state} accepted {}",
                    event.name()
                );
            }
        }
    }

    #[test]
    fn happy_path() {
        let s = ExecutionState::Claimed;
        let s = s.apply(&sample_events()[2]).unwrap();
        assert_eq!(s, ExecutionState::Submitting);
        let s = s
            .apply(&ExecutionEvent::Accepted {
                exchange_order_id: "x".into(),
            })
            .unwrap();
        assert_eq!(s, ExecutionState::Submitted);
        let s = s
            .apply(&ExecutionEvent::Filled {
                filled_notional: Notional::ZERO,
            })
            .unwrap();
        assert_eq!(s, ExecutionState::Filled);
    }

    #[test]
    fn i7_submit_committed_records_the_notional_the_caps_count() {
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let claimed = crate::fixtures::ExecutionBuilder::new(t)
            .size(OrderSize::Quote(Notional::from_whole(20)))
            .build();
        let event = ExecutionEvent::SubmitCommitted {
            signed_at: t,
            access_window_ms: 5_000,
            notional: Notional::from_whole(20),
        };
        let next = claimed.apply(&event, t).unwrap();
        assert_eq!(next.state, ExecutionState::Submitting);
        assert_eq!(next.notional, Notional::from_whole(20));
        assert_eq!(next.signed_at, Some(t));
    }

    #[test]
    fn i2_no_acceptance_without_submitting() {
        let err = ExecutionState::Claimed
            .apply(&ExecutionEvent::Accepted {
                exchange_order_id: "x".into(),
            })
            .unwrap_err();
        assert_eq!(err.state, ExecutionState::Claimed);
        assert_eq!(err.event, "accepted");
    }

    /// One of every event, for table-wide tests.
    pub(crate) fn sample_events() -> Vec<ExecutionEvent> {
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        vec![
            ExecutionEvent::Rejected {
                refusal: Refusal::KillSwitchGlobal,
            },
            ExecutionEvent::Abandoned,
            ExecutionEvent::SubmitCommitted {
                signed_at: t,
                access_window_ms: 10_000,
                notional: Notional::from_whole(10),
            },
            ExecutionEvent::SendAborted { reason: "r".into() },
            ExecutionEvent::Accepted {
                exchange_order_id: "o".into(),
            },
            ExecutionEvent::ExchangeRefused {
                error_code: 216,
                message: "m".into(),
            },
            ExecutionEvent::OutcomeUnknown { detail: "d".into() },
            ExecutionEvent::ReconciledFound {
                exchange_order_id: "o".into(),
            },
            ExecutionEvent::ReconciledNotFound { detail: "d".into() },
            ExecutionEvent::Filled {
                filled_notional: Notional::ZERO,
            },
            ExecutionEvent::Canceled {
                exchange_status: "canceled".into(),
                filled_notional: Notional::ZERO,
            },
        ]
    }
}

#[cfg(test)]
mod property_tests {
    //! Random event sequences against the transition table: whatever arrives, an execution only
    //! ever moves along the diagram in the module docs, never leaves a final state, and carries
    //! an exchange order id whenever it claims an order exists.

    use chrono::DateTime;
    use proptest::prelude::*;

    use super::{tests::sample_events, *};

    fn execution() -> Execution {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Execution {
            id: ExecutionId::new(),
            user_id: UserId::new(),
            proposal_id: ProposalId::new(),
            client_order_id: ClientOrderId::new(),
            market: Market::parse("BTC-EUR").unwrap(),
            side: Side::Buy,
            order_type: OrderType::Market,
            size: OrderSize::Quote(Notional::from_whole(10)),
            limit_price: None,
            notional: Notional::from_whole(10),
            state: ExecutionState::Claimed,
            outcome_unknown: false,
            refusal: None,
            failure: None,
            exchange_order_id: None,
            signed_at: None,
            access_window_ms: None,
            filled_notional: Notional::ZERO,
            created_at: t,
            updated_at: t,
        }
    }

    /// The legal edges of the diagram, independently of `apply`.
    fn edge_allowed(from: ExecutionState, to: ExecutionState) -> bool {
        use ExecutionState as S;
        matches!(
            (from, to),
            (S::Claimed, S::Rejected | S::Submitting)
                | (S::Submitting, S::Submitting | S::Submitted | S::Failed)
                | (S::Submitted, S::Filled | S::Canceled)
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        #[test]
        fn prop_no_event_sequence_reaches_an_illegal_state(picks in proptest::collection::vec(0usize..11, 0..30)) {
            let events = sample_events();
            let mut current = execution();
            let mut was_final = false;
            for pick in picks {
                let event = &events[pick];
                match current.apply(event, current.updated_at) {
                    Ok(next) => {
                        prop_assert!(!was_final, "left a final state");
                        prop_assert!(edge_allowed(current.state, next.state), "{} -> {}", current.state, next.state);
                        if next.state == ExecutionState::Submitted {
                            prop_assert!(next.exchange_order_id.is_some());
                            prop_assert!(!next.outcome_unknown);
                        }
                        if next.state == ExecutionState::Submitting {
                            prop_assert!(next.signed_at.is_some(), "I2: SUBMITTING without a signing time");
                        }
                        current = next;
                        was_final = current.state.is_final();
                    }
                    Err(e) => prop_assert_eq!(e.state, current.state),
                }
            }
        }
    }
}
