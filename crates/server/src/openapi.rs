//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and the wire
//! types' `ToSchema` derives, served at `GET /api/v1/openapi.json`.
//!
//! Why utoipa: it derives the document from the code at compile time (no hand-kept YAML to
//! drift), needs no web framework integration, and its dependency tree is small. A test checks
//! that the document lists exactly the routes of the route table, so a handler added to one and
//! not the other fails.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::{
    api::{
        allowlist, execute, executions, health, jobs, kill_switch, policy, proposals, users,
        ReasonBody,
    },
    error::ErrorBody,
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
    modifiers(&BearerAuth),
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
