//! The operations a person performs through either front end, composed once: create a
//! proposal, approve or reject it, replace a user's policy under the stability window, flip a
//! kill switch. The CLI (`vigil proposals`, `vigil policy set`, `vigil kill-switch`) and the
//! API (`/api/v1/proposals`, `/policy`, `/kill-switch`) parse their own input and print their
//! own answers; what happens to the database, in which order and under which checks, is here,
//! so both behave the same.
//!
//! The rules each operation keeps:
//! - a proposal is built by [`Proposal::new`] (which owns the TTL bound) at the store's
//!   precision, and refused when its market is not on the user's allowlist (I5; the executor
//!   checks again before any order);
//! - only a `PENDING` proposal is approved or rejected; one found past its expiry is marked
//!   `EXPIRED` and refused; a proposal the actor may not see is "not found";
//! - a policy is validated, judged by the stability window (a cap raise needs a stable day or
//!   an admin's override), and written only if it is still the one the window judged, with the
//!   override's audit entry in the same transaction;
//! - every change is attributed to the actor, with their reason, in `audit_log` (I11).
//!
//! Time is read from the operation's clock when the operation runs, never passed in.

use std::sync::Arc;

use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    Clock, Policy, Proposal, ProposalId, ProposalStatus, Timestamp, UserId, ValidationError,
};
use vigil_store::{
    Attribution, Authority, KillSwitchScope, ListedProposal, PolicyLimits, Store, StoreError,
};

use crate::stability_window::{CapChangeError, CapDecision, StabilityOverride, StabilityWindow};

/// Who performs an operation: their name for the audit log, the authority they act with, and
/// their reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The name recorded in `audit_log` (`alice`, `cli:alice`).
    pub name: String,
    /// An admin's authority, or a user's over their own switch and policy.
    pub authority: Authority,
    /// Why, in their words; blank counts as none.
    pub reason: Option<String>,
}

impl Actor {
    /// An actor with `authority` and no reason.
    #[must_use]
    pub fn new(name: impl Into<String>, authority: Authority) -> Actor {
        Actor {
            name: name.into(),
            authority,
            reason: None,
        }
    }

    /// The same actor with a reason (a blank one is dropped).
    #[must_use]
    pub fn because(mut self, reason: Option<String>) -> Actor {
        self.reason = reason.filter(|r| !r.trim().is_empty());
        self
    }

    fn attribution(&self, at: Timestamp) -> Attribution {
        let by = Attribution::new(self.name.clone(), at);
        match &self.reason {
            Some(reason) => by.because(reason.clone()),
            None => by,
        }
    }
}

/// Whose proposals an actor may see and decide: everyone's (the operator at the CLI), or one
/// user's (an API caller sees only their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every user's.
    Everyone,
    /// Only this user's; another user's proposal is "not found".
    Own(UserId),
}

impl Visibility {
    fn sees(self, owner: UserId) -> bool {
        match self {
            Visibility::Everyone => true,
            Visibility::Own(user) => user == owner,
        }
    }
}

/// Why an operation was refused or failed. Nothing was written unless the variant says so.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// The input is invalid; every problem, each naming its field.
    #[error("the input has {} problem(s)", .0.len())]
    Invalid(Vec<ValidationError>),
    /// No such proposal, or not one the actor may see.
    #[error("no proposal {0}")]
    ProposalNotFound(ProposalId),
    /// The proposal is past its expiry: it was marked `EXPIRED` (that much was written).
    #[error("proposal {id} expired at {}; it is now EXPIRED", .expires_at.to_rfc3339())]
    ProposalExpired {
        /// The proposal.
        id: ProposalId,
        /// When it expired.
        expires_at: Timestamp,
    },
    /// The proposal is not `PENDING`.
    #[error("proposal {id} is {status}; only a PENDING proposal can be approved or rejected")]
    ProposalNotPending {
        /// The proposal.
        id: ProposalId,
        /// Its status.
        status: ProposalStatus,
    },
    /// The proposal changed between reading and writing it.
    #[error("proposal {} changed meanwhile; it is now {}", .0.id, .0.status)]
    ProposalChanged(Box<Proposal>),
    /// The stability window refused a cap raise, or the override was not valid.
    #[error(transparent)]
    CapChange(CapChangeError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CapChangeError> for OperationError {
    fn from(error: CapChangeError) -> OperationError {
        match error {
            CapChangeError::Store(e) => OperationError::Store(e),
            other => OperationError::CapChange(other),
        }
    }
}

/// A policy change that was written.
#[derive(Debug, Clone)]
pub struct PolicyReplaced {
    /// The policy now in force.
    pub policy: Policy,
    /// What the stability window decided (an override is worth telling the actor about).
    pub decision: CapDecision,
}

/// The operations, over one store and clock.
#[derive(Debug, Clone)]
pub struct Operations {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Operations {
    /// The operations over `store`, with now from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Operations {
        Operations { store, clock }
    }

    /// Builds the proposal from `draft` now and stores it `PENDING`, unless its market is off
    /// the user's allowlist (I5). `how_to_allow` completes that refusal in the front end's
    /// words ("allow it first with …").
    ///
    /// # Errors
    /// [`OperationError::Invalid`] (an invalid draft, with field names such as `ttl`, or the
    /// market off the allowlist, field `market`), or the store's error. Nothing is written.
    pub async fn create_proposal(
        &self,
        draft: ProposalDraft,
        how_to_allow: &str,
    ) -> Result<Proposal, OperationError> {
        // At the store's precision, so what is returned equals every later read.
        let now = vigil_store::to_stored_precision(self.clock.now());
        let proposal = Proposal::new(draft, now).map_err(OperationError::Invalid)?;
        let allowlist = self.store.allowlist_list(proposal.user_id).await?;
        vigil_core::guard::allowlist::check_proposal_market(
            "market",
            &allowlist,
            &proposal.market,
            how_to_allow,
        )
        .map_err(|e| OperationError::Invalid(vec![e]))?;
        self.store.proposal_insert(&proposal).await?;
        tracing::info!(proposal_id = %proposal.id, user_id = %proposal.user_id, "proposal created");
        Ok(proposal)
    }

    /// The proposal with the summary of its execution, if the actor may see it.
    ///
    /// # Errors
    /// [`OperationError::ProposalNotFound`], or the store's error.
    pub async fn proposal(
        &self,
        id: ProposalId,
        visibility: Visibility,
    ) -> Result<ListedProposal, OperationError> {
        match self.store.proposal_get_with_outcome(id).await {
            Ok(listed) if visibility.sees(listed.proposal.user_id) => Ok(listed),
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(OperationError::ProposalNotFound(id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Approves or rejects a `PENDING` proposal (`action` is [`ProposalAction::Approve`] or
    /// [`ProposalAction::Reject`]), attributed to `actor`. A proposal found past its expiry is
    /// marked `EXPIRED` and refused.
    ///
    /// # Errors
    /// [`OperationError::ProposalNotFound`], [`OperationError::ProposalExpired`],
    /// [`OperationError::ProposalNotPending`], [`OperationError::ProposalChanged`], or the
    /// store's error.
    pub async fn decide_proposal(
        &self,
        id: ProposalId,
        visibility: Visibility,
        action: ProposalAction,
        actor: &Actor,
    ) -> Result<ListedProposal, OperationError> {
        let ListedProposal {
            proposal,
            execution,
        } = self.proposal(id, visibility).await?;
        let now = self.clock.now();
        if proposal.status == ProposalStatus::Pending && proposal.is_expired_at(now) {
            self.transition(&proposal, ProposalAction::Expire, now, None)
                .await?;
            return Err(OperationError::ProposalExpired {
                id: proposal.id,
                expires_at: proposal.expires_at,
            });
        }
        if proposal.status != ProposalStatus::Pending {
            return Err(OperationError::ProposalNotPending {
                id: proposal.id,
                status: proposal.status,
            });
        }
        let by = actor.attribution(now);
        let updated = self.transition(&proposal, action, now, Some(&by)).await?;
        Ok(ListedProposal {
            proposal: updated,
            execution,
        })
    }

    async fn transition(
        &self,
        proposal: &Proposal,
        action: ProposalAction,
        now: Timestamp,
        by: Option<&Attribution>,
    ) -> Result<Proposal, OperationError> {
        match self
            .store
            .proposal_transition(proposal.id, ProposalStatus::Pending, action, now, by)
            .await
        {
            Ok(updated) => Ok(updated),
            Err(StoreError::ProposalConflict { current, .. }) => {
                Err(OperationError::ProposalChanged(current))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces `user`'s policy `before` (as the actor read it) by `after`: validated, judged by
    /// the stability window (with the admin's `override_` when given), and written only if the
    /// policy is still `before`, bound by `limits` (an owner's change by the deployment's
    /// ceilings), with the override's audit entry in the same transaction.
    ///
    /// # Errors
    /// [`OperationError::Invalid`] (an inconsistent policy), [`OperationError::CapChange`] (a
    /// raise in an unstable window, or an invalid override), or the store's error
    /// (`PolicyConflict` when the policy changed meanwhile, `NotPermitted` above a ceiling).
    /// Nothing is written.
    pub async fn replace_policy(
        &self,
        user: UserId,
        before: &Policy,
        after: &Policy,
        actor: &Actor,
        limits: PolicyLimits,
        override_: Option<&StabilityOverride>,
    ) -> Result<PolicyReplaced, OperationError> {
        after.validate().map_err(OperationError::Invalid)?;
        let window = StabilityWindow::new(self.store.clone(), Arc::clone(&self.clock));
        let decision = window
            .check_cap_change(user, before, after, override_)
            .await?;
        let now = self.clock.now();
        let by = actor.attribution(now);
        let by = match decision.audit_reason(actor.reason.as_deref()) {
            Some(reason) => by.because(reason),
            None => by,
        };
        let override_entry = decision.override_entry(user, &actor.attribution(now));
        self.store
            .policy_replace(
                user,
                Some(before),
                after,
                &by,
                limits,
                override_entry.as_ref(),
            )
            .await?;
        let policy = self.store.policy_get(user).await?;
        Ok(PolicyReplaced { policy, decision })
    }

    /// Turns the kill switch of `scope` on or off with the actor's authority (an admin-set
    /// switch is turned off only by an admin: the store checks it in the write's transaction);
    /// returns whether it was on before. Turning a switch on is never refused to its owner.
    ///
    /// # Errors
    /// The store's error (`NotPermitted` for an owner turning off an admin's switch).
    pub async fn set_kill_switch(
        &self,
        scope: KillSwitchScope,
        on: bool,
        actor: &Actor,
    ) -> Result<bool, OperationError> {
        let by = actor.attribution(self.clock.now());
        let previous = self
            .store
            .kill_switch_set(scope, on, &by, actor.authority)
            .await?;
        tracing::warn!(?scope, on, previous, actor = %actor.name, "kill switch set");
        Ok(previous)
    }
}
