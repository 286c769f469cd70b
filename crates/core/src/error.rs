//! Validation errors for values parsed at the edge.
//!
//! Every external input becomes a typed value through a fallible constructor; when it fails, the
//! error names the field, the value that was given and what was expected, so the person who typed
//! it can fix it without reading code.

use std::fmt;

/// A value that did not pass validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: got {value:?}, expected {expected}")]
pub struct ValidationError {
    /// The field (or flag, or config key) that was wrong, e.g. `market` or `amount_quote`.
    pub field: String,
    /// The value as it was given.
    pub value: String,
    /// What would have been accepted, in words.
    pub expected: String,
}

impl ValidationError {
    /// Builds an error for `field` holding `value`, which should have been `expected`.
    pub fn new(
        field: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The same error reported under another field name (e.g. a CLI flag instead of a struct
    /// field), keeping the value and the expectation.
    #[must_use]
    pub fn for_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}
