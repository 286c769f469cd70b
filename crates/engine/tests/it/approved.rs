//! `vigil run`'s executor loop ([`ApprovedProposals`]) takes its work from the database: an
//! approved proposal that no process handed over (its approver died) is executed at start or at
//! the next sweep, the wake-up channel only makes it sooner, and a proposal that got an answer is
//! not tried again by the same loop. Orders are counted in the simulator's log.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_core::{Clock, Proposal, ProposalId, ProposalStatus};
use vigil_engine::{ApprovedProposals, ExecuteError, ExecutionOutcome};
use vigil_store::KillSwitchScope;

use crate::{
    operator_support::eventually,
    support::{btc, each_backend, eth, Harness, Setup, Spec},
};

/// What the loop reported, in order: each proposal and whether its execution placed an order.
type Reports = Arc<Mutex<Vec<(ProposalId, &'static str)>>>;

fn setup() -> Setup {
    Setup::default().allowlist(vec![btc(), eth()]).policy(|p| {
        p.cooldown_minutes = 0;
        p.anti_flip_minutes = 0;
    })
}

/// Starts the loop over `h`'s store and executor; returns the wake-up sender, the reports and
/// the stop token with the task.
fn start(
    h: &Harness,
    sweep: Duration,
) -> (
    mpsc::Sender<ProposalId>,
    Reports,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    let work = ApprovedProposals::new(h.store.clone(), h.executor.clone(), clock, sweep);
    let (wake, woken) = mpsc::channel(8);
    let reports: Reports = Arc::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (reports, shutdown) = (Arc::clone(&reports), shutdown.clone());
        tokio::spawn(async move {
            work.run(
                woken,
                shutdown,
                |proposal: Proposal, result: Result<ExecutionOutcome, ExecuteError>| {
                    let what = match result {
                        Ok(ExecutionOutcome::Placed(_)) => "placed",
                        Ok(ExecutionOutcome::Refused { .. }) => "refused",
                        Ok(_) => "other answer",
                        Err(_) => "error",
                    };
                    reports.lock().unwrap().push((proposal.id, what));
                },
            )
            .await;
        })
    };
    (wake, reports, shutdown, task)
}

fn reported(reports: &Reports, id: ProposalId) -> Vec<&'static str> {
    let reports = reports.lock().unwrap();
    reports
        .iter()
        .filter(|(p, _)| *p == id)
        .map(|(_, what)| *what)
        .collect()
}

async fn stop(shutdown: CancellationToken, task: tokio::task::JoinHandle<()>) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the loop stops when told")
        .unwrap();
}

#[tokio::test]
async fn i16_approved_proposals_nobody_handed_over_are_executed_at_start() {
    each_backend(setup(), |h| async move {
        // What a process killed between approval and execution leaves: APPROVED, no execution.
        let first = h.approved(Spec::default().market(btc())).await;
        let second = h.approved(Spec::default().market(eth())).await;
        // A sweep of an hour: only the first one, at start, can find them.
        let (_wake, reports, shutdown, task) = start(&h, Duration::from_secs(3_600));
        eventually("both proposals executed", || h.orders().len() == 2).await;
        for id in [first, second] {
            assert_eq!(h.orders_for(h.execution(id).await.client_order_id), 1);
            assert_eq!(
                h.store.proposal_get(id).await.unwrap().status,
                ProposalStatus::Executed
            );
        }
        eventually("both reported", || reports.lock().unwrap().len() == 2).await;
        assert_eq!(reported(&reports, first), ["placed"]);
        stop(shutdown, task).await;
        assert_eq!(h.orders().len(), 2, "one order per proposal");
    })
    .await;
}

#[tokio::test]
async fn i16_a_proposal_approved_while_running_is_found_by_a_sweep_without_a_wake_up() {
    each_backend(setup(), |h| async move {
        let (_wake, reports, shutdown, task) = start(&h, Duration::from_millis(50));
        let id = h.approved(Spec::default()).await;
        eventually("the sweep found it", || {
            reported(&reports, id) == ["placed"]
        })
        .await;
        assert_eq!(h.orders_for(h.execution(id).await.client_order_id), 1);
        stop(shutdown, task).await;
    })
    .await;
}

#[tokio::test]
async fn i16_a_wake_up_executes_at_once_between_sweeps() {
    each_backend(setup(), |h| async move {
        // The first sweep (at start) takes `first`; with an hour to the next one, only the
        // wake-up can find `id`.
        let first = h.approved(Spec::default().market(eth())).await;
        let (wake, reports, shutdown, task) = start(&h, Duration::from_secs(3_600));
        eventually("the first sweep ran", || {
            reported(&reports, first) == ["placed"]
        })
        .await;
        let id = h.approved(Spec::default()).await;
        wake.send(id).await.unwrap();
        eventually("the woken proposal executed", || {
            reported(&reports, id) == ["placed"]
        })
        .await;
        // A second wake-up for it (a duplicate hand-off) sends nothing: the wake-up after it
        // is handled after it (one channel, in order).
        wake.send(id).await.unwrap();
        let last = h.approved(Spec::default()).await;
        wake.send(last).await.unwrap();
        eventually("the last woken proposal executed", || {
            reported(&reports, last) == ["placed"]
        })
        .await;
        drop(wake);
        stop(shutdown, task).await;
        assert_eq!(
            reported(&reports, id),
            ["placed"],
            "the duplicate was skipped"
        );
        assert_eq!(h.orders().len(), 3, "one order each");
    })
    .await;
}

#[tokio::test]
async fn i16_a_proposal_the_kill_switch_refused_is_not_fired_when_the_switch_is_lifted() {
    each_backend(setup(), |h| async move {
        h.kill(KillSwitchScope::User(h.user), true).await;
        let held = h.approved(Spec::default().market(btc())).await;
        let (_wake, reports, shutdown, task) = start(&h, Duration::from_millis(50));
        eventually("refused by the switch", || {
            reported(&reports, held) == ["refused"]
        })
        .await;
        h.kill(KillSwitchScope::User(h.user), false).await;
        // A later proposal executes, so sweeps ran after the switch was lifted.
        let later = h.approved(Spec::default().market(eth())).await;
        eventually("the later one executed", || {
            reported(&reports, later) == ["placed"]
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop(shutdown, task).await;
        assert_eq!(
            reported(&reports, held),
            ["refused"],
            "tried once by this loop"
        );
        assert_eq!(
            h.store.proposal_get(held).await.unwrap().status,
            ProposalStatus::Approved
        );
        assert_eq!(h.orders().len(), 1, "only the later proposal traded");
    })
    .await;
}
