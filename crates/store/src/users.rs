//! Users and what belongs to them: API tokens, the allowlist (I5) and the kill switches (I4)
//! (the trading policy is `policy.rs`). Every operator change to allowlist and kill switches is
//! written to `audit_log` in the same transaction as the change (I11).

use std::collections::BTreeSet;

use uuid::Uuid;
use vigil_core::{Market, Timestamp, UserId};

use crate::{
    audit,
    db::{args, Conn},
    error::StoreError,
    model::{
        validate_user_name, ApiToken, Attribution, AuditEntry, Authority, KillSwitchScope,
        KillSwitchSetter, KillSwitches, TokenHash, User,
    },
    rows,
    txn_retry::{run_transaction, StoreTxn, TxnMode},
    Store,
};

pub(crate) fn user_target(user: UserId) -> String {
    format!("user:{user}")
}

pub(crate) async fn allowlist_read(
    conn: &mut Conn<'_>,
    user: UserId,
) -> Result<BTreeSet<Market>, StoreError> {
    let found = conn
        .fetch_all(
            "allowlist_list",
            "SELECT market FROM allowlist WHERE user_id = $1 ORDER BY market",
            args![user.as_uuid()],
        )
        .await?;
    found
        .iter()
        .map(|row| {
            let text = row.text("market")?;
            Market::parse(&text).map_err(|e| StoreError::invalid("allowlist.market", e))
        })
        .collect()
}

pub(crate) async fn kill_switches_read(
    conn: &mut Conn<'_>,
    user: UserId,
) -> Result<KillSwitches, StoreError> {
    let row = conn
        .fetch_optional(
            "kill_switch_read",
            "SELECT g.kill_switch AS global_on, u.kill_switch AS user_on \
             FROM global_settings g, users u WHERE g.id = 1 AND u.id = $1",
            args![user.as_uuid()],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            key: user.to_string(),
        })?;
    Ok(KillSwitches {
        global: row.bool("global_on")?,
        user: row.bool("user_on")?,
    })
}

async fn kill_switch_setter_read(
    conn: &mut Conn<'_>,
    user: UserId,
) -> Result<Option<KillSwitchSetter>, StoreError> {
    let row = conn
        .fetch_optional(
            "kill_switch_setter_read",
            "SELECT kill_switch, kill_switch_set_by, kill_switch_set_at, kill_switch_by_admin \
             FROM users WHERE id = $1",
            args![user.as_uuid()],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            key: user.to_string(),
        })?;
    if !row.bool("kill_switch")? {
        return Ok(None);
    }
    Ok(Some(KillSwitchSetter {
        actor: row
            .opt_text("kill_switch_set_by")?
            .unwrap_or_else(|| "unknown".to_owned()),
        authority: if row.bool("kill_switch_by_admin")? {
            Authority::Admin
        } else {
            Authority::Owner
        },
        at: row.opt_time("kill_switch_set_at")?,
    }))
}

async fn global_kill_switch_read(conn: &mut Conn<'_>) -> Result<bool, StoreError> {
    let row = conn
        .fetch_optional(
            "kill_switch_read",
            "SELECT kill_switch FROM global_settings WHERE id = 1",
            vec![],
        )
        .await?
        .ok_or_else(|| {
            StoreError::invalid(
                "global_settings",
                "the settings row is missing; run `vigil migrate`",
            )
        })?;
    row.bool("kill_switch")
}

impl StoreTxn {
    /// Reads both kill switches for `user` inside the caller's transaction (the `SUBMITTING`
    /// transaction re-reads them here, I4).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user, or a database error.
    pub async fn kill_switch_read_in_txn(
        &mut self,
        user: UserId,
    ) -> Result<KillSwitches, StoreError> {
        kill_switches_read(&mut self.conn(), user).await
    }
}

impl Store {
    /// Creates a user (kill switch off, no policy row: the default policy applies).
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a bad name; [`StoreError::ConstraintViolation`]
    /// (`users_name_key`) when the name is taken.
    pub async fn user_create(
        &self,
        name: &str,
        is_admin: bool,
        at: Timestamp,
    ) -> Result<User, StoreError> {
        validate_user_name(name).map_err(|e| StoreError::InvalidInput(vec![e]))?;
        let user = User {
            id: UserId::new(),
            name: name.to_owned(),
            is_admin,
            kill_switch: false,
            created_at: crate::to_stored_precision(at),
        };
        let row = user.clone();
        run_transaction(&self.inner, "user_create", TxnMode::Write, move |txn| {
            let row = row.clone();
            Box::pin(async move {
                txn.conn()
                    .execute(
                        "user_create",
                        "INSERT INTO users (id, name, is_admin, kill_switch, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                        args![
                            row.id.as_uuid(),
                            row.name,
                            row.is_admin,
                            false,
                            row.created_at
                        ],
                    )
                    .await?;
                Ok(())
            })
        })
        .await?;
        Ok(user)
    }

    /// The user with this id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn user_get(&self, id: UserId) -> Result<User, StoreError> {
        let sql = format!("SELECT {} FROM users WHERE id = $1", rows::USER_COLUMNS);
        let mut pooled = self.acquire().await?;
        let row = pooled
            .conn()
            .fetch_optional("user_get", &sql, args![id.as_uuid()])
            .await
            .map_err(|e| self.classify(e))?;
        match row {
            Some(row) => rows::user(&row),
            None => Err(StoreError::NotFound {
                what: "user",
                key: id.to_string(),
            }),
        }
    }

    /// The user with this name.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn user_get_by_name(&self, name: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {} FROM users WHERE name = $1", rows::USER_COLUMNS);
        let mut pooled = self.acquire().await?;
        let row = pooled
            .conn()
            .fetch_optional("user_get_by_name", &sql, args![name])
            .await
            .map_err(|e| self.classify(e))?;
        match row {
            Some(row) => rows::user(&row),
            None => Err(StoreError::NotFound {
                what: "user named",
                key: name.to_owned(),
            }),
        }
    }

    /// Every user, by name (at most [`crate::LIST_LIMIT_MAX`]).
    ///
    /// # Errors
    /// A database error.
    pub async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "SELECT {} FROM users ORDER BY name LIMIT $1",
            rows::USER_COLUMNS
        );
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all("user_list", &sql, args![rows::limit(crate::LIST_LIMIT_MAX)])
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(rows::user).collect()
    }

    /// Registers an API token by its hash (the token itself is never stored).
    ///
    /// # Errors
    /// [`StoreError::ConstraintViolation`] (`api_tokens_token_sha256_key`) for a hash already
    /// registered; a foreign-key violation for an unknown user.
    pub async fn api_token_create(
        &self,
        user: UserId,
        hash: &TokenHash,
        at: Timestamp,
    ) -> Result<ApiToken, StoreError> {
        let token = ApiToken {
            id: Uuid::new_v4(),
            user_id: user,
            created_at: crate::to_stored_precision(at),
            revoked_at: None,
        };
        let (row, hex) = (token.clone(), hash.to_hex());
        run_transaction(
            &self.inner,
            "api_token_create",
            TxnMode::Write,
            move |txn| {
                let (row, hex) = (row.clone(), hex.clone());
                Box::pin(async move {
                    txn.conn()
                        .execute(
                            "api_token_create",
                            "INSERT INTO api_tokens (id, user_id, token_sha256, created_at) \
                         VALUES ($1, $2, $3, $4)",
                            args![row.id, row.user_id.as_uuid(), hex, row.created_at],
                        )
                        .await?;
                    Ok(())
                })
            },
        )
        .await?;
        Ok(token)
    }

    /// The unrevoked token with this hash, if any (a revoked token is never returned, so a
    /// caller cannot forget to check).
    ///
    /// # Errors
    /// A database error.
    pub async fn api_token_find_active(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<ApiToken>, StoreError> {
        let mut pooled = self.acquire().await?;
        let row = pooled
            .conn()
            .fetch_optional(
                "api_token_find_active",
                "SELECT id, user_id, created_at, revoked_at FROM api_tokens \
                 WHERE token_sha256 = $1 AND revoked_at IS NULL",
                args![hash.to_hex()],
            )
            .await
            .map_err(|e| self.classify(e))?;
        row.as_ref().map(rows::api_token).transpose()
    }

    /// Revokes a token (idempotent: revoking twice keeps the first time), audited.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown token.
    pub async fn api_token_revoke(&self, id: Uuid, by: &Attribution) -> Result<(), StoreError> {
        let by = by.clone();
        run_transaction(
            &self.inner,
            "api_token_revoke",
            TxnMode::Write,
            move |txn| {
                let by = by.clone();
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let row = conn
                        .fetch_optional(
                            "api_token_revoke",
                            "SELECT revoked_at FROM api_tokens WHERE id = $1",
                            args![id],
                        )
                        .await?
                        .ok_or_else(|| StoreError::NotFound {
                            what: "api token",
                            key: id.to_string(),
                        })?;
                    if row.opt_time("revoked_at")?.is_some() {
                        return Ok(());
                    }
                    conn.execute(
                    "api_token_revoke",
                    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    args![id, by.at],
                )
                .await?;
                    let entry = AuditEntry::new(
                        &by,
                        "api_token.revoke",
                        format!("api_token:{id}"),
                        None,
                        None,
                    );
                    audit::append(&mut conn, &entry).await
                })
            },
        )
        .await
    }

    /// Adds a market to the user's allowlist, audited. Returns whether it was added (false:
    /// it was already there, and nothing was written).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn allowlist_add(
        &self,
        user: UserId,
        market: &Market,
        by: &Attribution,
    ) -> Result<bool, StoreError> {
        self.allowlist_change(user, market, by, true).await
    }

    /// Removes a market from the user's allowlist, audited. Returns whether it was removed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn allowlist_remove(
        &self,
        user: UserId,
        market: &Market,
        by: &Attribution,
    ) -> Result<bool, StoreError> {
        self.allowlist_change(user, market, by, false).await
    }

    async fn allowlist_change(
        &self,
        user: UserId,
        market: &Market,
        by: &Attribution,
        add: bool,
    ) -> Result<bool, StoreError> {
        let (market, by) = (market.to_string(), by.clone());
        let operation = if add {
            "allowlist_add"
        } else {
            "allowlist_remove"
        };
        run_transaction(
            &self.inner,
            operation,
            TxnMode::UserSection(user),
            move |txn| {
                let (market, by) = (market.clone(), by.clone());
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let changed = if add {
                        conn.execute(
                        operation,
                        "INSERT INTO allowlist (user_id, market, added_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id, market) DO NOTHING",
                        args![user.as_uuid(), market.as_str(), by.at],
                    )
                    .await?
                    } else {
                        conn.execute(
                            operation,
                            "DELETE FROM allowlist WHERE user_id = $1 AND market = $2",
                            args![user.as_uuid(), market.as_str()],
                        )
                        .await?
                    } > 0;
                    if changed {
                        let (action, before, after) = if add {
                            ("allowlist.add", None, Some(serde_json::json!(market)))
                        } else {
                            ("allowlist.remove", Some(serde_json::json!(market)), None)
                        };
                        let entry = AuditEntry::new(&by, action, user_target(user), before, after);
                        audit::append(&mut conn, &entry).await?;
                    }
                    Ok(changed)
                })
            },
        )
        .await
    }

    /// The user's allowlist (empty: every market is refused, I5).
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a stored market that does not parse.
    pub async fn allowlist_list(&self, user: UserId) -> Result<BTreeSet<Market>, StoreError> {
        let mut pooled = self.acquire().await?;
        allowlist_read(&mut pooled.conn(), user)
            .await
            .map_err(|e| self.classify(e))
    }

    /// The global kill switch.
    ///
    /// # Errors
    /// A database error.
    pub async fn kill_switch_read_global(&self) -> Result<bool, StoreError> {
        let mut pooled = self.acquire().await?;
        global_kill_switch_read(&mut pooled.conn())
            .await
            .map_err(|e| self.classify(e))
    }

    /// Both kill switches that apply to `user`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn kill_switch_read(&self, user: UserId) -> Result<KillSwitches, StoreError> {
        let mut pooled = self.acquire().await?;
        kill_switches_read(&mut pooled.conn(), user)
            .await
            .map_err(|e| self.classify(e))
    }

    /// Who turned `user`'s kill switch on; `None` while it is off.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn kill_switch_setter(
        &self,
        user: UserId,
    ) -> Result<Option<KillSwitchSetter>, StoreError> {
        let mut pooled = self.acquire().await?;
        kill_switch_setter_read(&mut pooled.conn(), user)
            .await
            .map_err(|e| self.classify(e))
    }

    /// Turns a kill switch on or off with `authority`, audited with before and after. Returns
    /// the previous value. Setting a user's switch waits for that user's running section
    /// (PostgreSQL row lock), so an execution that committed `SUBMITTING` before the switch is
    /// on is the last.
    ///
    /// Authority (#18 case 4), checked inside the same transaction: anyone may turn a switch
    /// on (stopping is never harder than starting; the global one needs an admin). A user's
    /// switch that an admin turned on is turned off only by an admin; the user turns it off
    /// only when they turned it on themself. An admin turning on a switch the user set takes
    /// it over; the user turning on a switch an admin set leaves it the admin's.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user; [`StoreError::NotPermitted`] for a change
    /// the authority does not allow (nothing is written).
    pub async fn kill_switch_set(
        &self,
        scope: KillSwitchScope,
        on: bool,
        by: &Attribution,
        authority: Authority,
    ) -> Result<bool, StoreError> {
        if matches!(scope, KillSwitchScope::Global) && authority != Authority::Admin {
            return Err(StoreError::NotPermitted {
                detail: "only an admin sets the global kill switch".to_owned(),
            });
        }
        let by = by.clone();
        let mode = match scope {
            KillSwitchScope::Global => TxnMode::Write,
            KillSwitchScope::User(user) => TxnMode::UserSection(user),
        };
        run_transaction(&self.inner, "kill_switch_set", mode, move |txn| {
            let by = by.clone();
            Box::pin(async move {
                let mut conn = txn.conn();
                let (before, target) = match scope {
                    KillSwitchScope::Global => {
                        let before = global_kill_switch_read(&mut conn).await?;
                        conn.execute(
                            "kill_switch_set",
                            "UPDATE global_settings SET kill_switch = $1, updated_at = $2 WHERE id = 1",
                            args![on, by.at],
                        )
                        .await?;
                        (before, "global".to_owned())
                    }
                    KillSwitchScope::User(user) => {
                        let before = kill_switches_read(&mut conn, user).await?.user;
                        let setter = kill_switch_setter_read(&mut conn, user).await?;
                        let admins = setter
                            .as_ref()
                            .filter(|s| s.authority == Authority::Admin);
                        match (on, admins) {
                            (false, Some(admin)) if authority == Authority::Owner => {
                                return Err(StoreError::NotPermitted {
                                    detail: format!(
                                        "this kill switch was turned on by {} with admin authority{}; \
                                         only an admin can turn it off (ask them, or see \
                                         `vigil kill-switch status --user NAME`)",
                                        admin.actor,
                                        admin
                                            .at
                                            .map(|at| format!(" at {}", at.to_rfc3339()))
                                            .unwrap_or_default()
                                    ),
                                });
                            }
                            // On, already the admin's and turned on again by the user: it stays
                            // the admin's.
                            (true, Some(_)) if authority == Authority::Owner => {}
                            (true, _) if setter.is_none() || authority == Authority::Admin => {
                                conn.execute(
                                    "kill_switch_set",
                                    "UPDATE users SET kill_switch = $1, kill_switch_set_by = $2, \
                                     kill_switch_set_at = $3, kill_switch_by_admin = $4 WHERE id = $5",
                                    args![
                                        true,
                                        by.actor.as_str(),
                                        by.at,
                                        authority == Authority::Admin,
                                        user.as_uuid()
                                    ],
                                )
                                .await?;
                            }
                            // On and already the user's own: unchanged.
                            (true, _) => {}
                            (false, _) => {
                                conn.execute(
                                    "kill_switch_set",
                                    "UPDATE users SET kill_switch = $1, kill_switch_set_by = NULL, \
                                     kill_switch_set_at = NULL, kill_switch_by_admin = $2 WHERE id = $3",
                                    args![false, false, user.as_uuid()],
                                )
                                .await?;
                            }
                        }
                        (before, user_target(user))
                    }
                };
                let entry = AuditEntry::new(
                    &by,
                    "kill_switch.set",
                    target,
                    Some(serde_json::json!(before)),
                    Some(serde_json::json!(on)),
                );
                audit::append(&mut conn, &entry).await?;
                Ok(before)
            })
        })
        .await
    }
}
