//! `vigil signoff`: the founding report's manual sign-off checklist, automated. Each item is
//! checked against the CONFIGURED deployment where that is safe, and against an in-process
//! simulator and a scratch database of the same back end where it needs to execute proposals,
//! so the live database keeps nothing of the run but one `audit_log` line (`signoff.run`).
//!
//! Items (`docs/signoff.md` says what each proves and what it cannot):
//! - `i1_unique_constraint`, `schema_constraints`: the live catalog, by name (`schema.rs`);
//! - `keys`: the two keys differ, the read-only key reads `/balance`, and — only against a
//!   loopback simulator — it is refused a trade with 310;
//! - `kill_switch_wired`: the switch refuses at entry and when turned on mid-execution;
//! - `alerts`: a webhook is configured and a test alert is delivered;
//! - `rollback_dry_run`: a dry run allows a rollback with no order and refuses one with an order,
//!   changing nothing;
//! - the production scenarios (`scenarios.rs`): T1, T2, T4, T5 and the edge cases E1–E3;
//! - `stability_window`: each user's caps and whether raising them is allowed now.
//!
//! An item that cannot run fails with the reason; nothing is skipped silently.

mod report;
mod scenarios;

use std::sync::Arc;

use chrono::TimeDelta;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use vigil_bitvavo::{
    BalanceQuery, BitvavoClients, BitvavoError, ClientConfig, CreateOrder, MarketsQuery,
    ReadOnlyClient, ReadOnlyKey, TradeKey,
};
use vigil_core::{ClientOrderId, Clock, Notional, OrderSize, Side};
use vigil_store::{
    schema, scratch::ScratchDatabase, Attribution, AuditEntry, Authority, DurabilitySettings,
    KillSwitchScope, Store,
};

pub use report::{SignoffItem, SignoffReport};
pub use scenarios::ScenarioExchange;

use self::scenarios::{ScenarioResult, SwitchOnAt, World};
use vigil_alerting::AlertDelivery;
use vigil_core::{Alert, AlertKind, AlertSeverity};
use vigil_engine::{hooks::Step, ExecutionOutcome};

use crate::{
    rollback::{RevertTo, Rollback},
    stability_window::{Instability, StabilityWindow},
};

/// An API key and its secret, as configured.
#[derive(Clone)]
pub struct KeyMaterial {
    /// The API key (64 characters).
    pub key: String,
    /// Its secret.
    pub secret: SecretString,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefix: String = self.key.chars().take(4).collect();
        f.debug_struct("KeyMaterial")
            .field("key", &format!("{prefix}…"))
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The configured exchange: where, and with which keys.
#[derive(Debug, Clone)]
pub struct SignoffExchange {
    /// How to reach it.
    pub config: ClientConfig,
    /// The read-only (View) key, if configured.
    pub read: Option<KeyMaterial>,
    /// The trade key, if configured.
    pub trade: Option<KeyMaterial>,
}

/// What the sign-off checks.
#[derive(Debug, Clone)]
pub struct SignoffInputs {
    /// The live store.
    pub store: Store,
    /// The live database URL, password included (to read its catalog and to create the scratch
    /// database next to it); never printed.
    pub database_url: SecretString,
    /// The configured exchange, if any.
    pub exchange: Option<SignoffExchange>,
    /// The configured alert delivery, if any.
    pub alerts: Option<AlertDelivery>,
    /// The in-process simulator the scenarios run against.
    pub scenario_exchange: Arc<dyn ScenarioExchange>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Who runs the sign-off (for its audit line).
    pub actor: String,
}

/// Runs every item and records one `signoff.run` line in the live `audit_log`.
pub async fn run(inputs: &SignoffInputs) -> SignoffReport {
    let url = inputs.database_url.expose_secret();
    let mut items = schema_items(&inputs.store, url).await;
    items.push(keys_item(inputs).await);

    let scratch = ScratchDatabase::create(url).await;
    let world = match &scratch {
        Ok(db) => World::new(
            db.store.clone(),
            inputs.scenario_exchange.as_ref(),
            Arc::clone(&inputs.clock),
        )
        .await
        .map_err(|e| format!("cannot set up the in-process simulator: {e}")),
        Err(e) => Err(e.clone()),
    };
    let mut kill_switch = SignoffItem::new(
        "kill_switch_wired",
        "the kill switch refuses at entry and when turned on mid-execution (I4)",
    );
    live_switches(&inputs.store, &mut kill_switch).await;
    let mut rollback = SignoffItem::new(
        "rollback_dry_run",
        "a rollback dry run allows a proposal with no order and refuses one with an order",
    );
    let mut scenario_items = Vec::new();
    match &world {
        Ok(world) => {
            kill_switch_wired(world, &mut kill_switch).await;
            rollback_dry_run(world, &mut rollback).await;
            scenario_items = scenarios::run_all(world)
                .await
                .into_iter()
                .map(scenario_item)
                .collect();
        }
        Err(problem) => {
            kill_switch.fail(problem.clone());
            rollback.fail(problem.clone());
            let mut item = SignoffItem::new(
                "scenarios",
                "the production scenarios T1, T2, T4, T5 and E1–E3",
            );
            item.fail(problem.clone());
            scenario_items.push(item);
        }
    }
    drop(world);
    if let Ok(db) = scratch {
        db.remove().await;
    }
    items.push(kill_switch);
    items.push(alerts_item(inputs).await);
    items.push(rollback);
    items.extend(scenario_items);
    items.push(stability_item(inputs).await);

    let report = SignoffReport {
        at: inputs.clock.now(),
        database: inputs.store.url().to_owned(),
        backend: format!("{:?}", inputs.store.backend()).to_ascii_lowercase(),
        exchange: inputs.exchange.as_ref().map(|e| e.config.base_url.clone()),
        passed: items.iter().all(|i| i.passed),
        items,
    };
    record(inputs, &report).await;
    report
}

/// The one trace in the live database: who ran the sign-off, when, and what it found.
async fn record(inputs: &SignoffInputs, report: &SignoffReport) {
    let by = Attribution::new(inputs.actor.clone(), report.at);
    let entry = AuditEntry::new(
        &by,
        "signoff.run",
        "deployment",
        None,
        Some(serde_json::json!({
            "passed": report.passed,
            "items": report.items.iter().map(|i| serde_json::json!({"id": i.id, "passed": i.passed})).collect::<Vec<_>>(),
        })),
    );
    if let Err(e) = inputs.store.audit_append(&entry).await {
        tracing::warn!(error = %e, "could not record the sign-off in audit_log");
    }
}

async fn schema_items(store: &Store, url: &str) -> Vec<SignoffItem> {
    let mut i1 = SignoffItem::new(
        "i1_unique_constraint",
        "UNIQUE(user_id, proposal_id) on trade_executions in the live schema (I1)",
    );
    let mut others = SignoffItem::new(
        "schema_constraints",
        "the other constraints, append-only triggers and durability settings the guarantees rely on",
    );
    match schema::read(url).await {
        Err(problem) => {
            i1.fail(problem.clone());
            others.fail(problem);
        }
        Ok(facts) => {
            let (name, table, columns) = schema::I1_UNIQUE;
            i1.expect(
                facts.has_unique(name, columns),
                format!(
                    "constraint {name} UNIQUE ({}) on {table}: {}",
                    columns.join(", "),
                    if facts.has_unique(name, columns) {
                        "present"
                    } else {
                        "MISSING"
                    }
                ),
            );
            for (name, table, columns) in schema::OTHER_UNIQUE {
                let present = facts.has_unique(name, columns);
                others.expect(
                    present,
                    format!(
                        "{name} UNIQUE ({}) on {table}: {}",
                        columns.join(", "),
                        if present { "present" } else { "MISSING" }
                    ),
                );
            }
            for (name, table) in schema::CHECKS {
                let present = facts.checks.iter().any(|c| c == name);
                others.expect(
                    present,
                    format!(
                        "CHECK {name} on {table}: {}",
                        if present { "present" } else { "MISSING" }
                    ),
                );
            }
            for trigger in facts.expected_triggers {
                let present = facts.triggers.iter().any(|t| t == trigger);
                others.expect(
                    present,
                    format!(
                        "append-only trigger {trigger}: {}",
                        if present {
                            "present"
                        } else {
                            "MISSING or disabled"
                        }
                    ),
                );
            }
        }
    }
    match store.durability_settings().await {
        Ok(DurabilitySettings::Sqlite {
            journal_mode,
            synchronous,
            foreign_keys,
        }) => {
            others.expect(
                journal_mode.eq_ignore_ascii_case("wal") && synchronous == "2" && foreign_keys,
                format!(
                    "SQLite journal_mode={journal_mode}, synchronous={synchronous} (2 = FULL), foreign_keys={foreign_keys}"
                ),
            );
        }
        Ok(DurabilitySettings::Postgres { synchronous_commit }) => {
            others.expect(
                synchronous_commit == "on",
                format!("PostgreSQL synchronous_commit={synchronous_commit}"),
            );
        }
        Err(e) => others.fail(format!("cannot read the durability settings: {e}")),
    }
    others.not_checked(
        "constraints of other tables (users, allowlist, scan jobs): they guard data quality, not the order guarantees"
            .to_owned(),
    );
    vec![i1, others]
}

/// Whether the exchange is a simulator on this machine, where a refused trade probe is safe.
fn is_loopback(base_url: &str) -> bool {
    url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]" || h == "::1")
}

async fn keys_item(inputs: &SignoffInputs) -> SignoffItem {
    let mut item = SignoffItem::new(
        "keys",
        "the read-only key differs from the trade key, reads balances, and cannot trade (I10)",
    );
    let Some(exchange) = &inputs.exchange else {
        item.fail(
            "no exchange is configured (bitvavo.base_url); configure the exchange and both keys",
        );
        return item;
    };
    let (Some(read), Some(trade)) = (&exchange.read, &exchange.trade) else {
        item.fail("both keys are required: VIGIL_BITVAVO_READ_KEY/SECRET and VIGIL_BITVAVO_TRADE_KEY/SECRET");
        return item;
    };
    let same_key = read.key == trade.key;
    let same_secret = read.secret.expose_secret() == trade.secret.expose_secret();
    item.expect(
        !same_key && !same_secret,
        if same_key {
            "the read-only key and the trade key are the SAME key".to_owned()
        } else if same_secret {
            "the read-only key and the trade key share the same SECRET".to_owned()
        } else {
            "the read-only key and the trade key differ (key and secret)".to_owned()
        },
    );
    if same_key || same_secret {
        return item;
    }
    let clients = ReadOnlyKey::new(&read.key, read.secret.clone())
        .and_then(|r| TradeKey::new(&trade.key, trade.secret.clone()).map(|t| (r, t)))
        .map_err(|e| e.to_string())
        .and_then(|(r, t)| {
            BitvavoClients::new(&exchange.config, r, t, Arc::clone(&inputs.clock))
                .map_err(|e| e.to_string())
        });
    let clients = match clients {
        Ok(c) => c,
        Err(e) => {
            item.fail(format!("the clients cannot be built: {e}"));
            return item;
        }
    };
    if let Err(e) = clients.read_only.sync_time().await {
        item.fail(format!("the exchange does not answer /time: {e}"));
        return item;
    }
    match clients.read_only.balance(&BalanceQuery::default()).await {
        Ok(balances) => item.ok(format!(
            "the read-only key reads /balance ({} assets)",
            balances.len()
        )),
        Err(e) => item.fail(format!("the read-only key cannot read /balance: {e}")),
    }
    if is_loopback(&exchange.config.base_url) {
        probe_read_key_cannot_trade(
            exchange,
            read,
            trade,
            &inputs.clock,
            &clients.read_only,
            &mut item,
        )
        .await;
    } else {
        item.not_checked(format!(
            "that the read-only key cannot trade: not probed, because {} is not a loopback \
             simulator and Bitvavo does not document whether it checks a key's permission before \
             validating an order, so even an order meant to be refused could be placed. Check in \
             the Bitvavo dashboard that this key has only the View permission",
            exchange.config.base_url
        ));
    }
    item.not_checked(
        "that the trade key can trade: only an order would show it; the first execution does"
            .to_owned(),
    );
    item
}

/// Sends, with the READ-ONLY key's credentials, an order certain to be refused (far below the
/// market minimum) and expects errorCode 310 (no trade permission).
async fn probe_read_key_cannot_trade(
    exchange: &SignoffExchange,
    read: &KeyMaterial,
    trade: &KeyMaterial,
    clock: &Arc<dyn Clock>,
    read_only: &ReadOnlyClient,
    item: &mut SignoffItem,
) {
    // The pair is swapped so that the trading capability carries the read-only credentials.
    let swapped = ReadOnlyKey::new(&trade.key, trade.secret.clone())
        .and_then(|r| TradeKey::new(&read.key, read.secret.clone()).map(|t| (r, t)))
        .map_err(|e| e.to_string())
        .and_then(|(r, t)| {
            BitvavoClients::new(&exchange.config, r, t, Arc::clone(clock))
                .map_err(|e| e.to_string())
        });
    let probe = match swapped {
        Ok(c) => {
            // The probe's requests are signed on the exchange's clock, like every other.
            if let Err(e) = c.read_only.sync_time().await {
                item.fail(format!(
                    "the exchange does not answer /time for the probe: {e}"
                ));
                return;
            }
            c.trading
        }
        Err(e) => {
            item.fail(format!("cannot build the probe: {e}"));
            return;
        }
    };
    let market = match read_only.markets(&MarketsQuery::default()).await {
        Ok(markets) => markets.into_iter().next().map(|m| m.rules.market),
        Err(e) => {
            item.fail(format!("cannot list the markets for the probe: {e}"));
            return;
        }
    };
    let Some(market) = market else {
        item.fail("the exchange lists no market to probe with");
        return;
    };
    let tiny = OrderSize::Quote(
        Notional::non_negative("probe", Decimal::new(1, 2)).unwrap_or(Notional::ZERO),
    );
    let order = match CreateOrder::market(market.clone(), Side::Buy, tiny, ClientOrderId::new()) {
        Ok(o) => o,
        Err(e) => {
            item.fail(format!("cannot build the probe order: {e}"));
            return;
        }
    };
    let sent = probe.create_order(order).await;
    match sent.result {
        Err(BitvavoError::Refused { code: 310, .. }) => item.ok(format!(
            "the read-only key was refused a 0.01 {} market buy on the loopback simulator with errorCode 310 (no trade permission)",
            market.quote()
        )),
        Err(e) => item.fail(format!(
            "a trade with the read-only key was answered {e}, not 310: the key may have the Trade permission"
        )),
        Ok(order) => item.fail(format!(
            "the read-only key PLACED order {} on {}: it has the Trade permission; cancel the order and replace the key",
            order.key.order_id, order.key.market
        )),
    }
}

async fn live_switches(store: &Store, item: &mut SignoffItem) {
    match store.kill_switch_read_global().await {
        Ok(on) => item.ok(format!(
            "live global kill switch: {}",
            if on { "ON" } else { "off" }
        )),
        Err(e) => item.fail(format!("cannot read the live kill switch: {e}")),
    }
}

async fn kill_switch_wired(world: &World<'_>, item: &mut SignoffItem) {
    let result = async {
        let user = world.user("signoff-kill-switch", true).await?;
        let entry = world.approved(user, TimeDelta::zero(), TimeDelta::hours(1)).await?;
        let by = Attribution::new("signoff", world.clock.now());
        world
            .store
            .kill_switch_set(KillSwitchScope::Global, true, &by, Authority::Admin)
            .await
            .map_err(|e| e.to_string())?;
        let refused = world.executor.execute(user, entry).await;
        world
            .store
            .kill_switch_set(KillSwitchScope::Global, false, &by, Authority::Admin)
            .await
            .map_err(|e| e.to_string())?;
        let claimed = world
            .store
            .execution_get_by_proposal(user, entry)
            .await
            .map_err(|e| e.to_string())?;
        item.expect(
            matches!(&refused, Ok(o) if o.refusal().map(vigil_core::Refusal::code) == Some("kill_switch_global"))
                && claimed.is_none(),
            format!(
                "switch on at entry: {}; execution claimed: {}",
                refused.as_ref().map_or_else(ToString::to_string, |o| o.name().to_owned()),
                claimed.is_some()
            ),
        );
        // Turned on after the preflight, before SUBMITTING: the commit re-reads it.
        let mid = world.approved(user, TimeDelta::zero(), TimeDelta::hours(1)).await?;
        let hooked = world.executor.clone().with_hooks(Arc::new(SwitchOnAt {
            step: Step::AfterPreflight,
            store: world.store.clone(),
            user,
            clock: Arc::clone(&world.clock),
        }));
        let outcome = hooked.execute(user, mid).await;
        let execution = world
            .store
            .execution_get_by_proposal(user, mid)
            .await
            .map_err(|e| e.to_string())?;
        let orders = execution
            .as_ref()
            .map_or(0, |e| world.exchange.orders_with_client_order_id(e.client_order_id));
        item.expect(
            matches!(&outcome, Ok(o) if o.refusal().map(vigil_core::Refusal::code) == Some("kill_switch_user"))
                && orders == 0,
            format!(
                "switch turned on after the preflight: {} ({}), orders on the exchange: {orders}",
                outcome.as_ref().map_or_else(ToString::to_string, |o| o.name().to_owned()),
                execution.map_or("no execution".to_owned(), |e| format!("execution {}", e.state))
            ),
        );
        Ok::<(), String>(())
    }
    .await;
    if let Err(problem) = result {
        item.fail(format!("the check could not run: {problem}"));
    }
    item.ok("run against the in-process simulator and a scratch database; the live database only gets the sign-off's audit line");
}

async fn alerts_item(inputs: &SignoffInputs) -> SignoffItem {
    let mut item = SignoffItem::new(
        "alerts",
        "alerts are configured and a test alert is delivered",
    );
    let Some(delivery) = inputs.alerts.as_ref().filter(|d| d.has_webhook()) else {
        item.fail("no alert webhook is configured: set alerts.webhook_url (VIGIL_ALERTS_WEBHOOK_URL); alerts only reach the log");
        return item;
    };
    let alert = Alert {
        kind: AlertKind::Test,
        severity: AlertSeverity::Warning,
        execution_id: None,
        user_id: None,
        message: format!("vigil signoff test alert from {}", inputs.actor),
    };
    match delivery.send_now(&alert).await {
        Ok(report) => item.ok(format!(
            "test alert delivered to {} (HTTP {}, {} attempt(s))",
            report.webhook, report.status, report.attempts
        )),
        Err(e) => item.fail(e.to_string()),
    }
    item.not_checked("that a person reads the channel: confirm the test alert arrived".to_owned());
    item
}

async fn rollback_dry_run(world: &World<'_>, item: &mut SignoffItem) {
    let result = async {
        let user = world.user("signoff-rollback", true).await?;
        let rollback = Rollback::new(
            world.store.clone(),
            Some(world.read_only.clone()),
            Arc::clone(&world.clock),
        );
        let unplaced = world
            .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
            .await?;
        let plan = rollback
            .plan(unplaced, RevertTo::Pending)
            .await
            .map_err(|e| e.to_string())?;
        let after = world
            .store
            .proposal_get(unplaced)
            .await
            .map_err(|e| e.to_string())?;
        item.expect(
            plan.allowed() && after.status == vigil_core::ProposalStatus::Approved,
            format!(
                "dry run on an approved proposal without an order: {}; its status stayed {}",
                if plan.allowed() { "allowed" } else { "refused" },
                after.status
            ),
        );
        let placed = world
            .approved(user, TimeDelta::zero(), TimeDelta::hours(1))
            .await?;
        let outcome = world.executor.execute(user, placed).await;
        if !matches!(outcome, Ok(ExecutionOutcome::Placed(_))) {
            return Err("the proposal to refuse could not be placed on the simulator".to_owned());
        }
        let plan = rollback
            .plan(placed, RevertTo::Cancelled)
            .await
            .map_err(|e| e.to_string())?;
        item.expect(
            !plan.allowed(),
            format!(
                "dry run on a proposal with a placed order: {}",
                if plan.allowed() { "ALLOWED" } else { "refused" }
            ),
        );
        Ok::<(), String>(())
    }
    .await;
    if let Err(problem) = result {
        item.fail(format!("the check could not run: {problem}"));
    }
}

fn scenario_item(result: ScenarioResult) -> SignoffItem {
    let mut item = SignoffItem::new(result.id, result.title);
    item.passed = result.passed;
    item.evidence = result.evidence;
    item
}

async fn stability_item(inputs: &SignoffInputs) -> SignoffItem {
    let mut item = SignoffItem::new(
        "stability_window",
        "each user's caps, and whether the last 24 hours allow raising them",
    );
    let window = StabilityWindow::new(inputs.store.clone(), Arc::clone(&inputs.clock));
    let users = match inputs.store.user_list().await {
        Ok(u) => u,
        Err(e) => {
            item.fail(format!("cannot list the users: {e}"));
            return item;
        }
    };
    for user in users {
        let policy = match inputs.store.policy_get(user.id).await {
            Ok(p) => p,
            Err(e) => {
                item.fail(format!("cannot read {}'s policy: {e}", user.name));
                continue;
            }
        };
        match window.status(user.id).await {
            Ok(status) => {
                let blocking: Vec<String> = status
                    .instabilities
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let unresolved = status.instabilities.iter().any(|i| {
                    matches!(
                        i,
                        Instability::UnknownOutcome {
                            resolved: false,
                            ..
                        } | Instability::Unverifiable { .. }
                    )
                });
                let line = format!(
                    "{}: trading {}, order cap {}, daily cap {}; raising a cap now: {}",
                    user.name,
                    if policy.trading_enabled {
                        "enabled"
                    } else {
                        "disabled"
                    },
                    policy.order_notional_max,
                    policy.daily_notional_max,
                    if blocking.is_empty() {
                        "allowed (stable 24 h)".to_owned()
                    } else {
                        format!("refused ({})", blocking.join("; "))
                    }
                );
                item.expect(!unresolved, line);
            }
            Err(e) => item.fail(format!("cannot read the window for {}: {e}", user.name)),
        }
    }
    if item.evidence.is_empty() {
        item.ok("no users yet");
    }
    item.not_checked(
        "whether the caps suit the account: 25 EUR per order is the careful first deployment"
            .to_owned(),
    );
    item
}
