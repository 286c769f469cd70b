//! Vigil's HTTP API: per-user bearer-token authentication, the endpoints a person or a tool uses
//! to propose, approve and execute trades and to set policy, allowlist and kill switches, plus
//! health, readiness, Prometheus metrics and an OpenAPI document generated from the code.
//!
//! Start it with [`run`]: the caller binds the listener (after [`ListenPolicy::check`]), builds
//! an [`ApiState`] from [`ApiDeps`], and cancels the token to stop. Shutdown is two-phase: the
//! listener stops accepting, then in-flight requests get [`ServerConfig::shutdown_grace`] to
//! finish.
//!
//! Map of the crate:
//! - [`routes`]: the route table (method, path, access class, handler) the router is built from.
//! - [`auth`]: bearer tokens → [`auth::Caller`]; the user and admin layers.
//! - [`error`]: [`error::ApiError`] and the ONE conversion into an HTTP answer.
//! - [`extract`]: body, query and path extractors that answer with field-naming errors.
//! - `api`: the handlers, one module per resource.
//! - [`views`]: the wire types.
//! - [`openapi`]: the generated document.
//! - [`metrics`]: the [`Metrics`] handle and the `/metrics` scrape.
//! - [`request_id`]: `x-request-id` on every request, response, error body and log line.
//! - [`state`]: [`ApiState`], [`ServerConfig`], [`ListenPolicy`], [`ServerError`].

mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod state;
pub mod views;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use api::{
    allowlist::AllowlistAddRequest,
    execute::ExecuteView,
    health::{CheckView, HealthView, ReadinessChecks, ReadinessView, ReconcilerCheckView},
    jobs::CreateJobRequest,
    kill_switch::KillSwitchRequest,
    policy::PolicyRequest,
    proposals::CreateProposalRequest,
    users::CreateUserRequest,
    ReasonBody,
};
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use metrics::{ExchangeKey, Metrics, OrderPathStage};
pub use routes::{route_table, router, Access, RouteInfo};
pub use state::{ApiDeps, ApiState, ListenPolicy, ReadinessConfig, ServerConfig, ServerError};

/// Serves the API on `listener` until `shutdown` is cancelled.
///
/// Refuses a listener bound to a non-loopback address unless the state's
/// [`ListenPolicy::allow_non_loopback`] is set. On cancellation the listener stops accepting at
/// once; requests in flight get [`ServerConfig::shutdown_grace`] to finish (an execute that is
/// cut off there leaves its execution in a state the reconciler resolves).
///
/// # Errors
/// [`ServerError::NonLoopbackRefused`], [`ServerError::ListenerAddress`],
/// [`ServerError::Serve`] when serving fails, [`ServerError::ShutdownGraceExceeded`] when
/// in-flight requests outlived the grace period.
pub async fn run(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let address = listener
        .local_addr()
        .map_err(ServerError::ListenerAddress)?;
    state.config().listen.check(address)?;
    let grace = state.config().shutdown_grace;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    tracing::info!(%address, "Vigil API listening");
    let stop_accepting = shutdown.clone();
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop_accepting.cancelled().await });
    // Phase one is the graceful shutdown above (no new connections, idle ones closed); phase
    // two bounds how long in-flight requests may keep the process up.
    let grace_over = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = serve => {
            tracing::info!(%address, "Vigil API stopped");
            served.map_err(ServerError::Serve)
        }
        () = grace_over => {
            tracing::warn!(%address, ?grace, "in-flight requests outlived the shutdown grace period; dropping them");
            Err(ServerError::ShutdownGraceExceeded { grace })
        }
    }
}
