//! The executor: one approved proposal becomes AT MOST ONE exchange order, and only when every
//! safety rail agrees (DESIGN.md, "The executor").
//!
//! [`Executor::execute`] runs DESIGN.md's steps, numbered as there, strictly in this order:
//! 1. kill switches (global, then the user's) at entry: refuse, claim nothing (I4);
//! 2. load the proposal: the caller's, `APPROVED`, not expired; an `EXECUTED` one answers with
//!    its existing execution, before any exchange read;
//! 3. exchange facts (`preflight.rs`): market rules, price, book and a fresh balance, read with
//!    the read-only key and no transaction open;
//! 4. claim, guard and mark `SUBMITTING`, in the older shape DESIGN.md names (until the
//!    order-path issue lands): 4a the claim, its own transaction, a `CLAIMED` execution with a
//!    fresh `clientOrderId` (a unique violation is the design working, answered with the
//!    existing execution, I1), taken before step 3's reads; 4b every guard in one per-user
//!    section (`preflight.rs`); 4c the order request signed, then one per-user section re-reads
//!    the kill switches, re-checks the guards and the expiry, and commits `SUBMITTING` with the
//!    signing time (`submit.rs`; I2, I4, I6);
//! 5. the order call with the trade key, after the last check before sending (release builds,
//!    `submit.rs`);
//! 6. the outcome recorded (`record.rs`).
//!
//! No transaction is open during an exchange call, and no order call is ever repeated: an
//! unknown outcome stays `SUBMITTING` for the reconciler.

use std::sync::Arc;

use vigil_bitvavo::{CreateOrder, ReadOnlyClient, TradingClient};
use vigil_core::{
    Clock, Execution, ExecutionEvent, ExecutionState, OrderSize, OrderType, Proposal, ProposalId,
    ProposalStatus, Refusal, UserId,
};
use vigil_store::{ClaimOutcome, Store, StoreError};

use crate::{
    alerts::{Alert, AlertKind, AlertSeverity, Alerts, TracingAlerts},
    config::ExecutorConfig,
    hooks::{failpoint, failpoint_from_env, Failpoint, HookAction, NoHooks, Step, StepHooks},
    market_data::MarketData,
    outcome::{ExecuteError, ExecutionOutcome, ExecutorBuildError},
    preflight::{self, PreflightVerdict},
    record,
    submit::{self, SendCheck, SubmitVerdict},
};

/// The hardened executor. Cheap to clone; clones share the clients and the market-data cache.
#[derive(Debug, Clone)]
pub struct Executor {
    pub(crate) store: Store,
    pub(crate) read_only: ReadOnlyClient,
    trading: TradingClient,
    market_data: MarketData,
    clock: Arc<dyn Clock>,
    hooks: Arc<dyn StepHooks>,
    pub(crate) alerts: Arc<dyn Alerts>,
    failpoint: Option<Failpoint>,
}

impl Executor {
    /// Builds an executor from the store, the two exchange clients and the clock. The read-only
    /// client serves every read (market rules, prices, balances, order lookups); the trading
    /// client is used for exactly one thing, the order call (I10).
    ///
    /// # Errors
    /// [`ExecutorBuildError::SameKey`] when both clients use the same API key (I10);
    /// [`ExecutorBuildError::Config`] for invalid settings.
    pub fn new(
        store: Store,
        read_only: ReadOnlyClient,
        trading: TradingClient,
        clock: Arc<dyn Clock>,
        config: ExecutorConfig,
    ) -> Result<Executor, ExecutorBuildError> {
        config.validate().map_err(ExecutorBuildError::Config)?;
        // I10: `BitvavoClients::new` refuses one key for both, but the two clients may also be
        // built separately; compare the keys' identities here as well.
        if read_only.key_id() == trading.key_id() {
            return Err(ExecutorBuildError::SameKey);
        }
        let market_data = MarketData::new(
            read_only.clone(),
            Arc::clone(&clock),
            config.market_data_ttl,
        );
        Ok(Executor {
            store,
            read_only,
            trading,
            market_data,
            clock,
            hooks: Arc::new(NoHooks),
            alerts: Arc::new(TracingAlerts),
            failpoint: failpoint_from_env(),
        })
    }

    /// The same executor with these step hooks (tests pause or "crash" at step boundaries).
    #[must_use]
    pub fn with_hooks(mut self, hooks: Arc<dyn StepHooks>) -> Executor {
        self.hooks = hooks;
        self
    }

    /// The trade key's rate-limit budget as this executor's client knows it (for metrics and
    /// the ban alert; the key itself stays inside the client).
    #[must_use]
    pub fn trade_key_rate_limit(&self) -> vigil_bitvavo::RateLimitStatus {
        self.trading.rate_limit()
    }

    /// The same executor raising alerts to `alerts`.
    #[must_use]
    pub fn with_alerts(mut self, alerts: Arc<dyn Alerts>) -> Executor {
        self.alerts = alerts;
        self
    }

    /// Executes `proposal_id` for `user_id`: at most one order, only when every rail agrees.
    /// Calling it again for the same proposal, at any time and from any number of callers,
    /// answers [`ExecutionOutcome::AlreadyClaimed`] with the one execution and sends nothing.
    ///
    /// # Errors
    /// [`ExecuteError::UserNotFound`] / [`ExecuteError::ProposalNotFound`] for unknown ids;
    /// [`ExecuteError::Store`] when the database fails (whatever was written is finished by
    /// the reconciler); [`ExecuteError::Interrupted`] when a test hook stopped the execution.
    pub async fn execute(
        &self,
        user_id: UserId,
        proposal_id: ProposalId,
    ) -> Result<ExecutionOutcome, ExecuteError> {
        // Step 1: the kill switches, before anything is written (I4).
        let switches = self
            .store
            .kill_switch_read(user_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => ExecuteError::UserNotFound { user_id },
                other => ExecuteError::Store {
                    during: "reading the kill switches",
                    source: other,
                },
            })?;
        if switches.global {
            return Ok(refused_at_entry(Refusal::KillSwitchGlobal));
        }
        if switches.user {
            return Ok(refused_at_entry(Refusal::KillSwitchUser));
        }

        // Step 2: the proposal.
        let proposal = match self.load_proposal(user_id, proposal_id).await? {
            Loaded::Ready(proposal) => proposal,
            Loaded::Answered(outcome) => return Ok(*outcome),
        };

        // Step 4a: the claim (I1).
        let execution = match self.claim(&proposal).await? {
            Loaded::Ready(execution) => execution,
            Loaded::Answered(outcome) => return Ok(*outcome),
        };
        self.boundary(Step::AfterClaim, &execution).await?;

        // Steps 3 and 4b: preflight (exchange facts, then the guards).
        let preflighted = match preflight::run(
            &self.store,
            &self.market_data,
            &self.clock,
            &execution,
            proposal.expires_at,
        )
        .await
        {
            Ok(PreflightVerdict::Passed(preflighted)) => preflighted,
            Ok(PreflightVerdict::Refused { refusal, execution }) => {
                return Ok(refused(refusal, execution));
            }
            Err(e) => return self.after_conflict(e, "preflight"),
        };
        self.boundary(Step::AfterPreflight, &execution).await?;

        // The request is signed now, so that step 4c can commit the exact signing time and
        // window it will be sent with (the reconciler waits that window out, I3).
        let order = match order_request(&execution) {
            Ok(order) => order,
            Err(refusal) => return self.reject_claimed(&execution, refusal).await,
        };
        let prepared = match self.trading.prepare_order(order).await {
            Ok(prepared) => prepared,
            Err(e) => {
                let refusal = Refusal::ExchangeUnavailable {
                    detail: e.to_string(),
                };
                return self.reject_claimed(&execution, refusal).await;
            }
        };

        // Step 4c: SUBMITTING, durably, with the kill switches and guards re-checked (I2, I4).
        let submitting = match submit::commit(
            &self.store,
            &self.clock,
            &preflighted,
            &execution,
            prepared,
        )
        .await
        {
            Ok(SubmitVerdict::Committed(submitting)) => submitting,
            Ok(SubmitVerdict::Refused { refusal, execution }) => {
                return Ok(refused(refusal, *execution));
            }
            Err(e) => return self.after_conflict(e, "committing SUBMITTING"),
        };
        self.boundary(Step::AfterSubmitting, submitting.execution())
            .await?;

        // Step 5, first the last check, on in release builds; fail closed.
        let ready = match submit::check_before_send(&self.store, &self.clock, submitting).await {
            Ok(SendCheck::Ready(ready)) => ready,
            Ok(SendCheck::Abort { reason, execution }) => {
                return self.abort_send(*execution, reason).await;
            }
            Err(e) => {
                return Err(ExecuteError::Store {
                    during: "re-reading the execution before sending (nothing was sent)",
                    source: e,
                })
            }
        };

        // Step 5: the one order call, with the trade key.
        let (execution, prepared) = ready.into_parts();
        let sent = self.trading.submit_order(prepared).await;
        self.boundary(Step::AfterSend, &execution).await?;
        record::outcome(self, execution, sent).await
    }

    /// The executor's clock.
    pub(crate) fn now(&self) -> vigil_core::Timestamp {
        self.clock.now()
    }

    /// Calls the hook (and the failpoint) at a step boundary.
    async fn boundary(&self, step: Step, execution: &Execution) -> Result<(), ExecuteError> {
        failpoint(self.failpoint, step);
        match self.hooks.at(step, execution).await {
            HookAction::Continue => Ok(()),
            HookAction::Crash => {
                tracing::warn!(
                    execution_id = %execution.id,
                    step = step.as_str(),
                    "a step hook stopped the execution (simulated crash)"
                );
                Err(ExecuteError::Interrupted {
                    step,
                    execution_id: execution.id,
                })
            }
        }
    }

    async fn load_proposal(
        &self,
        user_id: UserId,
        proposal_id: ProposalId,
    ) -> Result<Loaded<Proposal>, ExecuteError> {
        let proposal = self
            .store
            .proposal_get(proposal_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => ExecuteError::ProposalNotFound { proposal_id },
                other => ExecuteError::Store {
                    during: "loading the proposal",
                    source: other,
                },
            })?;
        if proposal.user_id != user_id {
            return Ok(Loaded::Answered(Box::new(refused_at_entry(
                Refusal::ProposalNotOwned,
            ))));
        }
        match proposal.status {
            ProposalStatus::Approved => {}
            ProposalStatus::Executed => return self.existing(user_id, proposal_id).await,
            status => {
                return Ok(Loaded::Answered(Box::new(refused_at_entry(
                    Refusal::ProposalNotApproved { status },
                ))))
            }
        }
        if proposal.is_expired_at(self.clock.now()) {
            return Ok(Loaded::Answered(Box::new(refused_at_entry(
                Refusal::ProposalExpired {
                    expired_at: proposal.expires_at,
                },
            ))));
        }
        Ok(Loaded::Ready(proposal))
    }

    /// The existing execution of an `EXECUTED` proposal, as the idempotent answer.
    async fn existing<T>(
        &self,
        user_id: UserId,
        proposal_id: ProposalId,
    ) -> Result<Loaded<T>, ExecuteError> {
        let existing = self
            .store
            .execution_get_by_proposal(user_id, proposal_id)
            .await
            .map_err(ExecuteError::store("reading the existing execution"))?;
        Ok(Loaded::Answered(Box::new(match existing {
            Some(execution) => ExecutionOutcome::AlreadyClaimed(execution),
            // An executed proposal without an execution cannot be made by the store (the claim
            // writes both in one transaction); refuse rather than execute it again.
            None => refused_at_entry(Refusal::ProposalNotApproved {
                status: ProposalStatus::Executed,
            }),
        })))
    }

    async fn claim(&self, proposal: &Proposal) -> Result<Loaded<Execution>, ExecuteError> {
        let now = self.clock.now();
        let fresh = Execution::claimed_for(proposal, now);
        match self.store.execution_claim(&fresh).await {
            Ok(ClaimOutcome::Claimed(execution)) => {
                tracing::info!(
                    execution_id = %execution.id,
                    proposal_id = %execution.proposal_id,
                    client_order_id = %execution.client_order_id,
                    "execution claimed"
                );
                Ok(Loaded::Ready(execution))
            }
            // By design (I1): the one execution already exists; answer with it.
            Ok(ClaimOutcome::AlreadyClaimed(execution)) => Ok(Loaded::Answered(Box::new(
                ExecutionOutcome::AlreadyClaimed(execution),
            ))),
            // The proposal changed between step 2 and the claim: executed by a concurrent
            // caller (answer with that execution), or withdrawn (refuse).
            Err(StoreError::ProposalConflict { current, .. }) => match current.status {
                ProposalStatus::Executed => self.existing(proposal.user_id, proposal.id).await,
                status => Ok(Loaded::Answered(Box::new(refused_at_entry(
                    Refusal::ProposalNotApproved { status },
                )))),
            },
            Err(e) => Err(ExecuteError::Store {
                during: "claiming the execution",
                source: e,
            }),
        }
    }

    /// Ends a `CLAIMED` execution as `REJECTED` with `refusal`.
    async fn reject_claimed(
        &self,
        execution: &Execution,
        refusal: Refusal,
    ) -> Result<ExecutionOutcome, ExecuteError> {
        let event = ExecutionEvent::Rejected {
            refusal: refusal.clone(),
        };
        match self
            .store
            .execution_transition(
                execution.id,
                ExecutionState::Claimed,
                &event,
                self.clock.now(),
            )
            .await
        {
            Ok(rejected) => Ok(refused(refusal, rejected)),
            Err(e) => self.after_conflict(e, "rejecting the execution"),
        }
    }

    /// Step 6 failed: nothing is sent, the execution ends `FAILED` (SendAborted), an alert goes
    /// out.
    async fn abort_send(
        &self,
        execution: Execution,
        reason: String,
    ) -> Result<ExecutionOutcome, ExecuteError> {
        self.alerts.raise(&Alert::execution(
            AlertKind::SendAborted,
            AlertSeverity::Critical,
            execution.id,
            execution.user_id,
            format!(
                "the last check before sending failed, so the order was NOT sent: {reason}; \
                 check the execution with `vigil executions show {}`",
                execution.id
            ),
        ));
        if execution.state != ExecutionState::Submitting {
            return Ok(outcome_of(execution));
        }
        let event = ExecutionEvent::SendAborted { reason };
        match self
            .store
            .execution_transition(
                execution.id,
                ExecutionState::Submitting,
                &event,
                self.clock.now(),
            )
            .await
        {
            Ok(failed) => Ok(ExecutionOutcome::Failed(failed)),
            Err(e) => self.after_conflict(e, "recording the aborted send"),
        }
    }

    /// A compare-and-set lost to another writer (e.g. the reconciler): answer from the
    /// execution as it now is. Any other store error is returned.
    pub(crate) fn after_conflict(
        &self,
        error: StoreError,
        during: &'static str,
    ) -> Result<ExecutionOutcome, ExecuteError> {
        match error {
            StoreError::ExecutionConflict { current, .. } => {
                tracing::info!(
                    execution_id = %current.id,
                    state = %current.state,
                    during,
                    "the execution changed underneath (another writer); answering with it as it is"
                );
                Ok(outcome_of(*current))
            }
            other => Err(ExecuteError::Store {
                during,
                source: other,
            }),
        }
    }
}

/// Step 2 and 3 either go on with a value or have already answered.
enum Loaded<T> {
    Ready(T),
    Answered(Box<ExecutionOutcome>),
}

fn refused_at_entry(refusal: Refusal) -> ExecutionOutcome {
    tracing::info!(refusal = refusal.code(), "execution refused: {refusal}");
    ExecutionOutcome::Refused {
        refusal,
        execution: None,
    }
}

fn refused(refusal: Refusal, execution: Execution) -> ExecutionOutcome {
    tracing::info!(
        execution_id = %execution.id,
        refusal = refusal.code(),
        "execution refused: {refusal}"
    );
    ExecutionOutcome::Refused {
        refusal,
        execution: Some(execution),
    }
}

/// The outcome an execution's current state stands for.
pub(crate) fn outcome_of(execution: Execution) -> ExecutionOutcome {
    match execution.state {
        ExecutionState::Submitted | ExecutionState::Filled | ExecutionState::Canceled => {
            ExecutionOutcome::Placed(execution)
        }
        ExecutionState::Submitting => ExecutionOutcome::OutcomeUnknown(execution),
        ExecutionState::Failed => ExecutionOutcome::Failed(execution),
        ExecutionState::Rejected => match execution.refusal.clone() {
            Some(refusal) => ExecutionOutcome::Refused {
                refusal,
                execution: Some(execution),
            },
            // Abandoned: ended by the reconciler, with a failure text instead of a refusal.
            None => ExecutionOutcome::Failed(execution),
        },
        ExecutionState::Claimed => ExecutionOutcome::AlreadyClaimed(execution),
    }
}

/// The exchange request for an execution's order.
fn order_request(execution: &Execution) -> Result<CreateOrder, Refusal> {
    let built = match (execution.order_type, execution.size, execution.limit_price) {
        (OrderType::Market, size, None) => CreateOrder::market(
            execution.market.clone(),
            execution.side,
            size,
            execution.client_order_id,
        ),
        (OrderType::Limit, OrderSize::Base(amount), Some(price)) => CreateOrder::limit(
            execution.market.clone(),
            execution.side,
            amount,
            price,
            execution.client_order_id,
        ),
        (order_type, size, price) => {
            return Err(Refusal::FactUnavailable {
                fact: format!(
                    "a valid order request ({order_type:?} order of {size:?} at {price:?} is not one Bitvavo accepts)"
                ),
            })
        }
    };
    built.map_err(|e| Refusal::FactUnavailable {
        fact: format!("a valid order request ({e})"),
    })
}
