//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and the wire
//! types' `ToSchema` derives, served at `GET /api/v1/openapi.json`.
//!
//! Why utoipa: it derives the document from the code at compile time (no hand-kept YAML to
//! drift), needs no web framework integration, and its dependency tree is small. A test checks
//! that the document lists exactly the routes of the route table, so a handler added to one and
//! not the other fails.
//!
//! Statuses: each `#[utoipa::path]` lists what its handler answers itself (its successes, 404 for
//! an id not among the caller's, 409 and the route's own 403); [`SharedStatuses`] adds what
//! the shared layers and extractors answer on every route of a kind, from the route table and
//! the operation's shape, so no route can forget them: 422 on every route (an unknown query
//! parameter, `crate::extract::NoQuery`/`QueryParams`; a bad path segment or body field); 401,
//! 500 and 503 on every route that needs credentials (the token lookup reads the database); 403
//! on admin routes; 400, 413 and 415 on every route with a body. `tests/it/statuses.rs` provokes
//! every documented status of every operation and fails on one nobody provoked.

use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        Responses,
    },
    Modify, OpenApi,
};

use crate::{
    api::{
        allowlist, execute, executions, health, jobs, kill_switch, policy, proposals, users,
        ReasonBody,
    },
    error::ErrorBody,
    routes::{route_table, Access},
    views,
};

/// Declares the bearer-token scheme the `security(("bearer" = []))` attributes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token: Authorization: Bearer <token>. Operators create tokens with `vigil users create`; administrators with POST /api/v1/admin/users.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds the statuses the shared layers and extractors answer (see the module comment).
struct SharedStatuses;

/// Each shared status with what it means, by the `error_code`s it carries.
const NOT_JSON: (u16, &str) = (400, "malformed_json: the body is not JSON");
const UNAUTHENTICATED: (u16, &str) = (
    401,
    "unauthenticated: no credentials, a malformed Authorization header, or an unknown or revoked token",
);
const NOT_ADMIN: (u16, &str) = (403, "admin_required: the caller is not an administrator");
const TOO_LARGE: (u16, &str) = (
    413,
    "payload_too_large: the body is larger than the server's limit (64 KiB by default)",
);
const NOT_JSON_TYPE: (u16, &str) = (
    415,
    "unsupported_media_type: a body not sent as Content-Type: application/json",
);
const INVALID: (u16, &str) = (
    422,
    "invalid_field: an unknown or repeated query parameter, or an invalid path segment or body field; `field` names it",
);
const INTERNAL: (u16, &str) = (
    500,
    "internal: a bug or unreadable data; the server log has the detail under the request id",
);
const UNAVAILABLE: (u16, &str) = (
    503,
    "database_unavailable, or database_busy (with Retry-After: 2): the database could not be used; nothing was written",
);

impl Modify for SharedStatuses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let table = route_table();
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                ("GET", item.get.as_mut()),
                ("PUT", item.put.as_mut()),
                ("POST", item.post.as_mut()),
                ("DELETE", item.delete.as_mut()),
                ("PATCH", item.patch.as_mut()),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let access = table
                    .iter()
                    .find(|r| r.method.as_str() == method && r.path == path.as_str())
                    .map_or(Access::Public, |r| r.access);
                let mut shared = vec![INVALID];
                if access.needs_credentials() {
                    shared.extend([UNAUTHENTICATED, INTERNAL, UNAVAILABLE]);
                }
                if access == Access::Admin {
                    shared.push(NOT_ADMIN);
                }
                if operation.request_body.is_some() {
                    shared.extend([NOT_JSON, TOO_LARGE, NOT_JSON_TYPE]);
                }
                for (status, description) in shared {
                    add_error_response(&mut operation.responses, status, description);
                }
            }
        }
    }
}

/// Adds an error answer with `description`, or appends the description to the route's own.
fn add_error_response(responses: &mut Responses, status: u16, description: &str) {
    use utoipa::openapi::{RefOr, ResponseBuilder};
    let entry = responses.responses.entry(status.to_string());
    match entry {
        std::collections::btree_map::Entry::Vacant(vacant) => {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            vacant.insert(RefOr::T(response));
        }
        std::collections::btree_map::Entry::Occupied(mut occupied) => {
            if let RefOr::T(response) = occupied.get_mut() {
                response.description = format!("{}. Also {description}", response.description);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil API",
        description = "Vigil's HTTP API: proposals, executions, policy, allowlist, kill switches and scan jobs of the authenticated user; user management and the global kill switch for administrators. Errors are JSON bodies {error_code, message, field, request_id}; every response carries x-request-id. Another user's resources answer 404, exactly like missing ones.",
        license(name = "Apache-2.0")
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        health::openapi_json,
        proposals::list_proposals,
        proposals::create_proposal,
        proposals::get_proposal,
        proposals::approve_proposal,
        proposals::reject_proposal,
        execute::execute_proposal,
        executions::list_executions,
        executions::get_execution,
        policy::get_policy,
        policy::put_policy,
        allowlist::get_allowlist,
        allowlist::add_to_allowlist,
        allowlist::remove_from_allowlist,
        kill_switch::get_kill_switch,
        kill_switch::put_kill_switch,
        kill_switch::get_global_kill_switch,
        kill_switch::put_global_kill_switch,
        users::list_users,
        users::create_user,
        jobs::list_jobs,
        jobs::create_job,
        jobs::pause_job,
        jobs::resume_job,
        jobs::remove_job,
    ),
    components(schemas(
        ErrorBody,
        ReasonBody,
        execute::ExecuteView,
        proposals::CreateProposalRequest,
        policy::PolicyRequest,
        allowlist::AllowlistAddRequest,
        kill_switch::KillSwitchRequest,
        users::CreateUserRequest,
        jobs::CreateJobRequest,
        views::SizeView,
        views::ProposalView,
        views::ProposalExecutionView,
        views::RefusalView,
        views::ExecutionView,
        views::ExecutionEventView,
        views::FillView,
        views::ExecutionDetailView,
        views::PolicyView,
        views::AllowlistView,
        views::AllowlistChangeView,
        views::KillSwitchView,
        views::KillSwitchSetterView,
        views::GlobalKillSwitchView,
        views::UserView,
        views::CreatedUserView,
        views::ScanJobView,
        health::HealthView,
        health::CheckView,
        health::ReconcilerCheckView,
        health::ReadinessChecks,
        health::ReadinessView,
    )),
    modifiers(&BearerAuth, &SharedStatuses),
    tags(
        (name = "proposals", description = "Trade proposals of the caller"),
        (name = "executions", description = "Executions of the caller, with their history"),
        (name = "policy", description = "The caller's trading policy (audited)"),
        (name = "allowlist", description = "Markets the caller may trade (I5; audited)"),
        (name = "kill switch", description = "The caller's kill switch (I4; audited)"),
        (name = "jobs", description = "The caller's scheduled scans"),
        (name = "admin", description = "Administrators: users and the global kill switch"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

/// The OpenAPI document of this API.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::api::REASON_MAX_CHARS;

    fn schemas() -> Value {
        serde_json::to_value(document()).unwrap()["components"]["schemas"].clone()
    }

    fn number(value: &Value) -> u64 {
        value
            .as_u64()
            .or_else(|| value.as_f64().map(|f| f as u64))
            .unwrap_or_else(|| panic!("not a number: {value}"))
    }

    /// The limits the document states are the constants the validators enforce, so neither can
    /// change without the other (#18 case 10).
    #[test]
    fn schema_limits_are_the_enforced_constants() {
        let schemas = schemas();
        let mut reasons = 0;
        for (name, schema) in schemas.as_object().unwrap() {
            if let Some(reason) = schema["properties"].get("reason") {
                assert_eq!(
                    number(&reason["maxLength"]),
                    REASON_MAX_CHARS as u64,
                    "{name}.reason"
                );
                reasons += 1;
            }
        }
        assert_eq!(
            reasons, 5,
            "the five bodies with a reason each state its limit"
        );
        let proposal = &schemas["CreateProposalRequest"]["properties"];
        assert_eq!(
            number(&proposal["rationale"]["maxLength"]),
            vigil_core::proposal::RATIONALE_MAX_CHARS as u64
        );
        assert_eq!(
            number(&proposal["ttl_minutes"]["maximum"]),
            u64::from(vigil_core::proposal::TTL_MINUTES_MAX)
        );
        let job = &schemas["CreateJobRequest"]["properties"];
        assert_eq!(
            number(&job["interval_seconds"]["maximum"]),
            u64::from(vigil_store::SCAN_JOB_INTERVAL_SECONDS_MAX)
        );
        assert_eq!(
            number(&job["markets"]["maxItems"]),
            vigil_store::SCAN_JOB_MARKETS_MAX as u64
        );
        // The user name's limit is checked against the server itself in tests/it/statuses.rs.
        // Every `limit` query parameter states the list limit.
        let doc = serde_json::to_value(document()).unwrap();
        let mut limits = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for operation in item.as_object().unwrap().values() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    if parameter["name"] == "limit" {
                        let schema = &parameter["schema"];
                        assert_eq!(number(&schema["minimum"]), 1, "{path}");
                        assert_eq!(
                            number(&schema["maximum"]),
                            u64::from(vigil_store::LIST_LIMIT_MAX),
                            "{path}"
                        );
                        limits += 1;
                    }
                }
            }
        }
        assert_eq!(limits, 3, "the three lists take a limit");
    }
}
