//! [`UserFacts`]: what the guards need about one user and one market, read in one place.
//!
//! Read inside a per-user section (see `section.rs`), these facts cannot change before the
//! section commits, which is what makes cooldown, anti-flip and the daily cap hold under
//! concurrency (I6, I7). In-flight executions count as orders from the moment they may hold one
//! (`ExecutionState::may_hold_an_order`), with their signing time (or, before that, their claim
//! time) as the order time, so two concurrent executions can never both pass a cooldown.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveTime};
use rust_decimal::Decimal;
use vigil_core::{
    guard::{BalanceFact, GuardFacts, MarketActivity},
    Asset, Execution, ExecutionId, ExecutionState, Market, MarketRules, Notional, OrderSize,
    Policy, Price, Side, Timestamp, UserId,
};

use crate::{
    db::{args, Conn},
    error::StoreError,
    model::KillSwitches,
    rows, users,
};

/// An execution of this user that may hold funds on the exchange right now (`SUBMITTING` or
/// `SUBMITTED`), for the balance check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightOrder {
    /// The execution.
    pub execution_id: ExecutionId,
    /// Its market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// Its size as proposed.
    pub size: OrderSize,
    /// What preflight valued it at.
    pub notional: Notional,
    /// What has filled so far (quote).
    pub filled_notional: Notional,
    /// `SUBMITTING` or `SUBMITTED`.
    pub state: ExecutionState,
    /// Whether its outcome is unknown (I3).
    pub outcome_unknown: bool,
}

/// Everything the guards need about one user and one market at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    /// The user.
    pub user_id: UserId,
    /// The market the facts are about.
    pub market: Market,
    /// The time they were read for (`day_used` counts the UTC day of this time).
    pub now: Timestamp,
    /// The kill switches (I4).
    pub kill_switches: KillSwitches,
    /// The user's policy (the default when none was set).
    pub policy: Policy,
    /// The user's allowlist (I5).
    pub allowlist: BTreeSet<Market>,
    /// This user's orders on `market`, in flight or placed, excluding the execution the facts
    /// were read for (I6), and any unknown-outcome execution there (I3).
    pub activity: MarketActivity,
    /// Notional of this user's orders on every market in the UTC day of `now`, counting
    /// in-flight ones and excluding the execution the facts were read for (I7).
    pub day_used: Notional,
    /// This user's executions that may hold funds now (every market), excluding the execution
    /// the facts were read for.
    pub in_flight: Vec<InFlightOrder>,
}

impl UserFacts {
    /// What the in-flight orders hold per asset: the quote amount of buys (less what filled)
    /// and the base quantity of base-sized sells. Quote-sized sells hold a base amount that only
    /// a price can tell; they are in [`UserFacts::quote_sized_sells`].
    ///
    /// Both `SUBMITTING` and `SUBMITTED` orders count. The exchange's `available` balance
    /// already excludes what its open orders hold, so subtracting `SUBMITTED` ones again errs
    /// on the side of refusing (fail closed); a caller that knows better can filter
    /// [`UserFacts::in_flight`] itself.
    #[must_use]
    pub fn held_by_asset(&self) -> BTreeMap<Asset, Decimal> {
        let mut held = BTreeMap::<Asset, Decimal>::new();
        for order in &self.in_flight {
            match (order.side, order.size) {
                (Side::Buy, size) => {
                    let worth = match size {
                        OrderSize::Quote(amount) if order.notional.is_zero() => amount,
                        _ => order.notional,
                    };
                    let open = worth.saturating_sub(order.filled_notional).value();
                    *held.entry(order.market.quote().clone()).or_default() += open;
                }
                (Side::Sell, OrderSize::Base(quantity)) => {
                    *held.entry(order.market.base().clone()).or_default() += quantity.value();
                }
                (Side::Sell, OrderSize::Quote(_)) => {}
            }
        }
        held
    }

    /// In-flight sells sized in the quote asset (their base amount needs a price).
    #[must_use]
    pub fn quote_sized_sells(&self) -> Vec<&InFlightOrder> {
        self.in_flight
            .iter()
            .filter(|o| o.side == Side::Sell && matches!(o.size, OrderSize::Quote(_)))
            .collect()
    }

    /// The guards' facts snapshot, with what only the exchange knows (rules, price, balance)
    /// supplied by the caller (`balance: None` skips the balance check, as in the `SUBMITTING`
    /// re-check).
    #[must_use]
    pub fn guard_facts(
        &self,
        market_rules: Option<MarketRules>,
        reference_price: Option<Price>,
        balance: Option<BalanceFact>,
    ) -> GuardFacts {
        GuardFacts {
            now: self.now,
            global_kill_switch: self.kill_switches.global,
            user_kill_switch: self.kill_switches.user,
            policy: self.policy.clone(),
            allowlist: self.allowlist.clone(),
            activity: self.activity.clone(),
            day_used: self.day_used,
            market_rules,
            reference_price,
            balance,
        }
    }
}

/// `'SUBMITTING', 'SUBMITTED', …`: the states core says may hold an order.
fn order_states_sql() -> String {
    ExecutionState::ALL
        .into_iter()
        .filter(|s| s.may_hold_an_order())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The start of the UTC day containing `now`.
fn day_start(now: Timestamp) -> Timestamp {
    now.date_naive().and_time(NaiveTime::MIN).and_utc()
}

/// What an order counts against the daily cap: its notional (or what filled, if more); for a
/// canceled order only what filled, since the rest never traded.
fn counted(e: &Execution) -> Notional {
    match e.state {
        ExecutionState::Canceled => e.filled_notional,
        _ => e.notional.max(e.filled_notional),
    }
}

pub(crate) async fn read(
    conn: &mut Conn<'_>,
    user: UserId,
    market: &Market,
    now: Timestamp,
    exclude: Option<ExecutionId>,
) -> Result<UserFacts, StoreError> {
    let kill_switches = users::kill_switches_read(conn, user).await?;
    let policy = users::policy_read(conn, user).await?;
    let allowlist = users::allowlist_read(conn, user).await?;
    let exclude = exclude.map(|e| e.as_uuid());
    let states = order_states_sql();
    let market_text = market.to_string();

    // The latest order on each side: one row per side through the partial expression index
    // `trade_executions_order_time_idx` (migration 0003), however long the history is.
    let mut activity = MarketActivity::default();
    for side in [Side::Buy, Side::Sell] {
        let last = conn
            .fetch_optional(
                "user facts: market activity",
                &format!(
                    "SELECT COALESCE(signed_at, created_at) AS last_at FROM trade_executions \
                     WHERE user_id = $1 AND market = $2 AND side = $4 AND state IN ({states}) \
                     AND ($3 IS NULL OR id <> $3) \
                     ORDER BY COALESCE(signed_at, created_at) DESC LIMIT 1"
                ),
                args![user.as_uuid(), market_text.as_str(), exclude, side.as_str()],
            )
            .await?;
        let at = match &last {
            Some(row) => row.opt_time("last_at")?,
            None => None,
        };
        match side {
            Side::Buy => activity.last_buy_at = at,
            Side::Sell => activity.last_sell_at = at,
        }
    }
    activity.last_order_at = activity.last_buy_at.max(activity.last_sell_at);
    activity.unresolved = conn
        .fetch_optional(
            "user facts: unresolved",
            "SELECT id FROM trade_executions WHERE user_id = $1 AND market = $2 \
             AND state = 'SUBMITTING' AND outcome_unknown = $4 AND ($3 IS NULL OR id <> $3) \
             ORDER BY created_at LIMIT 1",
            args![user.as_uuid(), market_text.as_str(), exclude, true],
        )
        .await?
        .map(|row| row.uuid("id").map(ExecutionId::from_uuid))
        .transpose()?;

    let start = day_start(now);
    let today = conn
        .fetch_all(
            "user facts: day used",
            &format!(
                "SELECT {} FROM trade_executions WHERE user_id = $1 AND state IN ({states}) \
                 AND ($2 IS NULL OR id <> $2) \
                 AND COALESCE(signed_at, created_at) >= $3 AND COALESCE(signed_at, created_at) < $4",
                rows::EXECUTION_COLUMNS
            ),
            args![user.as_uuid(), exclude, start, start + Duration::days(1)],
        )
        .await?;
    let mut day_used = Notional::ZERO;
    for row in &today {
        day_used += counted(&rows::execution(row)?.0);
    }

    let open = conn
        .fetch_all(
            "user facts: in flight",
            &format!(
                "SELECT {} FROM trade_executions WHERE user_id = $1 \
                 AND state IN ('SUBMITTING', 'SUBMITTED') AND ($2 IS NULL OR id <> $2) \
                 ORDER BY created_at LIMIT $3",
                rows::EXECUTION_COLUMNS
            ),
            args![user.as_uuid(), exclude, rows::limit(crate::LIST_LIMIT_MAX)],
        )
        .await?;
    let in_flight = open
        .iter()
        .map(|row| {
            rows::execution(row).map(|(e, _)| InFlightOrder {
                execution_id: e.id,
                market: e.market,
                side: e.side,
                size: e.size,
                notional: e.notional,
                filled_notional: e.filled_notional,
                state: e.state,
                outcome_unknown: e.outcome_unknown,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(UserFacts {
        user_id: user,
        market: market.clone(),
        now,
        kill_switches,
        policy,
        allowlist,
        activity,
        day_used,
        in_flight,
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[test]
    fn day_start_is_utc_midnight() {
        let t = DateTime::parse_from_rfc3339("2024-03-10T23:59:59.999Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            day_start(t),
            DateTime::parse_from_rfc3339("2024-03-10T00:00:00Z")
                .unwrap()
                .to_utc()
        );
    }

    #[test]
    fn order_states_are_cores_may_hold_an_order() {
        assert_eq!(
            order_states_sql(),
            "'SUBMITTING', 'SUBMITTED', 'FILLED', 'CANCELED'"
        );
    }
}
