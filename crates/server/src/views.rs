//! The API's wire types: what the endpoints answer, built from core's and the store's types.
//!
//! The API keeps its own types rather than serialising the domain types directly, so the wire
//! format is documented (each derives `ToSchema` for the OpenAPI document) and an internal
//! refactor cannot silently change what clients receive. Money travels as decimal strings
//! (`"25"`, `"0.0005"`), never as JSON numbers, which clients would read as floating point.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_core::{Execution, OrderSize, Policy, Proposal, Refusal};
use vigil_store::{
    Authority, ExecutionEventRecord, ExecutionSummary, Fill, KillSwitchSetter, KillSwitches,
    ListedProposal, ScanJob, User,
};

/// An order size: in the quote asset (`quote`, e.g. EUR to spend) or the base asset (`base`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SizeView {
    /// `quote` or `base`.
    pub kind: String,
    /// The amount, as a decimal string.
    pub value: String,
}

impl From<&OrderSize> for SizeView {
    fn from(size: &OrderSize) -> SizeView {
        match size {
            OrderSize::Quote(n) => SizeView {
                kind: "quote".into(),
                value: n.to_string(),
            },
            OrderSize::Base(q) => SizeView {
                kind: "base".into(),
                value: q.to_string(),
            },
        }
    }
}

/// A trade proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// The market, e.g. `BTC-EUR`.
    pub market: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market` or `limit`.
    pub order_type: String,
    /// How much.
    pub size: SizeView,
    /// The limit price of a limit order.
    pub limit_price: Option<String>,
    /// Where it came from: `person:NAME`, `strategy:NAME` or `advisor:MODEL`.
    pub source: String,
    /// Why.
    pub rationale: String,
    /// `PENDING`, `APPROVED`, `REJECTED`, `EXPIRED`, `EXECUTED` or `CANCELLED`.
    pub status: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires (it cannot be executed from then on).
    pub expires_at: DateTime<Utc>,
    /// What became of it once it was handed to the executor: `IN_PROGRESS`,
    /// `OUTCOME_UNKNOWN`, `PLACED`, `FILLED`, `CANCELED`, `REFUSED` (a safety rail said no,
    /// nothing was sent) or `NOT_PLACED`; `null` while it has no execution. `status` says only
    /// that it was handed over (`EXECUTED`); this says whether an order exists.
    pub outcome: Option<String>,
    /// Why, for `REFUSED` (the refusal with its numbers) and `NOT_PLACED` (the failure).
    pub outcome_reason: Option<String>,
    /// Its execution (at most one per proposal), when it has one.
    pub execution: Option<ProposalExecutionView>,
}

/// The execution of a listed proposal: which one (`GET /api/v1/executions/{id}` has its
/// history), its state, and the refusal or failure it ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProposalExecutionView {
    /// The execution's id.
    pub id: Uuid,
    /// `CLAIMED`, `SUBMITTING`, `SUBMITTED`, `FILLED`, `CANCELED`, `REJECTED` or `FAILED`.
    pub state: String,
    /// Whether the order call's outcome is unknown (the reconciler will resolve it).
    pub outcome_unknown: bool,
    /// Why a safety rail refused it (`REJECTED`).
    pub refusal: Option<RefusalView>,
    /// Why it failed (`FAILED`).
    pub failure: Option<String>,
}

impl From<&ExecutionSummary> for ProposalExecutionView {
    fn from(e: &ExecutionSummary) -> ProposalExecutionView {
        ProposalExecutionView {
            id: e.id.as_uuid(),
            state: e.state.as_str().to_owned(),
            outcome_unknown: e.outcome_unknown,
            refusal: e.refusal.as_ref().map(RefusalView::from),
            failure: e.failure.clone(),
        }
    }
}

impl ProposalView {
    /// The view of `p` with what became of it (`execution`: its execution, when it has one).
    #[must_use]
    pub fn new(p: &Proposal, execution: Option<&ExecutionSummary>) -> ProposalView {
        ProposalView {
            id: p.id.as_uuid(),
            user_id: p.user_id.as_uuid(),
            market: p.market.to_string(),
            side: p.side.as_str().to_owned(),
            order_type: p.order_type.as_str().to_owned(),
            size: SizeView::from(&p.size),
            limit_price: p.limit_price.map(|price| price.to_string()),
            source: p.source.to_string(),
            rationale: p.rationale.clone(),
            status: p.status.as_str().to_owned(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            outcome: execution.map(|e| e.outcome().as_str().to_owned()),
            outcome_reason: execution.and_then(ExecutionSummary::reason),
            execution: execution.map(ProposalExecutionView::from),
        }
    }
}

impl From<&ListedProposal> for ProposalView {
    fn from(listed: &ListedProposal) -> ProposalView {
        ProposalView::new(&listed.proposal, listed.execution.as_ref())
    }
}

/// Why a safety rail refused an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalView {
    /// The stable reason code (`cooldown_active`, `cap_per_order`, `market_not_allowlisted`, ...).
    pub code: String,
    /// The reason with its numbers, for a person.
    pub message: String,
    /// The reason's details as stored (limits, times, markets).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&Refusal> for RefusalView {
    fn from(r: &Refusal) -> RefusalView {
        RefusalView {
            code: r.code().to_owned(),
            message: r.to_string(),
            details: serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// An execution: one attempt to turn a proposal into at most one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionView {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// The proposal it executes.
    pub proposal_id: Uuid,
    /// The `clientOrderId` sent with its order.
    pub client_order_id: Uuid,
    /// The market.
    pub market: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market` or `limit`.
    pub order_type: String,
    /// How much.
    pub size: SizeView,
    /// The limit price of a limit order.
    pub limit_price: Option<String>,
    /// What the order is worth as preflight valued it (`0` until then).
    pub notional: String,
    /// `CLAIMED`, `SUBMITTING`, `SUBMITTED`, `FILLED`, `CANCELED`, `REJECTED` or `FAILED`.
    pub state: String,
    /// Whether the order call's outcome is unknown (the reconciler will resolve it).
    pub outcome_unknown: bool,
    /// Why a safety rail refused it (`REJECTED`).
    pub refusal: Option<RefusalView>,
    /// Why it failed (`FAILED`).
    pub failure: Option<String>,
    /// The exchange's order id, once known.
    pub exchange_order_id: Option<String>,
    /// When the order request was signed.
    pub signed_at: Option<DateTime<Utc>>,
    /// The order request's access window in milliseconds.
    pub access_window_ms: Option<u32>,
    /// The quote value filled so far.
    pub filled_notional: String,
    /// When it was claimed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Execution> for ExecutionView {
    fn from(e: &Execution) -> ExecutionView {
        ExecutionView {
            id: e.id.as_uuid(),
            user_id: e.user_id.as_uuid(),
            proposal_id: e.proposal_id.as_uuid(),
            client_order_id: e.client_order_id.as_uuid(),
            market: e.market.to_string(),
            side: e.side.as_str().to_owned(),
            order_type: e.order_type.as_str().to_owned(),
            size: SizeView::from(&e.size),
            limit_price: e.limit_price.map(|p| p.to_string()),
            notional: e.notional.to_string(),
            state: e.state.as_str().to_owned(),
            outcome_unknown: e.outcome_unknown,
            refusal: e.refusal.as_ref().map(RefusalView::from),
            failure: e.failure.clone(),
            exchange_order_id: e.exchange_order_id.clone(),
            signed_at: e.signed_at,
            access_window_ms: e.access_window_ms,
            filled_notional: e.filled_notional.to_string(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// One entry of an execution's history (`execution_events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionEventView {
    /// 1 for the claim, then one more per transition.
    pub seq: u32,
    /// The event (`claimed`, `submit_committed`, `accepted`, `rejected`, ...).
    pub event: String,
    /// The state before (none for the claim).
    pub from_state: Option<String>,
    /// The state after.
    pub to_state: String,
    /// The event's details.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<&ExecutionEventRecord> for ExecutionEventView {
    fn from(e: &ExecutionEventRecord) -> ExecutionEventView {
        ExecutionEventView {
            seq: e.seq,
            event: e.event.clone(),
            from_state: e.from_state.map(|s| s.as_str().to_owned()),
            to_state: e.to_state.as_str().to_owned(),
            payload: e.payload.clone(),
            at: e.at,
        }
    }
}

/// A fill of an execution's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FillView {
    /// The exchange's fill id.
    pub fill_id: String,
    /// The exchange's order id.
    pub order_id: String,
    /// The base quantity filled.
    pub amount: String,
    /// The price.
    pub price: String,
    /// The fee charged.
    pub fee: String,
    /// The asset the fee was charged in.
    pub fee_currency: String,
    /// When it filled.
    pub filled_at: DateTime<Utc>,
}

impl From<&Fill> for FillView {
    fn from(f: &Fill) -> FillView {
        FillView {
            fill_id: f.fill_id.clone(),
            order_id: f.order_id.clone(),
            amount: f.amount.to_string(),
            price: f.price.to_string(),
            fee: f.fee.normalize().to_string(),
            fee_currency: f.fee_currency.to_string(),
            filled_at: f.filled_at,
        }
    }
}

/// An execution with its full history and fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionDetailView {
    /// The execution.
    pub execution: ExecutionView,
    /// Every state change, in order (append-only, I11).
    pub events: Vec<ExecutionEventView>,
    /// Its fills, oldest first.
    pub fills: Vec<FillView>,
}

/// A user's trading policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// Whether the user may trade at all.
    pub trading_enabled: bool,
    /// The largest order, in the quote currency (I7).
    pub order_notional_max: String,
    /// The most per UTC day, counting in-flight orders (I7).
    pub daily_notional_max: String,
    /// No two orders on one market within this many minutes (I6).
    pub cooldown_minutes: u32,
    /// No opposite-side order on one market within this many minutes (I6).
    pub anti_flip_minutes: u32,
    /// Whether strategy and advisor proposals are approved without a person.
    pub auto_approve: bool,
    /// The daily LLM budget in USD (I8).
    pub llm_daily_budget: String,
}

impl From<&Policy> for PolicyView {
    fn from(p: &Policy) -> PolicyView {
        PolicyView {
            trading_enabled: p.trading_enabled,
            order_notional_max: p.order_notional_max.to_string(),
            daily_notional_max: p.daily_notional_max.to_string(),
            cooldown_minutes: p.cooldown_minutes,
            anti_flip_minutes: p.anti_flip_minutes,
            auto_approve: p.auto_approve,
            llm_daily_budget: p.llm_daily_budget.normalize().to_string(),
        }
    }
}

/// A user's allowlist (I5: an empty list refuses every market).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AllowlistView {
    /// The markets, sorted.
    pub markets: Vec<String>,
}

/// The answer to an allowlist change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AllowlistChangeView {
    /// Whether the list changed (false: the market was already there, or not there).
    pub changed: bool,
    /// The list afterwards.
    pub markets: Vec<String>,
}

/// The kill switches that apply to the caller (I4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KillSwitchView {
    /// The global switch (only administrators can set it).
    pub global: bool,
    /// The caller's own switch.
    pub user: bool,
    /// Whether either is on (no order is placed for the caller while it is).
    pub trading_halted: bool,
    /// Who turned the caller's switch on (absent while it is off). One set by an admin is
    /// turned off only by an admin.
    pub user_set_by: Option<KillSwitchSetterView>,
}

impl KillSwitchView {
    /// The view of both switches and who set the user's.
    #[must_use]
    pub fn new(k: KillSwitches, setter: Option<KillSwitchSetter>) -> KillSwitchView {
        KillSwitchView {
            global: k.global,
            user: k.user,
            trading_halted: k.any(),
            user_set_by: setter.map(|s| KillSwitchSetterView {
                actor: s.actor,
                by_admin: s.authority == Authority::Admin,
                at: s.at,
            }),
        }
    }
}

/// Who turned a user's kill switch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KillSwitchSetterView {
    /// Who (`api:alice`, `cli:operator`, …).
    pub actor: String,
    /// Whether with an admin's authority (then only an admin turns it off).
    pub by_admin: bool,
    /// When (absent for a switch set before setters were recorded).
    pub at: Option<DateTime<Utc>>,
}

/// The global kill switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GlobalKillSwitchView {
    /// Whether it is on (no order is placed for anyone while it is).
    pub on: bool,
    /// Its value before this change (only in answers to a change).
    pub previous: Option<bool>,
}

/// A Vigil user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Its id.
    pub id: Uuid,
    /// Its unique name.
    pub name: String,
    /// Whether it is an administrator.
    pub is_admin: bool,
    /// Its kill switch.
    pub kill_switch: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id.as_uuid(),
            name: u.name.clone(),
            is_admin: u.is_admin,
            kill_switch: u.kill_switch,
            created_at: u.created_at,
        }
    }
}

/// A new user and its API token. The token is shown ONCE: only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedUserView {
    /// The user.
    pub user: UserView,
    /// The bearer token for `Authorization: Bearer <token>`; store it now, it cannot be shown
    /// again.
    pub api_token: String,
}

/// A scheduled scan job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanJobView {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// The strategy.
    pub strategy: String,
    /// The markets it scans.
    pub markets: Vec<String>,
    /// The strategy's parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// How often it runs, in seconds.
    pub interval_seconds: u32,
    /// When it is next due.
    pub next_run_at: DateTime<Utc>,
    /// Whether it is paused.
    pub paused: bool,
}

impl From<&ScanJob> for ScanJobView {
    fn from(j: &ScanJob) -> ScanJobView {
        ScanJobView {
            id: j.id.as_uuid(),
            user_id: j.user_id.as_uuid(),
            strategy: j.strategy.clone(),
            markets: j.markets.iter().map(ToString::to_string).collect(),
            params: j.params.clone(),
            interval_seconds: j.interval_seconds,
            next_run_at: j.next_run_at,
            paused: j.paused,
        }
    }
}
