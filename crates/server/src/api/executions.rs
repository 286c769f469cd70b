//! `/api/v1/executions`: the caller's executions, and one with its full event history.

use axum::{extract::State, Json};
use vigil_core::{Execution, ExecutionId, ExecutionState, Market};
use vigil_store::ExecutionFilter;

use super::take_limit;
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{NoQuery, PathSegment, QueryParams},
    state::ApiState,
    views::{ExecutionDetailView, ExecutionEventView, ExecutionView, FillView},
};

/// The caller's execution, or 404 (also when it is another user's).
pub(crate) async fn owned_execution(
    state: &ApiState,
    caller: &Caller,
    id: ExecutionId,
) -> Result<Execution, ApiError> {
    match state.store().execution_get(id).await {
        Ok(e) if e.user_id == caller.id() => Ok(e),
        Ok(_) | Err(vigil_store::StoreError::NotFound { .. }) => {
            Err(ApiError::not_found("execution", id))
        }
        Err(e) => Err(e.into()),
    }
}

/// Lists the caller's executions, newest first.
#[utoipa::path(
    get, path = "/api/v1/executions", tag = "executions",
    params(
        ("state" = Option<String>, Query, description = "Only this state: CLAIMED, SUBMITTING, SUBMITTED, FILLED, CANCELED, REJECTED or FAILED"),
        ("market" = Option<String>, Query, description = "Only this market, e.g. BTC-EUR", pattern = r"^\s*[A-Za-z0-9]{1,12}-[A-Za-z0-9]{1,12}\s*$"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100)", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The caller's executions", body = [ExecutionView]),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_executions(
    State(state): State<ApiState>,
    caller: Caller,
    mut query: QueryParams,
) -> Result<Json<Vec<ExecutionView>>, ApiError> {
    let execution_state = query
        .take("state")?
        .map(|s| s.parse::<ExecutionState>())
        .transpose()?;
    let market = query
        .take("market")?
        .map(|m| Market::parse(&m))
        .transpose()?;
    let limit = take_limit(&mut query)?;
    query.finish(&["state", "market", "limit"])?;
    let filter = ExecutionFilter {
        user: Some(caller.id()),
        state: execution_state,
        market,
        limit,
    };
    let found = state.store().execution_list(&filter).await?;
    Ok(Json(found.iter().map(ExecutionView::from).collect()))
}

/// Shows one of the caller's executions with every event of its history and its fills.
#[utoipa::path(
    get, path = "/api/v1/executions/{execution_id}", tag = "executions",
    params(("execution_id" = Uuid, Path, description = "The execution's id")),
    responses(
        (status = 200, description = "The execution, its events and fills", body = ExecutionDetailView),
        (status = 404, description = "No such execution among the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_execution(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
) -> Result<Json<ExecutionDetailView>, ApiError> {
    let id = ExecutionId::parse(&id)?;
    let execution = owned_execution(&state, &caller, id).await?;
    let detail = execution_detail(&state, &execution).await?;
    Ok(Json(detail))
}

/// An execution with its events and fills.
pub(crate) async fn execution_detail(
    state: &ApiState,
    execution: &Execution,
) -> Result<ExecutionDetailView, ApiError> {
    let events = state.store().execution_events(execution.id).await?;
    let fills = state.store().fill_list_for_execution(execution.id).await?;
    Ok(ExecutionDetailView {
        execution: ExecutionView::from(execution),
        events: events.iter().map(ExecutionEventView::from).collect(),
        fills: fills.iter().map(FillView::from).collect(),
    })
}
