//! The API's one error type, [`ApiError`], and the ONE place where errors become HTTP answers.
//!
//! Every failure a handler can meet is converted into an [`ApiError`] by a `From` impl in this
//! file (store errors, validation errors) or by a constructor named for the situation; the
//! [`IntoResponse`] impl below is the only code that turns one into a status and a body. The
//! body is always
//!
//! ```json
//! {"error_code": "invalid_field", "message": "...", "field": "market", "request_id": "..."}
//! ```
//!
//! with a STABLE `error_code` (see [`ErrorCode`]; clients branch on it, so codes are never
//! renamed), a message that says what was wrong and what to do, the offending field when there
//! is one, and the request id that is also in the `x-request-id` header. Internal detail (a
//! database error's text, a URL) is logged with the request id and never sent (dropshot's
//! `HttpError` and omicron's message pair follow the same split).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_core::ValidationError;
use vigil_engine::ExecuteError;
use vigil_store::StoreError;

use crate::request_id;

/// The stable, machine-readable error codes. Each maps to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 401: no credentials, a malformed `Authorization` header, or an unknown or revoked token.
    Unauthenticated,
    /// 403: the route is for administrators.
    AdminRequired,
    /// 403: `/metrics` answers loopback clients only unless the server is configured otherwise.
    MetricsLoopbackOnly,
    /// 404: no such resource, or it belongs to another user (the answer is the same on purpose,
    /// so resource ids of other users cannot be probed).
    NotFound,
    /// 404: no route has this path.
    RouteNotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 400: the body is not JSON (or not valid UTF-8).
    MalformedJson,
    /// 415: the body is not sent as `application/json`.
    UnsupportedMediaType,
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge,
    /// 422: a field (body, query parameter or path segment) has an invalid value, is missing,
    /// or is unknown.
    InvalidField,
    /// 409: the proposal is not in a status that allows the action (e.g. approving a rejected
    /// proposal), or it changed meanwhile.
    ProposalStateConflict,
    /// 409: the proposal's time to live has passed.
    ProposalExpired,
    /// 409: an execution changed meanwhile.
    ExecutionStateConflict,
    /// 409: a user with this name exists.
    UserNameTaken,
    /// 409: the write conflicts with a database constraint.
    Conflict,
    /// 503: the database cannot be reached.
    DatabaseUnavailable,
    /// 503: the database stayed busy through every retry; nothing was written, try again.
    DatabaseBusy,
    /// 503: this server was started without an executor, so it cannot execute proposals.
    ExecutorUnavailable,
    /// 500: a bug or corrupt data; the log has the detail under the request id.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::Unauthenticated,
        ErrorCode::AdminRequired,
        ErrorCode::MetricsLoopbackOnly,
        ErrorCode::NotFound,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::MalformedJson,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidField,
        ErrorCode::ProposalStateConflict,
        ErrorCode::ProposalExpired,
        ErrorCode::ExecutionStateConflict,
        ErrorCode::UserNameTaken,
        ErrorCode::Conflict,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::DatabaseBusy,
        ErrorCode::ExecutorUnavailable,
        ErrorCode::Internal,
    ];

    /// The code as sent in `error_code`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::AdminRequired => "admin_required",
            ErrorCode::MetricsLoopbackOnly => "metrics_loopback_only",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::ProposalStateConflict => "proposal_state_conflict",
            ErrorCode::ProposalExpired => "proposal_expired",
            ErrorCode::ExecutionStateConflict => "execution_state_conflict",
            ErrorCode::UserNameTaken => "user_name_taken",
            ErrorCode::Conflict => "conflict",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::DatabaseBusy => "database_busy",
            ErrorCode::ExecutorUnavailable => "executor_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status this code is answered with.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::AdminRequired | ErrorCode::MetricsLoopbackOnly => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::RouteNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MalformedJson => StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidField => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ProposalStateConflict
            | ErrorCode::ProposalExpired
            | ErrorCode::ExecutionStateConflict
            | ErrorCode::UserNameTaken
            | ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::DatabaseUnavailable
            | ErrorCode::DatabaseBusy
            | ErrorCode::ExecutorUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The stable machine-readable code (see `docs/api.md` for the table).
    pub error_code: String,
    /// What was wrong and what to do, for a person.
    pub message: String,
    /// The field (body field, query parameter or path segment) that was wrong, when one was.
    pub field: Option<String>,
    /// The request's id, as in the `x-request-id` header; quote it when reporting a problem.
    pub request_id: String,
}

/// An error answer on its way out: a code, a message for the client, the field, and internal
/// detail for the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
    /// Logged with the request id, never sent.
    detail: Option<String>,
}

impl ApiError {
    /// An error with `code` and a client-facing `message`.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            field: None,
            detail: None,
        }
    }

    /// The same error naming the offending field.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// The same error carrying internal detail, which is logged and never sent.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    /// The error's code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The client-facing message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The offending field, if any.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// "No such `what`" for a resource that does not exist OR belongs to another user: both get
    /// the same answer, so a caller cannot learn which ids exist.
    #[must_use]
    pub fn not_found(what: &str, id: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no {what} {id} among yours; list them to see the ids you can use"),
        )
    }

    /// A field that is invalid, missing or unknown.
    #[must_use]
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidField, message).with_field(field)
    }

    /// A bug or corrupt data: the client learns only that, the log gets `detail`.
    #[must_use]
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            ErrorCode::Internal,
            "internal error; the server log has the detail under this request id",
        )
        .with_detail(detail)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> ApiError {
        ApiError::invalid_field(error.field.clone(), error.to_string())
    }
}

impl From<Vec<ValidationError>> for ApiError {
    /// Every problem goes into the message; the first names the field.
    fn from(problems: Vec<ValidationError>) -> ApiError {
        let field = problems.first().map(|p| p.field.clone());
        let message = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = ApiError::new(ErrorCode::InvalidField, message);
        error.field = field;
        error
    }
}

impl From<vigil_ops::OperationError> for ApiError {
    fn from(error: vigil_ops::OperationError) -> ApiError {
        use vigil_ops::OperationError;
        match error {
            OperationError::Invalid(problems) => ApiError::from(problems),
            OperationError::ProposalNotFound(id) => ApiError::not_found("proposal", id),
            e @ OperationError::ProposalExpired { .. } => {
                ApiError::new(ErrorCode::ProposalExpired, format!("{e}, create a new one"))
            }
            e @ OperationError::ProposalNotPending { .. } => {
                ApiError::new(ErrorCode::ProposalStateConflict, e.to_string())
            }
            e @ OperationError::ProposalChanged(_) => ApiError::new(
                ErrorCode::ProposalStateConflict,
                format!("{e}; read it again and decide from its current status"),
            ),
            // The API offers no override: a refusal is the window's.
            OperationError::CapChange(refused) => {
                ApiError::new(ErrorCode::Conflict, refused.to_string())
            }
            OperationError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound { what, key } => ApiError::not_found(what, key),
            StoreError::ProposalConflict { expected, current } => ApiError::new(
                ErrorCode::ProposalStateConflict,
                format!(
                    "proposal {} was {expected} but is now {}; read it again and decide from its current status",
                    current.id, current.status
                ),
            ),
            StoreError::ProposalTransition(e) => ApiError::new(
                ErrorCode::ProposalStateConflict,
                format!("{e}; only a PENDING proposal can be approved or rejected"),
            ),
            StoreError::ExecutionConflict { expected, current } => ApiError::new(
                ErrorCode::ExecutionStateConflict,
                format!(
                    "execution {} was {expected} but is now {}; read it again",
                    current.id, current.state
                ),
            ),
            error @ StoreError::IllegalTransition(_) => ApiError::new(
                ErrorCode::ExecutionStateConflict,
                format!("{error}; read the execution again"),
            ),
            StoreError::InvalidInput(problems) => ApiError::from(problems),
            StoreError::NotPermitted { detail } => ApiError::new(ErrorCode::AdminRequired, detail),
            error @ StoreError::PolicyConflict { .. } => {
                ApiError::new(ErrorCode::Conflict, error.to_string())
            }
            StoreError::ConstraintViolation { constraint, message } => {
                let code = if constraint == vigil_store::constraint::USER_NAME {
                    ErrorCode::UserNameTaken
                } else {
                    ErrorCode::Conflict
                };
                ApiError::new(code, message).with_detail(format!("constraint {constraint}"))
            }
            error @ StoreError::TransientExhausted { .. } => ApiError::new(
                ErrorCode::DatabaseBusy,
                "the database stayed busy; nothing was written, try again in a few seconds",
            )
            .with_detail(error_chain(&error)),
            error @ StoreError::Unavailable { .. } => ApiError::new(
                ErrorCode::DatabaseUnavailable,
                "the database is unavailable; an operator has to check it (GET /readyz shows the state)",
            )
            .with_detail(error_chain(&error)),
            error @ (StoreError::InvalidData { .. }
            | StoreError::InvalidUrl { .. }
            | StoreError::Migration { .. }
            | StoreError::Database { .. }) => ApiError::internal(error_chain(&error)),
        }
    }
}

impl From<ExecuteError> for ApiError {
    fn from(error: ExecuteError) -> ApiError {
        match error {
            ExecuteError::ProposalNotFound { proposal_id } => {
                ApiError::not_found("proposal", proposal_id)
            }
            ExecuteError::UserNotFound { user_id } => ApiError::not_found("user", user_id),
            ExecuteError::Store { during, source } => {
                let mut api = ApiError::from(source);
                api.detail = Some(format!(
                    "executor, while {during}: {}",
                    api.detail.as_deref().unwrap_or("")
                ));
                api.message = format!(
                    "{} The execution was left in a state the reconciler finishes; nothing is sent twice.",
                    api.message
                );
                api
            }
            error @ ExecuteError::Interrupted { .. } => ApiError::internal(error.to_string()),
        }
    }
}

/// The error and all its sources, for the log.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = request_id::current().unwrap_or_else(|| "unknown".to_owned());
        let status = self.code.status();
        if status.is_server_error() {
            tracing::error!(
                request_id = %request_id,
                error_code = self.code.as_str(),
                detail = self.detail.as_deref().unwrap_or(""),
                "request failed: {}",
                self.message
            );
        } else {
            tracing::info!(
                request_id = %request_id,
                error_code = self.code.as_str(),
                field = self.field.as_deref().unwrap_or(""),
                detail = self.detail.as_deref().unwrap_or(""),
                "request refused: {}",
                self.message
            );
        }
        let body = ErrorBody {
            error_code: self.code.as_str().to_owned(),
            message: self.message,
            field: self.field,
            request_id,
        };
        let mut response = (status, Json(body)).into_response();
        match self.code {
            ErrorCode::Unauthenticated => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"vigil\""),
                );
            }
            ErrorCode::DatabaseBusy => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_stable() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(code
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(
            ErrorCode::InvalidField.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(ErrorCode::MalformedJson.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn validation_problems_name_the_first_field_and_list_all() {
        let error = ApiError::from(vec![
            ValidationError::new("market", "x", "BASE-QUOTE"),
            ValidationError::new("side", "y", "buy or sell"),
        ]);
        assert_eq!(error.field(), Some("market"));
        assert!(error.message().contains("side"));
        assert_eq!(error.code(), ErrorCode::InvalidField);
    }
}
