//! Reading "everything since T" out of the store's bounded list calls, and knowing when the
//! bound was hit.
//!
//! The store pages every list at `LIST_LIMIT_MAX` rows, newest first, without an offset. The
//! audit, the stability window and the sign-off need every execution of a period, so they list
//! per user and per state (each list far smaller than the whole table) and report `truncated`
//! when a list came back full while still inside the period: a check that could not see
//! everything must say so and fail closed, never pass on a partial view.

use std::collections::BTreeMap;

use vigil_core::{Execution, ExecutionId, ExecutionState, Timestamp};
use vigil_store::{
    AuditEntry, AuditFilter, ExecutionFilter, Store, StoreError, User, LIST_LIMIT_MAX,
};

/// Executions created at or after a point in time.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentExecutions {
    /// By id, so nothing is counted twice.
    pub(crate) executions: BTreeMap<ExecutionId, Execution>,
    /// A list came back full with rows still inside the period: some may be missing.
    pub(crate) truncated: Vec<String>,
}

impl RecentExecutions {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Execution> {
        self.executions.values()
    }
}

/// Every user (the store lists them all; there are few).
pub(crate) async fn users(store: &Store) -> Result<Vec<User>, StoreError> {
    store.user_list().await
}

/// Every execution created at or after `since`, read per user and per state.
pub(crate) async fn executions_since(
    store: &Store,
    since: Timestamp,
) -> Result<RecentExecutions, StoreError> {
    let mut found = RecentExecutions::default();
    for user in users(store).await? {
        for state in ExecutionState::ALL {
            let page = store
                .execution_list(&ExecutionFilter {
                    user: Some(user.id),
                    state: Some(state),
                    market: None,
                    limit: LIST_LIMIT_MAX,
                })
                .await?;
            let full = page.len() >= LIST_LIMIT_MAX as usize;
            let mut oldest_inside = false;
            for execution in page {
                if execution.created_at >= since {
                    oldest_inside = true;
                    found.executions.insert(execution.id, execution);
                } else {
                    oldest_inside = false;
                }
            }
            if full && oldest_inside {
                found.truncated.push(format!(
                    "user {} has more than {LIST_LIMIT_MAX} {state} executions in the period",
                    user.name
                ));
            }
        }
    }
    Ok(found)
}

/// Audit entries on `target` at or after `since`, oldest first, and whether the list was full.
pub(crate) async fn audit_since(
    store: &Store,
    target: &str,
    since: Timestamp,
) -> Result<(Vec<AuditEntry>, bool), StoreError> {
    let page = store
        .audit_list(&AuditFilter {
            target: Some(target.to_owned()),
            actor: None,
            limit: LIST_LIMIT_MAX,
        })
        .await?;
    let full = page.len() >= LIST_LIMIT_MAX as usize;
    let all_inside = page.last().is_some_and(|e| e.at >= since);
    let mut inside: Vec<AuditEntry> = page.into_iter().filter(|e| e.at >= since).collect();
    inside.reverse();
    Ok((inside, full && all_inside))
}

/// Every audit entry on `target`, oldest first (as many as one page holds), and whether the page
/// was full (older entries may exist).
pub(crate) async fn audit_all(
    store: &Store,
    target: &str,
) -> Result<(Vec<AuditEntry>, bool), StoreError> {
    let mut page = store
        .audit_list(&AuditFilter {
            target: Some(target.to_owned()),
            actor: None,
            limit: LIST_LIMIT_MAX,
        })
        .await?;
    let full = page.len() >= LIST_LIMIT_MAX as usize;
    page.reverse();
    Ok((page, full))
}
