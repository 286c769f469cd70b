//! Rollback of a proposal's status (`vigil proposals revert`), allowed only when NO order was
//! ever placed for it.
//!
//! What may be rolled back:
//! - an `APPROVED` proposal without an execution → `PENDING` (or `CANCELLED`);
//! - an `EXECUTED` proposal whose one execution ended `REJECTED` or `FAILED` and whose
//!   `clientOrderId` the exchange does not know (asked with the read-only key, by id and in the
//!   market's order history) → `CANCELLED`. Back to `PENDING` it could never execute again: its
//!   execution exists, and there is at most one per proposal (I1).
//!
//! Everything else is refused with the reason: an execution in progress, an order that exists
//! or may exist, or an exchange that cannot be asked. [`Rollback::plan`] shows the decision and
//! its evidence without changing anything (the dry run); [`Rollback::apply`] decides again and
//! performs it by compare-and-set, so a concurrent claim either wins (and the rollback is
//! refused) or loses (and the executor refuses the proposal). The change and its evidence are
//! written to `audit_log` in one transaction (I11).

use std::{fmt, sync::Arc};

use chrono::TimeDelta;
use serde::Serialize;
use vigil_bitvavo::{GetOrder, OrderHistoryQuery, ReadOnlyClient};
use vigil_core::{
    proposal::ProposalAction, Clock, Execution, ExecutionState, Proposal, ProposalId,
    ProposalStatus,
};
use vigil_store::{Attribution, Store, StoreError};

/// Where a rollback takes the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevertTo {
    /// Back to `PENDING`, to be approved again (only from `APPROVED`).
    Pending,
    /// To `CANCELLED`, for good.
    Cancelled,
}

impl RevertTo {
    fn status(self) -> ProposalStatus {
        match self {
            RevertTo::Pending => ProposalStatus::Pending,
            RevertTo::Cancelled => ProposalStatus::Cancelled,
        }
    }
}

/// What the exchange said about the proposal's `clientOrderId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ExchangeEvidence {
    /// No execution: no order can exist, nothing to ask.
    NotNeeded,
    /// Neither the order lookup nor the order history knows it.
    NotFound {
        /// What was asked.
        detail: String,
    },
    /// The exchange has an order with it.
    Found {
        /// The exchange's order id.
        order_id: String,
        /// Its status.
        status: String,
    },
    /// The exchange could not be asked, or did not answer clearly.
    Unknown {
        /// Why.
        detail: String,
    },
    /// No exchange is configured.
    NotChecked,
}

/// The decision for one proposal, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackPlan {
    /// The proposal as it is now.
    pub proposal: Proposal,
    /// Where it would go.
    pub to: RevertTo,
    /// Its execution, if it has one.
    pub execution: Option<Execution>,
    /// What the exchange said.
    pub exchange: ExchangeEvidence,
    /// The status it would get, or why not.
    pub verdict: Verdict,
}

/// Whether the rollback may happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Verdict {
    /// It may: the proposal would move from `from` to `to`.
    Allowed {
        /// The status now.
        from: ProposalStatus,
        /// The status after.
        to: ProposalStatus,
    },
    /// It may not.
    Refused {
        /// Why, and what to do.
        reason: String,
    },
}

impl RollbackPlan {
    /// Whether the rollback may happen.
    #[must_use]
    pub fn allowed(&self) -> bool {
        matches!(self.verdict, Verdict::Allowed { .. })
    }

    /// The evidence in one sentence (recorded with the change).
    #[must_use]
    pub fn evidence(&self) -> String {
        let execution = match &self.execution {
            None => "no execution".to_owned(),
            Some(e) => format!(
                "execution {} ended {} (clientOrderId {})",
                e.id, e.state, e.client_order_id
            ),
        };
        let exchange = match &self.exchange {
            ExchangeEvidence::NotNeeded => "no exchange lookup needed".to_owned(),
            ExchangeEvidence::NotFound { detail } => format!("exchange: no such order ({detail})"),
            ExchangeEvidence::Found { order_id, status } => {
                format!("exchange: order {order_id} exists ({status})")
            }
            ExchangeEvidence::Unknown { detail } => format!("exchange: unknown ({detail})"),
            ExchangeEvidence::NotChecked => "exchange: not asked (none configured)".to_owned(),
        };
        format!("{execution}; {exchange}")
    }
}

impl fmt::Display for RollbackPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "proposal {} ({} {} on {}) is {}",
            self.proposal.id,
            self.proposal.side.as_str(),
            match self.proposal.size {
                vigil_core::OrderSize::Quote(n) => format!("{n} quote"),
                vigil_core::OrderSize::Base(q) => format!("{q} base"),
            },
            self.proposal.market,
            self.proposal.status
        )?;
        writeln!(f, "evidence: {}", self.evidence())?;
        match &self.verdict {
            Verdict::Allowed { from, to } => write!(f, "rollback allowed: {from} → {to}"),
            Verdict::Refused { reason } => write!(f, "rollback REFUSED: {reason}"),
        }
    }
}

/// Why a rollback did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// No proposal has this id.
    #[error("proposal {0} not found; `vigil proposals list` shows the proposals")]
    NotFound(ProposalId),
    /// The rules refuse it (the plan says why).
    #[error("rollback of proposal {} refused: {}", .0.proposal.id, refusal(.0))]
    Refused(Box<RollbackPlan>),
    /// The proposal changed between the decision and the change (e.g. it was just claimed):
    /// nothing was changed.
    #[error("proposal {id} changed while it was being rolled back (it is now {now}); nothing was changed: look again with --dry-run")]
    Changed {
        /// The proposal.
        id: ProposalId,
        /// Its status now.
        now: ProposalStatus,
    },
    /// The store failed.
    #[error("the database failed during the rollback: {0}")]
    Store(StoreError),
}

fn refusal(plan: &RollbackPlan) -> &str {
    match &plan.verdict {
        Verdict::Refused { reason } => reason,
        Verdict::Allowed { .. } => "(allowed)",
    }
}

/// Plans and performs rollbacks.
#[derive(Debug, Clone)]
pub struct Rollback {
    store: Store,
    read_only: Option<ReadOnlyClient>,
    clock: Arc<dyn Clock>,
}

impl Rollback {
    /// Rollbacks over `store`; with `read_only`, proposals whose execution ended without an
    /// order can be rolled back too (the exchange is asked first).
    #[must_use]
    pub fn new(store: Store, read_only: Option<ReadOnlyClient>, clock: Arc<dyn Clock>) -> Self {
        Rollback {
            store,
            read_only,
            clock,
        }
    }

    /// Decides, without changing anything (the dry run).
    ///
    /// # Errors
    /// [`RollbackError::NotFound`] for an unknown proposal; [`RollbackError::Store`].
    pub async fn plan(&self, id: ProposalId, to: RevertTo) -> Result<RollbackPlan, RollbackError> {
        let proposal = self.store.proposal_get(id).await.map_err(|e| match e {
            StoreError::NotFound { .. } => RollbackError::NotFound(id),
            other => RollbackError::Store(other),
        })?;
        let execution = self
            .store
            .execution_get_by_proposal(proposal.user_id, id)
            .await
            .map_err(RollbackError::Store)?;
        let exchange = match &execution {
            None => ExchangeEvidence::NotNeeded,
            Some(e) if matches!(e.state, ExecutionState::Rejected | ExecutionState::Failed) => {
                self.ask_exchange(e).await
            }
            // Any other state already refuses; asking would prove nothing more.
            Some(_) => ExchangeEvidence::NotNeeded,
        };
        let verdict = decide(&proposal, to, execution.as_ref(), &exchange);
        Ok(RollbackPlan {
            proposal,
            to,
            execution,
            exchange,
            verdict,
        })
    }

    /// Decides again and, when allowed, performs the rollback, recording it with its evidence
    /// in `audit_log`. Returns the plan and the proposal as it now is.
    ///
    /// # Errors
    /// [`RollbackError::Refused`] with the plan when the rules refuse it;
    /// [`RollbackError::Changed`] when the proposal changed meanwhile (nothing was written);
    /// [`RollbackError::NotFound`]; [`RollbackError::Store`].
    pub async fn apply(
        &self,
        id: ProposalId,
        to: RevertTo,
        by: &Attribution,
    ) -> Result<(RollbackPlan, Proposal), RollbackError> {
        let plan = self.plan(id, to).await?;
        let Verdict::Allowed { from, .. } = plan.verdict else {
            return Err(RollbackError::Refused(Box::new(plan)));
        };
        let action = match (from, to) {
            (ProposalStatus::Approved, RevertTo::Cancelled) => ProposalAction::Cancel,
            _ => ProposalAction::Revert,
        };
        let why = by.reason.as_deref().unwrap_or("no reason given");
        let by = by
            .clone()
            .because(format!("rollback: {why}; {}", plan.evidence()));
        match self
            .store
            .proposal_transition(id, from, action, self.clock.now(), Some(&by))
            .await
        {
            Ok(proposal) => Ok((plan, proposal)),
            Err(StoreError::ProposalConflict { current, .. }) => Err(RollbackError::Changed {
                id,
                now: current.status,
            }),
            Err(e) => Err(RollbackError::Store(e)),
        }
    }

    /// Asks the exchange for the execution's `clientOrderId`: the order lookup first, then the
    /// market's order history around the claim (a 240 alone is not believed, as in I3).
    async fn ask_exchange(&self, execution: &Execution) -> ExchangeEvidence {
        let Some(client) = &self.read_only else {
            return ExchangeEvidence::NotChecked;
        };
        let lookup =
            GetOrder::by_client_order_id(execution.market.clone(), execution.client_order_id);
        match client.order(&lookup).await {
            Ok(order) => {
                return ExchangeEvidence::Found {
                    order_id: order.key.order_id.to_string(),
                    status: format!("{:?}", order.status),
                }
            }
            Err(e) if e.is_order_not_found() => {}
            Err(e) => {
                return ExchangeEvidence::Unknown {
                    detail: e.to_string(),
                }
            }
        }
        let from = execution.created_at - TimeDelta::minutes(1);
        let until = (execution.updated_at + TimeDelta::hours(1)).min(self.clock.now());
        let query = OrderHistoryQuery::new(execution.market.clone())
            .with_limit(1000)
            .and_then(|q| q.between(from, until.max(from)));
        let query = match query {
            Ok(q) => q,
            Err(e) => {
                return ExchangeEvidence::Unknown {
                    detail: e.to_string(),
                }
            }
        };
        match client.order_history(&query).await {
            Ok(orders) => match orders
                .iter()
                .find(|o| o.client_order_id == Some(execution.client_order_id))
            {
                Some(order) => ExchangeEvidence::Found {
                    order_id: order.key.order_id.to_string(),
                    status: format!("{:?}", order.status),
                },
                None => ExchangeEvidence::NotFound {
                    detail: format!(
                        "GET /order answered 240 and the {} order history from {} to {} has no order with clientOrderId {}",
                        execution.market,
                        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        execution.client_order_id
                    ),
                },
            },
            Err(e) => ExchangeEvidence::Unknown {
                detail: e.to_string(),
            },
        }
    }
}

/// The rules, as a pure function of what was read.
fn decide(
    proposal: &Proposal,
    to: RevertTo,
    execution: Option<&Execution>,
    exchange: &ExchangeEvidence,
) -> Verdict {
    let refuse = |reason: String| Verdict::Refused { reason };
    if let Some(e) = execution {
        let order = e.exchange_order_id.as_deref().unwrap_or("(id unknown)");
        match e.state {
            ExecutionState::Claimed => {
                return refuse(format!(
                    "execution {} is in progress (CLAIMED); wait for it to end, or for the \
                     reconciler to end it, and look again",
                    e.id
                ))
            }
            ExecutionState::Submitting => {
                return refuse(format!(
                    "execution {} is SUBMITTING: an order may exist; run `vigil reconcile` \
                     until it is resolved",
                    e.id
                ))
            }
            ExecutionState::Submitted | ExecutionState::Filled | ExecutionState::Canceled => {
                return refuse(format!(
                    "an order was placed for it (execution {} is {}, order {order}); a placed \
                     order cannot be rolled back: cancel it on the exchange if it is still open",
                    e.id, e.state
                ))
            }
            ExecutionState::Rejected | ExecutionState::Failed => match exchange {
                ExchangeEvidence::NotFound { .. } => {}
                ExchangeEvidence::Found { order_id, .. } => {
                    return refuse(format!(
                        "execution {} ended {} but order {order_id} with its clientOrderId {} \
                         EXISTS on the exchange; run `vigil audit` and investigate",
                        e.id, e.state, e.client_order_id
                    ))
                }
                ExchangeEvidence::Unknown { detail } => {
                    return refuse(format!(
                        "cannot confirm that no order exists for execution {} ({detail}); try \
                         again when the exchange answers",
                        e.id
                    ))
                }
                ExchangeEvidence::NotChecked | ExchangeEvidence::NotNeeded => {
                    return refuse(format!(
                        "execution {} exists and no exchange is configured to confirm that it \
                         placed no order; configure the exchange (read-only key) and try again",
                        e.id
                    ))
                }
            },
        }
    }
    match (proposal.status, execution, to) {
        (ProposalStatus::Approved, None, to) => Verdict::Allowed {
            from: ProposalStatus::Approved,
            to: to.status(),
        },
        (ProposalStatus::Executed, Some(_), RevertTo::Cancelled) => Verdict::Allowed {
            from: ProposalStatus::Executed,
            to: ProposalStatus::Cancelled,
        },
        (ProposalStatus::Executed, Some(_), RevertTo::Pending) => refuse(
            "the proposal already has its one execution (I1), so back in PENDING it could never \
             be executed again; use --to cancelled, and create a new proposal to trade"
                .to_owned(),
        ),
        (ProposalStatus::Executed, None, _) => refuse(
            "the proposal is EXECUTED but has no execution, which Vigil never writes; \
             investigate with `vigil audit` before changing it"
                .to_owned(),
        ),
        (status, Some(e), _) => refuse(format!(
            "the proposal is {status} with execution {}; only APPROVED or EXECUTED proposals \
             are rolled back",
            e.id
        )),
        (status, None, _) => refuse(format!(
            "the proposal is {status}: there is nothing to roll back (only APPROVED or \
             EXECUTED proposals are)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use vigil_core::{
        fixtures::ExecutionBuilder, proposal::ProposalDraft, Market, Notional, OrderSize,
        OrderType, ProposalSource, Side, UserId,
    };

    use super::*;

    fn proposal(status: ProposalStatus) -> Proposal {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut p = Proposal::new(
            ProposalDraft {
                user_id: UserId::new(),
                market: Market::parse("BTC-EUR").unwrap(),
                side: Side::Buy,
                order_type: OrderType::Market,
                size: OrderSize::Quote(Notional::from_whole(10)),
                limit_price: None,
                source: ProposalSource::Person("t".into()),
                rationale: "t".into(),
                ttl: TimeDelta::hours(1),
            },
            now,
        )
        .unwrap();
        p.status = status;
        p
    }

    fn execution(p: &Proposal, state: ExecutionState) -> Execution {
        ExecutionBuilder::for_proposal(p, p.created_at)
            .state(state)
            .build()
    }

    fn not_found() -> ExchangeEvidence {
        ExchangeEvidence::NotFound { detail: "x".into() }
    }

    #[test]
    fn i1_only_proposals_without_an_order_are_rolled_back() {
        let approved = proposal(ProposalStatus::Approved);
        assert_eq!(
            decide(
                &approved,
                RevertTo::Pending,
                None,
                &ExchangeEvidence::NotNeeded
            ),
            Verdict::Allowed {
                from: ProposalStatus::Approved,
                to: ProposalStatus::Pending
            }
        );
        let executed = proposal(ProposalStatus::Executed);
        let failed = execution(&executed, ExecutionState::Failed);
        assert!(matches!(
            decide(&executed, RevertTo::Cancelled, Some(&failed), &not_found()),
            Verdict::Allowed {
                to: ProposalStatus::Cancelled,
                ..
            }
        ));
        for state in [
            ExecutionState::Claimed,
            ExecutionState::Submitting,
            ExecutionState::Submitted,
            ExecutionState::Filled,
            ExecutionState::Canceled,
        ] {
            let e = execution(&executed, state);
            assert!(
                matches!(
                    decide(&executed, RevertTo::Cancelled, Some(&e), &not_found()),
                    Verdict::Refused { .. }
                ),
                "{state}"
            );
        }
        let found = ExchangeEvidence::Found {
            order_id: "o".into(),
            status: "Filled".into(),
        };
        for evidence in [
            found,
            ExchangeEvidence::NotChecked,
            ExchangeEvidence::Unknown {
                detail: "down".into(),
            },
        ] {
            assert!(matches!(
                decide(&executed, RevertTo::Cancelled, Some(&failed), &evidence),
                Verdict::Refused { .. }
            ));
        }
        // Back to PENDING it could never execute again (I1).
        assert!(matches!(
            decide(&executed, RevertTo::Pending, Some(&failed), &not_found()),
            Verdict::Refused { .. }
        ));
        for status in [
            ProposalStatus::Pending,
            ProposalStatus::Cancelled,
            ProposalStatus::Expired,
        ] {
            assert!(matches!(
                decide(
                    &proposal(status),
                    RevertTo::Cancelled,
                    None,
                    &ExchangeEvidence::NotNeeded
                ),
                Verdict::Refused { .. }
            ));
        }
    }
}
