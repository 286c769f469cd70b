//! The executor loop of `vigil run`: every approved proposal is executed, even when the process
//! that approved it died before handing it over.
//!
//! Work comes from the database, not from memory: at start and at every sweep the loop reads the
//! proposals that are `APPROVED`, unexpired and without an execution
//! ([`Store::proposals_awaiting_execution`]) and executes them, oldest first. The scheduler's
//! hand-off channel is only a wake-up, so that an auto-approved proposal is executed at once
//! rather than at the next sweep; a proposal lost from the channel (a crash between the approval
//! and the execution, a full channel) is found by the next sweep after the restart.
//!
//! Each proposal is executed through [`Executor::execute`], so every rail applies and the claim
//! keeps it to one order whoever else executes it at the same time (another instance's loop,
//! `vigil execute`, the API). A proposal that got an answer (placed, refused, failed, unknown,
//! already claimed) is not tried again by this loop: a proposal refused before its claim (a kill
//! switch was on) stays `APPROVED` until it expires, and lifting the switch does not fire it;
//! a person executes, reverts or cancels it. An execution that ended in an error (the database
//! was unreachable) is tried again at the next sweep.

use std::{collections::HashSet, sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_core::{Clock, Proposal, ProposalId};
use vigil_store::Store;

use crate::{ExecuteError, ExecutionOutcome, Executor};

/// How many approved proposals one sweep reads at most.
const SWEEP_BATCH: u32 = 500;

/// What the loop executes, and how often it looks for work in the database.
#[derive(Debug, Clone)]
pub struct ApprovedProposals {
    store: Store,
    executor: Executor,
    clock: Arc<dyn Clock>,
    sweep_interval: Duration,
}

impl ApprovedProposals {
    /// The loop over `store`'s approved proposals, executed by `executor`; `clock` decides expiry,
    /// `sweep_interval` how often the database is read (the first sweep is at once).
    #[must_use]
    pub fn new(
        store: Store,
        executor: Executor,
        clock: Arc<dyn Clock>,
        sweep_interval: Duration,
    ) -> ApprovedProposals {
        ApprovedProposals {
            store,
            executor,
            clock,
            sweep_interval,
        }
    }

    /// Runs until `shutdown` is cancelled: executes every approved proposal the database holds,
    /// and those whose ids arrive on `wake` at once. `executed` is called with each proposal and
    /// what its execution answered (for the caller's output and metrics). An execution in
    /// progress is not interrupted by the token: it runs to its safe end, then the loop returns.
    pub async fn run(
        &self,
        mut wake: mpsc::Receiver<ProposalId>,
        shutdown: CancellationToken,
        mut executed: impl FnMut(Proposal, Result<ExecutionOutcome, ExecuteError>),
    ) {
        let mut answered: HashSet<ProposalId> = HashSet::new();
        let mut sweep = tokio::time::interval(self.sweep_interval);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut wake_open = true;
        loop {
            let batch = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                next = wake.recv(), if wake_open => match next {
                    Some(id) => self.woken(id).await,
                    // The sender is gone (the scheduler stopped): sweeps alone from now on.
                    None => {
                        wake_open = false;
                        continue;
                    }
                },
                _ = sweep.tick() => self.sweep(&mut answered).await,
            };
            for proposal in batch {
                if shutdown.is_cancelled() {
                    return;
                }
                if answered.contains(&proposal.id) {
                    continue;
                }
                let result = self.executor.execute(proposal.user_id, proposal.id).await;
                if result.is_ok() {
                    answered.insert(proposal.id);
                }
                executed(proposal, result);
            }
        }
    }

    /// The proposals of one sweep; forgets the answered ids that are no longer work (executed,
    /// expired, reverted), so the memory holds at most one batch.
    async fn sweep(&self, answered: &mut HashSet<ProposalId>) -> Vec<Proposal> {
        match self
            .store
            .proposals_awaiting_execution(self.clock.now(), SWEEP_BATCH)
            .await
        {
            Ok(found) => {
                let waiting: HashSet<ProposalId> = found.iter().map(|p| p.id).collect();
                answered.retain(|id| waiting.contains(id));
                found
            }
            Err(e) => {
                tracing::warn!(error = %e, "approved proposals cannot be read; trying again at the next sweep");
                Vec::new()
            }
        }
    }

    /// The proposal a wake-up names, when it can be read (else the next sweep finds it).
    async fn woken(&self, id: ProposalId) -> Vec<Proposal> {
        match self.store.proposal_get(id).await {
            Ok(proposal) => vec![proposal],
            Err(e) => {
                tracing::warn!(proposal_id = %id, error = %e, "an approved proposal cannot be read; the next sweep tries again");
                Vec::new()
            }
        }
    }
}
