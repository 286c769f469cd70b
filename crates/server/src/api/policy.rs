//! `/api/v1/policy`: the caller's trading policy. A change replaces the whole policy; the store
//! validates it and records before and after in `audit_log` in the same transaction (I11).

use axum::{extract::State, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_core::{Notional, Policy};
use vigil_store::{Authority, PolicyLimits};

use super::check_reason;
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, NoQuery},
    state::ApiState,
    views::PolicyView,
};

/// A whole policy. Money is given as decimal strings.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// Whether the caller may trade at all.
    pub trading_enabled: bool,
    /// The largest order in the quote currency, e.g. `"25"` (greater than zero).
    pub order_notional_max: String,
    /// The most per UTC day, at least the per-order cap, e.g. `"100"`.
    pub daily_notional_max: String,
    /// Cooldown in minutes (at most 10080).
    #[schema(maximum = 10080)]
    pub cooldown_minutes: u32,
    /// Anti-flip window in minutes (at most 10080).
    #[schema(maximum = 10080)]
    pub anti_flip_minutes: u32,
    /// Approve strategy and advisor proposals without a person.
    pub auto_approve: bool,
    /// The daily LLM budget in USD, e.g. `"1"` (zero or more).
    pub llm_daily_budget: String,
    /// Why (recorded in the audit log), at most 1000 characters.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

impl PolicyRequest {
    fn into_policy(self) -> Result<(Policy, Option<String>), ApiError> {
        let mut problems = Vec::new();
        let order = Notional::parse_positive("order_notional_max", &self.order_notional_max)
            .map_err(|e| problems.push(e))
            .ok();
        let daily = Notional::parse_positive("daily_notional_max", &self.daily_notional_max)
            .map_err(|e| problems.push(e))
            .ok();
        let budget = vigil_core::parse_exact_decimal(
            "llm_daily_budget",
            &self.llm_daily_budget,
            "a decimal amount of USD such as \"1\" or \"0.50\"",
        )
        .map_err(|e| problems.push(e))
        .ok();
        let (Some(order_notional_max), Some(daily_notional_max), Some(llm_daily_budget), true) =
            (order, daily, budget, problems.is_empty())
        else {
            return Err(ApiError::from(problems));
        };
        let policy = Policy {
            trading_enabled: self.trading_enabled,
            order_notional_max,
            daily_notional_max,
            cooldown_minutes: self.cooldown_minutes,
            anti_flip_minutes: self.anti_flip_minutes,
            auto_approve: self.auto_approve,
            llm_daily_budget,
        };
        // Checked here as well as in the store so every problem is reported with its field.
        policy.validate()?;
        Ok((policy, check_reason(self.reason)?))
    }
}

/// The caller's policy (the careful default when none was set).
#[utoipa::path(
    get, path = "/api/v1/policy", tag = "policy",
    responses(
        (status = 200, description = "The caller's policy", body = PolicyView),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_policy(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
) -> Result<Json<PolicyView>, ApiError> {
    let policy = state.store().policy_get(caller.id()).await?;
    Ok(Json(PolicyView::from(&policy)))
}

/// Replaces the caller's policy, audited with before and after.
#[utoipa::path(
    put, path = "/api/v1/policy", tag = "policy",
    request_body = PolicyRequest,
    responses(
        (status = 200, description = "The policy now in force", body = PolicyView),
        (status = 403, description = "A value above the deployment's ceilings, or a raise before the caps have been in force for 24 hours (admin_required)", body = ErrorBody),
        (status = 409, description = "A cap goes up while the stability window is not stable (conflict)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn put_policy(
    State(state): State<ApiState>,
    caller: Caller,
    _query: NoQuery,
    ApiJson(body): ApiJson<PolicyRequest>,
) -> Result<Json<PolicyView>, ApiError> {
    let (policy, reason) = body.into_policy()?;
    // Raising a cap waits for a stable day (DESIGN: raise the cap only after a stable day); the
    // API offers no override: an admin overrides with `vigil policy set
    // --override-stability-window --reason TEXT`, which is audited.
    let before = state.store().policy_get(caller.id()).await?;
    // A user's own change is bound, in the store's transaction, by the deployment's ceilings
    // and by 24 hours at the current caps before a raise (#18 cases 5, 6); an admin's is not.
    let limits = match caller.authority() {
        Authority::Admin => PolicyLimits::Operator,
        Authority::Owner => PolicyLimits::Owner(state.config().ceilings),
    };
    // Written only if the policy is still the one the window judged (a concurrent change
    // answers 409 conflict), as `vigil policy set` does.
    let replaced = state
        .operations()
        .replace_policy(
            caller.id(),
            &before,
            &policy,
            &caller.operator(reason),
            limits,
            None,
        )
        .await?;
    Ok(Json(PolicyView::from(&replaced.policy)))
}
