//! `/api/v1/jobs`: the caller's scheduled scans: list, create, pause, resume, remove. Every
//! change is audited by the store; a job of another user answers 404.

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_core::{Market, ScanJobId};
use vigil_store::{NewScanJob, ScanJob, ScanJobFilter};

use super::{check_reason, take_limit, ReasonBody};
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, NoQuery, OptionalJson, PathSegment, QueryParams},
    state::ApiState,
    views::ScanJobView,
};

/// A scan job to create. The store checks its shape (interval, markets, strategy name,
/// parameters) and reports every problem by field.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJobRequest {
    /// The strategy's name, e.g. `dca` (1 to 64 lower-case letters, digits or `_`).
    #[schema(max_length = 64, pattern = r"^[a-z0-9_]{1,64}$")]
    pub strategy: String,
    /// The markets to scan, e.g. `["BTC-EUR"]` (1 to 20, no repeats).
    #[schema(min_items = 1, max_items = 20)]
    pub markets: Vec<String>,
    /// The strategy's parameters (a JSON object; default `{}`).
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// Seconds between runs (1 to 604800).
    #[schema(minimum = 1, maximum = 604800)]
    pub interval_seconds: u32,
    /// When it first runs (default: now).
    pub first_run_at: Option<DateTime<Utc>>,
    /// Why (recorded in the audit log), at most 1000 characters.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// The caller's job, or 404 (also when it is another user's).
async fn owned_job(state: &ApiState, caller: &Caller, segment: &str) -> Result<ScanJob, ApiError> {
    let id = ScanJobId::parse(segment)?;
    match state.store().scan_job_get(id).await {
        Ok(job) if job.user_id == caller.id() => Ok(job),
        Ok(_) | Err(vigil_store::StoreError::NotFound { .. }) => {
            Err(ApiError::not_found("scan job", id))
        }
        Err(e) => Err(e.into()),
    }
}

/// Lists the caller's scan jobs, soonest due first.
#[utoipa::path(
    get, path = "/api/v1/jobs", tag = "jobs",
    params(("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100)", minimum = 1, maximum = 1000)),
    responses(
        (status = 200, description = "The caller's jobs", body = [ScanJobView]),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_jobs(
    State(state): State<ApiState>,
    caller: Caller,
    mut query: QueryParams,
) -> Result<Json<Vec<ScanJobView>>, ApiError> {
    let limit = take_limit(&mut query)?;
    query.finish(&["limit"])?;
    let filter = ScanJobFilter {
        user: Some(caller.id()),
        limit,
    };
    let jobs = state.store().scan_job_list(&filter).await?;
    Ok(Json(jobs.iter().map(ScanJobView::from).collect()))
}

/// Creates a scan job for the caller (audited).
#[utoipa::path(
    post, path = "/api/v1/jobs", tag = "jobs",
    request_body = CreateJobRequest,
    responses(
        (status = 201, description = "Created", body = ScanJobView),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_job(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    ApiJson(body): ApiJson<CreateJobRequest>,
) -> Result<(StatusCode, Json<ScanJobView>), ApiError> {
    let mut problems = Vec::new();
    let mut markets = Vec::new();
    for (i, text) in body.markets.iter().enumerate() {
        match Market::parse(text) {
            Ok(m) => markets.push(m),
            Err(e) => problems.push(e.for_field(format!("markets[{i}]"))),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::from(problems));
    }
    let now = state.now();
    let new = NewScanJob {
        user_id: caller.id(),
        strategy: body.strategy,
        markets,
        params: body
            .params
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
        interval_seconds: body.interval_seconds,
        first_run_at: body.first_run_at.unwrap_or(now),
    };
    // The strategy's parameters are checked before anything is stored, as `vigil jobs add` does:
    // a bad parameter is a 422 naming `params.<field>`, not a job that fails at every run.
    vigil_scan::strategy::validate_new_job(&new).map_err(ApiError::from)?;
    let by = caller.attribution(now, check_reason(body.reason)?);
    let job = state.store().scan_job_create(&new, &by).await?;
    Ok((StatusCode::CREATED, Json(ScanJobView::from(&job))))
}

/// Pauses one of the caller's jobs (audited): it is not run again until resumed.
#[utoipa::path(
    post, path = "/api/v1/jobs/{job_id}/pause", tag = "jobs",
    params(("job_id" = Uuid, Path, description = "The job's id")),
    request_body(content = Option<ReasonBody>, description = "Optional: why (recorded in the audit log)"),
    responses(
        (status = 200, description = "The job now", body = ScanJobView),
        (status = 404, description = "No such job among the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn pause_job(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<ScanJobView>, ApiError> {
    let job = owned_job(&state, &caller, &id).await?;
    let by = caller.attribution(state.now(), check_reason(body.and_then(|b| b.reason))?);
    let job = state.store().scan_job_pause(job.id, &by).await?;
    Ok(Json(ScanJobView::from(&job)))
}

/// Resumes one of the caller's paused jobs (audited).
#[utoipa::path(
    post, path = "/api/v1/jobs/{job_id}/resume", tag = "jobs",
    params(("job_id" = Uuid, Path, description = "The job's id")),
    request_body(content = Option<ReasonBody>, description = "Optional: why (recorded in the audit log)"),
    responses(
        (status = 200, description = "The job now", body = ScanJobView),
        (status = 404, description = "No such job among the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn resume_job(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<ScanJobView>, ApiError> {
    let job = owned_job(&state, &caller, &id).await?;
    let by = caller.attribution(state.now(), check_reason(body.and_then(|b| b.reason))?);
    let job = state.store().scan_job_resume(job.id, &by).await?;
    Ok(Json(ScanJobView::from(&job)))
}

/// Removes one of the caller's jobs (audited); its run history stays.
#[utoipa::path(
    delete, path = "/api/v1/jobs/{job_id}", tag = "jobs",
    params(("job_id" = Uuid, Path, description = "The job's id")),
    request_body(content = Option<ReasonBody>, description = "Optional: why (recorded in the audit log)"),
    responses(
        (status = 200, description = "The removed job", body = ScanJobView),
        (status = 404, description = "No such job among the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn remove_job(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    PathSegment(id): PathSegment,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<ScanJobView>, ApiError> {
    let job = owned_job(&state, &caller, &id).await?;
    let by = caller.attribution(state.now(), check_reason(body.and_then(|b| b.reason))?);
    let job = state.store().scan_job_remove(job.id, &by).await?;
    Ok(Json(ScanJobView::from(&job)))
}
