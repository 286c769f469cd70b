//! The bench's one error: which step failed and why, so a broken run says where it broke.

/// A benchmark step that could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// A step failed; `detail` carries the underlying error's message.
    #[error("{during}: {detail}")]
    Step {
        /// What the bench was doing.
        during: String,
        /// The cause.
        detail: String,
    },
    /// A safety property the bench checks did not hold (e.g. the retry storm placed more than
    /// one order): the run fails.
    #[error("invariant broken: {0}")]
    Invariant(String),
}

/// Attaches "what the bench was doing" to any displayable error.
pub(crate) trait During<T> {
    /// Wraps the error with `during`.
    fn during(self, during: &str) -> Result<T, BenchError>;
}

impl<T, E: std::fmt::Display> During<T> for Result<T, E> {
    fn during(self, during: &str) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::Step {
            during: during.to_owned(),
            detail: e.to_string(),
        })
    }
}
