//! The endpoint handlers, one module per resource, and what they share.
//!
//! Every handler acts for the [`crate::auth::Caller`] only: it reads a resource, checks that the
//! caller owns it, and answers 404 (not 403) when they do not, exactly as when it does not exist,
//! so one user cannot learn another's ids. Lists are filtered to the caller in the query itself.

pub(crate) mod allowlist;
pub(crate) mod execute;
pub(crate) mod executions;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod kill_switch;
pub(crate) mod policy;
pub(crate) mod proposals;
pub(crate) mod users;

use serde::Deserialize;
use utoipa::ToSchema;
use vigil_store::{LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX};

use crate::{error::ApiError, extract::QueryParams};

/// Reads `limit` (1 to [`LIST_LIMIT_MAX`], default [`LIST_LIMIT_DEFAULT`]).
pub(crate) fn take_limit(query: &mut QueryParams) -> Result<u32, ApiError> {
    match query.take("limit")? {
        None => Ok(LIST_LIMIT_DEFAULT),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=LIST_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "limit",
                    format!("invalid limit {text:?}: expected a whole number from 1 to {LIST_LIMIT_MAX}"),
                )
            }),
    }
}

/// An optional body that only carries a reason for the audit log.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why, in the caller's words (recorded in `audit_log`), at most 1000 characters.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// The longest reason kept.
pub(crate) const REASON_MAX_CHARS: usize = 1_000;

/// Checks a reason's length.
pub(crate) fn check_reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    match reason {
        Some(r) if r.chars().count() > REASON_MAX_CHARS => Err(ApiError::invalid_field(
            "reason",
            format!("invalid reason: at most {REASON_MAX_CHARS} characters"),
        )),
        other => Ok(other),
    }
}
