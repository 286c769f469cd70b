//! The route table: every route's method, path, handler and access class in ONE list, from which
//! the router is built.
//!
//! Authentication is attached here from each route's [`Access`], not left to handlers, so a
//! route cannot be served without the check its class demands. The same list is public
//! ([`route_table`]) so tests walk exactly what the router serves: one test calls every route
//! without credentials and expects 401, another calls every route as one user against another
//! user's resources, and a golden file pins the list so an accidental route change fails a test.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    handler::Handler,
    http::Method,
    middleware::{from_fn, from_fn_with_state, Next},
    response::{IntoResponse, Response},
    routing::{self, MethodRouter},
    Router,
};

use crate::{
    api::{allowlist, execute, executions, health, jobs, kill_switch, policy, proposals, users},
    auth,
    error::{ApiError, ErrorCode},
    metrics::Metrics,
    request_id,
    state::ApiState,
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// Anyone (health, readiness, the OpenAPI document).
    Public,
    /// Loopback clients only, unless `ServerConfig::metrics_from_any_address` (`/metrics`).
    Loopback,
    /// Any authenticated user, acting on their own resources only.
    User,
    /// Authenticated administrators.
    Admin,
}

impl Access {
    /// The class's name as written in the golden file and `docs/api.md`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Loopback => "loopback",
            Access::User => "user",
            Access::Admin => "admin",
        }
    }

    /// Whether the class needs credentials.
    #[must_use]
    pub const fn needs_credentials(self) -> bool {
        matches!(self, Access::User | Access::Admin)
    }
}

/// One served route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Its method.
    pub method: Method,
    /// Its path template, with `{name}` for a path parameter (as in OpenAPI).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

impl std::fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.method, self.path, self.access.as_str())
    }
}

struct Route {
    info: RouteInfo,
    handler: MethodRouter<ApiState>,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    // The method is given once and the method router derived from it, so the table and what
    // is served cannot disagree.
    let handler = match method.as_str() {
        "GET" => routing::get(handler),
        "POST" => routing::post(handler),
        "PUT" => routing::put(handler),
        "DELETE" => routing::delete(handler),
        _ => routing::patch(handler),
    };
    Route {
        info: RouteInfo {
            method,
            path,
            access,
        },
        handler,
    }
}

/// The whole table. Add a route here and nowhere else. (One line per route, so it reads as a
/// table; rustfmt would break each into five.)
#[rustfmt::skip]
fn routes() -> Vec<Route> {
    use Access::{Admin, Loopback, Public, User};
    vec![
        route(Method::GET, "/healthz", Public, health::healthz),
        route(Method::GET, "/readyz", Public, health::readyz),
        route(Method::GET, "/metrics", Loopback, health::metrics),
        route(Method::GET, "/api/v1/openapi.json", Public, health::openapi_json),
        route(Method::GET, "/api/v1/proposals", User, proposals::list_proposals),
        route(Method::POST, "/api/v1/proposals", User, proposals::create_proposal),
        route(Method::GET, "/api/v1/proposals/{proposal_id}", User, proposals::get_proposal),
        route(Method::POST, "/api/v1/proposals/{proposal_id}/approve", User, proposals::approve_proposal),
        route(Method::POST, "/api/v1/proposals/{proposal_id}/reject", User, proposals::reject_proposal),
        route(Method::POST, "/api/v1/proposals/{proposal_id}/execute", User, execute::execute_proposal),
        route(Method::GET, "/api/v1/executions", User, executions::list_executions),
        route(Method::GET, "/api/v1/executions/{execution_id}", User, executions::get_execution),
        route(Method::GET, "/api/v1/policy", User, policy::get_policy),
        route(Method::PUT, "/api/v1/policy", User, policy::put_policy),
        route(Method::GET, "/api/v1/allowlist", User, allowlist::get_allowlist),
        route(Method::POST, "/api/v1/allowlist", User, allowlist::add_to_allowlist),
        route(Method::DELETE, "/api/v1/allowlist/{market}", User, allowlist::remove_from_allowlist),
        route(Method::GET, "/api/v1/kill-switch", User, kill_switch::get_kill_switch),
        route(Method::PUT, "/api/v1/kill-switch", User, kill_switch::put_kill_switch),
        route(Method::GET, "/api/v1/jobs", User, jobs::list_jobs),
        route(Method::POST, "/api/v1/jobs", User, jobs::create_job),
        route(Method::POST, "/api/v1/jobs/{job_id}/pause", User, jobs::pause_job),
        route(Method::POST, "/api/v1/jobs/{job_id}/resume", User, jobs::resume_job),
        route(Method::DELETE, "/api/v1/jobs/{job_id}", User, jobs::remove_job),
        route(Method::GET, "/api/v1/admin/kill-switch", Admin, kill_switch::get_global_kill_switch),
        route(Method::PUT, "/api/v1/admin/kill-switch", Admin, kill_switch::put_global_kill_switch),
        route(Method::GET, "/api/v1/admin/users", Admin, users::list_users),
        route(Method::POST, "/api/v1/admin/users", Admin, users::create_user),
    ]
}

/// Every route the router serves: method, path template and access class, in table order.
#[must_use]
pub fn route_table() -> Vec<RouteInfo> {
    routes().into_iter().map(|r| r.info).collect()
}

/// The API's router, with its state. Serve it with [`crate::run`], or (for in-process use)
/// call it as a tower service; without `ConnectInfo`, `/metrics` refuses every client.
pub fn router(state: ApiState) -> Router {
    let mut router = Router::new();
    for Route { info, handler } in routes() {
        let handler = match info.access {
            Access::Public => handler,
            Access::Loopback => {
                handler.route_layer(from_fn_with_state(state.clone(), require_loopback))
            }
            Access::User => {
                handler.route_layer(from_fn_with_state(state.clone(), auth::require_user))
            }
            Access::Admin => {
                handler.route_layer(from_fn_with_state(state.clone(), auth::require_admin))
            }
        };
        // Counted per route template, so ids never become label values.
        let counted = handler.route_layer(from_fn_with_state(
            (state.metrics().clone(), info.path),
            count_request,
        ));
        router = router.route(info.path, counted);
    }
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config().body_limit_bytes))
        .layer(from_fn(request_id::assign))
        .with_state(state)
}

async fn count_request(
    State((metrics, path)): State<(Metrics, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    metrics.http_request(method.as_str(), path, response.status().as_u16());
    response
}

async fn require_loopback(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    if may_read_metrics(state.config().metrics_from_any_address, peer) {
        next.run(request).await
    } else {
        ApiError::new(
            ErrorCode::MetricsLoopbackOnly,
            "/metrics answers loopback clients only; scrape it locally, or set server.metrics_from_any_address",
        )
        .with_detail(format!("peer {peer:?}"))
        .into_response()
    }
}

/// Whether a client at `peer` may read `/metrics`: a loopback peer always, any peer only when
/// configured, and an unknown peer (no `ConnectInfo`, the router used in-process) never.
fn may_read_metrics(from_any_address: bool, peer: Option<SocketAddr>) -> bool {
    match peer {
        Some(addr) => from_any_address || addr.ip().is_loopback(),
        None => false,
    }
}

async fn route_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!(
            "no route {method} {}; GET /api/v1/openapi.json lists every route",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} does not take {method}; GET /api/v1/openapi.json lists the methods of every route",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_for_loopback_peers_unless_configured() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let local6: SocketAddr = "[::1]:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        assert!(may_read_metrics(false, Some(local)));
        assert!(may_read_metrics(false, Some(local6)));
        assert!(!may_read_metrics(false, Some(remote)));
        assert!(may_read_metrics(true, Some(remote)));
        assert!(!may_read_metrics(true, None));
        assert!(!may_read_metrics(false, None));
    }

    #[test]
    fn every_route_is_built_and_the_table_is_its_list() {
        let table = route_table();
        assert_eq!(table.len(), routes().len());
        assert!(table.iter().all(|r| r.path.starts_with('/')));
        // Every API route lives under /api/v1; only the operational ones are at the root.
        for route in &table {
            let operational = ["/healthz", "/readyz", "/metrics"].contains(&route.path);
            assert!(operational || route.path.starts_with("/api/v1/"), "{route}");
        }
    }
}
