//! Kill switches (I4): `/api/v1/kill-switch` is the caller's own switch; the global switch at
//! `/api/v1/admin/kill-switch` is for administrators. Every change is audited by the store with
//! the value before and after, and the caller's reason.
//!
//! Turning a switch on is always allowed to its owner: stopping must never be harder than
//! starting. Turning it off is not: a switch an admin turned on (through the CLI, or by
//! turning on a switch the user had set) is turned off only by an admin (#18 case 4; the store
//! checks it in the transaction that writes the switch).

use axum::{extract::State, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_store::{Authority, KillSwitchScope};

use super::check_reason;
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, NoQuery},
    state::ApiState,
    views::{GlobalKillSwitchView, KillSwitchView},
};

/// Turn a kill switch on or off.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchRequest {
    /// `true`: no order is placed while it is on.
    pub on: bool,
    /// Why (recorded in the audit log), at most 1000 characters.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// The switches that apply to the caller: their own and the global one.
#[utoipa::path(
    get, path = "/api/v1/kill-switch", tag = "kill switch",
    responses(
        (status = 200, description = "The caller's and the global switch", body = KillSwitchView),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_kill_switch(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
) -> Result<Json<KillSwitchView>, ApiError> {
    let switches = state.store().kill_switch_read(caller.id()).await?;
    let setter = state.store().kill_switch_setter(caller.id()).await?;
    Ok(Json(KillSwitchView::new(switches, setter)))
}

/// Sets the caller's own kill switch (audited).
#[utoipa::path(
    put, path = "/api/v1/kill-switch", tag = "kill switch",
    request_body = KillSwitchRequest,
    responses(
        (status = 200, description = "The switches now", body = KillSwitchView),
        (status = 403, description = "Turning off a switch an admin turned on needs an admin (admin_required)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn put_kill_switch(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    ApiJson(body): ApiJson<KillSwitchRequest>,
) -> Result<Json<KillSwitchView>, ApiError> {
    let actor = caller.operator(check_reason(body.reason)?);
    state
        .operations()
        .set_kill_switch(KillSwitchScope::User(caller.id()), body.on, &actor)
        .await?;
    let switches = state.store().kill_switch_read(caller.id()).await?;
    let setter = state.store().kill_switch_setter(caller.id()).await?;
    Ok(Json(KillSwitchView::new(switches, setter)))
}

/// The global kill switch (administrators).
#[utoipa::path(
    get, path = "/api/v1/admin/kill-switch", tag = "admin",
    responses(
        (status = 200, description = "The global switch", body = GlobalKillSwitchView),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_global_kill_switch(
    State(state): State<ApiState>,
    _admin: Caller,
    _query: NoQuery,
) -> Result<Json<GlobalKillSwitchView>, ApiError> {
    let on = state.store().kill_switch_read_global().await?;
    Ok(Json(GlobalKillSwitchView { on, previous: None }))
}

/// Sets the global kill switch (administrators; audited). While it is on no order is placed
/// for anyone.
#[utoipa::path(
    put, path = "/api/v1/admin/kill-switch", tag = "admin",
    request_body = KillSwitchRequest,
    responses(
        (status = 200, description = "The global switch now, and before", body = GlobalKillSwitchView),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn put_global_kill_switch(
    State(state): State<ApiState>,
    admin: Caller,
    _query: NoQuery,
    ApiJson(body): ApiJson<KillSwitchRequest>,
) -> Result<Json<GlobalKillSwitchView>, ApiError> {
    // The route is for administrators only (`require_admin` wraps it): an admin's authority.
    let actor =
        vigil_ops::Actor::new(admin.actor(), Authority::Admin).because(check_reason(body.reason)?);
    let previous = state
        .operations()
        .set_kill_switch(KillSwitchScope::Global, body.on, &actor)
        .await?;
    Ok(Json(GlobalKillSwitchView {
        on: body.on,
        previous: Some(previous),
    }))
}
