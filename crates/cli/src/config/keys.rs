//! The table of configuration keys: each key's dotted path (its environment variable is derived
//! from it: `bitvavo.operator_id` → `VIGIL_BITVAVO_OPERATOR_ID`), the TOML type the file must
//! give it, its default and what a valid value looks like (quoted in every error). The
//! `[alerts]` and `[dead_mans_switch]` keys live beside their parsers in
//! `command/alerts_settings.rs` and are chained in by [`known_keys`].

use super::DEFAULT_DATABASE_URL;

/// The known keys, with their environment variable and parser.
pub(crate) struct Key {
    pub(crate) path: &'static str,
    /// The TOML type the file must give it (environment variables are always text).
    pub(crate) kind: ValueKind,
    pub(crate) default: Option<&'static str>,
    pub(crate) expected: &'static str,
}

/// The TOML type a key takes in the configuration file: a value of another type is a problem
/// (`log.level = 5` is refused, not read as the filter "5"), so a misplaced value is never
/// silently reinterpreted (#18 case 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
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

/// Every known key: these, and the `[alerts]` / `[dead_mans_switch]` ones.
pub(super) fn known_keys() -> impl Iterator<Item = &'static Key> {
    KEYS.iter()
        .chain(crate::command::alerts_settings::KEYS.iter())
}

const KEYS: &[Key] = &[
    Key {
        path: "database.url",
        kind: ValueKind::Text,
        default: Some(DEFAULT_DATABASE_URL),
        expected: "sqlite://PATH (a file path, not empty) or postgres://USER@HOST:PORT/DB",
    },
    Key {
        path: "bitvavo.base_url",
        kind: ValueKind::Text,
        default: None,
        expected: "an http(s) URL without /v2, e.g. https://api.bitvavo.com",
    },
    Key {
        path: "bitvavo.operator_id",
        kind: ValueKind::Integer,
        default: Some("1"),
        expected: "an integer from 1 to 9223372036854775807",
    },
    Key {
        path: "bitvavo.access_window_ms",
        kind: ValueKind::Integer,
        default: Some("10000"),
        expected: "milliseconds from 100 to 60000",
    },
    Key {
        path: "bitvavo.request_timeout_ms",
        kind: ValueKind::Integer,
        default: Some("5000"),
        expected: "milliseconds from 100 to 120000",
    },
    Key {
        path: "reconciler.window_margin_seconds",
        kind: ValueKind::Integer,
        default: Some("30"),
        expected: "seconds from 1 to 3600, added to a request's access window before it may be declared not placed",
    },
    Key {
        path: "reconciler.abandon_claimed_after_seconds",
        kind: ValueKind::Integer,
        default: Some("300"),
        expected: "seconds from 10 to 86400 after which a CLAIMED execution of a dead process is ended",
    },
    Key {
        path: "limits.order_notional_max",
        kind: ValueKind::Amount,
        default: Some("25"),
        expected: "an amount in the quote currency above 0: the highest per-order cap a user may set without an admin, a plain decimal of at most 28 decimal places (never rounded)",
    },
    Key {
        path: "limits.daily_notional_max",
        kind: ValueKind::Amount,
        default: Some("250"),
        expected: "an amount in the quote currency above 0: the highest daily cap a user may set without an admin, a plain decimal of at most 28 decimal places (never rounded)",
    },
    Key {
        path: "limits.llm_daily_budget_usd",
        kind: ValueKind::Amount,
        default: Some("5"),
        expected: "USD from 0: the highest LLM advisor budget a day a user may set without an admin, a plain decimal of at most 28 decimal places (never rounded)",
    },
    Key {
        path: "advisor.base_url",
        kind: ValueKind::Text,
        default: None,
        expected: "an OpenAI-compatible API base URL such as https://api.openai.com/v1 (unset: no LLM advisor)",
    },
    Key {
        path: "advisor.model",
        kind: ValueKind::Text,
        default: Some("gpt-4o-mini"),
        expected: "a model name",
    },
    Key {
        path: "advisor.max_tokens",
        kind: ValueKind::Integer,
        default: Some("800"),
        expected: "completion tokens from 1 to 32768",
    },
    Key {
        path: "advisor.prompt_usd_per_million",
        kind: ValueKind::Amount,
        default: None,
        expected: "the model's price in USD per million prompt tokens, e.g. 0.15, a plain decimal of at most 28 decimal places (never rounded)",
    },
    Key {
        path: "advisor.completion_usd_per_million",
        kind: ValueKind::Amount,
        default: None,
        expected: "the model's price in USD per million completion tokens, e.g. 0.60, a plain decimal of at most 28 decimal places (never rounded)",
    },
    Key {
        path: "log.level",
        kind: ValueKind::Text,
        default: Some("warn"),
        expected: "a tracing filter such as info or vigil=debug,info",
    },
    Key {
        path: "log.format",
        kind: ValueKind::Text,
        default: Some("text"),
        expected: "text or json",
    },
    Key {
        path: "server.allow_non_loopback",
        kind: ValueKind::Bool,
        default: Some("false"),
        expected: "true or false: whether vigil run --listen may use an address other than loopback (only behind a TLS-terminating proxy)",
    },
];

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
    "VIGIL_ALERTS_WEBHOOK_URL_FILE",
    "VIGIL_ADVISOR_API_KEY",
    "VIGIL_ADVISOR_API_KEY_FILE",
];
pub(super) const RESERVED_ENV_PREFIXES: &[&str] = &["VIGIL_TEST_"];

/// The environment variable for a dotted key: `bitvavo.operator_id` → `VIGIL_BITVAVO_OPERATOR_ID`.
pub(super) fn env_name(path: &str) -> String {
    format!("VIGIL_{}", path.replace('.', "_").to_ascii_uppercase())
}
