//! The advisor's settings: the OpenAI-compatible endpoint, the model, its key, the price table
//! and every bound, validated in one pass that reports every problem.

use std::{collections::BTreeMap, time::Duration};

use rust_decimal::Decimal;
use secrecy::SecretString;
use vigil_core::ValidationError;
use vigil_store::TokenUsage;

/// What a model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    /// USD per 1M prompt (input) tokens.
    pub prompt_usd_per_million: Decimal,
    /// USD per 1M completion (output) tokens.
    pub completion_usd_per_million: Decimal,
}

impl ModelPrice {
    /// What `usage` costs at this price, in USD.
    #[must_use]
    pub fn cost(&self, usage: TokenUsage) -> Decimal {
        let million = Decimal::from(1_000_000);
        (Decimal::from(usage.prompt_tokens) * self.prompt_usd_per_million
            + Decimal::from(usage.completion_tokens) * self.completion_usd_per_million)
            / million
    }
}

/// Prices per model name. A model without a price is never called: its worst case could not
/// be reserved (I8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> PriceTable {
        PriceTable::default()
    }

    /// The table with `model` priced at `price`.
    #[must_use]
    pub fn with(mut self, model: impl Into<String>, price: ModelPrice) -> PriceTable {
        self.models.insert(model.into(), price);
        self
    }

    /// The price of `model`, if the table has one.
    #[must_use]
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        self.models.get(model)
    }

    /// Every priced model.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(m, p)| (m.as_str(), p))
    }
}

/// How the advisor calls its LLM.
#[derive(Debug, Clone)]
pub struct AdvisorConfig {
    /// The API's base URL, up to and including the version (`https://api.openai.com/v1`); the
    /// client posts to `<base_url>/chat/completions`.
    pub base_url: String,
    /// The model to ask (must be in `prices`).
    pub model: String,
    /// The API key, sent as a bearer token; never logged.
    pub api_key: SecretString,
    /// The most completion tokens per call (`max_tokens`); the completion part of the reserved
    /// worst case.
    pub max_tokens: u32,
    /// The whole request's timeout.
    pub request_timeout: Duration,
    /// The connection timeout.
    pub connect_timeout: Duration,
    /// The largest answer read, in bytes.
    pub response_bytes_max: usize,
    /// Whether to ask for a JSON object answer (`response_format: {"type": "json_object"}`);
    /// turn off for servers that do not support it (the answer is parsed strictly either way).
    pub json_mode: bool,
    /// Prices per model.
    pub prices: PriceTable,
}

impl AdvisorConfig {
    /// A configuration with the careful defaults: 800 completion tokens, a 60 s request
    /// timeout, a 10 s connect timeout, answers up to 256 KiB, JSON mode on.
    #[must_use]
    pub fn new(
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: SecretString,
        prices: PriceTable,
    ) -> AdvisorConfig {
        AdvisorConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key,
            max_tokens: 800,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            response_bytes_max: 256 * 1024,
            json_mode: true,
            prices,
        }
    }

    /// Checks the settings and returns every problem, each naming its field.
    ///
    /// # Errors
    /// All problems found.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(&self.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => problems.push(ValidationError::new(
                "advisor.base_url",
                &self.base_url,
                "an http(s) URL such as https://api.openai.com/v1",
            )),
        }
        if self.model.trim().is_empty() || self.model.len() > 128 {
            problems.push(ValidationError::new(
                "advisor.model",
                &self.model,
                "a model name of 1 to 128 characters",
            ));
        } else if self.prices.price(&self.model).is_none() {
            problems.push(ValidationError::new(
                "advisor.model",
                &self.model,
                "a model with a price in advisor.prices (its worst-case cost must be reserved before each call)",
            ));
        }
        if !(1..=32_768).contains(&self.max_tokens) {
            problems.push(ValidationError::new(
                "advisor.max_tokens",
                self.max_tokens,
                "1 to 32768 completion tokens",
            ));
        }
        let seconds = |d: Duration| d.as_secs();
        if self.request_timeout.is_zero() || self.request_timeout > Duration::from_secs(600) {
            problems.push(ValidationError::new(
                "advisor.request_timeout_seconds",
                seconds(self.request_timeout),
                "1 to 600 seconds",
            ));
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > self.request_timeout {
            problems.push(ValidationError::new(
                "advisor.connect_timeout_seconds",
                seconds(self.connect_timeout),
                "more than 0 and at most the request timeout",
            ));
        }
        if !(1_024..=16 * 1024 * 1024).contains(&self.response_bytes_max) {
            problems.push(ValidationError::new(
                "advisor.response_bytes_max",
                self.response_bytes_max,
                "1 KiB to 16 MiB",
            ));
        }
        for (model, price) in self.prices.models() {
            for (name, value) in [
                ("prompt_usd_per_million", price.prompt_usd_per_million),
                (
                    "completion_usd_per_million",
                    price.completion_usd_per_million,
                ),
            ] {
                if value.is_sign_negative() && !value.is_zero() {
                    problems.push(ValidationError::new(
                        format!("advisor.prices.{model}.{name}"),
                        value,
                        "a price of zero or more (USD per 1M tokens)",
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn price(prompt: &str, completion: &str) -> ModelPrice {
        ModelPrice {
            prompt_usd_per_million: Decimal::from_str(prompt).unwrap(),
            completion_usd_per_million: Decimal::from_str(completion).unwrap(),
        }
    }

    #[test]
    fn cost_is_exact_per_million_tokens() {
        let p = price("0.15", "0.60");
        let usage = TokenUsage {
            prompt_tokens: 1_000,
            completion_tokens: 500,
        };
        // 1000 × 0.15 / 1e6 + 500 × 0.60 / 1e6 = 0.00015 + 0.0003
        assert_eq!(p.cost(usage), Decimal::from_str("0.00045").unwrap());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut config = AdvisorConfig::new(
            "ftp://x",
            "unpriced",
            SecretString::from("k".to_owned()),
            PriceTable::new().with("m", price("-1", "1")),
        );
        config.max_tokens = 0;
        config.connect_timeout = Duration::ZERO;
        let fields: Vec<_> = config
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            [
                "advisor.base_url",
                "advisor.model",
                "advisor.max_tokens",
                "advisor.connect_timeout_seconds",
                "advisor.prices.m.prompt_usd_per_million"
            ]
        );
        let ok = AdvisorConfig::new(
            "http://127.0.0.1:9/v1",
            "m",
            SecretString::from("k".to_owned()),
            PriceTable::new().with("m", price("0.15", "0.6")),
        );
        ok.validate().unwrap();
    }
}
