//! The production scenarios of the founding sign-off report, run by the sign-off against an
//! in-process simulator and a scratch database of the live back end — the same executor,
//! reconciler, client and signing that trade real money.
//!
//! - T1 idempotency: executing a proposal twice places one order.
//! - T2 retry storm: ten concurrent executions of one proposal place one order.
//! - T4 kill switch: global, then user, refuse before anything is written; off again, it trades.
//! - T5 allowlist: an empty allowlist refuses (deny by default).
//! - E1 expired proposal: refused before any claim.
//! - E2 exchange timeout: the order's answer is lost; the retry places nothing; the reconciler
//!   finds the one order by its `clientOrderId`.
//! - E3 balance changed: the balance drops after approval; the fresh balance read refuses.
//!
//! Orders are counted in the SIMULATOR's own order log ([`ScenarioExchange`]), never in
//! Vigil's tables. (T3, scheduler locking, is the scheduler's own test suite: it needs several
//! instances, not one sign-off run.)

use std::{fmt, sync::Arc};

use chrono::TimeDelta;
use futures::future::{join_all, BoxFuture};
use rust_decimal::Decimal;
use vigil_bitvavo::{
    BitvavoClients, ClientBuildError, ClientConfig, KeyError, ReadOnlyKey, TradeKey,
};
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    ClientOrderId, Clock, Execution, ExecutionState, Market, Notional, OrderSize, OrderType,
    Policy, Proposal, ProposalId, ProposalSource, ProposalStatus, Side, UserId,
};
use vigil_store::{Attribution, Authority, KillSwitchScope, Store};

use vigil_engine::{
    hooks::{HookAction, Step, StepHooks},
    ExecutionOutcome, Executor, ExecutorConfig, Reconciler, ReconcilerConfig,
};

/// The exchange the scenarios run against: an in-process simulator, with access to its own
/// order log and its faults (implemented by the caller, which owns the simulator).
pub trait ScenarioExchange: Send + Sync + fmt::Debug {
    /// How to reach it.
    fn client_config(&self) -> ClientConfig;
    /// Its view-only key.
    ///
    /// # Errors
    /// When the key does not parse.
    fn read_key(&self) -> Result<ReadOnlyKey, KeyError>;
    /// Its trade key.
    ///
    /// # Errors
    /// When the key does not parse.
    fn trade_key(&self) -> Result<TradeKey, KeyError>;
    /// How many orders with this `clientOrderId` the exchange accepted, from its own log.
    fn orders_with_client_order_id(&self, id: ClientOrderId) -> usize;
    /// The next order request is carried out but its answer is lost (a dropped connection).
    ///
    /// # Errors
    /// When the fault cannot be set.
    fn lose_next_order_answer(&self) -> Result<(), String>;
    /// Removes every fault.
    fn clear_faults(&self);
    /// Sets the available balance of `asset` on the account the keys belong to.
    ///
    /// # Errors
    /// When the balance cannot be set.
    fn set_balance(&self, asset: &str, available: Decimal) -> Result<(), String>;
}

/// The result of one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScenarioResult {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) passed: bool,
    pub(crate) evidence: Vec<String>,
}

/// The market every scenario trades.
const MARKET: &str = "BTC-EUR";

/// Everything a scenario needs: the scratch store, the executor, the reconciler and the
/// simulator.
pub(crate) struct World<'a> {
    pub(crate) store: Store,
    pub(crate) read_only: vigil_bitvavo::ReadOnlyClient,
    pub(crate) executor: Executor,
    pub(crate) reconciler: Reconciler,
    pub(crate) exchange: &'a dyn ScenarioExchange,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Why the world could not be built.
pub(crate) fn build_error(e: &ClientBuildError) -> String {
    format!("cannot build clients for the in-process simulator: {e}")
}

impl<'a> World<'a> {
    pub(crate) async fn new(
        store: Store,
        exchange: &'a dyn ScenarioExchange,
        clock: Arc<dyn Clock>,
    ) -> Result<World<'a>, String> {
        let read = exchange.read_key().map_err(|e| e.to_string())?;
        let trade = exchange.trade_key().map_err(|e| e.to_string())?;
        let clients =
            BitvavoClients::new(&exchange.client_config(), read, trade, Arc::clone(&clock))
                .map_err(|e| build_error(&e))?;
        clients
            .read_only
            .sync_time()
            .await
            .map_err(|e| format!("the in-process simulator does not answer: {e}"))?;
        let executor = Executor::new(
            store.clone(),
            clients.read_only.clone(),
            clients.trading.clone(),
            Arc::clone(&clock),
            ExecutorConfig::default(),
        )
        .map_err(|e| e.to_string())?;
        let reconciler = Reconciler::new(
            store.clone(),
            clients.read_only.clone(),
            Arc::clone(&clock),
            ReconcilerConfig::default(),
        )
        .map_err(|e| e.to_string())?;
        Ok(World {
            store,
            read_only: clients.read_only.clone(),
            executor,
            reconciler,
            exchange,
            clock,
        })
    }

    fn by(&self) -> Attribution {
        Attribution::new("signoff", self.clock.now())
    }

    /// A scratch user who may trade `MARKET` (or nothing, with `allow = false`).
    pub(crate) async fn user(&self, name: &str, allow: bool) -> Result<UserId, String> {
        let user = self
            .store
            .user_create(name, false, self.clock.now())
            .await
            .map_err(|e| e.to_string())?;
        let policy = Policy {
            trading_enabled: true,
            ..Policy::default()
        };
        self.store
            .policy_set(
                user.id,
                &policy,
                &self.by(),
                vigil_store::PolicyLimits::Operator,
            )
            .await
            .map_err(|e| e.to_string())?;
        if allow {
            let market = Market::parse(MARKET).map_err(|e| e.to_string())?;
            self.store
                .allowlist_add(user.id, &market, &self.by())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(user.id)
    }

    /// An approved 10 EUR market buy of `user`, created `age` ago and living `ttl`.
    pub(crate) async fn approved(
        &self,
        user: UserId,
        age: TimeDelta,
        ttl: TimeDelta,
    ) -> Result<ProposalId, String> {
        let created = self.clock.now() - age;
        let proposal = Proposal::new(
            ProposalDraft {
                user_id: user,
                market: Market::parse(MARKET).map_err(|e| e.to_string())?,
                side: Side::Buy,
                order_type: OrderType::Market,
                size: OrderSize::Quote(Notional::from_whole(10)),
                limit_price: None,
                source: ProposalSource::Person("signoff".into()),
                rationale: "vigil signoff scenario".into(),
                ttl,
            },
            created,
        )
        .map_err(|problems| format!("{problems:?}"))?;
        self.store
            .proposal_insert(&proposal)
            .await
            .map_err(|e| e.to_string())?;
        self.store
            .proposal_transition(
                proposal.id,
                ProposalStatus::Pending,
                ProposalAction::Approve,
                created,
                None,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(proposal.id)
    }

    async fn execution(
        &self,
        user: UserId,
        proposal: ProposalId,
    ) -> Result<Option<Execution>, String> {
        self.store
            .execution_get_by_proposal(user, proposal)
            .await
            .map_err(|e| e.to_string())
    }

    async fn switch(&self, scope: KillSwitchScope, on: bool) -> Result<(), String> {
        self.store
            .kill_switch_set(scope, on, &self.by(), Authority::Admin)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn outcome_text(result: &Result<ExecutionOutcome, vigil_engine::ExecuteError>) -> String {
    match result {
        Ok(ExecutionOutcome::Refused { refusal, .. }) => format!("refused ({})", refusal.code()),
        Ok(other) => other.name().to_owned(),
        Err(e) => format!("error ({e})"),
    }
}

/// Collects evidence and the verdict of one scenario.
struct Check {
    passed: bool,
    evidence: Vec<String>,
}

impl Check {
    fn new() -> Check {
        Check {
            passed: true,
            evidence: Vec::new(),
        }
    }

    fn expect(&mut self, ok: bool, what: String) {
        if ok {
            self.evidence.push(what);
        } else {
            self.passed = false;
            self.evidence.push(format!("FAILED: {what}"));
        }
    }

    fn done(self, id: &'static str, title: &'static str) -> ScenarioResult {
        ScenarioResult {
            id,
            title,
            passed: self.passed,
            evidence: self.evidence,
        }
    }
}

/// Runs every scenario in order (E3 last: it empties the balance).
pub(crate) async fn run_all(world: &World<'_>) -> Vec<ScenarioResult> {
    let mut results = Vec::new();
    let scenarios: [(&'static str, &'static str); 7] = [
        (
            "t1_idempotency",
            "T1 idempotency: executing twice places one order",
        ),
        (
            "t2_retry_storm",
            "T2 retry storm: 10 concurrent executions place one order",
        ),
        (
            "t4_kill_switch",
            "T4 kill switch: global and user switches refuse",
        ),
        (
            "t5_allowlist",
            "T5 allowlist: an empty allowlist refuses (deny by default)",
        ),
        (
            "e1_expired_proposal",
            "E1 expired proposal: refused before any claim",
        ),
        (
            "e2_exchange_timeout",
            "E2 exchange timeout: no second order; the reconciler finds the one",
        ),
        (
            "e3_balance_changed",
            "E3 balance changed: the fresh balance read refuses",
        ),
    ];
    for (id, title) in scenarios {
        let outcome = match id {
            "t1_idempotency" => t1(world).await,
            "t2_retry_storm" => t2(world).await,
            "t4_kill_switch" => t4(world).await,
            "t5_allowlist" => t5(world).await,
            "e1_expired_proposal" => e1(world).await,
            "e2_exchange_timeout" => e2(world).await,
            _ => e3(world).await,
        };
        results.push(match outcome {
            Ok(check) => check.done(id, title),
            Err(problem) => ScenarioResult {
                id,
                title,
                passed: false,
                evidence: vec![format!("FAILED: the scenario could not run: {problem}")],
            },
        });
    }
    results
}

async fn t1(w: &World<'_>) -> Result<Check, String> {
    let mut c = Check::new();
    let user = w.user("signoff-t1", true).await?;
    let proposal = w
        .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
        .await?;
    let first = w.executor.execute(user, proposal).await;
    c.expect(
        matches!(first, Ok(ExecutionOutcome::Placed(_))),
        format!("first execution: {}", outcome_text(&first)),
    );
    let second = w.executor.execute(user, proposal).await;
    c.expect(
        matches!(second, Ok(ExecutionOutcome::AlreadyClaimed(_))),
        format!("second execution: {}", outcome_text(&second)),
    );
    let execution = w
        .execution(user, proposal)
        .await?
        .ok_or("no execution was recorded")?;
    let orders = w
        .exchange
        .orders_with_client_order_id(execution.client_order_id);
    c.expect(
        orders == 1,
        format!(
            "orders on the exchange for clientOrderId {}: {orders}",
            execution.client_order_id
        ),
    );
    Ok(c)
}

async fn t2(w: &World<'_>) -> Result<Check, String> {
    let mut c = Check::new();
    let user = w.user("signoff-t2", true).await?;
    let proposal = w
        .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
        .await?;
    let attempts = join_all((0..10).map(|_| w.executor.execute(user, proposal))).await;
    let placed = attempts
        .iter()
        .filter(|r| matches!(r, Ok(ExecutionOutcome::Placed(_))))
        .count();
    let ids: std::collections::BTreeSet<_> = attempts
        .iter()
        .filter_map(|r| r.as_ref().ok().and_then(|o| o.execution()).map(|e| e.id))
        .collect();
    c.expect(
        placed == 1,
        format!("10 concurrent executions: {placed} placed"),
    );
    c.expect(
        ids.len() == 1,
        format!("distinct executions among the answers: {}", ids.len()),
    );
    let execution = w
        .execution(user, proposal)
        .await?
        .ok_or("no execution was recorded")?;
    let orders = w
        .exchange
        .orders_with_client_order_id(execution.client_order_id);
    c.expect(orders == 1, format!("orders on the exchange: {orders}"));
    Ok(c)
}

async fn t4(w: &World<'_>) -> Result<Check, String> {
    let mut c = Check::new();
    let user = w.user("signoff-t4", true).await?;
    let proposal = w
        .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
        .await?;
    w.switch(KillSwitchScope::Global, true).await?;
    let global = w.executor.execute(user, proposal).await;
    w.switch(KillSwitchScope::Global, false).await?;
    c.expect(
        matches!(&global, Ok(o) if o.refusal().map(vigil_core::Refusal::code) == Some("kill_switch_global")),
        format!("with the global switch on: {}", outcome_text(&global)),
    );
    w.switch(KillSwitchScope::User(user), true).await?;
    let own = w.executor.execute(user, proposal).await;
    w.switch(KillSwitchScope::User(user), false).await?;
    c.expect(
        matches!(&own, Ok(o) if o.refusal().map(vigil_core::Refusal::code) == Some("kill_switch_user")),
        format!("with the user's switch on: {}", outcome_text(&own)),
    );
    c.expect(
        w.execution(user, proposal).await?.is_none(),
        "nothing was claimed while a switch was on".to_owned(),
    );
    let after = w.executor.execute(user, proposal).await;
    c.expect(
        matches!(after, Ok(ExecutionOutcome::Placed(_))),
        format!("with both switches off again: {}", outcome_text(&after)),
    );
    Ok(c)
}

async fn t5(w: &World<'_>) -> Result<Check, String> {
    let mut c = Check::new();
    let user = w.user("signoff-t5", false).await?;
    let proposal = w
        .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
        .await?;
    let result = w.executor.execute(user, proposal).await;
    c.expect(
        matches!(&result, Ok(o) if o.refusal().map(vigil_core::Refusal::code) == Some("market_not_allowlisted")),
        format!("with an empty allowlist: {}", outcome_text(&result)),
    );
    if let Some(e) = w.execution(user, proposal).await? {
        let orders = w.exchange.orders_with_client_order_id(e.client_order_id);
        c.expect(
            e.state == ExecutionState::Rejected && orders == 0,
            format!(
                "execution {} is {}; orders on the exchange: {orders}",
                e.id, e.state
            ),
        );
    }
    Ok(c)
}

async fn e1(w: &World<'_>) -> Result<Check, String> {
    let mut c = Check::new();
    let user = w.user("signoff-e1", true).await?;
    let proposal = w
        .approved(user, TimeDelta::hours(2), TimeDelta::hours(1))
        .await?;
    let result = w.executor.execute(user, proposal).await;
    c.expect(
        matches!(&result, Ok(o) if o.refusal().map(vigil_core::Refusal::code) == Some("proposal_expired")),
        format!("a proposal that expired an hour ago: {}", outcome_text(&result)),
    );
    c.expect(
        w.execution(user, proposal).await?.is_none(),
        "nothing was claimed".to_owned(),
    );
    Ok(c)
}

async fn e2(w: &World<'_>) -> Result<Check, String> {
    let mut c = Check::new();
    let user = w.user("signoff-e2", true).await?;
    let proposal = w
        .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
        .await?;
    w.exchange.lose_next_order_answer()?;
    let first = w.executor.execute(user, proposal).await;
    w.exchange.clear_faults();
    c.expect(
        matches!(first, Ok(ExecutionOutcome::OutcomeUnknown(_))),
        format!("the order's answer was lost: {}", outcome_text(&first)),
    );
    let retry = w.executor.execute(user, proposal).await;
    c.expect(
        matches!(retry, Ok(ExecutionOutcome::AlreadyClaimed(_))),
        format!("a retry: {}", outcome_text(&retry)),
    );
    let report = w.reconciler.reconcile_once().await;
    let execution = w
        .execution(user, proposal)
        .await?
        .ok_or("no execution was recorded")?;
    // Found by its clientOrderId; the same pass may already follow it to FILLED.
    c.expect(
        report.found.contains(&execution.id) && execution.state.may_hold_an_order(),
        format!(
            "one reconciler pass found the order by clientOrderId{}; the execution is {}",
            if report.found.contains(&execution.id) {
                ""
            } else {
                " (NOT)"
            },
            execution.state
        ),
    );
    let orders = w
        .exchange
        .orders_with_client_order_id(execution.client_order_id);
    c.expect(orders == 1, format!("orders on the exchange: {orders}"));
    Ok(c)
}

async fn e3(w: &World<'_>) -> Result<Check, String> {
    let mut c = Check::new();
    let user = w.user("signoff-e3", true).await?;
    let proposal = w
        .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
        .await?;
    w.exchange.set_balance("EUR", Decimal::ONE)?;
    let result = w.executor.execute(user, proposal).await;
    c.expect(
        matches!(&result, Ok(o) if o.refusal().map(vigil_core::Refusal::code) == Some("insufficient_balance")),
        format!("after the balance dropped to 1 EUR: {}", outcome_text(&result)),
    );
    if let Some(e) = w.execution(user, proposal).await? {
        let orders = w.exchange.orders_with_client_order_id(e.client_order_id);
        c.expect(orders == 0, format!("orders on the exchange: {orders}"));
    }
    Ok(c)
}

/// A step hook that turns the user's kill switch on when the execution reaches `step`: proves
/// the switch is re-read in the `SUBMITTING` transaction (I4), not only at entry.
#[derive(Debug)]
pub(crate) struct SwitchOnAt {
    pub(crate) step: Step,
    pub(crate) store: Store,
    pub(crate) user: UserId,
    pub(crate) clock: Arc<dyn Clock>,
}

impl StepHooks for SwitchOnAt {
    fn at<'a>(&'a self, step: Step, _execution: &'a Execution) -> BoxFuture<'a, HookAction> {
        Box::pin(async move {
            if step == self.step {
                let by = Attribution::new("signoff", self.clock.now());
                if let Err(e) = self
                    .store
                    .kill_switch_set(
                        KillSwitchScope::User(self.user),
                        true,
                        &by,
                        Authority::Admin,
                    )
                    .await
                {
                    tracing::warn!(error = %e, "sign-off hook could not turn the switch on");
                }
            }
            HookAction::Continue
        })
    }
}
