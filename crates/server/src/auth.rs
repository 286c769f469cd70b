//! Authentication and roles.
//!
//! A request authenticates with `Authorization: Bearer <token>`. The server hashes the token
//! (SHA-256, as the store keeps it) and asks [`vigil_store::Store::api_token_find_active`]; an
//! unknown or revoked token, a missing header and a malformed one all get the same 401, so the
//! answer never tells which tokens exist. The token itself is never logged.
//!
//! Which routes need what is decided by the route table (`crate::routes`), not by each handler:
//! every route marked `User` or `Admin` is wrapped in [`require_user`] or [`require_admin`],
//! which authenticate before any extractor reads the body, so a request without credentials
//! is refused before anything else about it is looked at. Handlers then take a [`Caller`],
//! which the layer put in the request's extensions; a handler on a route the table forgot to
//! protect would find no `Caller` and refuse too (fail closed).

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header::AUTHORIZATION, request::Parts, HeaderMap},
    middleware::Next,
    response::{IntoResponse, Response},
};
use vigil_core::UserId;
use vigil_store::{Attribution, Authority, TokenHash, User};

use crate::{
    error::{ApiError, ErrorCode},
    state::ApiState,
};

/// The longest bearer token accepted (Vigil's own are 70 characters).
const TOKEN_MAX_LEN: usize = 512;

/// The authenticated user a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user: User,
}

impl Caller {
    /// The user's id.
    #[must_use]
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// The actor recorded in `audit_log` for what this caller does through the API.
    #[must_use]
    pub fn actor(&self) -> String {
        format!("api:{}", self.user.name)
    }

    /// The caller as the actor of an operation: their name (`api:<name>`), their authority and
    /// their reason.
    #[must_use]
    pub fn operator(&self, reason: Option<String>) -> vigil_ops::Actor {
        vigil_ops::Actor::new(self.actor(), self.authority()).because(reason)
    }

    /// An attribution for the audit log at `at`, with the caller's reason if they gave one.
    #[must_use]
    pub fn attribution(&self, at: vigil_core::Timestamp, reason: Option<String>) -> Attribution {
        let by = Attribution::new(self.actor(), at);
        match reason.filter(|r| !r.trim().is_empty()) {
            Some(reason) => by.because(reason),
            None => by,
        }
    }

    /// The authority the caller acts with on their own switch and policy: an admin's, or the owner's.
    #[must_use]
    pub fn authority(&self) -> Authority {
        if self.user.is_admin {
            Authority::Admin
        } else {
            Authority::Owner
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| unauthenticated("send Authorization: Bearer <token>"))
    }
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, message)
}

/// The token from `Authorization: Bearer <token>`.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(AUTHORIZATION).ok_or_else(|| {
        unauthenticated("credentials required: send Authorization: Bearer <token> (an operator creates tokens with `vigil users create`)")
    })?;
    let malformed = || {
        unauthenticated(
            "malformed Authorization header: expected `Bearer <token>` with a visible-ASCII token",
        )
    };
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = text.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= TOKEN_MAX_LEN
        && token.chars().all(|c| c.is_ascii_graphic());
    if well_formed {
        Ok(token)
    } else {
        Err(malformed())
    }
}

/// Looks the token up and loads its user.
async fn authenticate(state: &ApiState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer_token(headers)?;
    let found = state
        .store()
        .api_token_find_active(&TokenHash::of_token(token))
        .await?;
    let Some(found) = found else {
        return Err(unauthenticated(
            "the API token is unknown or revoked; ask an operator for a new one",
        ));
    };
    // The foreign key keeps a token's user in place; should it be missing anyway, the token
    // authenticates nobody (401), rather than answering as if a resource were missing.
    let user = match state.store().user_get(found.user_id).await {
        Ok(user) => user,
        Err(vigil_store::StoreError::NotFound { .. }) => {
            return Err(unauthenticated(
                "the API token's user no longer exists; ask an operator for a new token",
            ))
        }
        Err(other) => return Err(other.into()),
    };
    Ok(Caller { user })
}

/// Layer for routes any authenticated user may call.
pub(crate) async fn require_user(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// Layer for routes only administrators may call (the global kill switch, user management).
pub(crate) async fn require_admin(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(caller) if caller.user.is_admin => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(caller) => ApiError::new(
            ErrorCode::AdminRequired,
            format!(
                "user {} is not an administrator; this route is for administrators only",
                caller.user.name
            ),
        )
        .into_response(),
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_token_is_parsed_strictly() {
        assert_eq!(bearer_token(&headers("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&headers("bearer  abc ")).unwrap(), "abc");
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc", "Bearer a b"] {
            let error = bearer_token(&headers(bad)).unwrap_err();
            assert_eq!(error.code(), ErrorCode::Unauthenticated, "{bad}");
        }
        let error = bearer_token(&HeaderMap::new()).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Unauthenticated);
        let long = format!("Bearer {}", "x".repeat(TOKEN_MAX_LEN + 1));
        assert!(bearer_token(&headers(&long)).is_err());
    }
}
