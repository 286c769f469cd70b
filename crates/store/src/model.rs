//! The store's own record types: what it returns that `vigil-core` does not already define
//! (users, token hashes, audit entries, fills, list filters, claim outcomes, proposals as listed
//! with their execution's outcome).

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use vigil_core::{
    Asset, Execution, ExecutionId, ExecutionState, Market, OrderOutcome, Price, Proposal,
    ProposalStatus, Quantity, Refusal, Side, Timestamp, UserId, ValidationError,
};

/// The most rows any list call returns (every list call is paged, STYLE rule 12). The CLI's
/// `--limit` flags and the API's `limit` parameters accept 1 to this, and refuse anything else.
pub const LIST_LIMIT_MAX: u32 = 1_000;

/// How many rows a list shows when the caller (a `--limit` flag, an API `limit`) names none.
pub const LIST_LIMIT_DEFAULT: u32 = 100;

/// A proposal as a list shows it: with what became of it, when it was handed to the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedProposal {
    /// The proposal.
    pub proposal: Proposal,
    /// Its execution (at most one per proposal, I1), when it has one.
    pub execution: Option<ExecutionSummary>,
}

/// What a person reading a list needs of a proposal's execution: which one, its state, the
/// outcome in words, and why it ended when it was refused or not placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSummary {
    /// The execution's id (`vigil executions show ID` has its history).
    pub id: ExecutionId,
    /// Its state.
    pub state: ExecutionState,
    /// Whether the order call's outcome is unknown (the reconciler resolves it, I3).
    pub outcome_unknown: bool,
    /// Why a safety rail refused it (`REJECTED`).
    pub refusal: Option<Refusal>,
    /// Why it was not placed (`FAILED`).
    pub failure: Option<String>,
}

impl ExecutionSummary {
    /// What became of it, in words: PLACED, FILLED, REFUSED, NOT_PLACED, ...
    #[must_use]
    pub const fn outcome(&self) -> OrderOutcome {
        OrderOutcome::of(self.state, self.outcome_unknown)
    }

    /// Why it ended, for a refused or not placed execution: the refusal with its numbers, or
    /// the failure; `None` otherwise.
    #[must_use]
    pub fn reason(&self) -> Option<String> {
        match (&self.refusal, &self.failure) {
            (Some(refusal), _) => Some(refusal.to_string()),
            (None, Some(failure)) => Some(failure.clone()),
            (None, None) => None,
        }
    }
}

impl From<&Execution> for ExecutionSummary {
    fn from(e: &Execution) -> ExecutionSummary {
        ExecutionSummary {
            id: e.id,
            state: e.state,
            outcome_unknown: e.outcome_unknown,
            refusal: e.refusal.clone(),
            failure: e.failure.clone(),
        }
    }
}

/// A Vigil user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its unique name (1 to 64 of `a-z A-Z 0-9 _ - .`).
    pub name: String,
    /// Whether it may act on other users and global settings.
    pub is_admin: bool,
    /// The user's kill switch (I4).
    pub kill_switch: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Checks a user name: 1 to 64 characters of ASCII letters, digits, `_`, `-` and `.`.
///
/// # Errors
/// A [`ValidationError`] for the field `name`.
pub fn validate_user_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            name,
            "1 to 64 letters, digits, '_', '-' or '.'",
        ))
    }
}

/// The SHA-256 of an API token: all the store ever keeps of a token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token as presented by a client.
    #[must_use]
    pub fn of_token(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Parses the 64-character lower-case hex form.
    ///
    /// # Errors
    /// A [`ValidationError`] for the field `token_sha256`.
    pub fn from_hex(text: &str) -> Result<TokenHash, ValidationError> {
        let bytes = hex::decode(text)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        match bytes {
            Some(bytes) if text.len() == 64 && text == text.to_ascii_lowercase() => {
                Ok(TokenHash(bytes))
            }
            _ => Err(ValidationError::new(
                "token_sha256",
                text,
                "64 lower-case hex digits (a SHA-256)",
            )),
        }
    }

    /// The 64-character lower-case hex form (as stored).
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not the token, but there is no reason to print it whole either.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// A stored API token (its hash is not returned: it is only ever looked up by).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Its id.
    pub id: Uuid,
    /// Whose token it is.
    pub user_id: UserId,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Who made an operator change, why and when: recorded in `audit_log` (I11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// The person or component (`alice`, `cli:alice`, `reconciler`).
    pub actor: String,
    /// Why, in their words.
    pub reason: Option<String>,
    /// When.
    pub at: Timestamp,
}

impl Attribution {
    /// An attribution without a reason.
    #[must_use]
    pub fn new(actor: impl Into<String>, at: Timestamp) -> Attribution {
        Attribution {
            actor: actor.into(),
            reason: None,
            at,
        }
    }

    /// The same attribution with a reason.
    #[must_use]
    pub fn because(mut self, reason: impl Into<String>) -> Attribution {
        self.reason = Some(reason.into());
        self
    }
}

/// What a database holds: a paper deployment (the built-in simulator) or a live one (the real
/// exchange). Recorded once; a run of the other kind refuses the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentMode {
    /// Paper trading against the simulator: no real money.
    Paper,
    /// Live trading against the configured exchange: real money.
    Live,
}

impl DeploymentMode {
    /// The stored name: `paper` or `live`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DeploymentMode::Paper => "paper",
            DeploymentMode::Live => "live",
        }
    }
}

impl std::fmt::Display for DeploymentMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kill switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KillSwitchScope {
    /// Stops every user.
    Global,
    /// Stops one user.
    User(UserId),
}

/// With what authority a user's kill switch or policy is changed (#18 cases 4-6): the user
/// themself, or an admin (the CLI, which holds the database, acts as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// The switch's own user, without admin rights.
    Owner,
    /// An admin, an operator at the CLI, or an automatic rule of the deployment.
    Admin,
}

/// The deployment's ceilings (`[limits]`): a user without admin rights may not raise their own
/// policy above them (#18 cases 5, 6). The defaults are the first live days' careful ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyCeilings {
    /// The highest per-order cap, in the quote currency.
    pub order_notional_max: vigil_core::Notional,
    /// The highest daily cap, in the quote currency.
    pub daily_notional_max: vigil_core::Notional,
    /// The highest LLM advisor budget a day, in USD (spent on the deployment's advisor key).
    pub llm_daily_budget: rust_decimal::Decimal,
}

impl Default for PolicyCeilings {
    fn default() -> Self {
        PolicyCeilings {
            order_notional_max: vigil_core::Notional::from_whole(25),
            daily_notional_max: vigil_core::Notional::from_whole(250),
            llm_daily_budget: rust_decimal::Decimal::from(5),
        }
    }
}

/// The rules a policy change is written under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyLimits {
    /// An operator or admin: no ceiling, and the caps' age is not checked here (the operator
    /// path checks the stability window, whose override is audited).
    Operator,
    /// The user themself: no value above the ceilings, and a cap or budget goes up only after
    /// it has been in force for 24 hours (a new user has not had their caps that long).
    Owner(PolicyCeilings),
}

/// How long caps must have been in force before their owner may raise them.
pub const CAPS_IN_FORCE_BEFORE_A_RAISE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Who turned a user's kill switch on: while it is on with [`Authority::Admin`], only an
/// admin turns it off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitchSetter {
    /// Who (`alice`, `cli:operator`, …; `unknown` for a switch set before setters were kept).
    pub actor: String,
    /// With what authority.
    pub authority: Authority,
    /// When, when known.
    pub at: Option<Timestamp>,
}

/// The two kill switches that apply to a user (I4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitches {
    /// The global switch.
    pub global: bool,
    /// The user's switch.
    pub user: bool,
}

impl KillSwitches {
    /// Whether either switch is on.
    #[must_use]
    pub fn any(&self) -> bool {
        self.global || self.user
    }
}

/// The `audit_log` action of a cap raise that overrode the 24-hour stability window (written
/// by `vigil-ops`, watched by `vigil-alerting`).
pub const STABILITY_OVERRIDE_ACTION: &str = "policy.stability_override";

/// One `audit_log` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its id.
    pub id: Uuid,
    /// Who.
    pub actor: String,
    /// What (`kill_switch.set`, `policy.set`, `allowlist.add`, …).
    pub action: String,
    /// On what (`global`, `user:<id>`, `proposal:<id>`, …).
    pub target: String,
    /// The value before, if there was one.
    pub before: Option<serde_json::Value>,
    /// The value after, if there is one.
    pub after: Option<serde_json::Value>,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: Timestamp,
}

impl AuditEntry {
    /// A new entry with a fresh id, attributed to `by`.
    #[must_use]
    pub fn new(
        by: &Attribution,
        action: impl Into<String>,
        target: impl Into<String>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> AuditEntry {
        AuditEntry {
            id: Uuid::new_v4(),
            actor: by.actor.clone(),
            action: action.into(),
            target: target.into(),
            before,
            after,
            reason: by.reason.clone(),
            at: by.at,
        }
    }
}

/// Which audit entries to list (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this target.
    pub target: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// At most this many (capped at [`LIST_LIMIT_MAX`]).
    pub limit: u32,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            target: None,
            actor: None,
            limit: 100,
        }
    }
}

/// Which proposals to list (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalFilter {
    /// Only this user's.
    pub user: Option<UserId>,
    /// Only in this status.
    pub status: Option<ProposalStatus>,
    /// At most this many (capped at [`LIST_LIMIT_MAX`]).
    pub limit: u32,
}

impl Default for ProposalFilter {
    fn default() -> Self {
        Self {
            user: None,
            status: None,
            limit: 100,
        }
    }
}

/// Which executions to list (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Only this user's.
    pub user: Option<UserId>,
    /// Only in this state.
    pub state: Option<ExecutionState>,
    /// Only on this market.
    pub market: Option<Market>,
    /// At most this many (capped at [`LIST_LIMIT_MAX`]).
    pub limit: u32,
}

impl Default for ExecutionFilter {
    fn default() -> Self {
        Self {
            user: None,
            state: None,
            market: None,
            limit: 100,
        }
    }
}

/// What a claim found (I1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This call created the execution; it is the one that may place the order.
    Claimed(Execution),
    /// The proposal already had an execution (by design, not an error): here it is. The caller
    /// must not place anything; it answers with this execution.
    AlreadyClaimed(Execution),
}

impl ClaimOutcome {
    /// The execution, whoever created it.
    #[must_use]
    pub fn execution(&self) -> &Execution {
        match self {
            ClaimOutcome::Claimed(e) | ClaimOutcome::AlreadyClaimed(e) => e,
        }
    }
}

/// One `execution_events` row (I11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionEventRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// 1 for the claim, then one more per transition.
    pub seq: u32,
    /// The event name (`claimed`, or [`vigil_core::ExecutionEvent::name`]).
    pub event: String,
    /// The state before (`None` for the claim).
    pub from_state: Option<ExecutionState>,
    /// The state after.
    pub to_state: ExecutionState,
    /// The event as JSON.
    pub payload: serde_json::Value,
    /// When.
    pub at: Timestamp,
}

/// A fill, as recorded in `trade_history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Whose order filled.
    pub user_id: UserId,
    /// The execution it belongs to, when known.
    pub execution_id: Option<ExecutionId>,
    /// The market.
    pub market: Market,
    /// The exchange's fill id (unique within the market).
    pub fill_id: String,
    /// The exchange's order id.
    pub order_id: String,
    /// The order's `clientOrderId`, when it had one.
    pub client_order_id: Option<String>,
    /// Buy or sell.
    pub side: Side,
    /// The base quantity filled.
    pub amount: Quantity,
    /// The price it filled at.
    pub price: Price,
    /// The fee charged (may be negative for a rebate).
    pub fee: Decimal,
    /// The asset the fee was charged in.
    pub fee_currency: Asset,
    /// When it filled.
    pub filled_at: Timestamp,
}
