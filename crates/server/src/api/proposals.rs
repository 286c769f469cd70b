//! `/api/v1/proposals`: list, create, show, approve, reject (and execute, in `execute.rs`).
//!
//! A proposal created through the API is the caller's, from `person:<caller's name>`, and
//! starts `PENDING`; it becomes an order only through execute, after approval. Its market must
//! be on the caller's allowlist when it is created (422 otherwise); the executor checks again.

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    Market, Notional, OrderSize, OrderType, Price, Proposal, ProposalId, ProposalSource,
    ProposalStatus, Quantity, Side, ValidationError,
};
use vigil_ops::Visibility;
use vigil_store::{ListedProposal, ProposalFilter};

use super::{check_reason, take_limit, ReasonBody};
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, NoQuery, OptionalJson, PathSegment, QueryParams},
    state::ApiState,
    views::ProposalView,
};

/// The time to live when none is given.
const TTL_MINUTES_DEFAULT: i64 = 60;

/// A new proposal. Give exactly one of `amount_quote` (quote asset to spend or receive, market
/// orders only) and `amount` (base asset).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProposalRequest {
    /// The market, `BASE-QUOTE` (e.g. `BTC-EUR`; each asset 1 to 12 letters or digits, any case).
    #[schema(pattern = r"^\s*[A-Za-z0-9]{1,12}-[A-Za-z0-9]{1,12}\s*$")]
    pub market: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market` (default) or `limit`.
    pub order_type: Option<String>,
    /// The amount in the quote asset, as a decimal string (e.g. `"25"`).
    pub amount_quote: Option<String>,
    /// The amount in the base asset, as a decimal string (e.g. `"0.0005"`).
    pub amount: Option<String>,
    /// The limit price of a limit order, as a decimal string.
    pub limit_price: Option<String>,
    /// Minutes until it expires, 1 to 1440 (one day; default 60).
    #[schema(minimum = 1, maximum = 1440)]
    pub ttl_minutes: Option<i64>,
    /// Why, in words a person can check (at most 4000 characters).
    #[schema(max_length = 4000)]
    pub rationale: Option<String>,
}

impl CreateProposalRequest {
    /// Checks every field and builds the draft, reporting all problems at once.
    fn into_draft(self, caller: &Caller) -> Result<ProposalDraft, ApiError> {
        let mut problems: Vec<ValidationError> = Vec::new();
        let market = Market::parse(&self.market)
            .map_err(|e| problems.push(e))
            .ok();
        let side = self
            .side
            .parse::<Side>()
            .map_err(|e| problems.push(e.for_field("side")))
            .ok();
        let order_type = match self.order_type.as_deref() {
            None => Some(OrderType::Market),
            Some(text) => text
                .parse::<OrderType>()
                .map_err(|e| problems.push(e.for_field("order_type")))
                .ok(),
        };
        let size = match (&self.amount_quote, &self.amount) {
            (Some(q), None) => Notional::parse_positive("amount_quote", q)
                .map(OrderSize::Quote)
                .map_err(|e| problems.push(e))
                .ok(),
            (None, Some(b)) => Quantity::parse_positive("amount", b)
                .map(OrderSize::Base)
                .map_err(|e| problems.push(e))
                .ok(),
            (both, _) => {
                problems.push(ValidationError::new(
                    "amount_quote",
                    if both.is_some() { "both" } else { "neither" },
                    "exactly one of amount_quote or amount",
                ));
                None
            }
        };
        let limit_price = self
            .limit_price
            .as_deref()
            .map(|p| Price::parse_positive("limit_price", p))
            .transpose()
            .map_err(|e| problems.push(e))
            .ok()
            .flatten();
        let ttl = vigil_core::proposal::ttl_from_minutes(
            "ttl_minutes",
            self.ttl_minutes.unwrap_or(TTL_MINUTES_DEFAULT),
        )
        .map_err(|e| problems.push(e))
        .ok();
        let (Some(market), Some(side), Some(order_type), Some(size), Some(ttl), true) =
            (market, side, order_type, size, ttl, problems.is_empty())
        else {
            return Err(ApiError::from(problems));
        };
        Ok(ProposalDraft {
            user_id: caller.id(),
            market,
            side,
            order_type,
            size,
            limit_price,
            source: ProposalSource::Person(caller.user.name.clone()),
            rationale: self.rationale.unwrap_or_default(),
            ttl,
        })
    }
}

/// Parses a proposal id from the path.
pub(crate) fn proposal_id(segment: &str) -> Result<ProposalId, ApiError> {
    ProposalId::parse(segment).map_err(ApiError::from)
}

/// The caller's proposal, or 404 (also when it is another user's).
pub(crate) async fn owned_proposal(
    state: &ApiState,
    caller: &Caller,
    id: ProposalId,
) -> Result<Proposal, ApiError> {
    Ok(owned_listed_proposal(state, caller, id).await?.proposal)
}

/// The caller's proposal with the summary of its execution, or 404 (also when it is another
/// user's).
async fn owned_listed_proposal(
    state: &ApiState,
    caller: &Caller,
    id: ProposalId,
) -> Result<ListedProposal, ApiError> {
    Ok(state
        .operations()
        .proposal(id, Visibility::Own(caller.id()))
        .await?)
}

/// Lists the caller's proposals, newest first, each with what became of it (`outcome`).
#[utoipa::path(
    get, path = "/api/v1/proposals", tag = "proposals",
    params(
        ("status" = Option<String>, Query, description = "Only this status: PENDING, APPROVED, REJECTED, EXPIRED, EXECUTED or CANCELLED"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100)", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The caller's proposals", body = [ProposalView]),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_proposals(
    State(state): State<ApiState>,
    caller: Caller,
    mut query: QueryParams,
) -> Result<Json<Vec<ProposalView>>, ApiError> {
    let status = query
        .take("status")?
        .map(|s| s.parse::<ProposalStatus>())
        .transpose()?;
    let limit = take_limit(&mut query)?;
    query.finish(&["status", "limit"])?;
    let filter = ProposalFilter {
        user: Some(caller.id()),
        status,
        limit,
    };
    let found = state.store().proposal_list_with_outcomes(&filter).await?;
    Ok(Json(found.iter().map(ProposalView::from).collect()))
}

/// Creates a proposal for the caller (`PENDING`, source `person:<name>`).
#[utoipa::path(
    post, path = "/api/v1/proposals", tag = "proposals",
    request_body = CreateProposalRequest,
    responses(
        (status = 201, description = "Created", body = ProposalView),
        (status = 422, description = "A field is invalid, or the market is not on the caller's allowlist (field `market`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_proposal(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    ApiJson(body): ApiJson<CreateProposalRequest>,
) -> Result<(StatusCode, Json<ProposalView>), ApiError> {
    let draft = body.into_draft(&caller)?;
    // A proposal for a market the caller may not trade could never be executed (I5): refused
    // as a bad field before anything is stored. The executor checks the allowlist again.
    let how_to_allow = format!(
        "allow it first with POST /api/v1/allowlist {{\"market\": \"{}\"}}",
        draft.market
    );
    let proposal = state
        .operations()
        .create_proposal(draft, &how_to_allow)
        .await?;
    tracing::info!(proposal_id = %proposal.id, user = %caller.user.name, "proposal created through the API");
    Ok((
        StatusCode::CREATED,
        Json(ProposalView::new(&proposal, None)),
    ))
}

/// Shows one of the caller's proposals, with what became of it (`outcome`).
#[utoipa::path(
    get, path = "/api/v1/proposals/{proposal_id}", tag = "proposals",
    params(("proposal_id" = Uuid, Path, description = "The proposal's id")),
    responses(
        (status = 200, description = "The proposal", body = ProposalView),
        (status = 404, description = "No such proposal among the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_proposal(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
) -> Result<Json<ProposalView>, ApiError> {
    let listed = owned_listed_proposal(&state, &caller, proposal_id(&id)?).await?;
    Ok(Json(ProposalView::from(&listed)))
}

/// Approves or rejects a PENDING proposal of the caller, audited. An expired one is marked
/// EXPIRED and refused.
async fn decide(
    state: &ApiState,
    caller: &Caller,
    segment: &str,
    action: ProposalAction,
    reason: Option<String>,
) -> Result<ProposalView, ApiError> {
    let reason = check_reason(reason)?;
    let decided = state
        .operations()
        .decide_proposal(
            proposal_id(segment)?,
            Visibility::Own(caller.id()),
            action,
            &caller.operator(reason),
        )
        .await?;
    Ok(ProposalView::from(&decided))
}

/// Approves one of the caller's PENDING proposals (audited).
#[utoipa::path(
    post, path = "/api/v1/proposals/{proposal_id}/approve", tag = "proposals",
    params(("proposal_id" = Uuid, Path, description = "The proposal's id")),
    request_body(content = Option<ReasonBody>, description = "Optional: why (recorded in the audit log)"),
    responses(
        (status = 200, description = "Approved", body = ProposalView),
        (status = 404, description = "No such proposal among the caller's", body = ErrorBody),
        (status = 409, description = "Not PENDING, or expired", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn approve_proposal(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<ProposalView>, ApiError> {
    let reason = body.and_then(|b| b.reason);
    decide(&state, &caller, &id, ProposalAction::Approve, reason)
        .await
        .map(Json)
}

/// Rejects one of the caller's PENDING proposals (audited).
#[utoipa::path(
    post, path = "/api/v1/proposals/{proposal_id}/reject", tag = "proposals",
    params(("proposal_id" = Uuid, Path, description = "The proposal's id")),
    request_body(content = Option<ReasonBody>, description = "Optional: why (recorded in the audit log)"),
    responses(
        (status = 200, description = "Rejected", body = ProposalView),
        (status = 404, description = "No such proposal among the caller's", body = ErrorBody),
        (status = 409, description = "Not PENDING, or expired", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn reject_proposal(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<ProposalView>, ApiError> {
    let reason = body.and_then(|b| b.reason);
    decide(&state, &caller, &id, ProposalAction::Reject, reason)
        .await
        .map(Json)
}
