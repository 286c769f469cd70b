//! The client's configuration and its validation.
//!
//! [`ClientConfig`] holds plain values (what a config file or the CLI produces);
//! [`ClientConfig::validate`] checks all of them in one pass and reports every problem, each
//! naming its field and what was expected. The clients are only built from a configuration that
//! passed validation.

use std::{fmt, time::Duration};

use reqwest::Url;

/// Bitvavo's own default access window, which Vigil also uses (bitvavo-api.md section 2.3).
pub const DEFAULT_ACCESS_WINDOW: Duration = Duration::from_secs(10);
/// The smallest access window Bitvavo accepts (errorCode 303 below it).
pub const MIN_ACCESS_WINDOW: Duration = Duration::from_millis(100);
/// The largest access window Bitvavo accepts (errorCode 303 above it).
pub const MAX_ACCESS_WINDOW: Duration = Duration::from_secs(60);
/// The largest request timeout or rate-limit wait accepted: a bound, so a typo cannot make a
/// call hang for hours.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// The `operatorId` sent with every create, update, cancel and cancel-all: an int64 Vigil
/// chooses (Bitvavo suggests 1 to 9,223,372,036,854,775,807) that names this Vigil instance in
/// the exchange's audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OperatorId(i64);

impl OperatorId {
    /// An operator id; it must be at least 1.
    ///
    /// # Errors
    /// [`vigil_core::ValidationError`] naming `operator_id` when `value` is below 1.
    pub fn new(value: i64) -> Result<Self, vigil_core::ValidationError> {
        if value < 1 {
            return Err(vigil_core::ValidationError::new(
                "operator_id",
                value,
                "an integer from 1 to 9223372036854775807",
            ));
        }
        Ok(Self(value))
    }

    /// The number.
    #[must_use]
    pub const fn value(self) -> i64 {
        self.0
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Everything the clients need besides the keys and the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Scheme, host and port of the exchange, without `/v2` (the client appends it): e.g.
    /// `https://api.bitvavo.com` or `http://127.0.0.1:PORT` for the simulator. Plain `http` is
    /// accepted only for loopback addresses.
    pub base_url: String,
    /// Sent as `Bitvavo-Access-Window` on every signed request: how long after its timestamp the
    /// exchange may still carry the request out. 100 ms to 60 s, whole milliseconds.
    pub access_window: Duration,
    /// The `operatorId` (at least 1).
    pub operator_id: i64,
    /// Total time allowed for one call, from sending to the last byte of the answer.
    pub request_timeout: Duration,
    /// Time allowed to open the connection; a failure here means nothing was sent.
    pub connect_timeout: Duration,
    /// How long a call may wait for the rate-limit budget to reset before it fails with
    /// `RateLimited` (zero: never wait).
    pub rate_limit_wait_max: Duration,
}

impl ClientConfig {
    /// A configuration with Vigil's defaults: a 10 s access window, a 15 s request timeout, a
    /// 5 s connect timeout and up to 10 s of waiting for the rate-limit budget.
    #[must_use]
    pub fn new(base_url: impl Into<String>, operator_id: i64) -> Self {
        Self {
            base_url: base_url.into(),
            access_window: DEFAULT_ACCESS_WINDOW,
            operator_id,
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            rate_limit_wait_max: Duration::from_secs(10),
        }
    }

    /// Checks every field and collects every problem.
    ///
    /// # Errors
    /// [`ConfigError`] listing each problem with its field name and what was expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validated().map(|_| ())
    }

    /// The checked configuration the clients run with.
    pub(crate) fn validated(&self) -> Result<ValidatedConfig, ConfigError> {
        let mut problems = Vec::new();
        let base = match base_url(&self.base_url) {
            Ok(base) => Some(base),
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        let window_ms = self.access_window.as_millis();
        if self.access_window < MIN_ACCESS_WINDOW
            || self.access_window > MAX_ACCESS_WINDOW
            || self.access_window.subsec_nanos() % 1_000_000 != 0
        {
            problems.push(format!(
                "access_window: got {:?}, expected whole milliseconds from 100 ms to 60 s (Bitvavo refuses other values with errorCode 303)",
                self.access_window
            ));
        }
        let operator_id = match OperatorId::new(self.operator_id) {
            Ok(id) => Some(id),
            Err(e) => {
                problems.push(format!("operator_id: {e}"));
                None
            }
        };
        if self.request_timeout < Duration::from_millis(100) || self.request_timeout > MAX_TIMEOUT {
            problems.push(format!(
                "request_timeout: got {:?}, expected 100 ms to 120 s",
                self.request_timeout
            ));
        }
        if self.connect_timeout < Duration::from_millis(100)
            || self.connect_timeout > self.request_timeout
        {
            problems.push(format!(
                "connect_timeout: got {:?}, expected at least 100 ms and at most request_timeout ({:?})",
                self.connect_timeout, self.request_timeout
            ));
        }
        if self.rate_limit_wait_max > MAX_TIMEOUT {
            problems.push(format!(
                "rate_limit_wait_max: got {:?}, expected at most 120 s",
                self.rate_limit_wait_max
            ));
        }
        match (base, operator_id, u32::try_from(window_ms)) {
            (Some(base), Some(operator_id), Ok(access_window_ms)) if problems.is_empty() => {
                Ok(ValidatedConfig {
                    base,
                    access_window_ms,
                    operator_id,
                    request_timeout: self.request_timeout,
                    connect_timeout: self.connect_timeout,
                    rate_limit_wait_max: self.rate_limit_wait_max,
                })
            }
            _ => Err(ConfigError { problems }),
        }
    }
}

/// The checked configuration the clients run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidatedConfig {
    /// Scheme, host and port without a trailing slash; `/v2/...` is appended.
    pub(crate) base: String,
    pub(crate) access_window_ms: u32,
    pub(crate) operator_id: OperatorId,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) rate_limit_wait_max: Duration,
}

/// Why a configuration was refused: one entry per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Bitvavo client configuration: {}", problems.join("; "))]
pub struct ConfigError {
    /// Each problem, starting with the field name.
    pub problems: Vec<String>,
}

fn base_url(text: &str) -> Result<String, String> {
    let expected = "expected scheme, host and optional port only, such as https://api.bitvavo.com or http://127.0.0.1:8080";
    let url =
        Url::parse(text.trim()).map_err(|e| format!("base_url: got {text:?} ({e}), {expected}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("base_url: got {text:?}, {expected}"));
    }
    let Some(host) = url.host_str() else {
        return Err(format!("base_url: got {text:?} without a host, {expected}"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "base_url: contains credentials; remove them (Bitvavo authenticates with the API key headers), {expected}"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "base_url: got {text:?} with a query or fragment, {expected}"
        ));
    }
    let path = url.path().trim_end_matches('/');
    if path == "/v2" {
        return Err(format!(
            "base_url: got {text:?}; leave off /v2, the client adds it (Bitvavo signs the path from /v2)"
        ));
    }
    if !path.is_empty() {
        return Err(format!(
            "base_url: got {text:?} with the path {path:?}; the API must be served at /v2 at the root because the signature covers the path, {expected}"
        ));
    }
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(format!(
            "base_url: got {text:?}; plain http is allowed only for a loopback simulator, use https for {host}"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let v = ClientConfig::new("http://127.0.0.1:8080", 543_462)
            .validated()
            .unwrap();
        assert_eq!(v.base, "http://127.0.0.1:8080");
        assert_eq!(v.access_window_ms, 10_000);
        assert_eq!(v.operator_id.value(), 543_462);
        let prod = ClientConfig::new("https://api.bitvavo.com/", 1)
            .validated()
            .unwrap();
        assert_eq!(prod.base, "https://api.bitvavo.com");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let cfg = ClientConfig {
            base_url: "ftp://x".into(),
            access_window: Duration::from_secs(61),
            operator_id: 0,
            request_timeout: Duration::from_millis(10),
            connect_timeout: Duration::from_secs(1),
            rate_limit_wait_max: Duration::from_secs(600),
        };
        let err = cfg.validate().unwrap_err();
        let fields: Vec<&str> = err
            .problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "base_url",
                "access_window",
                "operator_id",
                "request_timeout",
                "connect_timeout",
                "rate_limit_wait_max"
            ]
        );
    }

    #[test]
    fn base_url_rules() {
        for (bad, hint) in [
            ("http://127.0.0.1:1/v2", "leave off /v2"),
            ("http://127.0.0.1:1/api", "at the root"),
            ("http://api.bitvavo.com", "use https"),
            ("https://u:p@api.bitvavo.com", "credentials"),
            ("https://api.bitvavo.com/?a=b", "query"),
            ("not a url", "expected scheme"),
        ] {
            let err = ClientConfig::new(bad, 1).validate().unwrap_err();
            assert!(err.to_string().contains(hint), "{bad}: {err}");
        }
        for good in [
            "http://localhost:9",
            "http://[::1]:9/",
            "https://api.bitvavo.com",
        ] {
            ClientConfig::new(good, 1).validate().unwrap();
        }
    }

    #[test]
    fn access_window_must_be_whole_milliseconds_in_range() {
        let mut cfg = ClientConfig::new("http://127.0.0.1:1", 1);
        cfg.access_window = Duration::from_micros(10_500);
        assert!(cfg.validate().is_err());
        cfg.access_window = Duration::from_millis(99);
        assert!(cfg.validate().is_err());
        cfg.access_window = Duration::from_millis(100);
        assert_eq!(cfg.validated().unwrap().access_window_ms, 100);
        cfg.access_window = MAX_ACCESS_WINDOW;
        assert_eq!(cfg.validated().unwrap().access_window_ms, 60_000);
    }
}
