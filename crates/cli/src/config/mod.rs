//! Configuration: layered, strict, and validated in one pass.
//!
//! Layers, later ones winning: built-in defaults → the TOML file (`--config FILE`, else
//! `./vigil.toml` when it exists) → `VIGIL_*` environment variables → command-line flags. Every
//! layer is flattened into dotted keys (`bitvavo.operator_id`); a key nobody knows is an error,
//! and every value is parsed into its type. All problems are collected and reported together,
//! each naming where the value came from (file key, environment variable or flag) and what was
//! expected.
//!
//! The parts: `keys.rs` is the one table of keys (path, TOML type, default, expectation and
//! parser of each); `layers.rs` collects the layers into one sourced value per key; this module
//! builds each section of [`Config`] from those values by key, and `alerts.rs` the `[alerts]`
//! and `[dead_mans_switch]` sections.
//!
//! Secrets (the Bitvavo keys and secrets) are never read from the file or from flags: only from
//! the environment (or a file named by a `*_FILE` variable), into `secrecy` types.
//!
//! With no file and no variables, the result is the embedded default: SQLite under
//! `./vigil-data/` and the in-process simulator.
//!
//! (figment was considered for the layering; it stops at the first error, while Vigil must
//! report every problem at once with its source, so the few lines of layering live here.)

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use secrecy::SecretString;

pub(crate) use alerts::{AlertsSettings, DeadMansSwitchSettings};
use layers::Values;

/// The default database: a SQLite file under `./vigil-data/`, created by `vigil init`.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://./vigil-data/vigil.db";
/// The default database of `vigil run --paper` when none is configured: a file of its own, so
/// paper state never shares a database with a live deployment (#18 case 11).
pub(crate) const PAPER_DATABASE_URL: &str = "sqlite://./vigil-data/paper.db";

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigProblem {
    pub(crate) key: String,
    pub(crate) source: Source,
    pub(crate) message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {}): {}", self.key, self.source, self.message)
    }
}

/// Every problem found in the configuration.
#[derive(Debug, thiserror::Error)]
pub(crate) struct ConfigError {
    pub(crate) problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the configuration has {} problem(s):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(f, "Fix them in the file, the environment or the flags named above; see README.md, \"Configuration\".")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The exchange connection (not the keys: see [`ExchangeKeys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BitvavoConfig {
    /// The exchange's base URL (`https://api.bitvavo.com` or a simulator); `None` means the
    /// in-process simulator (paper trading).
    pub(crate) base_url: Option<String>,
    /// Vigil's `operatorId`, sent on every create and cancel.
    pub(crate) operator_id: i64,
    /// The access window of signed requests.
    pub(crate) access_window: Duration,
    /// The total timeout of one exchange request.
    pub(crate) request_timeout: Duration,
}

impl BitvavoConfig {
    /// The client configuration for the exchange at `base_url`: the configured access window and
    /// request timeout, and a connect timeout that never exceeds the request timeout (the
    /// client's 5 s default, or the request timeout when that is shorter), so every documented
    /// `request_timeout_ms` (100–120000) is one the client accepts.
    pub(crate) fn client_config(&self, base_url: impl Into<String>) -> vigil_bitvavo::ClientConfig {
        let defaults = vigil_bitvavo::ClientConfig::new(base_url, self.operator_id);
        vigil_bitvavo::ClientConfig {
            access_window: self.access_window,
            request_timeout: self.request_timeout,
            connect_timeout: defaults.connect_timeout.min(self.request_timeout),
            ..defaults
        }
    }
}

/// The reconciler's timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReconcilerTiming {
    /// Added to a request's access window before an absent order may be declared not placed.
    pub(crate) window_margin: Duration,
    /// After this, a `CLAIMED` execution (its process died before sending) is ended.
    pub(crate) abandon_claimed_after: Duration,
}

/// The LLM advisor, when configured (its key comes only from the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdvisorSettings {
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) max_tokens: u32,
    pub(crate) prompt_usd_per_million: rust_decimal::Decimal,
    pub(crate) completion_usd_per_million: rust_decimal::Decimal,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) database_url: String,
    /// Whether `database_url` is the built-in default (no flag, variable or file set it): then
    /// `vigil run --paper` uses [`PAPER_DATABASE_URL`] instead.
    pub(crate) database_url_is_default: bool,
    pub(crate) bitvavo: BitvavoConfig,
    pub(crate) reconciler: ReconcilerTiming,
    /// The ceilings on a user's own policy through the API (`[limits]`).
    pub(crate) limits: vigil_store::PolicyCeilings,
    pub(crate) advisor: Option<AdvisorSettings>,
    pub(crate) log_filter: String,
    pub(crate) log_format: LogFormat,
    /// Where alerts go (`[alerts]`).
    pub(crate) alerts: AlertsSettings,
    /// The exchange-side dead man's switch `vigil run` keeps armed (`[dead_mans_switch]`).
    pub(crate) dead_mans_switch: DeadMansSwitchSettings,
    /// The `[sim]` table, handed unparsed to the simulator's own strict configuration.
    pub(crate) sim: Option<toml::Table>,
    /// The HTTP API's settings (`[server]`).
    pub(crate) server: ServerSettings,
}

/// The HTTP API's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ServerSettings {
    /// Whether `vigil run --listen` may use an address other than loopback (the API can turn
    /// kill switches off and change caps: only behind a TLS-terminating proxy).
    pub(crate) allow_non_loopback: bool,
}

/// What the command line contributes (the top layer).
#[derive(Debug, Default)]
pub(crate) struct FlagLayer {
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) database_url: Option<String>,
}

impl Config {
    /// Loads the configuration from every layer.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every problem.
    pub(crate) fn load(
        flags: FlagLayer,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut values = Values::collect(&flags, env);
        let config = Config::from_values(&mut values, env);
        values.finish(config)
    }

    /// Builds every section, each recording its problems (`None` when one was found).
    fn from_values(values: &mut Values, env: &BTreeMap<String, String>) -> Option<Config> {
        let database_url_is_default =
            matches!(values.source_of(&keys::DATABASE_URL), Some(Source::Default));
        let database_url = values.get(&keys::DATABASE_URL);
        let bitvavo = BitvavoConfig::from_values(values);
        let reconciler = ReconcilerTiming::from_values(values);
        let limits = limits(values);
        let advisor = AdvisorSettings::from_values(values);
        let log_filter = values.get(&keys::LOG_LEVEL);
        let log_format = values.get(&keys::LOG_FORMAT);
        let server = ServerSettings::from_values(values);
        let alerts = AlertsSettings::from_values(values, env);
        let dead_mans_switch = DeadMansSwitchSettings::from_values(values);
        Some(Config {
            database_url: database_url?,
            database_url_is_default,
            bitvavo: bitvavo?,
            reconciler: reconciler?,
            limits: limits?,
            advisor,
            log_filter: log_filter?,
            log_format: log_format?,
            alerts,
            dead_mans_switch: dead_mans_switch?,
            sim: values.sim.take(),
            server: server?,
        })
    }
}

impl BitvavoConfig {
    fn from_values(values: &mut Values) -> Option<BitvavoConfig> {
        let base_url = values.get(&keys::BITVAVO_BASE_URL);
        let operator_id = values.get(&keys::OPERATOR_ID);
        let access_window = values.get(&keys::ACCESS_WINDOW);
        let request_timeout = values.get(&keys::REQUEST_TIMEOUT);
        Some(BitvavoConfig {
            base_url,
            operator_id: operator_id?,
            access_window: access_window?,
            request_timeout: request_timeout?,
        })
    }
}

impl ReconcilerTiming {
    fn from_values(values: &mut Values) -> Option<ReconcilerTiming> {
        let window_margin = values.get(&keys::WINDOW_MARGIN);
        let abandon_claimed_after = values.get(&keys::ABANDON_CLAIMED_AFTER);
        Some(ReconcilerTiming {
            window_margin: window_margin?,
            abandon_claimed_after: abandon_claimed_after?,
        })
    }
}

/// The `[limits]` ceilings.
fn limits(values: &mut Values) -> Option<vigil_store::PolicyCeilings> {
    let order_notional_max = values.get(&keys::ORDER_NOTIONAL_MAX);
    let daily_notional_max = values.get(&keys::DAILY_NOTIONAL_MAX);
    let llm_daily_budget = values.get(&keys::LLM_DAILY_BUDGET);
    Some(vigil_store::PolicyCeilings {
        order_notional_max: order_notional_max?,
        daily_notional_max: daily_notional_max?,
        llm_daily_budget: llm_daily_budget?,
    })
}

impl AdvisorSettings {
    /// The advisor, when `advisor.base_url` is set: then its prices are required too (a missing
    /// one is blamed on where the URL came from). `None` also when a value was refused.
    fn from_values(values: &mut Values) -> Option<AdvisorSettings> {
        let url = values.take(&keys::ADVISOR_BASE_URL)?;
        let required_by = url.source.clone();
        let base_url = values.parse(&keys::ADVISOR_BASE_URL, url);
        let model = values.get(&keys::ADVISOR_MODEL);
        let max_tokens = values.get(&keys::ADVISOR_MAX_TOKENS);
        let mut price = |key: &keys::Key<rust_decimal::Decimal>| match values.take(key) {
            Some(value) => values.parse(key, value),
            None => {
                let message = format!(
                    "required when {} is set: the worst-case cost of every call is reserved against the daily budget",
                    keys::ADVISOR_BASE_URL.path
                );
                values.problem(key.path, required_by.clone(), message);
                None
            }
        };
        let prompt_usd_per_million = price(&keys::PROMPT_PRICE);
        let completion_usd_per_million = price(&keys::COMPLETION_PRICE);
        Some(AdvisorSettings {
            base_url: base_url?,
            model: model.unwrap_or_default(),
            max_tokens: max_tokens?,
            prompt_usd_per_million: prompt_usd_per_million?,
            completion_usd_per_million: completion_usd_per_million?,
        })
    }
}

impl ServerSettings {
    fn from_values(values: &mut Values) -> Option<ServerSettings> {
        Some(ServerSettings {
            allow_non_loopback: values.get(&keys::ALLOW_NON_LOOPBACK)?,
        })
    }
}

/// A Bitvavo API key and its secret, read only from the environment.
pub(crate) struct KeyPair {
    pub(crate) key: String,
    pub(crate) secret: SecretString,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.key.chars().take(4).collect();
        f.debug_struct("KeyPair")
            .field("key", &format!("{prefix}…"))
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The two key pairs for live trading (I10): a read-only key and a trade key.
#[derive(Debug)]
pub(crate) struct ExchangeKeys {
    pub(crate) read: Option<KeyPair>,
    pub(crate) trade: Option<KeyPair>,
}

impl ExchangeKeys {
    /// Reads `VIGIL_BITVAVO_{READ,TRADE}_{KEY,SECRET}` (a secret may instead come from the file
    /// named by `..._SECRET_FILE`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming each variable that is half set or unreadable.
    pub(crate) fn from_env(env: &BTreeMap<String, String>) -> Result<ExchangeKeys, ConfigError> {
        let mut problems = Vec::new();
        let mut pair = |role: &str| -> Option<KeyPair> {
            let key_var = format!("VIGIL_BITVAVO_{role}_KEY");
            let secret_var = format!("VIGIL_BITVAVO_{role}_SECRET");
            let file_var = format!("{secret_var}_FILE");
            let key = env
                .get(&key_var)
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty());
            let secret = match (env.get(&secret_var), env.get(&file_var)) {
                (Some(s), _) => Some(s.trim().to_owned()),
                (None, Some(path)) => match std::fs::read_to_string(path) {
                    Ok(s) => Some(s.trim().to_owned()),
                    Err(e) => {
                        problems.push(ConfigProblem {
                            key: file_var.clone(),
                            source: Source::Env(file_var.clone()),
                            message: format!("cannot read the secret file: {e}"),
                        });
                        None
                    }
                },
                (None, None) => None,
            }
            .filter(|s| !s.is_empty());
            match (key, secret) {
                (Some(key), Some(secret)) => Some(KeyPair {
                    key,
                    secret: SecretString::from(secret),
                }),
                (None, None) => None,
                (Some(_), None) => {
                    problems.push(ConfigProblem {
                        key: secret_var.clone(),
                        source: Source::Env(secret_var),
                        message: format!(
                            "{key_var} is set but its secret is not; set both or neither"
                        ),
                    });
                    None
                }
                (None, Some(_)) => {
                    problems.push(ConfigProblem {
                        key: key_var.clone(),
                        source: Source::Env(key_var),
                        message: "the secret is set but the key is not; set both or neither".into(),
                    });
                    None
                }
            }
        };
        let read = pair("READ");
        let trade = pair("TRADE");
        if problems.is_empty() {
            Ok(ExchangeKeys { read, trade })
        } else {
            Err(ConfigError { problems })
        }
    }
}

/// The advisor's API key: `VIGIL_ADVISOR_API_KEY`, or the file named by
/// `VIGIL_ADVISOR_API_KEY_FILE`.
///
/// # Errors
/// A [`ConfigError`] when neither is set or the file cannot be read.
pub(crate) fn advisor_key(env: &BTreeMap<String, String>) -> Result<SecretString, ConfigError> {
    let problem = |message: String| ConfigError {
        problems: vec![ConfigProblem {
            key: "VIGIL_ADVISOR_API_KEY".into(),
            source: Source::Env("VIGIL_ADVISOR_API_KEY".into()),
            message,
        }],
    };
    if let Some(key) = env
        .get("VIGIL_ADVISOR_API_KEY")
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
    {
        return Ok(SecretString::from(key));
    }
    match env.get("VIGIL_ADVISOR_API_KEY_FILE") {
        Some(path) => std::fs::read_to_string(path)
            .map(|k| SecretString::from(k.trim().to_owned()))
            .map_err(|e| {
                problem(format!(
                    "cannot read the key file named by VIGIL_ADVISOR_API_KEY_FILE: {e}"
                ))
            }),
        None => Err(problem(format!(
            "{} is set but no key is: set VIGIL_ADVISOR_API_KEY (or VIGIL_ADVISOR_API_KEY_FILE)",
            keys::ADVISOR_BASE_URL.path
        ))),
    }
}

mod alerts;
mod keys;
mod layers;
#[cfg(test)]
mod tests;
