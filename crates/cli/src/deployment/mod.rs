//! The composition root: one [`Deployment`], built from the configuration by `command::run`,
//! is what every command works with, `vigil run` included. It holds the store, the clock and
//! the actor, and it is the only place the exchange's clients, the executor and reconciler
//! ([`exchange::Trading`]) and alert delivery (webhook included) are built, so a one-shot
//! command gets exactly the parts `vigil run` gets.
//!
//! Building happens in two steps. [`Settings`] is the configuration and the environment, with
//! everything that can be checked without writing: the exchange's settings and keys, the
//! advisor's key. `vigil run` checks all of it before [`Settings::open`] opens (and migrates)
//! the database (#18 case 8). The environment is read only here: the keys never travel through
//! the commands.

pub(crate) mod alerts;
pub(crate) mod exchange;

use std::collections::BTreeMap;

use secrecy::SecretString;
use vigil_bitvavo::{BitvavoClients, ReadOnlyClient, ReadOnlyKey};
use vigil_core::{Clock, SystemClock};
use vigil_store::{Attribution, Store, StoreOptions, User};

use crate::{
    config::{Config, ExchangeKeys},
    exit::CommandError,
};
pub(crate) use alerts::RunningDelivery;
pub(crate) use exchange::{LiveExchange, TradingSession};

/// The configuration and the environment a deployment is built from, before the database is
/// opened.
pub(crate) struct Settings {
    pub(crate) config: Config,
    env: BTreeMap<String, String>,
    /// Who is acting (`--actor`, else `$USER`, else `cli`), for the audit log.
    pub(crate) actor: String,
}

impl Settings {
    /// The settings for `config`, with `actor` (`--actor`) or else the environment's `USER`.
    pub(crate) fn new(
        config: Config,
        env: BTreeMap<String, String>,
        actor: Option<String>,
    ) -> Settings {
        let actor = actor
            .or_else(|| env.get("USER").cloned())
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| "cli".to_owned());
        Settings { config, env, actor }
    }

    /// The exchange keys from the environment (or the files its `*_FILE` variables name).
    ///
    /// # Errors
    /// A [`crate::config::ConfigError`] naming the variable.
    pub(crate) fn exchange_keys(&self) -> anyhow::Result<ExchangeKeys> {
        Ok(ExchangeKeys::from_env(&self.env)?)
    }

    /// The LLM advisor's API key from the environment.
    ///
    /// # Errors
    /// A [`crate::config::ConfigError`] naming the variable.
    pub(crate) fn advisor_key(&self) -> anyhow::Result<SecretString> {
        Ok(crate::config::advisor_key(&self.env)?)
    }

    /// The live exchange's two clients, checked and built; nothing is sent.
    ///
    /// # Errors
    /// A [`CommandError::Invalid`] or [`crate::config::ConfigError`] naming the setting.
    pub(crate) fn live_exchange(&self) -> anyhow::Result<LiveExchange> {
        LiveExchange::from_config(&self.config, self.exchange_keys()?)
    }

    /// Opens the configured store and applies pending migrations. A missing SQLite file is
    /// created only when `create` is set (`vigil init`, and `vigil run --paper` for its own
    /// database, #18 case 13); every other command refuses it (exit 3, naming the path) instead
    /// of answering from a new, empty database.
    ///
    /// # Errors
    /// The store's error: unreachable, missing or not migratable.
    pub(crate) async fn open(self, create: bool) -> anyhow::Result<Deployment> {
        let store = Store::connect(
            &self.config.database_url,
            StoreOptions {
                jitter_seed: u64::from(std::process::id()),
                sqlite_create_if_missing: create,
                ..StoreOptions::default()
            },
        )
        .await?;
        store.migrate().await?;
        Ok(Deployment {
            store,
            clock: SystemClock,
            settings: self,
        })
    }
}

/// What every command that touches the database works with: the store, the clock, the actor
/// and the configuration, and the one way to reach the exchange and raise alerts.
pub(crate) struct Deployment {
    pub(crate) store: Store,
    pub(crate) clock: SystemClock,
    pub(crate) settings: Settings,
}

impl Deployment {
    /// The configuration the deployment was built from.
    pub(crate) fn config(&self) -> &Config {
        &self.settings.config
    }

    /// Who is acting, for the audit log.
    pub(crate) fn actor(&self) -> &str {
        &self.settings.actor
    }

    /// Who acted and when, for the audit log.
    pub(crate) fn attribution(&self, reason: Option<&str>) -> Attribution {
        let by = Attribution::new(self.settings.actor.clone(), self.clock.now());
        match reason {
            Some(reason) => by.because(reason),
            None => by,
        }
    }

    /// The operations shared with the API (create, approve or reject a proposal, replace a
    /// policy, flip a kill switch), over this deployment's store and clock.
    pub(crate) fn operations(&self) -> vigil_ops::Operations {
        vigil_ops::Operations::new(self.store.clone(), std::sync::Arc::new(SystemClock))
    }

    /// The actor of an operation: the operator at the CLI holds the database, so they act with
    /// an admin's authority, under their name (`--actor`, else `$USER`).
    pub(crate) fn operator(&self, reason: Option<&str>) -> vigil_ops::Actor {
        vigil_ops::Actor::new(self.settings.actor.clone(), vigil_store::Authority::Admin)
            .because(reason.map(str::to_owned))
    }

    /// The user with this name (given as `--user`), or a not-found error that says how to list
    /// users. A name no user can have is bad input (exit code 2), not an unknown user.
    pub(crate) async fn user(&self, name: &str) -> anyhow::Result<User> {
        vigil_store::model::validate_user_name(name)
            .map_err(|e| CommandError::invalid(&[e.for_field("--user")]))?;
        match self.store.user_get_by_name(name).await {
            Ok(user) => Ok(user),
            Err(vigil_store::StoreError::NotFound { .. }) => Err(CommandError::NotFound(format!(
                "no user named {name:?}; `vigil users list` shows the users"
            ))
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Alert delivery for the length of one command: the log, and the webhook when
    /// `alerts.webhook_url` is set. End it with [`RunningDelivery::finish`].
    ///
    /// # Errors
    /// A [`CommandError::Invalid`] naming the alert setting.
    pub(crate) fn alerts(&self) -> anyhow::Result<RunningDelivery> {
        RunningDelivery::start(self.config())
    }

    /// Both live clients, connected, with the exchange's clock offset measured; the database
    /// must be (or become) a live one first.
    ///
    /// # Errors
    /// Invalid exchange settings or keys (exit code 2), a paper database, or an exchange that
    /// does not answer.
    pub(crate) async fn exchange_clients(&self) -> anyhow::Result<BitvavoClients> {
        self.settings.live_exchange()?.connect(&self.store).await
    }

    /// The money path for one command, with its alert delivery running: see
    /// [`TradingSession::open`].
    ///
    /// # Errors
    /// As [`TradingSession::open`].
    pub(crate) async fn trading(&self) -> anyhow::Result<TradingSession> {
        TradingSession::open(self).await
    }

    /// The read-only client alone, for the commands that only read the exchange (the audit, the
    /// rollback), connected and with the clock offset measured. `otherwise` completes the
    /// error when the exchange or its key is missing ("or pass --database-only").
    ///
    /// # Errors
    /// A [`CommandError::Invalid`] naming the missing setting or bad key, or an exchange that
    /// does not answer.
    pub(crate) async fn read_only_client(&self, otherwise: &str) -> anyhow::Result<ReadOnlyClient> {
        let config = self.config();
        let Some(base_url) = config.bitvavo.base_url.clone() else {
            return Err(CommandError::Invalid(format!(
                "no exchange configured: set bitvavo.base_url (VIGIL_BITVAVO_BASE_URL){otherwise}"
            ))
            .into());
        };
        let Some(read) = self.settings.exchange_keys()?.read else {
            return Err(CommandError::Invalid(format!(
                "the read-only key is required: set VIGIL_BITVAVO_READ_KEY and \
                 VIGIL_BITVAVO_READ_SECRET (a View-only key){otherwise}"
            ))
            .into());
        };
        let key = ReadOnlyKey::new(&read.key, read.secret)
            .map_err(|e| CommandError::Invalid(format!("VIGIL_BITVAVO_READ_KEY/SECRET: {e}")))?;
        let client_config = config.bitvavo.client_config(base_url);
        let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
        let client = ReadOnlyClient::new(&client_config, key, clock)
            .map_err(|e| CommandError::Invalid(e.to_string()))?;
        client.sync_time().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the exchange at {} to read its time: {e}",
                client_config.base_url
            )
        })?;
        Ok(client)
    }
}
