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
    guard::{GuardFacts, MarketActivity},
    Asset, ExecutionId, ExecutionState, Market, Notional, OrderSize, Policy, Side, Timestamp,
    UserId,
};

use crate::{
    db::{args, Conn},
    error::StoreError,
    model::KillSwitches,
    policy, rows, users,
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

    /// The guards' facts snapshot of what the database knows; what only the exchange knows
    /// (rules, price, balance) is the caller's [`vigil_core::guard::ExchangeFacts`].
    #[must_use]
    pub fn guard_facts(&self) -> GuardFacts {
        GuardFacts {
            now: self.now,
            global_kill_switch: self.kill_switches.global,
            user_kill_switch: self.kill_switches.user,
            policy: self.policy.clone(),
            allowlist: self.allowlist.clone(),
            activity: self.activity.clone(),
            day_used: self.day_used,
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
fn counted(state: ExecutionState, notional: Notional, filled: Notional) -> Notional {
    match state {
        ExecutionState::Canceled => filled,
        _ => notional.max(filled),
    }
}

/// The history queries of [`read`], each served by an index so that its cost follows what it
/// returns, not the length of the user's history (measured in BENCHMARKS.md, section (e)).
/// Their state lists must stay textually identical to the partial indexes' predicates
/// (migrations 0003 and 0004), or SQLite's planner will not use them.
struct FactQueries {
    /// The latest order on one side of one market: `$1` user, `$2` market, `$3` excluded
    /// execution, `$4` side. One row through `trade_executions_order_time_idx`.
    last_order: String,
    /// Today's orders of the user on every market, the three columns the cap needs: `$1` user,
    /// `$2` excluded execution, `$3`..`$4` the UTC day. Through
    /// `trade_executions_user_order_time_idx`.
    day_orders: String,
    /// The user's executions that may hold funds now: `$1` user, `$2` excluded execution, `$3`
    /// limit. Through `trade_executions_in_flight_idx`.
    in_flight: &'static str,
    /// The oldest unknown-outcome execution on one market (asked only when the in-flight list
    /// was cut at its limit): `$1` user, `$2` market, `$3` excluded execution, `$4` true.
    unresolved: &'static str,
}

impl FactQueries {
    fn new() -> FactQueries {
        let states = order_states_sql();
        FactQueries {
            last_order: format!(
                "SELECT COALESCE(signed_at, created_at) AS last_at FROM trade_executions \
                 WHERE user_id = $1 AND market = $2 AND side = $4 AND state IN ({states}) \
                 AND ($3 IS NULL OR id <> $3) \
                 ORDER BY COALESCE(signed_at, created_at) DESC LIMIT 1"
            ),
            day_orders: format!(
                "SELECT state, notional, filled_notional FROM trade_executions \
                 WHERE user_id = $1 AND state IN ({states}) AND ($2 IS NULL OR id <> $2) \
                 AND COALESCE(signed_at, created_at) >= $3 AND COALESCE(signed_at, created_at) < $4"
            ),
            in_flight:
                "SELECT id, market, side, size_kind, size_value, notional, filled_notional, \
                 state, outcome_unknown FROM trade_executions \
                 WHERE user_id = $1 AND state IN ('SUBMITTING', 'SUBMITTED') \
                 AND ($2 IS NULL OR id <> $2) ORDER BY created_at LIMIT $3",
            unresolved: "SELECT id FROM trade_executions WHERE user_id = $1 \
                 AND state IN ('SUBMITTING', 'SUBMITTED') AND market = $2 \
                 AND state = 'SUBMITTING' AND outcome_unknown = $4 AND ($3 IS NULL OR id <> $3) \
                 ORDER BY created_at LIMIT 1",
        }
    }
}

/// The oldest unknown-outcome execution on `market` among `in_flight` (which is in claim
/// order), for I3: such an execution keeps the market blocked.
fn first_unresolved(in_flight: &[InFlightOrder], market: &Market) -> Option<ExecutionId> {
    in_flight
        .iter()
        .find(|o| o.outcome_unknown && o.state == ExecutionState::Submitting && &o.market == market)
        .map(|o| o.execution_id)
}

pub(crate) async fn read(
    conn: &mut Conn<'_>,
    user: UserId,
    market: &Market,
    now: Timestamp,
    exclude: Option<ExecutionId>,
) -> Result<UserFacts, StoreError> {
    let queries = FactQueries::new();
    let kill_switches = users::kill_switches_read(conn, user).await?;
    let policy = policy::policy_read(conn, user).await?;
    let allowlist = users::allowlist_read(conn, user).await?;
    let exclude = exclude.map(|e| e.as_uuid());
    let market_text = market.to_string();

    let mut activity = MarketActivity::default();
    for side in [Side::Buy, Side::Sell] {
        let last = conn
            .fetch_optional(
                "user facts: market activity",
                &queries.last_order,
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

    let start = day_start(now);
    let today = conn
        .fetch_all(
            "user facts: day used",
            &queries.day_orders,
            args![user.as_uuid(), exclude, start, start + Duration::days(1)],
        )
        .await?;
    let mut day_used = Notional::ZERO;
    for row in &today {
        day_used += counted(
            row.parsed("state")?,
            rows::notional(row, "notional")?,
            rows::notional(row, "filled_notional")?,
        );
    }

    let limit = rows::limit(crate::LIST_LIMIT_MAX);
    let open = conn
        .fetch_all(
            "user facts: in flight",
            queries.in_flight,
            args![user.as_uuid(), exclude, limit],
        )
        .await?;
    let in_flight = open
        .iter()
        .map(|row| {
            Ok(InFlightOrder {
                execution_id: ExecutionId::from_uuid(row.uuid("id")?),
                market: rows::market(row)?,
                side: row.parsed("side")?,
                size: rows::size(row)?,
                notional: rows::notional(row, "notional")?,
                filled_notional: rows::notional(row, "filled_notional")?,
                state: row.parsed("state")?,
                outcome_unknown: row.bool("outcome_unknown")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // Every in-flight execution is in the list unless it was cut at its limit; only then does
    // the unknown-outcome check need a query of its own.
    activity.unresolved = if i64::try_from(in_flight.len()).unwrap_or(i64::MAX) < limit {
        first_unresolved(&in_flight, market)
    } else {
        conn.fetch_optional(
            "user facts: unresolved",
            queries.unresolved,
            args![user.as_uuid(), market_text.as_str(), exclude, true],
        )
        .await?
        .map(|row| row.uuid("id").map(ExecutionId::from_uuid))
        .transpose()?
    };

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

/// The database's plan of each history query of [`read`] (name, plan lines), for the
/// benchmark's report and the test that keeps them on their indexes. With `prefer_indexes`,
/// PostgreSQL plans with sequential scans disabled, which shows whether an index CAN serve the
/// query (on a small table it would rightly prefer a scan); SQLite ignores it.
pub(crate) async fn plans(
    conn: &mut Conn<'_>,
    user: UserId,
    market: &Market,
    now: Timestamp,
    prefer_indexes: bool,
) -> Result<Vec<(&'static str, Vec<String>)>, StoreError> {
    let postgres = conn.kind() == crate::BackendKind::Postgres;
    if postgres && prefer_indexes {
        conn.execute(
            "user facts: plan setting",
            "SET enable_seqscan = off",
            args![],
        )
        .await?;
    }
    let plans = explain(conn, user, market, now).await;
    if postgres && prefer_indexes {
        // The connection goes back to the pool: leave it as it was, whatever EXPLAIN did.
        conn.execute("user facts: plan setting", "RESET enable_seqscan", args![])
            .await?;
    }
    plans
}

async fn explain(
    conn: &mut Conn<'_>,
    user: UserId,
    market: &Market,
    now: Timestamp,
) -> Result<Vec<(&'static str, Vec<String>)>, StoreError> {
    let queries = FactQueries::new();
    let (prefix, column) = match conn.kind() {
        crate::BackendKind::Postgres => ("EXPLAIN", "QUERY PLAN"),
        crate::BackendKind::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
    };
    let start = day_start(now);
    let none: Option<uuid::Uuid> = None;
    let market_text = market.to_string();
    let explained = [
        (
            "last order per side",
            queries.last_order.as_str(),
            args![user.as_uuid(), market_text.as_str(), none, "buy"],
        ),
        (
            "day used",
            queries.day_orders.as_str(),
            args![user.as_uuid(), none, start, start + Duration::days(1)],
        ),
        (
            "in flight",
            queries.in_flight,
            args![user.as_uuid(), none, rows::limit(crate::LIST_LIMIT_MAX)],
        ),
    ];
    let mut plans = Vec::new();
    for (name, sql, arguments) in explained {
        let found = conn
            .fetch_all("user facts: plan", &format!("{prefix} {sql}"), arguments)
            .await?;
        let lines = found
            .iter()
            .map(|row| row.text(column))
            .collect::<Result<Vec<_>, _>>()?;
        plans.push((name, lines));
    }
    Ok(plans)
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
    fn i3_the_first_unknown_outcome_on_the_market_blocks_it() {
        let order = |market: &str, state, outcome_unknown| InFlightOrder {
            execution_id: ExecutionId::new(),
            market: Market::parse(market).unwrap(),
            side: Side::Buy,
            size: OrderSize::Quote(Notional::from_whole(10)),
            notional: Notional::from_whole(10),
            filled_notional: Notional::ZERO,
            state,
            outcome_unknown,
        };
        let btc = Market::parse("BTC-EUR").unwrap();
        let list = vec![
            order("BTC-EUR", ExecutionState::Submitted, false),
            order("ETH-EUR", ExecutionState::Submitting, true),
            order("BTC-EUR", ExecutionState::Submitting, false),
            order("BTC-EUR", ExecutionState::Submitting, true),
            order("BTC-EUR", ExecutionState::Submitting, true),
        ];
        assert_eq!(first_unresolved(&list, &btc), Some(list[3].execution_id));
        assert_eq!(first_unresolved(&list[..3], &btc), None);
        assert_eq!(
            first_unresolved(&list, &Market::parse("ETH-EUR").unwrap()),
            Some(list[1].execution_id)
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
