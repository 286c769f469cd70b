//! `/api/v1/allowlist`: the markets the caller may trade (I5: deny by default, an empty list
//! refuses every market). Changes are audited by the store.

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_core::Market;

use super::{check_reason, ReasonBody};
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, NoQuery, OptionalJson, PathSegment},
    state::ApiState,
    views::{AllowlistChangeView, AllowlistView},
};

/// A market to allow.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistAddRequest {
    /// The market, `BASE-QUOTE` (e.g. `BTC-EUR`; each asset 1 to 12 letters or digits, any case).
    #[schema(pattern = r"^\s*[A-Za-z0-9]{1,12}-[A-Za-z0-9]{1,12}\s*$")]
    pub market: String,
    /// Why (recorded in the audit log), at most 1000 characters.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

async fn markets(state: &ApiState, caller: &Caller) -> Result<Vec<String>, ApiError> {
    let list = state.store().allowlist_list(caller.id()).await?;
    Ok(list.iter().map(ToString::to_string).collect())
}

/// The caller's allowlist.
#[utoipa::path(
    get, path = "/api/v1/allowlist", tag = "allowlist",
    responses(
        (status = 200, description = "The caller's allowed markets", body = AllowlistView),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_allowlist(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
) -> Result<Json<AllowlistView>, ApiError> {
    Ok(Json(AllowlistView {
        markets: markets(&state, &caller).await?,
    }))
}

/// Adds a market to the caller's allowlist (audited; adding one already there changes nothing).
#[utoipa::path(
    post, path = "/api/v1/allowlist", tag = "allowlist",
    request_body = AllowlistAddRequest,
    responses(
        (status = 201, description = "Added", body = AllowlistChangeView),
        (status = 200, description = "Already there; nothing changed", body = AllowlistChangeView),
        (status = 422, description = "Not a market", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn add_to_allowlist(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    ApiJson(body): ApiJson<AllowlistAddRequest>,
) -> Result<(StatusCode, Json<AllowlistChangeView>), ApiError> {
    let market = Market::parse(&body.market)?;
    let by = caller.attribution(state.now(), check_reason(body.reason)?);
    let changed = state
        .store()
        .allowlist_add(caller.id(), &market, &by)
        .await?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AllowlistChangeView {
            changed,
            markets: markets(&state, &caller).await?,
        }),
    ))
}

/// Removes a market from the caller's allowlist (audited; removing one not there changes
/// nothing).
#[utoipa::path(
    delete, path = "/api/v1/allowlist/{market}", tag = "allowlist",
    params(("market" = String, Path, description = "The market, e.g. BTC-EUR", pattern = r"^\s*[A-Za-z0-9]{1,12}-[A-Za-z0-9]{1,12}\s*$")),
    request_body(content = Option<ReasonBody>, description = "Optional: why (recorded in the audit log)"),
    responses(
        (status = 200, description = "The list afterwards; `changed` says whether it was there", body = AllowlistChangeView),
        (status = 422, description = "Not a market", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn remove_from_allowlist(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(market): PathSegment,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<AllowlistChangeView>, ApiError> {
    let market = Market::parse(&market)?;
    let reason = check_reason(body.and_then(|b| b.reason))?;
    let by = caller.attribution(state.now(), reason);
    let changed = state
        .store()
        .allowlist_remove(caller.id(), &market, &by)
        .await?;
    Ok(Json(AllowlistChangeView {
        changed,
        markets: markets(&state, &caller).await?,
    }))
}
