//! Configuration: layered, strict, and validated in one pass.
//!
//! Layers, later ones winning: built-in defaults → the TOML file (`--config FILE`, else
//! `./vigil.toml` when it exists) → `VIGIL_*` environment variables → command-line flags. Every
//! layer is flattened into dotted keys (`bitvavo.operator_id`); a key nobody knows is an error,
//! and every value is parsed into its type. All problems are collected and reported together,
//! each naming where the value came from (file key, environment variable or flag) and what was
//! expected.
//!
//! Secrets (the Bitvavo keys and secrets) are never read from the file or from flags: only from
//! the environment (or a file named by a `*_FILE` variable), into `secrecy` types.
//!
//! With no file and no variables, the result is the embedded default: SQLite under
//! `./vigil-data/` and the in-process simulator.
//!
//! (figment was considered for the layering; it stops at the first error, while Vigil must
//! report every problem at once with its source, so the few lines of layering live here.)

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use secrecy::SecretString;

use keys::{env_name, known_keys, RESERVED_ENV, RESERVED_ENV_PREFIXES};
pub(crate) use keys::{Key, ValueKind};

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
    pub(crate) alerts: crate::command::alerts_settings::AlertsSettings,
    /// The exchange-side dead man's switch `vigil run` keeps armed (`[dead_mans_switch]`).
    pub(crate) dead_mans_switch: crate::command::alerts_settings::DeadMansSwitchSettings,
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
        let mut problems = Vec::new();
        let mut values: BTreeMap<String, (String, Source)> = BTreeMap::new();
        for key in known_keys() {
            if let Some(default) = key.default {
                values.insert(key.path.to_owned(), (default.to_owned(), Source::Default));
            }
        }

        // The file: explicit, else ./vigil.toml when it exists.
        let mut sim = None;
        let file = flags
            .config_file
            .clone()
            .or_else(|| Some(PathBuf::from("vigil.toml")).filter(|p| p.exists()));
        if let Some(path) = file {
            match read_file_layer(&path) {
                Ok((flat, sim_table)) => {
                    sim = sim_table;
                    for (key, value) in flat {
                        if let Some(known) = known_keys().find(|k| k.path == key) {
                            if known.kind.accepts(&value) {
                                values.insert(key, (text_of(&value), Source::File(path.clone())));
                            } else {
                                problems.push(ConfigProblem {
                                    key,
                                    source: Source::File(path.clone()),
                                    message: format!(
                                        "got {value} (a {}), expected {}: {}",
                                        value.type_str(),
                                        known.kind.name(),
                                        known.expected
                                    ),
                                });
                            }
                        } else {
                            problems.push(ConfigProblem {
                                key,
                                source: Source::File(path.clone()),
                                message: unknown_key_message(),
                            });
                        }
                    }
                }
                Err(message) => problems.push(ConfigProblem {
                    key: "(file)".into(),
                    source: Source::File(path.clone()),
                    message,
                }),
            }
        }

        // The environment.
        for (name, value) in env {
            let Some(_) = name.strip_prefix("VIGIL_") else {
                continue;
            };
            if RESERVED_ENV.contains(&name.as_str())
                || RESERVED_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
            {
                continue;
            }
            match known_keys().find(|k| env_name(k.path) == *name) {
                Some(key) => {
                    values.insert(
                        key.path.to_owned(),
                        (value.clone(), Source::Env(name.clone())),
                    );
                }
                None => problems.push(ConfigProblem {
                    key: name.clone(),
                    source: Source::Env(name.clone()),
                    message: unknown_key_message(),
                }),
            }
        }

        // The flags.
        if let Some(url) = flags.database_url {
            values.insert("database.url".into(), (url, Source::Flag("--database-url")));
        }

        let database_url_is_default =
            matches!(values.get("database.url"), Some((_, Source::Default)));
        let mut take = |path: &str| values.remove(path);
        let database_url = parse(
            &mut problems,
            take("database.url"),
            "database.url",
            validate_database_url,
        )
        .unwrap_or_default();
        let base_url = take("bitvavo.base_url").and_then(|v| {
            parse(
                &mut problems,
                Some(v),
                "bitvavo.base_url",
                validate_base_url,
            )
        });
        let operator_id = parse(
            &mut problems,
            take("bitvavo.operator_id"),
            "bitvavo.operator_id",
            |s| s.parse::<i64>().ok().filter(|v| *v >= 1).ok_or(()),
        )
        .unwrap_or(1);
        let access_window = parse(
            &mut problems,
            take("bitvavo.access_window_ms"),
            "bitvavo.access_window_ms",
            |s| millis(s, 100, 60_000),
        )
        .unwrap_or(Duration::from_secs(10));
        let request_timeout = parse(
            &mut problems,
            take("bitvavo.request_timeout_ms"),
            "bitvavo.request_timeout_ms",
            |s| millis(s, 100, 120_000),
        )
        .unwrap_or(Duration::from_secs(5));
        let window_margin = parse(
            &mut problems,
            take("reconciler.window_margin_seconds"),
            "reconciler.window_margin_seconds",
            |s| seconds(s, 1, 3_600),
        )
        .unwrap_or(Duration::from_secs(30));
        let abandon_claimed_after = parse(
            &mut problems,
            take("reconciler.abandon_claimed_after_seconds"),
            "reconciler.abandon_claimed_after_seconds",
            |s| seconds(s, 10, 86_400),
        )
        .unwrap_or(Duration::from_secs(300));
        let defaults = vigil_store::PolicyCeilings::default();
        let mut ceiling = |path: &str, positive: bool| {
            parse(&mut problems, take(path), path, |s| {
                vigil_core::parse_exact_decimal(path, s, "")
                    .ok()
                    .filter(|d| !d.is_sign_negative() && (!positive || !d.is_zero()))
                    .ok_or(())
            })
        };
        let limits = vigil_store::PolicyCeilings {
            order_notional_max: ceiling("limits.order_notional_max", true)
                .and_then(|d| vigil_core::Notional::non_negative("limits", d).ok())
                .unwrap_or(defaults.order_notional_max),
            daily_notional_max: ceiling("limits.daily_notional_max", true)
                .and_then(|d| vigil_core::Notional::non_negative("limits", d).ok())
                .unwrap_or(defaults.daily_notional_max),
            llm_daily_budget: ceiling("limits.llm_daily_budget_usd", false)
                .unwrap_or(defaults.llm_daily_budget),
        };
        let advisor_url = take("advisor.base_url");
        let advisor_model = take("advisor.model");
        let advisor_tokens = take("advisor.max_tokens");
        let prompt_price = take("advisor.prompt_usd_per_million");
        let completion_price = take("advisor.completion_usd_per_million");
        let advisor = match advisor_url {
            None => None,
            Some(url) => {
                let price = |problems: &mut Vec<ConfigProblem>,
                             value: Option<(String, Source)>,
                             path: &str| match value {
                    Some(v) => parse(problems, Some(v), path, |s| {
                        vigil_core::parse_exact_decimal(path, s, "")
                            .ok()
                            .filter(|d| !d.is_sign_negative())
                            .ok_or(())
                    }),
                    None => {
                        problems.push(ConfigProblem {
                            key: path.to_owned(),
                            source: url.1.clone(),
                            message: "required when advisor.base_url is set: the worst-case cost of every call is reserved against the daily budget".into(),
                        });
                        None
                    }
                };
                let base_url = parse(&mut problems, Some(url.clone()), "advisor.base_url", |s| {
                    (s.starts_with("http://") || s.starts_with("https://"))
                        .then(|| s.to_owned())
                        .ok_or(())
                });
                let model = advisor_model
                    .map(|(m, _)| m.trim().to_owned())
                    .unwrap_or_default();
                let max_tokens = parse(&mut problems, advisor_tokens, "advisor.max_tokens", |s| {
                    s.parse::<u32>()
                        .ok()
                        .filter(|v| (1..=32_768).contains(v))
                        .ok_or(())
                });
                let prompt = price(
                    &mut problems,
                    prompt_price,
                    "advisor.prompt_usd_per_million",
                );
                let completion = price(
                    &mut problems,
                    completion_price,
                    "advisor.completion_usd_per_million",
                );
                match (base_url, max_tokens, prompt, completion) {
                    (
                        Some(base_url),
                        Some(max_tokens),
                        Some(prompt_usd_per_million),
                        Some(completion_usd_per_million),
                    ) => Some(AdvisorSettings {
                        base_url,
                        model,
                        max_tokens,
                        prompt_usd_per_million,
                        completion_usd_per_million,
                    }),
                    _ => None,
                }
            }
        };
        let log_filter = parse(&mut problems, take("log.level"), "log.level", |s| {
            tracing_subscriber::EnvFilter::try_new(s)
                .map(|_| s.to_owned())
                .map_err(|_| ())
        })
        .unwrap_or_else(|| "info".into());
        let log_format = parse(
            &mut problems,
            take("log.format"),
            "log.format",
            |s| match s {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(()),
            },
        )
        .unwrap_or(LogFormat::Text);
        let server = ServerSettings {
            allow_non_loopback: parse(
                &mut problems,
                take("server.allow_non_loopback"),
                "server.allow_non_loopback",
                boolean,
            )
            .unwrap_or(false),
        };
        let alerts = crate::command::alerts_settings::AlertsSettings::from_layers(
            &mut problems,
            &mut take,
            env,
        );
        let dead_mans_switch = crate::command::alerts_settings::DeadMansSwitchSettings::from_layers(
            &mut problems,
            &mut take,
        );

        if problems.is_empty() {
            Ok(Config {
                database_url,
                database_url_is_default,
                bitvavo: BitvavoConfig {
                    base_url,
                    operator_id,
                    access_window,
                    request_timeout,
                },
                reconciler: ReconcilerTiming {
                    window_margin,
                    abandon_claimed_after,
                },
                limits,
                advisor,
                log_filter,
                log_format,
                alerts,
                dead_mans_switch,
                sim,
                server,
            })
        } else {
            Err(ConfigError { problems })
        }
    }
}

fn unknown_key_message() -> String {
    let known: Vec<String> = known_keys()
        .map(|k| format!("{} ({})", k.path, env_name(k.path)))
        .collect();
    format!("unknown key; known keys are: {}", known.join(", "))
}

/// Parses one value, recording a problem that names its source and the expectation.
pub(crate) fn parse<T>(
    problems: &mut Vec<ConfigProblem>,
    value: Option<(String, Source)>,
    path: &str,
    parser: impl FnOnce(&str) -> Result<T, ()>,
) -> Option<T> {
    let (text, source) = value?;
    match parser(text.trim()) {
        Ok(v) => Some(v),
        Err(()) => {
            let expected = known_keys()
                .find(|k| k.path == path)
                .map_or("a valid value", |k| k.expected);
            problems.push(ConfigProblem {
                key: path.to_owned(),
                source,
                message: format!("got {text:?}, expected {expected}"),
            });
            None
        }
    }
}

fn millis(text: &str, min: u64, max: u64) -> Result<Duration, ()> {
    text.parse::<u64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .map(Duration::from_millis)
        .ok_or(())
}

fn seconds(text: &str, min: u64, max: u64) -> Result<Duration, ()> {
    text.parse::<u64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .map(Duration::from_secs)
        .ok_or(())
}

/// `true` or `false`.
pub(crate) fn boolean(text: &str) -> Result<bool, ()> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(()),
    }
}

/// A SQLite URL must name a file (`sqlite://` alone would open a private temporary database
/// per connection, #18 case 9); a PostgreSQL URL is checked when connecting.
fn validate_database_url(text: &str) -> Result<String, ()> {
    let ok = match text.strip_prefix("sqlite:") {
        Some(rest) => {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split('?').next().unwrap_or_default();
            !path.trim().is_empty() && path != ":memory:"
        }
        None => text.starts_with("postgres://") || text.starts_with("postgresql://"),
    };
    if ok {
        Ok(text.to_owned())
    } else {
        Err(())
    }
}

fn validate_base_url(text: &str) -> Result<String, ()> {
    let trimmed = text.trim_end_matches('/');
    let ok = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
        && !trimmed.ends_with("/v2")
        && trimmed.len() > 8;
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(())
    }
}

/// The text a file value contributes, parsed like an environment variable's.
fn text_of(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A file's values by dotted key (tables flattened, every other value as the file typed it).
type FileValues = BTreeMap<String, toml::Value>;

/// Reads the TOML file into dotted keys plus the opaque `[sim]` table.
fn read_file_layer(path: &Path) -> Result<(FileValues, Option<toml::Table>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file: {e}"))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let sim = match table.remove("sim") {
        Some(toml::Value::Table(sim)) => Some(sim),
        Some(_) => return Err("[sim] must be a table".into()),
        None => None,
    };
    let mut flat = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut flat);
    Ok((flat, sim))
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut FileValues) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
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
            .map_err(|e| problem(format!("cannot read the key file named by VIGIL_ADVISOR_API_KEY_FILE: {e}"))),
        None => Err(problem("advisor.base_url is set but no key is: set VIGIL_ADVISOR_API_KEY (or VIGIL_ADVISOR_API_KEY_FILE)".into())),
    }
}

mod keys;
#[cfg(test)]
mod tests;
