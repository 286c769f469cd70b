//! The LLM budget guard (I8): no LLM call that could take a user past the daily LLM budget.
//!
//! Before a call the advisor reserves its worst-case cost ([`Store::llm_budget_reserve`]);
//! after it, the reservation is settled with the real token counts and cost
//! ([`Store::llm_budget_settle`]), or released when the call failed
//! ([`Store::llm_budget_release`], at zero or at what the provider billed). The reservation is
//! decided inside the user's serialized section (PostgreSQL: the user's row lock; SQLite: the
//! one writer), so concurrent reservations of one user, from any number of workers and
//! instances, see each other: today's reserved-but-unsettled worst cases plus settled and
//! released actual costs plus the new reservation never exceed `Policy::llm_daily_budget`.
//!
//! A day is a UTC calendar day, and a call counts on the day it was reserved. A reservation that
//! is never settled (the process died during the call) keeps counting its worst case for that
//! day: the guard fails closed. Sums are done in `Decimal` in Rust, not in SQL, because SQLite
//! would sum the stored decimal text as floating point.

use chrono::{Duration, NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use uuid::Uuid;
use vigil_core::{Timestamp, UserId, ValidationError};

use crate::{
    db::{args, Conn, Row},
    error::StoreError,
    rows, Store,
};

/// The longest model name stored.
const MODEL_NAME_MAX: usize = 128;

/// A reserved worst-case cost, to be settled or released exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The `llm_usage_log` row.
    pub id: Uuid,
    /// Whose budget it counts against.
    pub user_id: UserId,
    /// The model to be called.
    pub model: String,
    /// The worst-case cost reserved, in USD.
    pub reserved_cost: Decimal,
    /// When it was reserved (its UTC day is the day it counts on).
    pub at: Timestamp,
}

/// Tokens a call used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt (input) tokens.
    pub prompt_tokens: u32,
    /// Completion (output) tokens.
    pub completion_tokens: u32,
}

/// Where a usage entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LlmUsageStatus {
    /// Reserved; the call has not been settled yet. Counts its worst case.
    Reserved,
    /// Settled with the real cost. Counts its actual cost.
    Settled,
    /// The call failed; released at zero or at what the provider billed. Counts that.
    Failed,
}

impl LlmUsageStatus {
    /// The database spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LlmUsageStatus::Reserved => "reserved",
            LlmUsageStatus::Settled => "settled",
            LlmUsageStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<LlmUsageStatus, StoreError> {
        match text {
            "reserved" => Ok(LlmUsageStatus::Reserved),
            "settled" => Ok(LlmUsageStatus::Settled),
            "failed" => Ok(LlmUsageStatus::Failed),
            other => Err(StoreError::invalid(
                "llm_usage_log.status",
                format!("{other:?} is not a usage status"),
            )),
        }
    }
}

/// One `llm_usage_log` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmUsage {
    /// Its id (the reservation's).
    pub id: Uuid,
    /// Whose budget.
    pub user_id: UserId,
    /// The model called.
    pub model: String,
    /// Tokens used (zero until settled).
    pub usage: TokenUsage,
    /// The worst case reserved, in USD.
    pub reserved_cost: Decimal,
    /// The real cost, once settled or released, in USD.
    pub actual_cost: Option<Decimal>,
    /// Where it stands.
    pub status: LlmUsageStatus,
    /// When it was reserved.
    pub at: Timestamp,
    /// When it was settled or released.
    pub settled_at: Option<Timestamp>,
}

impl LlmUsage {
    /// What this entry counts against its day's budget: the worst case while reserved, the
    /// actual cost after.
    #[must_use]
    pub fn counted_cost(&self) -> Decimal {
        match self.status {
            LlmUsageStatus::Reserved => self.reserved_cost,
            LlmUsageStatus::Settled | LlmUsageStatus::Failed => {
                self.actual_cost.unwrap_or(Decimal::ZERO)
            }
        }
    }
}

/// The budget would be exceeded: no call may be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExhausted {
    /// Whose budget.
    pub user: UserId,
    /// The UTC day.
    pub day: NaiveDate,
    /// What the day's calls count already, in USD.
    pub spent: Decimal,
    /// The user's daily LLM budget, in USD.
    pub budget: Decimal,
    /// The worst case the refused call asked for, in USD.
    pub requested: Decimal,
}

/// Why a budget operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LlmBudgetError {
    /// The reservation would take the user past the daily budget; make no call.
    #[error(
        "the LLM budget of user {} for {} is spent: {} of {} USD used and this call could cost up to {} USD; no call is made until the next UTC day or a higher llm_daily_budget in the policy",
        .0.user, .0.day, .0.spent, .0.budget, .0.requested
    )]
    Exhausted(BudgetExhausted),
    /// The reservation was settled or released already (each is closed exactly once).
    #[error("LLM usage entry {id} is {}, not reserved; it was settled or released already", status.as_str())]
    NotReserved {
        /// The entry.
        id: Uuid,
        /// Where it stands.
        status: LlmUsageStatus,
    },
    /// The store failed (or refused an input).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which usage entries to list (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmUsageFilter {
    /// Only this user's.
    pub user: Option<UserId>,
    /// Only entries reserved at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many (capped at [`crate::LIST_LIMIT_MAX`]).
    pub limit: u32,
}

impl Default for LlmUsageFilter {
    fn default() -> Self {
        Self {
            user: None,
            since: None,
            limit: 100,
        }
    }
}

const COLUMNS: &str = "id, user_id, model, prompt_tokens, completion_tokens, reserved_cost, \
     actual_cost, status, at, settled_at";

fn usage_row(row: &Row) -> Result<LlmUsage, StoreError> {
    let tokens = |column: &str| -> Result<u32, StoreError> {
        u32::try_from(row.i64(column)?).map_err(|e| StoreError::invalid(column, e))
    };
    Ok(LlmUsage {
        id: row.uuid("id")?,
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        model: row.text("model")?,
        usage: TokenUsage {
            prompt_tokens: tokens("prompt_tokens")?,
            completion_tokens: tokens("completion_tokens")?,
        },
        reserved_cost: row.decimal("reserved_cost")?,
        actual_cost: row.opt_decimal("actual_cost")?,
        status: LlmUsageStatus::parse(&row.text("status")?)?,
        at: row.time("at")?,
        settled_at: row.opt_time("settled_at")?,
    })
}

/// The UTC day of `now` as `[start, end)`.
fn day_bounds(now: Timestamp) -> (NaiveDate, Timestamp, Timestamp) {
    let day = now.date_naive();
    let start = day.and_time(NaiveTime::MIN).and_utc();
    (day, start, start + Duration::days(1))
}

/// What the user's calls of `now`'s UTC day count against the budget.
async fn day_spent(
    conn: &mut Conn<'_>,
    user: UserId,
    now: Timestamp,
) -> Result<Decimal, StoreError> {
    let (_, start, end) = day_bounds(now);
    let sql =
        format!("SELECT {COLUMNS} FROM llm_usage_log WHERE user_id = $1 AND at >= $2 AND at < $3");
    let found = conn
        .fetch_all("llm_budget_spent", &sql, args![user.as_uuid(), start, end])
        .await?;
    let mut spent = Decimal::ZERO;
    for row in &found {
        spent += usage_row(row)?.counted_cost();
    }
    Ok(spent)
}

fn check_cost(field: &str, cost: Decimal) -> Result<(), StoreError> {
    if cost.is_sign_negative() && !cost.is_zero() {
        return Err(StoreError::InvalidInput(vec![ValidationError::new(
            field,
            cost,
            "a cost of zero or more (USD)",
        )]));
    }
    Ok(())
}

impl Store {
    /// Reserves `worst_case_cost` (USD) of `user`'s LLM budget for one call to `model`, inside
    /// the user's serialized section: refused when today's (UTC) usage plus this reservation
    /// would exceed the policy's `llm_daily_budget` (I8). Make the call only with a reservation.
    ///
    /// # Errors
    /// [`LlmBudgetError::Exhausted`] when the budget would be exceeded (nothing written);
    /// [`LlmBudgetError::Store`] with [`StoreError::InvalidInput`] for a negative cost or an
    /// empty model name, [`StoreError::NotFound`] for an unknown user, or a database error.
    pub async fn llm_budget_reserve(
        &self,
        user: UserId,
        model: &str,
        worst_case_cost: Decimal,
        now: Timestamp,
    ) -> Result<Reservation, LlmBudgetError> {
        check_cost("worst_case_cost", worst_case_cost)?;
        if model.trim().is_empty() || model.len() > MODEL_NAME_MAX {
            return Err(StoreError::InvalidInput(vec![ValidationError::new(
                "model",
                model,
                format!("a model name of 1 to {MODEL_NAME_MAX} characters"),
            )])
            .into());
        }
        let reservation = Reservation {
            id: Uuid::new_v4(),
            user_id: user,
            model: model.to_owned(),
            reserved_cost: worst_case_cost.normalize(),
            at: crate::to_stored_precision(now),
        };
        let row = reservation.clone();
        let decided = self
            .user_section(user, move |txn| {
                let r = row.clone();
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let budget = crate::policy::policy_read(&mut conn, user)
                        .await?
                        .llm_daily_budget;
                    let spent = day_spent(&mut conn, user, r.at).await?;
                    if spent + r.reserved_cost > budget {
                        return Ok(Err(BudgetExhausted {
                            user,
                            day: r.at.date_naive(),
                            spent,
                            budget,
                            requested: r.reserved_cost,
                        }));
                    }
                    conn.execute(
                        "llm_budget_reserve",
                        "INSERT INTO llm_usage_log (id, user_id, model, reserved_cost, status, at) \
                         VALUES ($1, $2, $3, $4, 'reserved', $5)",
                        args![r.id, user.as_uuid(), r.model.as_str(), r.reserved_cost, r.at],
                    )
                    .await?;
                    Ok(Ok(()))
                })
            })
            .await?;
        match decided {
            Ok(()) => Ok(reservation),
            Err(exhausted) => Err(LlmBudgetError::Exhausted(exhausted)),
        }
    }

    /// Settles a reservation with the call's real token counts and cost (USD). The real cost
    /// is recorded even when it exceeds the reservation (the prompt estimate was low); later
    /// reservations then see it.
    ///
    /// # Errors
    /// [`LlmBudgetError::NotReserved`] when it was settled or released already;
    /// [`LlmBudgetError::Store`] for a negative cost, an unknown entry or a database error.
    pub async fn llm_budget_settle(
        &self,
        reservation: &Reservation,
        usage: TokenUsage,
        actual_cost: Decimal,
        now: Timestamp,
    ) -> Result<LlmUsage, LlmBudgetError> {
        check_cost("actual_cost", actual_cost)?;
        if actual_cost > reservation.reserved_cost {
            tracing::warn!(
                user_id = %reservation.user_id,
                model = %reservation.model,
                reserved = %reservation.reserved_cost,
                actual = %actual_cost,
                "an LLM call cost more than its reserved worst case; check the prompt estimate"
            );
        }
        self.llm_budget_close(
            reservation,
            LlmUsageStatus::Settled,
            usage,
            actual_cost,
            now,
        )
        .await
    }

    /// Releases a reservation whose call failed, at `billed_cost` (zero, or what the provider
    /// billed when it is known, e.g. a completion that arrived but did not parse).
    ///
    /// # Errors
    /// As [`Store::llm_budget_settle`].
    pub async fn llm_budget_release(
        &self,
        reservation: &Reservation,
        usage: TokenUsage,
        billed_cost: Decimal,
        now: Timestamp,
    ) -> Result<LlmUsage, LlmBudgetError> {
        check_cost("billed_cost", billed_cost)?;
        self.llm_budget_close(reservation, LlmUsageStatus::Failed, usage, billed_cost, now)
            .await
    }

    async fn llm_budget_close(
        &self,
        reservation: &Reservation,
        status: LlmUsageStatus,
        usage: TokenUsage,
        cost: Decimal,
        now: Timestamp,
    ) -> Result<LlmUsage, LlmBudgetError> {
        let (id, user) = (reservation.id, reservation.user_id);
        // Inside the user's section, so a reservation deciding at the same time sees either
        // the worst case or the real cost, never neither.
        let closed = self
            .user_section(user, move |txn| {
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let sql = format!(
                        "UPDATE llm_usage_log SET status = $2, prompt_tokens = $3, \
                         completion_tokens = $4, actual_cost = $5, settled_at = $6 \
                         WHERE id = $1 AND status = 'reserved' RETURNING {COLUMNS}"
                    );
                    let row = conn
                        .fetch_optional(
                            "llm_budget_close",
                            &sql,
                            args![
                                id,
                                status.as_str(),
                                i64::from(usage.prompt_tokens),
                                i64::from(usage.completion_tokens),
                                cost.normalize(),
                                now,
                            ],
                        )
                        .await?;
                    if let Some(row) = row {
                        return Ok(Ok(usage_row(&row)?));
                    }
                    let sql = format!("SELECT {COLUMNS} FROM llm_usage_log WHERE id = $1");
                    let current = conn
                        .fetch_optional("llm_budget_close", &sql, args![id])
                        .await?
                        .ok_or_else(|| StoreError::NotFound {
                            what: "LLM usage entry",
                            key: id.to_string(),
                        })?;
                    Ok(Err(usage_row(&current)?.status))
                })
            })
            .await?;
        closed.map_err(|status| LlmBudgetError::NotReserved { id, status })
    }

    /// What `user`'s LLM calls of `now`'s UTC day count against the budget (reserved worst
    /// cases plus settled and released actual costs), in USD.
    ///
    /// # Errors
    /// A database error.
    pub async fn llm_budget_spent(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Decimal, StoreError> {
        let mut pooled = self.acquire().await?;
        day_spent(&mut pooled.conn(), user, now)
            .await
            .map_err(|e| self.classify(e))
    }

    /// Usage entries matching the filter, newest first.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn llm_usage_list(
        &self,
        filter: &LlmUsageFilter,
    ) -> Result<Vec<LlmUsage>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM llm_usage_log WHERE ($1 IS NULL OR user_id = $1) \
             AND ($2 IS NULL OR at >= $2) ORDER BY at DESC, id DESC LIMIT $3"
        );
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(
                "llm_usage_list",
                &sql,
                args![
                    filter.user.map(|u| u.as_uuid()),
                    filter.since,
                    rows::limit(filter.limit)
                ],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(usage_row).collect()
    }
}
