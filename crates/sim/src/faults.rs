//! Fault injection: a [`FaultPlan`] of rules, each aimed at one endpoint (method + path).
//!
//! A rule fires on a matching request after `skip` matching requests have passed, at most
//! `times` times (unlimited when absent), and, when `probability` is set, only with that chance,
//! drawn from an RNG seeded from the simulator's seed, so a run replays exactly from its seed.
//! [`FaultPlan::generate`] builds a whole plan from a seed for swarm-style tests.
//!
//! Kinds, in the order a request meets them:
//! - `latency` and `clock_skew` modify the request and combine with each other and with one
//!   outcome;
//! - `drop_request` closes the connection before anything is done (nothing is placed);
//! - `error` answers an error code and HTTP status without doing anything;
//! - `accept_then_drop`, `accept_then_error` and `delay_response` let the request be carried
//!   out (an order IS placed) and then drop the connection, answer an error, or answer late.
//!
//! At most one outcome fires per request: the first eligible outcome rule in plan order.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a rule does to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Wait this long before handling the request.
    Latency {
        /// Milliseconds (real time) to wait.
        ms: u64,
    },
    /// Answer this error without doing anything (e.g. 101/500, 109/503, 304/403, 110/429).
    Error {
        /// Bitvavo `errorCode`.
        error_code: u16,
        /// HTTP status.
        http_status: u16,
        /// The `error` text; a code-specific default when absent (for 105 it ends with
        /// `The ban expires at <ms>.`).
        #[serde(default)]
        message: Option<String>,
    },
    /// Carry the request out (the order IS placed), then close the connection without answering.
    AcceptThenDrop,
    /// Carry the request out, then answer this error instead of the result.
    AcceptThenError {
        /// Bitvavo `errorCode` (usually 101).
        error_code: u16,
        /// HTTP status (usually 500).
        http_status: u16,
    },
    /// Close the connection without carrying the request out (nothing is placed).
    DropRequest,
    /// Carry the request out (the order IS placed), then answer HTTP 200 with ANOTHER order: the
    /// newest order accepted before it, or, when there is none, this order under a fresh
    /// `orderId` and `clientOrderId`. A hostile or broken exchange: the client must not take it
    /// for its own order.
    AcceptThenAnswerAnother,
    /// Carry the request out, then wait this long before answering (to exceed a client timeout).
    DelayResponse {
        /// Milliseconds (real time) to wait before the answer is sent.
        ms: u64,
    },
    /// Shift the server's clock by this offset for the request (`/time` and the access-window
    /// check see it).
    ClockSkew {
        /// Milliseconds added to the sim clock (negative: behind).
        offset_ms: i64,
    },
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// `"POST /v2/order"`, `"* /v2/order"` (any method), `"GET /v2/{market}/candles"` (route
    /// templates as the request counter names them), or `"*"` (every API request).
    pub endpoint: String,
    /// What happens.
    pub kind: FaultKind,
    /// Let this many matching requests through before the rule may fire.
    #[serde(default)]
    pub skip: u32,
    /// Fire at most this many times; unlimited when absent.
    #[serde(default)]
    pub times: Option<u32>,
    /// Fire with this chance (`"0.25"`), drawn from the seeded RNG; always when absent.
    #[serde(default)]
    pub probability: Option<Decimal>,
}

impl FaultRule {
    /// A rule that fires on every matching request.
    #[must_use]
    pub fn new(endpoint: &str, kind: FaultKind) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            kind,
            skip: 0,
            times: None,
            probability: None,
        }
    }

    /// Fires at most `times` times.
    #[must_use]
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// Lets `skip` matching requests through first.
    #[must_use]
    pub fn skip(mut self, skip: u32) -> Self {
        self.skip = skip;
        self
    }

    /// Fires with this chance.
    #[must_use]
    pub fn probability(mut self, p: Decimal) -> Self {
        self.probability = Some(p);
        self
    }

    /// Whether the rule aims at `endpoint` (`"METHOD /v2/template"`).
    fn matches(&self, endpoint: &str) -> bool {
        let rule = self.endpoint.trim();
        if rule == "*" || rule == endpoint {
            return true;
        }
        match (rule.split_once(' '), endpoint.split_once(' ')) {
            (Some(("*", path)), Some((_, wanted))) => path == wanted,
            _ => false,
        }
    }
}

/// The faults in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// The rules, in priority order.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// No faults.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// A plan with one rule.
    #[must_use]
    pub fn single(rule: FaultRule) -> Self {
        Self { rules: vec![rule] }
    }

    /// Adds a rule.
    #[must_use]
    pub fn with(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// A plan of `count` rules drawn from `endpoints` and `kinds` by an RNG seeded with `seed`:
    /// each rule skips 0 to 3 matching requests and fires 1 or 2 times. The same arguments
    /// always give the same plan, so a failing run replays from its seed.
    #[must_use]
    pub fn generate(seed: u64, endpoints: &[&str], kinds: &[FaultKind], count: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rules = Vec::new();
        if endpoints.is_empty() || kinds.is_empty() {
            return Self { rules };
        }
        for _ in 0..count {
            let endpoint = endpoints[rng.gen_range(0..endpoints.len())];
            let kind = kinds[rng.gen_range(0..kinds.len())].clone();
            rules.push(FaultRule {
                endpoint: endpoint.to_owned(),
                kind,
                skip: rng.gen_range(0..4),
                times: Some(rng.gen_range(1..=2)),
                probability: None,
            });
        }
        Self { rules }
    }

    /// Checks every rule; returns one message per problem, naming the rule.
    ///
    /// # Errors
    /// The list of problems.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("sim.faults.rules[{i}]");
            if rule.endpoint.trim().is_empty() {
                problems.push(format!(
                    "{at}.endpoint: must not be empty (use \"*\" for all)"
                ));
            }
            if let Some(p) = rule.probability {
                if p < Decimal::ZERO || p > Decimal::ONE {
                    problems.push(format!("{at}.probability: {p} must be in 0..=1"));
                }
            }
            match &rule.kind {
                FaultKind::Error { http_status, .. }
                | FaultKind::AcceptThenError { http_status, .. }
                    if !(100..=599).contains(http_status) =>
                {
                    problems.push(format!(
                        "{at}.kind.http_status: {http_status} is not an HTTP status"
                    ));
                }
                FaultKind::Latency { ms } | FaultKind::DelayResponse { ms } if *ms > 600_000 => {
                    problems.push(format!("{at}.kind.ms: {ms} is above the 600000 ms limit"));
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// An injected error to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InjectedError {
    pub(crate) code: u16,
    pub(crate) status: u16,
    pub(crate) message: Option<String>,
}

/// What happens before the request is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Before {
    Drop,
    Error(InjectedError),
}

/// What happens after the request was carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum After {
    Drop,
    Error(InjectedError),
    Delay(u64),
    AnswerAnother,
}

/// The faults that fired for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FaultDecision {
    pub(crate) latency_ms: u64,
    pub(crate) skew_ms: i64,
    pub(crate) before: Option<Before>,
    pub(crate) after: Option<After>,
}

/// A plan with its counters and RNG.
#[derive(Debug)]
pub(crate) struct FaultState {
    plan: FaultPlan,
    seen: Vec<u32>,
    fired: Vec<u32>,
    rng: ChaCha8Rng,
}

impl FaultState {
    pub(crate) fn new(plan: FaultPlan, seed: u64) -> Self {
        let n = plan.rules.len();
        Self {
            plan,
            seen: vec![0; n],
            fired: vec![0; n],
            // A distinct stream from the price paths', so adding a fault never moves prices.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xFA17_FA17_FA17_FA17),
        }
    }

    pub(crate) fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Which rules fire for a request to `endpoint`; updates the counters.
    pub(crate) fn decide(&mut self, endpoint: &str) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if !rule.matches(endpoint) {
                continue;
            }
            self.seen[i] = self.seen[i].saturating_add(1);
            if self.seen[i] <= rule.skip || rule.times.is_some_and(|t| self.fired[i] >= t) {
                continue;
            }
            let is_outcome = !matches!(
                rule.kind,
                FaultKind::Latency { .. } | FaultKind::ClockSkew { .. }
            );
            if is_outcome && (decision.before.is_some() || decision.after.is_some()) {
                continue;
            }
            if let Some(p) = rule.probability {
                // Compare in millionths so no float arithmetic is needed.
                let threshold = (p * Decimal::from(1_000_000)).trunc();
                let draw = Decimal::from(self.rng.gen_range(0..1_000_000u32));
                if draw >= threshold {
                    continue;
                }
            }
            self.fired[i] = self.fired[i].saturating_add(1);
            match &rule.kind {
                FaultKind::Latency { ms } => {
                    decision.latency_ms = decision.latency_ms.saturating_add(*ms)
                }
                FaultKind::ClockSkew { offset_ms } => {
                    decision.skew_ms = decision.skew_ms.saturating_add(*offset_ms);
                }
                FaultKind::DropRequest => decision.before = Some(Before::Drop),
                FaultKind::Error {
                    error_code,
                    http_status,
                    message,
                } => {
                    decision.before = Some(Before::Error(InjectedError {
                        code: *error_code,
                        status: *http_status,
                        message: message.clone(),
                    }));
                }
                FaultKind::AcceptThenDrop => decision.after = Some(After::Drop),
                FaultKind::AcceptThenError {
                    error_code,
                    http_status,
                } => {
                    decision.after = Some(After::Error(InjectedError {
                        code: *error_code,
                        status: *http_status,
                        message: None,
                    }));
                }
                FaultKind::DelayResponse { ms } => decision.after = Some(After::Delay(*ms)),
                FaultKind::AcceptThenAnswerAnother => decision.after = Some(After::AnswerAnother),
            }
        }
        decision
    }
}

/// The default text of an injected error code.
pub(crate) fn default_message(code: u16, now_ms: i64) -> String {
    match code {
        101 => "Unknown error. Operation may or may not have succeeded.".into(),
        105 => format!(
            "Your IP or API key has been banned for not respecting the rate limit. The ban expires at {}.",
            now_ms + 60_000
        ),
        107 => "The matching engine is overloaded. Please wait 500ms and resubmit your order.".into(),
        108 => "The matching engine could not process your order in time. Please consider increasing the access window or resubmit your order.".into(),
        109 => "The matching engine did not respond in time. Operation may or may not have succeeded.".into(),
        110 => "Rate limit exceeded. Please wait until the rate limit resets.".into(),
        304 => "Request was not received within acceptance window.".into(),
        _ => format!("Injected fault (errorCode {code})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_error() -> FaultKind {
        FaultKind::Error {
            error_code: 101,
            http_status: 500,
            message: None,
        }
    }

    #[test]
    fn skip_and_times_bound_a_rule() {
        let plan = FaultPlan::single(
            FaultRule::new("POST /v2/order", order_error())
                .skip(1)
                .times(2),
        );
        let mut s = FaultState::new(plan, 1);
        let fired: Vec<bool> = (0..5)
            .map(|_| s.decide("POST /v2/order").before.is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false, false]);
        assert!(s.decide("GET /v2/order").before.is_none());
    }

    #[test]
    fn wildcards_match() {
        let r = FaultRule::new("* /v2/order", FaultKind::DropRequest);
        assert!(r.matches("DELETE /v2/order"));
        assert!(!r.matches("DELETE /v2/orders"));
        assert!(FaultRule::new("*", FaultKind::DropRequest).matches("GET /v2/time"));
    }

    #[test]
    fn one_outcome_but_modifiers_combine() {
        let plan = FaultPlan::default()
            .with(FaultRule::new("*", FaultKind::Latency { ms: 5 }))
            .with(FaultRule::new("*", FaultKind::AcceptThenDrop))
            .with(FaultRule::new("*", FaultKind::DropRequest))
            .with(FaultRule::new("*", FaultKind::ClockSkew { offset_ms: -7 }));
        let mut s = FaultState::new(plan, 1);
        let d = s.decide("GET /v2/time");
        assert_eq!(d.latency_ms, 5);
        assert_eq!(d.skew_ms, -7);
        assert_eq!(d.after, Some(After::Drop));
        assert_eq!(d.before, None);
    }

    #[test]
    fn probabilistic_rules_replay_from_the_seed() {
        let plan = FaultPlan::single(
            FaultRule::new("*", FaultKind::DropRequest).probability(Decimal::new(3, 1)),
        );
        let run = |seed| {
            let mut s = FaultState::new(plan.clone(), seed);
            (0..200)
                .map(|_| s.decide("GET /v2/time").before.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).iter().filter(|h| **h).count();
        assert!((30..=90).contains(&hits), "{hits} of 200 at p=0.3");
    }

    #[test]
    fn generate_is_deterministic() {
        let kinds = [
            FaultKind::DropRequest,
            FaultKind::AcceptThenDrop,
            order_error(),
        ];
        let a = FaultPlan::generate(42, &["POST /v2/order", "GET /v2/order"], &kinds, 5);
        let b = FaultPlan::generate(42, &["POST /v2/order", "GET /v2/order"], &kinds, 5);
        assert_eq!(a, b);
        assert_eq!(a.rules.len(), 5);
        assert!(a.validate().is_ok());
    }

    #[test]
    fn plan_round_trips_through_toml_and_json() {
        let plan = FaultPlan::default()
            .with(FaultRule::new("POST /v2/order", FaultKind::AcceptThenDrop).times(1))
            .with(FaultRule::new("*", order_error()));
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<FaultPlan>(&json).unwrap(), plan);
        let toml_text = toml::to_string(&plan).unwrap();
        assert_eq!(toml::from_str::<FaultPlan>(&toml_text).unwrap(), plan);
    }
}
