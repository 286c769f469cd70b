//! The audit's database checks: I1, I2, I3, I5, I6 and I7 over the executions of the period,
//! with the policy and allowlist replayed as they were when each order was sent.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveTime, TimeDelta};
use serde_json::json;
use vigil_core::{Execution, ExecutionState, Notional, Timestamp, UserId};
use vigil_store::{Store, StoreError};

use super::{history::UserHistory, AuditConfig, AuditFinding, Part};
use crate::recent::RecentExecutions;

/// When the guards judged an execution: its signing time (the `SUBMITTING` commit), else its
/// claim (the same instant the store's facts use).
fn sent_at(e: &Execution) -> Timestamp {
    e.signed_at.unwrap_or(e.created_at)
}

/// What an order counts against the daily cap: as the store's guard facts count it.
fn counted(e: &Execution) -> Notional {
    match e.state {
        ExecutionState::Canceled => e.filled_notional,
        _ => e.notional.max(e.filled_notional),
    }
}

fn brief(e: &Execution) -> serde_json::Value {
    json!({
        "execution_id": e.id,
        "user_id": e.user_id,
        "proposal_id": e.proposal_id,
        "client_order_id": e.client_order_id,
        "market": e.market.to_string(),
        "side": e.side.as_str(),
        "state": e.state.as_str(),
        "notional": e.notional,
        "filled_notional": e.filled_notional,
        "exchange_order_id": e.exchange_order_id,
        "signed_at": e.signed_at,
        "created_at": e.created_at,
    })
}

pub(super) async fn check(
    store: &Store,
    in_period: &[Execution],
    recent: &RecentExecutions,
    start: Timestamp,
    now: Timestamp,
    config: &AuditConfig,
) -> Result<Part, StoreError> {
    let mut part = Part::default();
    part.ran(
        "I1",
        "at most one execution per (user, proposal)",
        i1_one_execution_per_proposal(recent),
    );
    part.ran(
        "I2",
        "every execution that reached the exchange has an order id and a signing time",
        i2_placed_have_order_ids(in_period),
    );
    part.ran(
        "I3",
        "no SUBMITTING past its window + margin, no CLAIMED left behind",
        i3_nothing_stuck(store, now, config).await?,
    );

    // Orders that may exist (what the guards count), per user, in sending order.
    let mut per_user: BTreeMap<UserId, Vec<&Execution>> = BTreeMap::new();
    for e in recent.iter().filter(|e| e.state.may_hold_an_order()) {
        per_user.entry(e.user_id).or_default().push(e);
    }
    let mut i5 = Vec::new();
    let mut i6 = Vec::new();
    let mut i7 = Vec::new();
    for (user, mut orders) in per_user {
        orders.sort_by_key(|e| (sent_at(e), e.id));
        let history = UserHistory::load(store, user).await?;
        if history.truncated {
            i5.push(AuditFinding {
                check: "coverage",
                code: "incomplete",
                summary: format!(
                    "user {user}'s audit log is longer than one page; policy and allowlist \
                     changes before the oldest entry read are not known"
                ),
                evidence: json!({ "user_id": user }),
            });
        }
        let judged: Vec<&Execution> = orders
            .iter()
            .copied()
            .filter(|e| sent_at(e) >= start)
            .collect();
        for e in &judged {
            let at = sent_at(e);
            if !history.allowlist_at(at).contains(&e.market) {
                i5.push(AuditFinding {
                    check: "I5",
                    code: "market_not_allowed",
                    summary: format!(
                        "execution {} sent an order on {} while {} was not on the user's allowlist",
                        e.id, e.market, e.market
                    ),
                    evidence: json!({
                        "execution": brief(e),
                        "allowlist_at_the_time": history.allowlist_at(at).iter().map(ToString::to_string).collect::<Vec<_>>(),
                    }),
                });
            }
            let policy = history.policy_at(at);
            if e.notional > policy.order_notional_max {
                i7.push(AuditFinding {
                    check: "I7",
                    code: "order_cap_exceeded",
                    summary: format!(
                        "execution {} was worth {} against a per-order cap of {}",
                        e.id, e.notional, policy.order_notional_max
                    ),
                    evidence: json!({ "execution": brief(e), "order_notional_max": policy.order_notional_max }),
                });
            }
        }
        i6.extend(i6_spacing(&orders, &judged, &history));
        i7.extend(i7_daily(&orders, &judged, &history));
    }
    part.ran(
        "I5",
        "no order on a market that was not on the allowlist at the time",
        i5,
    );
    part.ran(
        "I6",
        "cooldown and anti-flip between a user's orders on a market",
        i6,
    );
    part.ran("I7", "per-order and daily caps, policy at the time", i7);
    Ok(part)
}

fn i1_one_execution_per_proposal(recent: &RecentExecutions) -> Vec<AuditFinding> {
    let mut by_proposal: HashMap<_, Vec<&Execution>> = HashMap::new();
    for e in recent.iter() {
        by_proposal
            .entry((e.user_id, e.proposal_id))
            .or_default()
            .push(e);
    }
    let mut client_ids: HashMap<_, Vec<&Execution>> = HashMap::new();
    for e in recent.iter() {
        client_ids.entry(e.client_order_id).or_default().push(e);
    }
    let mut found: Vec<AuditFinding> = by_proposal
        .into_iter()
        .filter(|(_, es)| es.len() > 1)
        .map(|((user, proposal), es)| AuditFinding {
            check: "I1",
            code: "duplicate_execution",
            summary: format!(
                "proposal {proposal} of user {user} has {} executions; at most one may exist",
                es.len()
            ),
            evidence: json!({ "executions": es.iter().map(|e| brief(e)).collect::<Vec<_>>() }),
        })
        .collect();
    found.extend(
        client_ids
            .into_iter()
            .filter(|(_, es)| es.len() > 1)
            .map(|(id, es)| AuditFinding {
                check: "I1",
                code: "shared_client_order_id",
                summary: format!("clientOrderId {id} is used by {} executions", es.len()),
                evidence: json!({ "executions": es.iter().map(|e| brief(e)).collect::<Vec<_>>() }),
            }),
    );
    found.sort_by(|a, b| a.summary.cmp(&b.summary));
    found
}

fn i2_placed_have_order_ids(in_period: &[Execution]) -> Vec<AuditFinding> {
    let mut found = Vec::new();
    for e in in_period {
        let placed = matches!(
            e.state,
            ExecutionState::Submitted | ExecutionState::Filled | ExecutionState::Canceled
        );
        if placed && e.exchange_order_id.as_deref().is_none_or(str::is_empty) {
            found.push(AuditFinding {
                check: "I2",
                code: "placed_without_order_id",
                summary: format!(
                    "execution {} is {} but has no exchange order id",
                    e.id, e.state
                ),
                evidence: json!({ "execution": brief(e) }),
            });
        }
        if (e.state.may_hold_an_order() || e.state == ExecutionState::Failed)
            && e.signed_at.is_none()
        {
            found.push(AuditFinding {
                check: "I2",
                code: "sent_without_signing_time",
                summary: format!(
                    "execution {} is {} but no SUBMITTING signing time was recorded",
                    e.id, e.state
                ),
                evidence: json!({ "execution": brief(e) }),
            });
        }
    }
    found
}

async fn i3_nothing_stuck(
    store: &Store,
    now: Timestamp,
    config: &AuditConfig,
) -> Result<Vec<AuditFinding>, StoreError> {
    let margin = TimeDelta::from_std(config.submitting_margin).unwrap_or(TimeDelta::MAX);
    let mut found = Vec::new();
    for e in store
        .execution_list_unresolved(vigil_store::LIST_LIMIT_MAX)
        .await?
    {
        let window = TimeDelta::milliseconds(i64::from(e.access_window_ms.unwrap_or(0)));
        let signed = sent_at(&e);
        if signed + window + margin < now {
            found.push(AuditFinding {
                check: "I3",
                code: "submitting_overdue",
                summary: format!(
                    "execution {} has been SUBMITTING since {} (window {} ms + margin {} s); \
                     the reconciler should have resolved it: run `vigil reconcile`",
                    e.id,
                    signed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    window.num_milliseconds(),
                    margin.num_seconds()
                ),
                evidence: json!({ "execution": brief(&e), "outcome_unknown": e.outcome_unknown }),
            });
        }
    }
    let max_age = TimeDelta::from_std(config.claimed_max_age).unwrap_or(TimeDelta::MAX);
    for e in store
        .execution_list_claimed_before(now - max_age, vigil_store::LIST_LIMIT_MAX)
        .await?
    {
        found.push(AuditFinding {
            check: "I3",
            code: "claimed_overdue",
            summary: format!(
                "execution {} has been CLAIMED since {}; a stopped process left it and the \
                 reconciler should have ended it: run `vigil reconcile`",
                e.id,
                e.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            evidence: json!({ "execution": brief(&e) }),
        });
    }
    Ok(found)
}

/// Cooldown and anti-flip: each judged order against the user's earlier orders on its market.
fn i6_spacing(
    orders: &[&Execution],
    judged: &[&Execution],
    history: &UserHistory,
) -> Vec<AuditFinding> {
    let mut found = Vec::new();
    for e in judged {
        let at = sent_at(e);
        let policy = history.policy_at(at);
        let earlier = orders
            .iter()
            .filter(|o| o.id != e.id && o.market == e.market && (sent_at(o), o.id) < (at, e.id));
        if let Some(previous) = earlier.clone().max_by_key(|o| sent_at(o)) {
            if at < sent_at(previous) + policy.cooldown() {
                found.push(AuditFinding {
                    check: "I6",
                    code: "cooldown_broken",
                    summary: format!(
                        "execution {} on {} came {} s after execution {}, within the {}-minute cooldown",
                        e.id,
                        e.market,
                        (at - sent_at(previous)).num_seconds(),
                        previous.id,
                        policy.cooldown_minutes
                    ),
                    evidence: json!({ "execution": brief(e), "previous": brief(previous), "cooldown_minutes": policy.cooldown_minutes }),
                });
            }
        }
        if let Some(opposite) = earlier
            .filter(|o| o.side == e.side.opposite())
            .max_by_key(|o| sent_at(o))
        {
            if at < sent_at(opposite) + policy.anti_flip() {
                found.push(AuditFinding {
                    check: "I6",
                    code: "anti_flip_broken",
                    summary: format!(
                        "execution {} ({}) on {} came {} s after the opposite-side execution {}, within the {}-minute anti-flip window",
                        e.id,
                        e.side.as_str(),
                        e.market,
                        (at - sent_at(opposite)).num_seconds(),
                        opposite.id,
                        policy.anti_flip_minutes
                    ),
                    evidence: json!({ "execution": brief(e), "opposite": brief(opposite), "anti_flip_minutes": policy.anti_flip_minutes }),
                });
            }
        }
    }
    found
}

/// The daily cap: at each judged order, what the user's orders of that UTC day add up to.
fn i7_daily(
    orders: &[&Execution],
    judged: &[&Execution],
    history: &UserHistory,
) -> Vec<AuditFinding> {
    let mut found = Vec::new();
    let day = |t: Timestamp| t.date_naive().and_time(NaiveTime::MIN).and_utc();
    for e in judged {
        let at = sent_at(e);
        let policy = history.policy_at(at);
        let same_day: Vec<&&Execution> = orders
            .iter()
            .filter(|o| day(sent_at(o)) == day(at) && (sent_at(o), o.id) <= (at, e.id))
            .collect();
        let used = same_day
            .iter()
            .fold(Notional::ZERO, |sum, o| sum + counted(o));
        if used > policy.daily_notional_max {
            found.push(AuditFinding {
                check: "I7",
                code: "daily_cap_exceeded",
                summary: format!(
                    "with execution {} the user's orders of {} add up to {} against a daily cap of {}",
                    e.id,
                    day(at).date_naive(),
                    used,
                    policy.daily_notional_max
                ),
                evidence: json!({
                    "execution": brief(e),
                    "day_total": used,
                    "daily_notional_max": policy.daily_notional_max,
                    "orders_of_the_day": same_day.iter().map(|o| brief(o)).collect::<Vec<_>>(),
                }),
            });
        }
    }
    found
}
