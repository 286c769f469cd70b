//! `/api/v1/admin/users`: user management for administrators (list, create with a token).
//!
//! A new user starts as `vigil users create` makes one: the careful default policy (trading
//! disabled, 25 per order) written explicitly so the audit log shows it, an empty allowlist
//! (every market refused, I5), and one API token shown once.

use axum::{extract::State, http::StatusCode, Json};
use rand::{rngs::OsRng, RngCore};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_core::Policy;
use vigil_store::TokenHash;

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, NoQuery},
    state::ApiState,
    views::{CreatedUserView, UserView},
};

/// A user to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// A unique name: 1 to 64 letters, digits, `_`, `-` or `.`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    pub name: String,
    /// Whether the user is an administrator (default false).
    pub is_admin: Option<bool>,
}

/// A new API token: `vigil_` and 64 hex digits from the operating system's random source (the
/// same shape as the CLI's). A secret must be unpredictable, so it comes from the OS CSPRNG,
/// not from a seeded generator.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("vigil_{hex}")
}

/// Every user (administrators).
#[utoipa::path(
    get, path = "/api/v1/admin/users", tag = "admin",
    responses(
        (status = 200, description = "Every user, by name", body = [UserView]),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_users(
    State(state): State<ApiState>,
    _admin: Caller,
    _query: NoQuery,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.store().user_list().await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

/// Creates a user with the default policy and an API token (administrators). The token is in
/// the answer once and never again.
#[utoipa::path(
    post, path = "/api/v1/admin/users", tag = "admin",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created; the token is shown once", body = CreatedUserView),
        (status = 409, description = "The name is taken", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_user(
    State(state): State<ApiState>,
    admin: Caller,
    _query: NoQuery,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<CreatedUserView>), ApiError> {
    let now = state.now();
    let user = state
        .store()
        .user_create(&body.name, body.is_admin.unwrap_or(false), now)
        .await?;
    state
        .store()
        .policy_set(
            user.id,
            &Policy::default(),
            &admin.attribution(now, Some("initial policy".to_owned())),
            vigil_store::PolicyLimits::Operator,
        )
        .await?;
    let token = new_token();
    state
        .store()
        .api_token_create(user.id, &TokenHash::of_token(&token), now)
        .await?;
    tracing::info!(admin = %admin.user.name, user = %user.name, is_admin = user.is_admin, "user created through the API");
    Ok((
        StatusCode::CREATED,
        Json(CreatedUserView {
            user: UserView::from(&user),
            api_token: token,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 6 + 64);
        assert!(a.starts_with("vigil_"));
        assert_ne!(a, b);
    }
}
