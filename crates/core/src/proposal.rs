//! Trade proposals: what a strategy, the LLM advisor or a person would like to trade, and the
//! proposal's own small status machine.
//!
//! A proposal is only an intention. It becomes an order solely through the executor, which
//! requires it to be `APPROVED` and unexpired, and turns it into at most one order (I1).
//! [`Proposal::new`] is the only constructor and checks the proposal as a whole (a limit order
//! has a limit price, a quote-sized order is a market order, the time to live is positive).

use std::{fmt, str::FromStr};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::{
    clock::Timestamp,
    error::ValidationError,
    ids::{ProposalId, UserId},
    market::{Market, OrderSize, OrderType, Side},
    money::Price,
};

/// Where a proposal came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum ProposalSource {
    /// A built-in strategy, by name (`dca`, `sma_cross`, `rsi_reversion`).
    Strategy(String),
    /// The LLM advisor, by model name.
    Advisor(String),
    /// A person, by user or operator name.
    Person(String),
}

impl fmt::Display for ProposalSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposalSource::Strategy(name) => write!(f, "strategy:{name}"),
            ProposalSource::Advisor(name) => write!(f, "advisor:{name}"),
            ProposalSource::Person(name) => write!(f, "person:{name}"),
        }
    }
}

impl FromStr for ProposalSource {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "strategy:NAME, advisor:MODEL or person:NAME";
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| ValidationError::new("source", s, expected))?;
        if name.is_empty() {
            return Err(ValidationError::new("source", s, expected));
        }
        match kind {
            "strategy" => Ok(ProposalSource::Strategy(name.to_owned())),
            "advisor" => Ok(ProposalSource::Advisor(name.to_owned())),
            "person" => Ok(ProposalSource::Person(name.to_owned())),
            _ => Err(ValidationError::new("source", s, expected)),
        }
    }
}

/// A proposal's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProposalStatus {
    /// Waiting for a person (or the policy) to approve it.
    Pending,
    /// May be executed until it expires.
    Approved,
    /// Turned down by a person.
    Rejected,
    /// Its time to live passed before it was executed.
    Expired,
    /// An execution was claimed for it; it will not be executed again.
    Executed,
    /// Withdrawn (e.g. by a rollback) before any order was placed.
    Cancelled,
}

impl ProposalStatus {
    /// The database and display spelling (`PENDING`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "PENDING",
            ProposalStatus::Approved => "APPROVED",
            ProposalStatus::Rejected => "REJECTED",
            ProposalStatus::Expired => "EXPIRED",
            ProposalStatus::Executed => "EXECUTED",
            ProposalStatus::Cancelled => "CANCELLED",
        }
    }

    /// Every status, in the order above.
    pub const ALL: [ProposalStatus; 6] = [
        ProposalStatus::Pending,
        ProposalStatus::Approved,
        ProposalStatus::Rejected,
        ProposalStatus::Expired,
        ProposalStatus::Executed,
        ProposalStatus::Cancelled,
    ];

    /// Moves the status by `action`, or refuses a move the proposal lifecycle does not allow.
    ///
    /// # Errors
    /// [`ProposalTransitionError`] for an illegal move (e.g. approving an expired proposal).
    pub fn apply(self, action: ProposalAction) -> Result<ProposalStatus, ProposalTransitionError> {
        use ProposalAction as A;
        use ProposalStatus as S;
        match (self, action) {
            (S::Pending, A::Approve) => Ok(S::Approved),
            (S::Pending, A::Reject) => Ok(S::Rejected),
            (S::Pending | S::Approved, A::Expire) => Ok(S::Expired),
            (S::Pending | S::Approved, A::Cancel) => Ok(S::Cancelled),
            // I1: a proposal is executed once; the executor marks it when it claims.
            (S::Approved, A::MarkExecuted) => Ok(S::Executed),
            // Rollback: only before any order existed (the caller proves that).
            (S::Approved, A::Revert) => Ok(S::Pending),
            // Rollback of a proposal whose one execution ended without an order (REJECTED, or
            // FAILED and absent from the exchange; the caller proves that). It can only be
            // cancelled: back to PENDING it could never execute again, since its execution
            // exists (I1).
            (S::Executed, A::Revert) => Ok(S::Cancelled),
            (from, action) => Err(ProposalTransitionError { from, action }),
        }
    }
}

impl fmt::Display for ProposalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProposalStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProposalStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    s,
                    "PENDING, APPROVED, REJECTED, EXPIRED, EXECUTED or CANCELLED",
                )
            })
    }
}

/// Something done to a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalAction {
    /// A person or the policy approves it.
    Approve,
    /// A person turns it down.
    Reject,
    /// Its time to live passed.
    Expire,
    /// Withdrawn before execution.
    Cancel,
    /// The executor claimed an execution for it.
    MarkExecuted,
    /// A rollback: an approved proposal goes back to pending; an executed proposal whose
    /// execution placed no order is cancelled.
    Revert,
}

/// A proposal status change the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} proposal cannot be {action:?}")]
pub struct ProposalTransitionError {
    /// The status it had.
    pub from: ProposalStatus,
    /// What was attempted.
    pub action: ProposalAction,
}

/// What is needed to create a proposal; checked as a whole by [`Proposal::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalDraft {
    /// Whose proposal it is.
    pub user_id: UserId,
    /// The market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub order_type: OrderType,
    /// How much.
    pub size: OrderSize,
    /// Required for limit orders, refused for market orders.
    pub limit_price: Option<Price>,
    /// Where it came from.
    pub source: ProposalSource,
    /// Why, in words and numbers a person can check.
    pub rationale: String,
    /// How long it may wait before it expires.
    pub ttl: Duration,
}

/// A trade proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id.
    pub id: ProposalId,
    /// Whose proposal it is.
    pub user_id: UserId,
    /// The market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub order_type: OrderType,
    /// How much.
    pub size: OrderSize,
    /// The limit price of a limit order.
    pub limit_price: Option<Price>,
    /// Where it came from.
    pub source: ProposalSource,
    /// Why.
    pub rationale: String,
    /// Its status.
    pub status: ProposalStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it expires; it cannot be executed at or after this time.
    pub expires_at: Timestamp,
}

/// The longest rationale kept, in characters.
pub const RATIONALE_MAX_CHARS: usize = 4_000;

/// The longest a proposal may wait for its execution, in minutes: one day, whoever made it (a
/// person through the CLI or the API, a strategy, the advisor). An approval is a decision about
/// the market as it was; a day is as long as Vigil lets one stand.
pub const TTL_MINUTES_MAX: u32 = 1_440;

/// What every front end says a time to live must be.
const TTL_EXPECTED: &str = "minutes from 1 to 1440 (one day)";

/// A time to live given in whole minutes (a flag, a request field, a job parameter), checked
/// against [`TTL_MINUTES_MAX`] before it becomes a duration.
///
/// # Errors
/// A [`ValidationError`] naming `field` when `minutes` is not in `1..=TTL_MINUTES_MAX`.
pub fn ttl_from_minutes(field: &str, minutes: i64) -> Result<Duration, ValidationError> {
    if (1..=i64::from(TTL_MINUTES_MAX)).contains(&minutes) {
        Ok(Duration::minutes(minutes))
    } else {
        Err(ValidationError::new(field, minutes, TTL_EXPECTED))
    }
}

impl Proposal {
    /// Creates a `PENDING` proposal from a draft, checking it as a whole.
    ///
    /// # Errors
    /// Every problem found, each naming its field.
    pub fn new(draft: ProposalDraft, now: Timestamp) -> Result<Proposal, Vec<ValidationError>> {
        let mut problems = Vec::new();
        match (draft.order_type, draft.limit_price) {
            (OrderType::Limit, None) => problems.push(ValidationError::new(
                "limit_price",
                "(none)",
                "a limit price for a limit order",
            )),
            (OrderType::Market, Some(price)) => problems.push(ValidationError::new(
                "limit_price",
                price,
                "no limit price for a market order",
            )),
            _ => {}
        }
        if draft.order_type == OrderType::Limit {
            if let OrderSize::Quote(amount) = draft.size {
                problems.push(ValidationError::new("amount_quote", amount, "a base amount (--amount) for a limit order; quote amounts are for market orders"));
            }
        }
        if draft.size.is_zero() {
            problems.push(ValidationError::new(
                "amount",
                "0",
                "an amount greater than zero",
            ));
        }
        if draft.ttl <= Duration::zero()
            || draft.ttl > Duration::minutes(i64::from(TTL_MINUTES_MAX))
        {
            problems.push(ValidationError::new(
                "ttl_minutes",
                draft.ttl.num_minutes(),
                TTL_EXPECTED,
            ));
        }
        if draft.rationale.chars().count() > RATIONALE_MAX_CHARS {
            problems.push(ValidationError::new(
                "rationale",
                format!("{} characters", draft.rationale.chars().count()),
                format!("at most {RATIONALE_MAX_CHARS} characters"),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Proposal {
            id: ProposalId::new(),
            user_id: draft.user_id,
            market: draft.market,
            side: draft.side,
            order_type: draft.order_type,
            size: draft.size,
            limit_price: draft.limit_price,
            source: draft.source,
            rationale: draft.rationale,
            status: ProposalStatus::Pending,
            created_at: now,
            expires_at: now + draft.ttl,
        })
    }

    /// Whether the proposal has expired at `now` (expiry is inclusive: at `expires_at` it is
    /// already too late).
    #[must_use]
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::money::{Notional, Quantity};

    fn draft() -> ProposalDraft {
        ProposalDraft {
            user_id: UserId::new(),
            market: Market::parse("BTC-EUR").unwrap(),
            side: Side::Buy,
            order_type: OrderType::Market,
            size: OrderSize::Quote(Notional::from_whole(10)),
            limit_price: None,
            source: ProposalSource::Person("alice".into()),
            rationale: "test".into(),
            ttl: Duration::minutes(10),
        }
    }

    fn now() -> Timestamp {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn new_proposal_is_pending_and_expires_after_ttl() {
        let p = Proposal::new(draft(), now()).unwrap();
        assert_eq!(p.status, ProposalStatus::Pending);
        assert_eq!(p.expires_at, now() + Duration::minutes(10));
        assert!(!p.is_expired_at(now()));
        assert!(p.is_expired_at(p.expires_at));
    }

    #[test]
    fn limit_order_needs_price_and_base_amount() {
        let d = ProposalDraft {
            order_type: OrderType::Limit,
            ..draft()
        };
        let fields: Vec<_> = Proposal::new(d, now())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["limit_price", "amount_quote"]);
        let ok = ProposalDraft {
            order_type: OrderType::Limit,
            size: OrderSize::Base(Quantity::parse_positive("amount", "0.001").unwrap()),
            limit_price: Some(Price::parse_positive("limit_price", "50000").unwrap()),
            ..draft()
        };
        Proposal::new(ok, now()).unwrap();
    }

    #[test]
    fn zero_ttl_is_refused() {
        let d = ProposalDraft {
            ttl: Duration::zero(),
            ..draft()
        };
        assert_eq!(Proposal::new(d, now()).unwrap_err()[0].field, "ttl_minutes");
    }

    /// One time-to-live bound for every proposal, whoever makes it (#11): a day is accepted, a
    /// minute more is refused by the constructor and by the front ends' minute parser alike.
    #[test]
    fn a_proposal_lives_at_most_one_day() {
        let day = i64::from(TTL_MINUTES_MAX);
        assert_eq!(day, 24 * 60);
        let with = |minutes: i64| ProposalDraft {
            ttl: Duration::minutes(minutes),
            ..draft()
        };
        Proposal::new(with(day), now()).unwrap();
        let err = Proposal::new(with(day + 1), now()).unwrap_err();
        assert_eq!(err[0].field, "ttl_minutes");
        assert!(err[0].to_string().contains("1 to 1440"), "{}", err[0]);
        assert_eq!(
            ttl_from_minutes("--ttl-minutes", day),
            Ok(Duration::minutes(day))
        );
        for bad in [0, -5, day + 1, i64::MAX] {
            let err = ttl_from_minutes("--ttl-minutes", bad).unwrap_err();
            assert_eq!(err.field, "--ttl-minutes");
        }
    }

    #[test]
    fn i1_rollback_returns_an_approved_proposal_to_pending_and_cancels_an_executed_one() {
        use ProposalAction as A;
        assert_eq!(
            ProposalStatus::Approved.apply(A::Revert),
            Ok(ProposalStatus::Pending)
        );
        // An executed proposal keeps its one execution (I1): it can only be cancelled.
        assert_eq!(
            ProposalStatus::Executed.apply(A::Revert),
            Ok(ProposalStatus::Cancelled)
        );
        for from in [
            ProposalStatus::Pending,
            ProposalStatus::Rejected,
            ProposalStatus::Expired,
            ProposalStatus::Cancelled,
        ] {
            assert!(from.apply(A::Revert).is_err(), "{from}");
        }
    }

    #[test]
    fn status_machine_refuses_illegal_moves() {
        use ProposalAction as A;
        assert_eq!(
            ProposalStatus::Pending.apply(A::Approve),
            Ok(ProposalStatus::Approved)
        );
        assert!(ProposalStatus::Expired.apply(A::Approve).is_err());
        assert!(ProposalStatus::Pending.apply(A::Revert).is_err());
        assert!(ProposalStatus::Cancelled.apply(A::Revert).is_err());
        assert!(ProposalStatus::Pending.apply(A::MarkExecuted).is_err());
        assert_eq!(
            "approved".parse::<ProposalStatus>().unwrap(),
            ProposalStatus::Approved
        );
        assert_eq!(
            "EXPIRED".parse::<ProposalStatus>().unwrap(),
            ProposalStatus::Expired
        );
    }

    #[test]
    fn source_round_trips_as_text() {
        for s in ["strategy:dca", "advisor:gpt-4o-mini", "person:alice"] {
            assert_eq!(s.parse::<ProposalSource>().unwrap().to_string(), s);
        }
        assert!("robot".parse::<ProposalSource>().is_err());
    }
}
