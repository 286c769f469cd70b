//! Sending one request: budget, sign, send, read (the only place that touches the network).
//!
//! A request goes through two steps. [`Transport::prepare`] reserves its rate-limit points
//! (waiting for a reset if allowed), builds the request target, takes the timestamp from the
//! clock plus the measured offset to the exchange's clock, and signs. [`Transport::send`] sends
//! exactly the signed bytes, feeds the answer's rate-limit headers back to the budget, and reads
//! the answer ([`crate::answer`]). The budget is reserved *before* signing, so waiting for the
//! budget never eats into the access window. The executor uses the two steps separately for
//! orders: it commits the signing time with `SUBMITTING` between them (I2, I3).
//!
//! What can be said about a failure depends on how far the request got: a refused budget or a
//! failed connection means nothing left (`NotSent` / `RateLimited`); anything after the first
//! byte left is `Ambiguous` unless the exchange answered definitely.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::TimeDelta;
use reqwest::{
    header::{ACCEPT, CONTENT_TYPE},
    Url,
};
use serde_json::Value;
use vigil_core::{Clock, Timestamp};

use crate::{
    answer::{body_excerpt, read_answer, Answer, AnswerContext, RateHeaders},
    config::ValidatedConfig,
    endpoint::{Endpoint, RequestParts},
    error::{BitvavoError, RateLimitSource},
    keys::Credentials,
    rate_limit::{BudgetRefusal, Permit, RateBudget},
    signing,
};

/// The largest answer read; beyond it the answer is refused rather than held in memory.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Idle connections kept per host in each client's pool.
const POOL_IDLE_PER_HOST: usize = 8;
/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The exchange's clock minus the local clock, in milliseconds; shared by the two clients built
/// together, since they talk to the same exchange.
#[derive(Debug, Default)]
pub(crate) struct ClockOffset(AtomicI64);

impl ClockOffset {
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

/// When and for how long a request was signed: what the executor commits with `SUBMITTING`
/// and the reconciler waits out (I3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestStamp {
    /// The signed `Bitvavo-Access-Timestamp`, on the exchange's clock as estimated at signing
    /// (local clock plus the measured offset).
    pub signed_at: Timestamp,
    /// The `Bitvavo-Access-Window` sent, in milliseconds.
    pub access_window_ms: u32,
    /// The clock offset (exchange minus local, ms) applied at signing.
    pub clock_offset_ms: i64,
}

impl RequestStamp {
    /// The timestamp as sent, in milliseconds.
    #[must_use]
    pub fn timestamp_ms(&self) -> i64 {
        self.signed_at.timestamp_millis()
    }

    /// The access window.
    #[must_use]
    pub fn access_window(&self) -> Duration {
        Duration::from_millis(u64::from(self.access_window_ms))
    }

    /// The last moment (exchange clock) at which the exchange may still carry the request out.
    #[must_use]
    pub fn exchange_deadline(&self) -> Timestamp {
        self.signed_at + TimeDelta::milliseconds(i64::from(self.access_window_ms))
    }

    /// The same deadline on the local clock (what the reconciler compares its clock with).
    #[must_use]
    pub fn local_deadline(&self) -> Timestamp {
        self.exchange_deadline() - TimeDelta::milliseconds(self.clock_offset_ms)
    }
}

/// A request that is signed and holds its rate-limit points, ready to send.
#[derive(Debug)]
pub(crate) struct Prepared {
    parts: RequestParts,
    target: String,
    url: Url,
    /// Set for signed requests.
    signing: Option<(RequestStamp, String)>,
    permit: Permit,
}

impl Prepared {
    pub(crate) fn stamp(&self) -> Option<RequestStamp> {
        self.signing.as_ref().map(|(stamp, _)| *stamp)
    }
}

/// One capability's HTTP client: its key, its pool and its rate-limit budget.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    config: Arc<ValidatedConfig>,
    credentials: Credentials,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) offset: Arc<ClockOffset>,
    /// Signed requests are counted per key.
    budget: Arc<RateBudget>,
    /// Unsigned requests (`/time`) are counted per IP, shared with the other client.
    public_budget: Arc<RateBudget>,
    /// `read-only` or `trading`, for logs.
    capability: &'static str,
}

impl Transport {
    /// The key's rate-limit budget as it stands.
    pub(crate) fn rate_limit(&self) -> crate::rate_limit::RateLimitStatus {
        self.budget.status()
    }

    /// The opaque identity of the key this transport signs with (I10 checks).
    pub(crate) fn key_id(&self) -> crate::keys::KeyId {
        self.credentials.key_id()
    }

    /// A transport with its own connection pool and key budget.
    pub(crate) fn new(
        config: Arc<ValidatedConfig>,
        credentials: Credentials,
        clock: Arc<dyn Clock>,
        offset: Arc<ClockOffset>,
        public_budget: Arc<RateBudget>,
        capability: &'static str,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirect could turn a POST into something else or send it twice; never follow.
            .redirect(reqwest::redirect::Policy::none())
            // Requests go exactly where base_url says, never through an environment proxy.
            .no_proxy()
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .user_agent(concat!("vigil-bitvavo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {e}"))?;
        Ok(Self {
            http,
            budget: RateBudget::new(Arc::clone(&clock)),
            config,
            credentials,
            clock,
            offset,
            public_budget,
            capability,
        })
    }

    /// Prepares and sends `endpoint`, and reads its answer.
    pub(crate) async fn call<E: Endpoint>(
        &self,
        endpoint: &E,
    ) -> Result<E::Response, BitvavoError> {
        let prepared = self.prepare(endpoint).await?;
        let value = self.send(prepared).await?;
        endpoint.parse(&value).map_err(BitvavoError::from)
    }

    /// Reserves the budget, builds the target and signs.
    pub(crate) async fn prepare<E: Endpoint>(
        &self,
        endpoint: &E,
    ) -> Result<Prepared, BitvavoError> {
        let parts = endpoint.parts(self.config.operator_id)?;
        let budget = if parts.signed {
            &self.budget
        } else {
            &self.public_budget
        };
        let permit = budget
            .acquire(parts.weight, self.config.rate_limit_wait_max)
            .await
            .map_err(|refusal| self.budget_error(&parts, refusal))?;
        let target = parts.target();
        let url = Url::parse(&format!("{}{target}", self.config.base)).map_err(|e| {
            BitvavoError::NotSent {
                detail: format!("the request URL for {} could not be built: {e}", parts.name),
            }
        })?;
        // The signature covers the target as we wrote it; refuse to send if the URL library
        // would put anything else on the wire.
        let on_wire = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        if on_wire != target {
            return Err(BitvavoError::NotSent {
                detail: format!(
                    "the request target would be sent as {on_wire:?} but was signed as {target:?}; this is a bug in Vigil"
                ),
            });
        }
        let signing = if parts.signed {
            let offset_ms = self.offset.get();
            // Whole milliseconds, so the stamp equals exactly what is signed and sent.
            let signed_at = self
                .clock
                .now()
                .checked_add_signed(TimeDelta::milliseconds(offset_ms))
                .and_then(|t| crate::wire::plausible_time_ms(t.timestamp_millis()))
                .ok_or_else(|| BitvavoError::NotSent {
                    detail: format!(
                        "the signing time (local clock plus an offset of {offset_ms} ms) is not a plausible time; check the local clock"
                    ),
                })?;
            let stamp = RequestStamp {
                signed_at,
                access_window_ms: self.config.access_window_ms,
                clock_offset_ms: offset_ms,
            };
            let body = parts.body.as_deref().unwrap_or_default();
            let signature = signing::signature(
                self.credentials.secret_bytes(),
                stamp.timestamp_ms(),
                &parts.method,
                &target,
                body,
            )
            .map_err(|e| BitvavoError::NotSent {
                detail: e.to_string(),
            })?;
            Some((stamp, signature))
        } else {
            None
        };
        Ok(Prepared {
            parts,
            target,
            url,
            signing,
            permit,
        })
    }

    fn budget_error(&self, parts: &RequestParts, refusal: BudgetRefusal) -> BitvavoError {
        let (retry_at, detail) = match refusal {
            BudgetRefusal::Banned { until } => (
                until,
                format!("the {} key is banned by Bitvavo; {} was not sent", self.capability, parts.name),
            ),
            BudgetRefusal::Exhausted { until } => (
                until,
                format!(
                    "the rate-limit budget of the {} key is spent and resets after rate_limit_wait_max ({:?}); {} (weight {}) was not sent",
                    self.capability, self.config.rate_limit_wait_max, parts.name, parts.weight
                ),
            ),
            BudgetRefusal::TooHeavy { weight, limit } => (
                self.clock.now() + TimeDelta::minutes(1),
                format!(
                    "{} weighs {weight} points but the key's whole budget is {limit} per minute; it can never be sent",
                    parts.name
                ),
            ),
        };
        BitvavoError::RateLimited {
            retry_at,
            by: RateLimitSource::OwnBudget,
            detail,
        }
    }

    /// Sends a prepared request and reads the answer.
    pub(crate) async fn send(&self, prepared: Prepared) -> Result<Value, BitvavoError> {
        let Prepared {
            parts,
            target,
            url,
            signing,
            permit,
        } = prepared;
        let mut request = self
            .http
            .request(parts.method.clone(), url)
            .header(ACCEPT, "application/json")
            .header(
                "Bitvavo-Access-Window",
                self.config.access_window_ms.to_string(),
            );
        if let Some((stamp, signature)) = &signing {
            request = request
                .header("Bitvavo-Access-Key", self.credentials.key())
                .header("Bitvavo-Access-Timestamp", stamp.timestamp_ms().to_string())
                .header("Bitvavo-Access-Signature", signature.as_str());
        }
        if let Some(body) = parts.body.clone() {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let stamp = signing.as_ref().map(|(s, _)| *s);
        tracing::debug!(
            capability = self.capability,
            endpoint = parts.name,
            %target,
            weight = parts.weight,
            timestamp_ms = stamp.map(|s| s.timestamp_ms()),
            access_window_ms = stamp.map(|s| s.access_window_ms),
            "sending Bitvavo request"
        );
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                // No answer: keep the points spent (the request may have been counted).
                drop(permit);
                let error = self.transport_error(&parts, &e);
                tracing::warn!(endpoint = parts.name, %target, error = %error, "Bitvavo request failed");
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        let rate = RateHeaders::read(response.headers());
        let body = read_body(response).await;
        let offset_ms = self.offset.get();
        permit.complete(rate.observation(offset_ms));
        let body = match body {
            Ok(body) => body,
            Err(detail) => {
                return Err(BitvavoError::Ambiguous {
                    detail: format!(
                    "{} was answered with HTTP {status} but the answer could not be read: {detail}",
                    parts.name
                ),
                })
            }
        };
        let ctx = AnswerContext {
            name: parts.name,
            mutates: parts.mutates,
            creates_order: parts.creates_order,
            now: self.clock.now(),
            offset_ms,
        };
        match read_answer(status, &body, &rate, &ctx) {
            Answer::Success(value) => {
                tracing::debug!(endpoint = parts.name, status, "Bitvavo answered");
                Ok(value)
            }
            Answer::Failure { error, ban_until } => {
                if let Some(until) = ban_until {
                    let budget = if parts.signed {
                        &self.budget
                    } else {
                        &self.public_budget
                    };
                    budget.ban(until);
                }
                tracing::warn!(
                    endpoint = parts.name,
                    %target,
                    status,
                    body = %body_excerpt(&body),
                    error = %error,
                    "Bitvavo request not carried out or outcome unknown"
                );
                Err(error)
            }
        }
    }

    fn transport_error(&self, parts: &RequestParts, e: &reqwest::Error) -> BitvavoError {
        let cause = error_chain(e);
        if e.is_connect() || e.is_builder() {
            // The connection was never established, so no byte of the request left.
            BitvavoError::NotSent {
                detail: format!(
                    "could not connect to {} for {} ({cause}); check base_url and that the exchange is reachable",
                    self.config.base, parts.name
                ),
            }
        } else if e.is_timeout() {
            BitvavoError::Ambiguous {
                detail: format!(
                    "{} got no complete answer within request_timeout ({:?})",
                    parts.name, self.config.request_timeout
                ),
            }
        } else {
            BitvavoError::Ambiguous {
                detail: format!(
                    "the connection failed after {} was sent ({cause})",
                    parts.name
                ),
            }
        }
    }
}

/// An error and its causes, joined (reqwest's own message hides the interesting part).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    let mut depth = 0;
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    text
}

/// Reads the body, refusing answers larger than [`MAX_ANSWER_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(format!(
                        "the answer is larger than {MAX_ANSWER_BYTES} bytes"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(error_chain(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[test]
    fn stamp_deadlines_on_both_clocks() {
        let stamp = RequestStamp {
            signed_at: DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
            access_window_ms: 10_000,
            clock_offset_ms: 2_500,
        };
        assert_eq!(
            stamp.exchange_deadline().timestamp_millis(),
            1_700_000_010_000
        );
        assert_eq!(stamp.local_deadline().timestamp_millis(), 1_700_000_007_500);
        assert_eq!(stamp.access_window(), Duration::from_secs(10));
    }
}
