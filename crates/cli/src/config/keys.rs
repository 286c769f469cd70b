//! The one table of configuration keys. Each key is declared once, here: its dotted path (its
//! environment variable is derived from it: `bitvavo.operator_id` → `VIGIL_BITVAVO_OPERATOR_ID`),
//! the TOML type the file must give it, its default, what a valid value looks like (quoted in
//! every error) and the parser that turns its text into a value. The rest of the configuration
//! refers to a key by its constant (`keys::OPERATOR_ID`), never by re-typing its path.

use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::SecretString;
use vigil_alerting::{check_webhook_url, redact_url};

use super::{LogFormat, DEFAULT_DATABASE_URL};

/// A key and the parser of its text (already trimmed) into a `T`.
pub(super) struct Key<T: 'static> {
    pub(super) path: &'static str,
    /// The TOML type the file must give it (environment variables are always text).
    pub(super) kind: ValueKind,
    /// The text of its default, parsed like any other layer's; `None`: no value unless a layer
    /// gives one (or a fallback its section names, such as the alert engine's defaults).
    pub(super) default: Option<&'static str>,
    /// What a valid value looks like, quoted in every error about it.
    pub(super) expected: &'static str,
    pub(super) parse: fn(&str) -> Result<T, Refused>,
}

/// Why a parser refused a value.
pub(super) enum Refused {
    /// Reported as `got "TEXT", expected EXPECTED` with the key's expectation.
    Invalid,
    /// Reported with this message instead (the value is a secret and is not echoed).
    Message(String),
}

/// A key whatever its value's type: what the layers need to know of it.
pub(super) trait AnyKey {
    fn path(&self) -> &'static str;
    fn kind(&self) -> ValueKind;
    fn default(&self) -> Option<&'static str>;
    fn expected(&self) -> &'static str;
    /// Whether its parser accepts `text`.
    #[cfg(test)]
    fn accepts(&self, text: &str) -> bool;
}

impl<T> AnyKey for Key<T> {
    fn path(&self) -> &'static str {
        self.path
    }
    fn kind(&self) -> ValueKind {
        self.kind
    }
    fn default(&self) -> Option<&'static str> {
        self.default
    }
    fn expected(&self) -> &'static str {
        self.expected
    }
    #[cfg(test)]
    fn accepts(&self, text: &str) -> bool {
        (self.parse)(text.trim()).is_ok()
    }
}

impl<T> Key<T> {
    /// Its default, parsed (the fallback of a section that goes on after a refused value).
    pub(super) fn default_value(&self) -> Option<T> {
        self.default.and_then(|text| (self.parse)(text).ok())
    }
}

/// The TOML type a key takes in the configuration file: a value of another type is a problem
/// (`log.level = 5` is refused, not read as the filter "5"), so a misplaced value is never
/// silently reinterpreted (#18 case 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ValueKind {
    /// A string.
    Text,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Bool,
    /// An amount: a decimal string such as `"0.15"`, or an integer. Never a TOML float, which
    /// is binary floating point.
    Amount,
}

impl ValueKind {
    pub(super) fn accepts(self, value: &toml::Value) -> bool {
        matches!(
            (self, value),
            (ValueKind::Text, toml::Value::String(_))
                | (ValueKind::Integer, toml::Value::Integer(_))
                | (ValueKind::Bool, toml::Value::Boolean(_))
                | (
                    ValueKind::Amount,
                    toml::Value::String(_) | toml::Value::Integer(_)
                )
        )
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            ValueKind::Text => "a string (in quotes)",
            ValueKind::Integer => "an integer (without quotes)",
            ValueKind::Bool => "true or false (without quotes)",
            ValueKind::Amount => "a decimal string such as \"0.15\", or an integer",
        }
    }
}

/// Declares each key as a constant and lists them all in [`ALL`], so no key can be declared
/// without being known to the layers.
macro_rules! keys {
    ($(
        $(#[$doc:meta])*
        $name:ident: $ty:ty {
            path: $path:literal,
            kind: $kind:ident,
            default: $default:expr,
            expected: $expected:expr,
            parse: $parse:expr $(,)?
        }
    )*) => {
        $(
            $(#[$doc])*
            pub(super) const $name: Key<$ty> = Key {
                path: $path,
                kind: ValueKind::$kind,
                default: $default,
                expected: $expected,
                parse: $parse,
            };
        )*
        /// Every key, in the order the unknown-key message lists them.
        pub(super) const ALL: &[&dyn AnyKey] = &[$(&$name),*];
    };
}

keys! {
    DATABASE_URL: String {
        path: "database.url",
        kind: Text,
        default: Some(DEFAULT_DATABASE_URL),
        expected: "sqlite://PATH (a file path, not empty) or postgres://USER@HOST:PORT/DB",
        parse: |s| valid(database_url(s)),
    }
    BITVAVO_BASE_URL: String {
        path: "bitvavo.base_url",
        kind: Text,
        default: None,
        expected: "an http(s) URL without /v2, e.g. https://api.bitvavo.com",
        parse: |s| valid(exchange_url(s)),
    }
    OPERATOR_ID: i64 {
        path: "bitvavo.operator_id",
        kind: Integer,
        default: Some("1"),
        expected: "an integer from 1 to 9223372036854775807",
        parse: |s| valid(s.parse::<i64>().ok().filter(|v| *v >= 1)),
    }
    ACCESS_WINDOW: Duration {
        path: "bitvavo.access_window_ms",
        kind: Integer,
        default: Some("10000"),
        expected: "milliseconds from 100 to 60000",
        parse: |s| valid(in_range(s, 100, 60_000).map(Duration::from_millis)),
    }
    REQUEST_TIMEOUT: Duration {
        path: "bitvavo.request_timeout_ms",
        kind: Integer,
        default: Some("5000"),
        expected: "milliseconds from 100 to 120000",
        parse: |s| valid(in_range(s, 100, 120_000).map(Duration::from_millis)),
    }
    WINDOW_MARGIN: Duration {
        path: "reconciler.window_margin_seconds",
        kind: Integer,
        default: Some("30"),
        expected: "seconds from 1 to 3600, added to a request's access window before it may be declared not placed",
        parse: |s| valid(in_range(s, 1, 3_600).map(Duration::from_secs)),
    }
    ABANDON_CLAIMED_AFTER: Duration {
        path: "reconciler.abandon_claimed_after_seconds",
        kind: Integer,
        default: Some("300"),
        expected: "seconds from 10 to 86400 after which a CLAIMED execution of a dead process is ended",
        parse: |s| valid(in_range(s, 10, 86_400).map(Duration::from_secs)),
    }
    ORDER_NOTIONAL_MAX: vigil_core::Notional {
        path: "limits.order_notional_max",
        kind: Amount,
        default: Some("25"),
        expected: "an amount in the quote currency above 0: the highest per-order cap a user may set without an admin, a plain decimal of at most 28 decimal places (never rounded)",
        parse: |s| valid(notional_above_zero(s)),
    }
    DAILY_NOTIONAL_MAX: vigil_core::Notional {
        path: "limits.daily_notional_max",
        kind: Amount,
        default: Some("250"),
        expected: "an amount in the quote currency above 0: the highest daily cap a user may set without an admin, a plain decimal of at most 28 decimal places (never rounded)",
        parse: |s| valid(notional_above_zero(s)),
    }
    LLM_DAILY_BUDGET: Decimal {
        path: "limits.llm_daily_budget_usd",
        kind: Amount,
        default: Some("5"),
        expected: "USD from 0: the highest LLM advisor budget a day a user may set without an admin, a plain decimal of at most 28 decimal places (never rounded)",
        parse: |s| valid(amount(s, false)),
    }
    ADVISOR_BASE_URL: String {
        path: "advisor.base_url",
        kind: Text,
        default: None,
        expected: "an OpenAI-compatible API base URL such as https://api.openai.com/v1 (unset: no LLM advisor)",
        parse: |s| valid(is_http(s).then(|| s.to_owned())),
    }
    ADVISOR_MODEL: String {
        path: "advisor.model",
        kind: Text,
        default: Some("gpt-4o-mini"),
        expected: "a model name",
        parse: |s| Ok(s.to_owned()),
    }
    ADVISOR_MAX_TOKENS: u32 {
        path: "advisor.max_tokens",
        kind: Integer,
        default: Some("800"),
        expected: "completion tokens from 1 to 32768",
        parse: |s| valid(s.parse::<u32>().ok().filter(|v| (1..=32_768).contains(v))),
    }
    /// Required when [`ADVISOR_BASE_URL`] is set.
    PROMPT_PRICE: Decimal {
        path: "advisor.prompt_usd_per_million",
        kind: Amount,
        default: None,
        expected: "the model's price in USD per million prompt tokens, e.g. 0.15, a plain decimal of at most 28 decimal places (never rounded)",
        parse: |s| valid(amount(s, false)),
    }
    /// Required when [`ADVISOR_BASE_URL`] is set.
    COMPLETION_PRICE: Decimal {
        path: "advisor.completion_usd_per_million",
        kind: Amount,
        default: None,
        expected: "the model's price in USD per million completion tokens, e.g. 0.60, a plain decimal of at most 28 decimal places (never rounded)",
        parse: |s| valid(amount(s, false)),
    }
    LOG_LEVEL: String {
        path: "log.level",
        kind: Text,
        default: Some("warn"),
        expected: "a tracing filter such as info or vigil=debug,info",
        parse: |s| valid(tracing_subscriber::EnvFilter::try_new(s).ok().map(|_| s.to_owned())),
    }
    LOG_FORMAT: LogFormat {
        path: "log.format",
        kind: Text,
        default: Some("text"),
        expected: "text or json",
        parse: |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(Refused::Invalid),
        },
    }
    ALLOW_NON_LOOPBACK: bool {
        path: "server.allow_non_loopback",
        kind: Bool,
        default: Some("false"),
        expected: "true or false: whether vigil run --listen may use an address other than loopback (only behind a TLS-terminating proxy)",
        parse: boolean,
    }
    /// A secret (chat webhooks carry their token in the path): a refused value is shown by its
    /// host only; an empty one means none. The `[alerts]` defaults are the alert engine's.
    WEBHOOK_URL: Option<SecretString> {
        path: "alerts.webhook_url",
        kind: Text,
        default: None,
        expected: "an http:// or https:// URL with a host (a Slack/Discord-compatible webhook)",
        parse: webhook_url,
    }
    DEDUPE: Duration {
        path: "alerts.dedupe_seconds",
        kind: Integer,
        default: None,
        expected: "seconds from 0 to 86400 (the same alert within it is sent once)",
        parse: |s| valid(in_range(s, 0, 86_400).map(Duration::from_secs)),
    }
    RATE_LIMIT: u32 {
        path: "alerts.rate_limit_per_minute",
        kind: Integer,
        default: None,
        expected: "an integer from 1 to 600",
        parse: |s| valid(in_range(s, 1, 600).and_then(|v| u32::try_from(v).ok())),
    }
    QUEUE_CAPACITY: usize {
        path: "alerts.queue_capacity",
        kind: Integer,
        default: None,
        expected: "an integer from 1 to 10000",
        parse: |s| valid(in_range(s, 1, 10_000).and_then(|v| usize::try_from(v).ok())),
    }
    MAX_ATTEMPTS: u32 {
        path: "alerts.max_attempts",
        kind: Integer,
        default: None,
        expected: "an integer from 1 to 20",
        parse: |s| valid(in_range(s, 1, 20).and_then(|v| u32::try_from(v).ok())),
    }
    ATTEMPT_TIMEOUT: Duration {
        path: "alerts.attempt_timeout_ms",
        kind: Integer,
        default: None,
        expected: "milliseconds from 100 to 60000",
        parse: |s| valid(in_range(s, 100, 60_000).map(Duration::from_millis)),
    }
    DELIVERY_DEADLINE: Duration {
        path: "alerts.delivery_deadline_seconds",
        kind: Integer,
        default: None,
        expected: "seconds from 1 to 600, at least one attempt's timeout",
        parse: |s| valid(in_range(s, 1, 600).map(Duration::from_secs)),
    }
    ALERT_SOURCE: String {
        path: "alerts.source",
        kind: Text,
        default: None,
        expected: "a deployment name of 1 to 64 characters",
        parse: |s| valid((!s.is_empty() && s.len() <= 64).then(|| s.to_owned())),
    }
    SWITCH_ENABLED: bool {
        path: "dead_mans_switch.enabled",
        kind: Bool,
        default: Some("true"),
        expected: "true or false",
        parse: boolean,
    }
    SWITCH_INTERVAL: Duration {
        path: "dead_mans_switch.interval_seconds",
        kind: Integer,
        default: Some("20"),
        expected: "seconds from 1 to 150, at most half the expiry",
        parse: |s| valid(in_range(s, 1, 150).map(Duration::from_secs)),
    }
    SWITCH_EXPIRY: Duration {
        path: "dead_mans_switch.expiry_seconds",
        kind: Integer,
        default: Some("60"),
        expected: "seconds from 10 to 300 (Bitvavo's limits)",
        parse: |s| valid(in_range(s, 10, 300).map(Duration::from_secs)),
    }
}

/// Environment variables that start with `VIGIL_` but are not configuration keys.
pub(super) const RESERVED_ENV: &[&str] = &[
    "VIGIL_CONFIG",
    "VIGIL_BITVAVO_READ_KEY",
    "VIGIL_BITVAVO_READ_SECRET",
    "VIGIL_BITVAVO_READ_SECRET_FILE",
    "VIGIL_BITVAVO_TRADE_KEY",
    "VIGIL_BITVAVO_TRADE_SECRET",
    "VIGIL_BITVAVO_TRADE_SECRET_FILE",
    "VIGIL_FAILPOINT",
    super::alerts::WEBHOOK_URL_FILE_VAR,
    "VIGIL_ADVISOR_API_KEY",
    "VIGIL_ADVISOR_API_KEY_FILE",
];
pub(super) const RESERVED_ENV_PREFIXES: &[&str] = &["VIGIL_TEST_"];

/// The environment variable for a dotted key: `bitvavo.operator_id` → `VIGIL_BITVAVO_OPERATOR_ID`.
pub(super) fn env_name(path: &str) -> String {
    format!("VIGIL_{}", path.replace('.', "_").to_ascii_uppercase())
}

/// A value, or the key's own expectation as the reason it was refused.
fn valid<T>(value: Option<T>) -> Result<T, Refused> {
    value.ok_or(Refused::Invalid)
}

/// A whole number from `min` to `max`.
fn in_range(text: &str, min: u64, max: u64) -> Option<u64> {
    text.parse::<u64>().ok().filter(|v| (min..=max).contains(v))
}

/// `true` or `false`.
fn boolean(text: &str) -> Result<bool, Refused> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Refused::Invalid),
    }
}

fn is_http(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// An amount typed exactly (never rounded), from zero, or above zero when `above_zero`.
fn amount(text: &str, above_zero: bool) -> Option<Decimal> {
    vigil_core::parse_exact_decimal("amount", text, "")
        .ok()
        .filter(|d| !d.is_sign_negative() && (!above_zero || !d.is_zero()))
}

fn notional_above_zero(text: &str) -> Option<vigil_core::Notional> {
    amount(text, true).and_then(|d| vigil_core::Notional::non_negative("amount", d).ok())
}

/// A SQLite URL must name a file (`sqlite://` alone would open a private temporary database
/// per connection, #18 case 9); a PostgreSQL URL is checked when connecting.
fn database_url(text: &str) -> Option<String> {
    let ok = match text.strip_prefix("sqlite:") {
        Some(rest) => {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split('?').next().unwrap_or_default();
            !path.trim().is_empty() && path != ":memory:"
        }
        None => text.starts_with("postgres://") || text.starts_with("postgresql://"),
    };
    ok.then(|| text.to_owned())
}

/// The exchange's base URL, without a trailing slash (and without `/v2`).
fn exchange_url(text: &str) -> Option<String> {
    let trimmed = text.trim_end_matches('/');
    (is_http(trimmed) && !trimmed.ends_with("/v2") && trimmed.len() > 8).then(|| trimmed.to_owned())
}

/// The webhook URL, checked by the alert engine; refused, it is shown by its host only.
fn webhook_url(text: &str) -> Result<Option<SecretString>, Refused> {
    if text.is_empty() {
        return Ok(None);
    }
    match check_webhook_url(text) {
        Ok(()) => Ok(Some(SecretString::from(text.to_owned()))),
        Err(e) => Err(Refused::Message(format!(
            "got {}, expected {}",
            redact_url(text),
            e.expected
        ))),
    }
}
