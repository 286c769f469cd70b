//! `POST /api/v1/proposals/{proposal_id}/execute`: hands one of the caller's approved proposals
//! to the engine's executor, which places AT MOST ONE order for it (I1) and only when every
//! safety rail agrees, and answers with the execution and its outcome.
//!
//! The server checks ownership first (another user's proposal answers 404 and never reaches the
//! executor, so the executor's own "not owned" refusal cannot reveal that the id exists). Every
//! outcome the executor gives is an answer, not an error: `placed`, `already_claimed` (a retry:
//! the same execution, nothing sent again), `refused` (a safety rail said no; the reason is in
//! `refusal`), `failed` (not placed) — all 200 — and `outcome_unknown` (202: the order may exist;
//! the reconciler resolves it and the market stays blocked until then). Errors are for when the
//! executor could not answer at all (database down: 503).
//!
//! The execution runs on a task of its own: a client that disconnects mid-order loses its
//! answer, not the execution, which still records what the exchange said.

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_engine::ExecutionOutcome;

use super::proposals::{owned_proposal, proposal_id};
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody, ErrorCode},
    extract::{NoQuery, PathSegment},
    state::ApiState,
    views::{ExecutionView, RefusalView},
};

/// What an execute call ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecuteView {
    /// `placed`, `already_claimed`, `refused`, `failed` or `outcome_unknown`.
    pub outcome: String,
    /// The execution (absent only when a refusal came before any claim: a kill switch, a
    /// proposal that is not approved or has expired).
    pub execution: Option<ExecutionView>,
    /// Why a safety rail refused it (`refused` only).
    pub refusal: Option<RefusalView>,
}

/// Executes one of the caller's APPROVED proposals: at most one order, ever (I1).
#[utoipa::path(
    post, path = "/api/v1/proposals/{proposal_id}/execute", tag = "proposals",
    params(("proposal_id" = Uuid, Path, description = "The proposal's id")),
    responses(
        (status = 200, description = "placed, already_claimed, refused or failed: see `outcome`", body = ExecuteView),
        (status = 202, description = "outcome_unknown: the order may exist; the reconciler resolves it", body = ExecuteView),
        (status = 404, description = "No such proposal among the caller's", body = ErrorBody),
        (status = 500, description = "The execution task stopped without an answer; the reconciler resolves the execution", body = ErrorBody),
        (status = 503, description = "The database or the executor is unavailable; nothing was sent twice", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn execute_proposal(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
) -> Result<(StatusCode, Json<ExecuteView>), ApiError> {
    let proposal = owned_proposal(&state, &caller, proposal_id(&id)?).await?;
    let Some(executor) = state.executor() else {
        return Err(ApiError::new(
            ErrorCode::ExecutorUnavailable,
            "this server was started without an exchange executor, so it cannot execute proposals; start vigil with exchange settings",
        ));
    };
    // The execution runs on its own task, detached from this request: a client that hangs up
    // (or times out) mid-order drops only the wait for the answer, never the execution, which
    // records the exchange's answer, logs and counts it as if the client were still there.
    let work = {
        let (executor, state) = (executor.clone(), state.clone());
        let (user, user_name, proposal_id) = (caller.id(), caller.user.name.clone(), proposal.id);
        tokio::spawn(async move {
            let outcome = executor.execute(user, proposal_id).await?;
            tracing::info!(
                proposal_id = %proposal_id,
                user = %user_name,
                outcome = outcome.name(),
                execution_id = ?outcome.execution().map(|e| e.id),
                "proposal executed through the API"
            );
            state.metrics().execute_answered(&outcome);
            Ok::<_, ApiError>(outcome)
        })
    };
    let outcome = work.await.map_err(|e| {
        tracing::error!(proposal_id = %proposal.id, error = %e, "the execution task did not finish");
        ApiError::new(
            ErrorCode::Internal,
            "the execution task stopped without an answer; the reconciler resolves the execution, see `vigil executions list`",
        )
    })??;
    let status = match outcome {
        ExecutionOutcome::OutcomeUnknown(_) => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    Ok((
        status,
        Json(ExecuteView {
            outcome: outcome.name().to_owned(),
            execution: outcome.execution().map(ExecutionView::from),
            refusal: outcome.refusal().map(RefusalView::from),
        }),
    ))
}
