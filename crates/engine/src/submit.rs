//! Steps 4c and 5's first half (DESIGN.md's numbering): commit `SUBMITTING`, then the last
//! check before the order call.
//!
//! Step 4c is ONE guarded transaction (the user's section): it re-reads the kill switches (I4),
//! re-runs the guards on fresh store facts (cooldown, anti-flip and the daily cap now count
//! every execution that committed `SUBMITTING` since the preflight, I6, I7; expiry is checked
//! again) with the preflight's exchange facts (no exchange call inside a transaction), and
//! records the signing time and access window of the ALREADY SIGNED order request together with
//! the notional. It takes a [`Preflighted`] witness and yields a [`Submitting`] one.
//!
//! The last check before sending (step 5's first half) stays on in release builds (STYLE rule
//! 12): it re-reads the execution as committed and refuses to send unless it is `SUBMITTING`
//! with this client order id, signing time and window, the request is exactly the execution's order, the notional is within the per-order
//! cap as the policy now says, no kill switch is on, and the proposal has not expired since the
//! commit (the clock is read after the re-reads). Only then does it yield
//! [`ReadyToSend`], the one thing the order call accepts. Both witnesses have private fields
//! and are built only here.

use std::sync::Arc;

use vigil_bitvavo::PreparedOrder;
use vigil_core::{
    guard::{self, OrderIntent},
    Clock, Execution, ExecutionEvent, ExecutionState, Refusal, Timestamp,
};
use vigil_store::{GuardedTransition, Store, StoreError};

use crate::preflight::{decide, Preflighted};

/// An execution whose `SUBMITTING` row is committed, with the signed request it was committed
/// for.
#[derive(Debug)]
pub(crate) struct Submitting {
    execution: Execution,
    prepared: PreparedOrder,
    /// The proposal's expiry, which the last check judges again.
    expires_at: Timestamp,
}

impl Submitting {
    pub(crate) fn execution(&self) -> &Execution {
        &self.execution
    }
}

/// What step 4c concluded.
#[derive(Debug)]
pub(crate) enum SubmitVerdict {
    /// `SUBMITTING` is committed.
    Committed(Box<Submitting>),
    /// A guard refused at the last moment; the execution is `REJECTED`, nothing was sent.
    Refused {
        refusal: Refusal,
        execution: Box<Execution>,
    },
}

/// Step 4c.
///
/// # Errors
/// A [`StoreError`]; `ExecutionConflict` when the execution left `CLAIMED` meanwhile.
pub(crate) async fn commit(
    store: &Store,
    clock: &Arc<dyn Clock>,
    preflighted: &Preflighted<OrderIntent>,
    execution: &Execution,
    prepared: PreparedOrder,
) -> Result<SubmitVerdict, StoreError> {
    let intent = preflighted.intent().clone();
    let snapshot = Ok(preflighted.snapshot().clone());
    let expected = preflighted.notional();
    let stamp = prepared.stamp();
    let expires_at = intent.expires_at;
    // The time is read inside the section (the store reads `clock` once the user's lock is
    // held), so a wait for the lock cannot make expiry or cooldown be judged at an older moment.
    let result = store
        .execution_transition_guarded(
            execution,
            ExecutionState::Claimed,
            clock.clone(),
            move |facts| {
                Some(match decide(facts, &intent, &snapshot) {
                    Err(refusal) => ExecutionEvent::Rejected { refusal },
                    // The notional depends only on the intent and the preflight's price, so it
                    // cannot differ; if it ever does, refuse rather than commit an unchecked value.
                    Ok(notional) if notional != expected => ExecutionEvent::Rejected {
                        refusal: Refusal::FactUnavailable {
                            fact: format!(
                                "a stable order value (preflight {expected}, now {notional})"
                            ),
                        },
                    },
                    Ok(notional) => ExecutionEvent::SubmitCommitted {
                        signed_at: stamp.signed_at,
                        access_window_ms: stamp.access_window_ms,
                        notional,
                    },
                })
            },
        )
        .await?;
    let execution = match result {
        GuardedTransition::Applied { execution, .. }
        | GuardedTransition::Unchanged { execution, .. } => execution,
    };
    match execution.state {
        ExecutionState::Submitting => Ok(SubmitVerdict::Committed(Box::new(Submitting {
            execution,
            prepared,
            expires_at,
        }))),
        _ => {
            let refusal = execution
                .refusal
                .clone()
                .unwrap_or(Refusal::FactUnavailable {
                    fact: "the refusal of a rejected execution (not recorded)".into(),
                });
            Ok(SubmitVerdict::Refused {
                refusal,
                execution: Box::new(execution),
            })
        }
    }
}

/// The signed request of an execution whose committed `SUBMITTING` row passed the last check.
#[derive(Debug)]
pub(crate) struct ReadyToSend {
    execution: Execution,
    prepared: PreparedOrder,
}

impl ReadyToSend {
    pub(crate) fn into_parts(self) -> (Execution, PreparedOrder) {
        (self.execution, self.prepared)
    }
}

/// What the last check before sending concluded.
#[derive(Debug)]
pub(crate) enum SendCheck {
    /// Everything agrees; the request may be sent.
    Ready(Box<ReadyToSend>),
    /// Something does not; the request must not be sent. `execution` is the row as re-read.
    Abort {
        reason: String,
        execution: Box<Execution>,
    },
}

/// The last check before sending (step 5): re-read what is committed and compare it with what is about to be sent.
///
/// # Errors
/// A [`StoreError`] when the re-read fails (then nothing is sent either).
pub(crate) async fn check_before_send(
    store: &Store,
    clock: &Arc<dyn Clock>,
    submitting: Box<Submitting>,
) -> Result<SendCheck, StoreError> {
    let Submitting {
        execution: written,
        prepared,
        expires_at,
    } = *submitting;
    // A fresh read on its own connection: it sees only what is committed (I2).
    let committed = store.execution_get(written.id).await?;
    let policy = store.policy_get(committed.user_id).await?;
    let switches = store.kill_switch_read(committed.user_id).await?;
    let stamp = prepared.stamp();
    let order = prepared.order();
    let mut problems = Vec::new();
    if committed.state != ExecutionState::Submitting {
        problems.push(format!(
            "the execution is {} in the database, not SUBMITTING",
            committed.state
        ));
    }
    if committed.client_order_id != prepared.client_order_id() {
        problems.push(format!(
            "the request's clientOrderId {} is not the execution's {}",
            prepared.client_order_id(),
            committed.client_order_id
        ));
    }
    if committed.signed_at != Some(stamp.signed_at) {
        problems.push(format!(
            "the committed signing time {:?} is not the request's {}",
            committed.signed_at, stamp.signed_at
        ));
    }
    if committed.access_window_ms != Some(stamp.access_window_ms) {
        problems.push(format!(
            "the committed access window {:?} ms is not the request's {} ms",
            committed.access_window_ms, stamp.access_window_ms
        ));
    }
    if order.market_id() != &committed.market
        || order.side() != committed.side
        || order.size() != committed.size
    {
        problems.push("the signed request is not the execution's order".to_owned());
    }
    if committed.notional.is_zero() || committed.notional > policy.order_notional_max {
        problems.push(format!(
            "the notional {} is not within the per-order cap of {}",
            committed.notional, policy.order_notional_max
        ));
    }
    if switches.any() {
        problems.push(format!(
            "a kill switch went on after SUBMITTING was committed (global {}, user {})",
            switches.global, switches.user
        ));
    }
    // Read after every database read above, so no wait can make the proposal look younger.
    if let Err(expired) = guard::expiry::check_expiry(expires_at, clock.now()) {
        problems.push(format!("{expired} (after SUBMITTING was committed)"));
    }
    if problems.is_empty() {
        Ok(SendCheck::Ready(Box::new(ReadyToSend {
            execution: committed,
            prepared,
        })))
    } else {
        Ok(SendCheck::Abort {
            reason: problems.join("; "),
            execution: Box::new(committed),
        })
    }
}
