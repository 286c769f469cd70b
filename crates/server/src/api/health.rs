//! Unauthenticated operational routes: `/healthz` (the process answers), `/readyz` (it can do
//! its job: database, exchange, reconciler), `/metrics` (Prometheus), and the OpenAPI document.
//!
//! `/readyz` says what is wrong in words but never internal detail (URLs, driver messages): it
//! has no authentication. The detail goes to the log.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::ErrorBody,
    extract::NoQuery,
    metrics::{reconciler_backlog, ExchangeKey},
    openapi,
    state::ApiState,
};

/// The process is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    /// Always `ok`.
    pub status: String,
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    /// `ok`, `failed`, or `skipped` (not configured).
    pub status: String,
    /// What was checked and what was found.
    pub detail: String,
}

/// The reconciler check, with its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReconcilerCheckView {
    /// `ok`, `failed` (behind), or `unknown` (the database could not be read).
    pub status: String,
    /// What was found.
    pub detail: String,
    /// Executions whose outcome is unknown (at most 1000 are counted).
    pub unknown_outcome_backlog: Option<i64>,
    /// Seconds since the oldest of them was signed.
    pub oldest_unknown_outcome_age_seconds: Option<u64>,
    /// The age from which the reconciler counts as behind.
    pub limit_seconds: u64,
}

/// Every readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessChecks {
    /// The database answers a read.
    pub database: CheckView,
    /// The exchange answers `GET /time` (skipped when no exchange client is configured).
    pub exchange: CheckView,
    /// No execution's outcome has stayed unknown longer than the limit.
    pub reconciler: ReconcilerCheckView,
}

/// Readiness: `ready` is true only when no check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessView {
    /// Whether the process can do its job.
    pub ready: bool,
    /// Each check.
    pub checks: ReadinessChecks,
}

fn check(ok: bool, detail: impl Into<String>) -> CheckView {
    CheckView {
        status: if ok { "ok" } else { "failed" }.to_owned(),
        detail: detail.into(),
    }
}

/// Liveness: answers while the process runs.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = HealthView))
)]
pub(crate) async fn healthz(_query: NoQuery) -> Json<HealthView> {
    Json(HealthView {
        status: "ok".to_owned(),
    })
}

/// Readiness: database reachable, exchange reachable (when configured), reconciler not behind.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = ReadinessView),
        (status = 503, description = "Not ready; the failed checks say why", body = ReadinessView),
    )
)]
pub(crate) async fn readyz(
    State(state): State<ApiState>,
    _query: NoQuery,
) -> (StatusCode, Json<ReadinessView>) {
    let limits = state.config().readiness;
    let database = match tokio::time::timeout(
        limits.database_timeout,
        state.store().kill_switch_read_global(),
    )
    .await
    {
        Ok(Ok(_)) => check(true, "the database answered a read"),
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::error::error_chain(&error), "readiness: database check failed");
            check(
                false,
                "the database did not answer a read; the server log has the detail",
            )
        }
        Err(_) => check(
            false,
            format!(
                "the database did not answer within {:?}",
                limits.database_timeout
            ),
        ),
    };
    let exchange = match state.exchange() {
        None => CheckView {
            status: "skipped".to_owned(),
            detail: "no exchange client is configured".to_owned(),
        },
        Some(client) => {
            match tokio::time::timeout(limits.exchange_timeout, client.server_time()).await {
                Ok(Ok(_)) => check(true, "the exchange answered GET /time"),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "readiness: exchange check failed");
                    check(
                        false,
                        "the exchange did not answer GET /time; the server log has the detail",
                    )
                }
                Err(_) => check(
                    false,
                    format!(
                        "the exchange did not answer GET /time within {:?}",
                        limits.exchange_timeout
                    ),
                ),
            }
        }
    };
    let limit = limits.unknown_outcome_age_max;
    let reconciler = if database.status == "ok" {
        match reconciler_backlog(state.store(), state.now()).await {
            Ok((count, oldest)) => {
                let behind = count > 0 && oldest > limit;
                ReconcilerCheckView {
                    status: if behind { "failed" } else { "ok" }.to_owned(),
                    detail: if behind {
                        format!("{count} execution(s) with unknown outcome; the oldest was signed {}s ago, longer than {}s: the reconciler is behind", oldest.as_secs(), limit.as_secs())
                    } else {
                        format!(
                            "{count} execution(s) with unknown outcome, none older than {}s",
                            limit.as_secs()
                        )
                    },
                    unknown_outcome_backlog: Some(count),
                    oldest_unknown_outcome_age_seconds: Some(oldest.as_secs()),
                    limit_seconds: limit.as_secs(),
                }
            }
            Err(error) => {
                tracing::warn!(error = %crate::error::error_chain(&error), "readiness: reconciler backlog read failed");
                reconciler_unknown(limit.as_secs())
            }
        }
    } else {
        reconciler_unknown(limit.as_secs())
    };
    let ready = database.status == "ok" && exchange.status != "failed" && reconciler.status == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(ReadinessView {
            ready,
            checks: ReadinessChecks {
                database,
                exchange,
                reconciler,
            },
        }),
    )
}

fn reconciler_unknown(limit_seconds: u64) -> ReconcilerCheckView {
    ReconcilerCheckView {
        status: "unknown".to_owned(),
        detail: "the reconciler backlog could not be read from the database".to_owned(),
        unknown_outcome_backlog: None,
        oldest_unknown_outcome_age_seconds: None,
        limit_seconds,
    }
}

/// Prometheus metrics in the text format. No authentication; loopback clients only unless the
/// server is configured otherwise.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 403, description = "Not a loopback client", body = ErrorBody),
    )
)]
pub(crate) async fn metrics(State(state): State<ApiState>, _query: NoQuery) -> Response {
    if let Some(exchange) = state.exchange() {
        state
            .metrics()
            .observe_rate_limit(ExchangeKey::ReadOnly, &exchange.rate_limit());
    }
    if let Some(executor) = state.executor() {
        state
            .metrics()
            .observe_rate_limit(ExchangeKey::Trade, &executor.trade_key_rate_limit());
    }
    let text = state.metrics().render(state.store(), state.now()).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// This API's OpenAPI document, generated from the code.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json(_query: NoQuery) -> Response {
    Json(openapi::document()).into_response()
}
