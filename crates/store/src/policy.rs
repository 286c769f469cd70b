//! A user's trading policy: read (the careful default when none was set), and replaced in the
//! user's section with before and after in `audit_log` (I11), under the limits a user's own
//! change has: the deployment's ceilings and 24 hours at the current caps before a raise (#18
//! cases 5, 6).

use rust_decimal::Decimal;
use vigil_core::{Notional, Policy, Timestamp, UserId};

use crate::{
    audit,
    db::{args, Conn},
    error::StoreError,
    model::{Attribution, AuditEntry, PolicyCeilings, PolicyLimits, CAPS_IN_FORCE_BEFORE_A_RAISE},
    txn_retry::{run_transaction, TxnMode},
    users::user_target,
    Store,
};

pub(crate) async fn policy_read(conn: &mut Conn<'_>, user: UserId) -> Result<Policy, StoreError> {
    let row = conn
        .fetch_optional(
            "policy_get",
            "SELECT trading_enabled, order_notional_max, daily_notional_max, cooldown_minutes, \
             anti_flip_minutes, auto_approve, llm_daily_budget FROM policies WHERE user_id = $1",
            args![user.as_uuid()],
        )
        .await?;
    // No row means the careful default: trading disabled until an operator enables it.
    let Some(row) = row else {
        return Ok(Policy::default());
    };
    let minutes = |column: &str| -> Result<u32, StoreError> {
        u32::try_from(row.i64(column)?).map_err(|e| StoreError::invalid(column, e))
    };
    let notional = |column: &str| -> Result<Notional, StoreError> {
        Notional::non_negative(column, row.decimal(column)?)
            .map_err(|e| StoreError::invalid(column, e))
    };
    Ok(Policy {
        trading_enabled: row.bool("trading_enabled")?,
        order_notional_max: notional("order_notional_max")?,
        daily_notional_max: notional("daily_notional_max")?,
        cooldown_minutes: minutes("cooldown_minutes")?,
        anti_flip_minutes: minutes("anti_flip_minutes")?,
        auto_approve: row.bool("auto_approve")?,
        llm_daily_budget: row.decimal("llm_daily_budget")?,
    })
}

/// The values of a policy that limit money: (field, before, after) for each one that goes up.
fn money_raises(before: &Policy, after: &Policy) -> Vec<(&'static str, Decimal, Decimal)> {
    [
        (
            "order_notional_max",
            before.order_notional_max.value(),
            after.order_notional_max.value(),
        ),
        (
            "daily_notional_max",
            before.daily_notional_max.value(),
            after.daily_notional_max.value(),
        ),
        (
            "llm_daily_budget",
            before.llm_daily_budget,
            after.llm_daily_budget,
        ),
    ]
    .into_iter()
    .filter(|(_, b, a)| a > b)
    .collect()
}

/// The owner's limits on their own policy (#18 cases 5, 6), inside the policy's transaction:
/// nothing raised above a ceiling, and nothing raised before the current caps have been in
/// force for [`CAPS_IN_FORCE_BEFORE_A_RAISE`] (since the user was created, or since the last
/// change of a cap or budget, read from `audit_log`).
async fn owner_may_set(
    conn: &mut Conn<'_>,
    user: UserId,
    before: &Policy,
    after: &Policy,
    ceilings: &PolicyCeilings,
    now: Timestamp,
) -> Result<(), StoreError> {
    let raises = money_raises(before, after);
    if raises.is_empty() {
        return Ok(());
    }
    let ceiling_of = |field: &str| match field {
        "order_notional_max" => ceilings.order_notional_max.value(),
        "daily_notional_max" => ceilings.daily_notional_max.value(),
        _ => ceilings.llm_daily_budget,
    };
    let above: Vec<String> = raises
        .iter()
        .filter(|(field, _, after)| *after > ceiling_of(field))
        .map(|(field, _, after)| {
            format!(
                "{field} {after} is above the deployment's ceiling {}",
                ceiling_of(field)
            )
        })
        .collect();
    if !above.is_empty() {
        return Err(StoreError::NotPermitted {
            detail: format!(
                "{}; an admin sets a policy above the ceilings (`vigil policy set`), or raises \
                 them in the configuration's [limits]",
                above.join("; ")
            ),
        });
    }
    let created = conn
        .fetch_optional(
            "policy_caps_since",
            "SELECT created_at FROM users WHERE id = $1",
            args![user.as_uuid()],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            key: user.to_string(),
        })?
        .time("created_at")?;
    let window_start = now - CAPS_IN_FORCE_BEFORE_A_RAISE;
    let mut since = created;
    for row in conn
        .fetch_all(
            "policy_caps_since",
            "SELECT at, before, after FROM audit_log \
             WHERE target = $1 AND action = 'policy.set' AND at > $2",
            args![user_target(user), window_start],
        )
        .await?
    {
        let read = |column: &str| -> Result<Option<Policy>, StoreError> {
            row.opt_json(column)?
                .map(|v| serde_json::from_value(v).map_err(|e| StoreError::invalid("audit_log", e)))
                .transpose()
        };
        let changed = match (read("before")?, read("after")?) {
            (Some(b), Some(a)) => {
                (
                    b.order_notional_max,
                    b.daily_notional_max,
                    b.llm_daily_budget,
                ) != (
                    a.order_notional_max,
                    a.daily_notional_max,
                    a.llm_daily_budget,
                )
            }
            _ => true,
        };
        let at = row.time("at")?;
        if changed && at > since {
            since = at;
        }
    }
    if since > window_start {
        let fields: Vec<String> = raises
            .iter()
            .map(|(field, b, a)| format!("{field} {b} → {a}"))
            .collect();
        return Err(StoreError::NotPermitted {
            detail: format!(
                "refusing to raise {}: the current caps have been in force only since {} (a raise \
                 needs 24 hours of operation at them); raise them after {}, or ask an admin",
                fields.join(", "),
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                (since + CAPS_IN_FORCE_BEFORE_A_RAISE)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        });
    }
    Ok(())
}

fn policy_json(policy: &Policy) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(policy).map_err(|e| StoreError::invalid("policies", e))
}

impl Store {
    /// The user's policy; the careful default when none was set.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] when the stored policy does not parse.
    pub async fn policy_get(&self, user: UserId) -> Result<Policy, StoreError> {
        let mut pooled = self.acquire().await?;
        policy_read(&mut pooled.conn(), user)
            .await
            .map_err(|e| self.classify(e))
    }

    /// Replaces the user's policy after validating it, recording before and after in
    /// `audit_log` in the same transaction. Under [`PolicyLimits::Owner`] the same transaction
    /// refuses a value above the deployment's ceilings and a raise of caps or budget that have
    /// been in force for less than [`CAPS_IN_FORCE_BEFORE_A_RAISE`] (#18 cases 5, 6).
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] with every problem when the policy is invalid;
    /// [`StoreError::NotFound`] for an unknown user; [`StoreError::NotPermitted`] for a change
    /// the limits refuse (nothing is written).
    pub async fn policy_set(
        &self,
        user: UserId,
        policy: &Policy,
        by: &Attribution,
        limits: PolicyLimits,
    ) -> Result<(), StoreError> {
        self.policy_replace(user, None, policy, by, limits, None)
            .await
    }

    /// [`Store::policy_set`] for a change decided against `expected` (the policy a check such
    /// as the cap stability window looked at): written only if the policy is still `expected`
    /// when the user's section is held, so two changes decided at once cannot both pass a check
    /// that each saw alone. `also`, when given, is appended to `audit_log` in the same
    /// transaction (the stability-window override entry), so the change and its record commit
    /// together.
    ///
    /// # Errors
    /// As [`Store::policy_set`], and [`StoreError::PolicyConflict`] when the policy changed
    /// after `expected` was read (nothing is written).
    pub async fn policy_replace(
        &self,
        user: UserId,
        expected: Option<&Policy>,
        policy: &Policy,
        by: &Attribution,
        limits: PolicyLimits,
        also: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        policy.validate().map_err(StoreError::InvalidInput)?;
        let (policy, by) = (policy.clone(), by.clone());
        let (expected, also) = (expected.cloned(), also.cloned());
        run_transaction(&self.inner, "policy_set", TxnMode::UserSection(user), move |txn| {
            let (policy, by) = (policy.clone(), by.clone());
            let (expected, also) = (expected.clone(), also.clone());
            Box::pin(async move {
                let mut conn = txn.conn();
                let before = policy_read(&mut conn, user).await?;
                if expected.is_some_and(|expected| expected != before) {
                    return Err(StoreError::PolicyConflict { user });
                }
                if let PolicyLimits::Owner(ceilings) = limits {
                    owner_may_set(&mut conn, user, &before, &policy, &ceilings, by.at).await?;
                }
                conn.execute(
                    "policy_set",
                    "INSERT INTO policies (user_id, trading_enabled, order_notional_max, \
                     daily_notional_max, cooldown_minutes, anti_flip_minutes, auto_approve, \
                     llm_daily_budget, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (user_id) DO UPDATE SET trading_enabled = excluded.trading_enabled, \
                     order_notional_max = excluded.order_notional_max, \
                     daily_notional_max = excluded.daily_notional_max, \
                     cooldown_minutes = excluded.cooldown_minutes, \
                     anti_flip_minutes = excluded.anti_flip_minutes, \
                     auto_approve = excluded.auto_approve, \
                     llm_daily_budget = excluded.llm_daily_budget, updated_at = excluded.updated_at",
                    args![
                        user.as_uuid(),
                        policy.trading_enabled,
                        policy.order_notional_max.value(),
                        policy.daily_notional_max.value(),
                        i64::from(policy.cooldown_minutes),
                        i64::from(policy.anti_flip_minutes),
                        policy.auto_approve,
                        policy.llm_daily_budget,
                        by.at,
                    ],
                )
                .await?;
                let entry = AuditEntry::new(
                    &by,
                    "policy.set",
                    user_target(user),
                    Some(policy_json(&before)?),
                    Some(policy_json(&policy)?),
                );
                audit::append(&mut conn, &entry).await?;
                match also {
                    Some(entry) => audit::append(&mut conn, &entry).await,
                    None => Ok(()),
                }
            })
        })
        .await
    }
}
