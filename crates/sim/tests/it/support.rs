//! Shared test plumbing: spawn a simulator on a manual clock, and a small signing client.

use std::sync::Arc;

use chrono::{DateTime, Duration};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vigil_core::{Clock, ManualClock};
use vigil_sim::{
    SimConfig, SimHandle, DEMO_TRADE_KEY, DEMO_TRADE_SECRET, DEMO_VIEW_KEY, DEMO_VIEW_SECRET,
};

/// 2025-06-02T10:00:30Z: 30 s into a minute.
pub(crate) const START_SECS: i64 = 1_748_858_430;

pub(crate) struct Sim {
    pub(crate) handle: SimHandle,
    pub(crate) clock: ManualClock,
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
}

pub(crate) fn config() -> (SimConfig, ManualClock) {
    let clock = ManualClock::new(DateTime::from_timestamp(START_SECS, 0).unwrap());
    let config = SimConfig::demo(11)
        .with_clock(Arc::new(clock.clone()))
        .with_flat_prices();
    (config, clock)
}

pub(crate) async fn spawn_with(config: SimConfig, clock: ManualClock) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = vigil_sim::spawn(listener, config, CancellationToken::new())
        .await
        .unwrap();
    let base = handle.base_url();
    Sim {
        handle,
        clock,
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap(),
        base,
    }
}

pub(crate) async fn spawn() -> Sim {
    let (config, clock) = config();
    spawn_with(config, clock).await
}

pub(crate) fn sign(secret: &str, prehash: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(prehash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// One response: status, headers, JSON body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn code(&self) -> Option<i64> {
        self.body["errorCode"].as_i64()
    }

    #[track_caller]
    pub(crate) fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        &self.body
    }

    #[track_caller]
    pub(crate) fn error(&self, code: i64, status: u16) {
        assert_eq!(self.code(), Some(code), "{}", self.body);
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert!(
            self.body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        assert_eq!(self.body.as_object().unwrap().len(), 2, "{}", self.body);
    }
}

impl Sim {
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// A raw request: `target` starts with `/v2`.
    pub(crate) async fn raw(
        &self,
        method: Method,
        target: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<Answer, reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{target}", self.base));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Signed with `key`/`secret` at the sim clock's time; `body` is sent and signed as is.
    pub(crate) async fn signed_as(
        &self,
        key: &str,
        secret: &str,
        method: Method,
        target: &str,
        body: Option<&str>,
    ) -> Answer {
        self.try_signed_as(key, secret, method, target, body)
            .await
            .unwrap()
    }

    pub(crate) async fn try_signed_as(
        &self,
        key: &str,
        secret: &str,
        method: Method,
        target: &str,
        body: Option<&str>,
    ) -> Result<Answer, reqwest::Error> {
        let ts = self.now_ms().to_string();
        let sig = sign(
            secret,
            &format!("{ts}{}{target}{}", method.as_str(), body.unwrap_or("")),
        );
        let headers = [
            ("Bitvavo-Access-Key", key.to_owned()),
            ("Bitvavo-Access-Timestamp", ts),
            ("Bitvavo-Access-Signature", sig),
            ("Bitvavo-Access-Window", "10000".to_owned()),
        ];
        self.raw(method, target, &headers, body).await
    }

    /// Signed with the demo trade key.
    pub(crate) async fn trade(&self, method: Method, target: &str, body: Option<&str>) -> Answer {
        self.signed_as(DEMO_TRADE_KEY, DEMO_TRADE_SECRET, method, target, body)
            .await
    }

    /// Signed with the demo view-only key.
    pub(crate) async fn view(&self, method: Method, target: &str, body: Option<&str>) -> Answer {
        self.signed_as(DEMO_VIEW_KEY, DEMO_VIEW_SECRET, method, target, body)
            .await
    }

    pub(crate) async fn public(&self, target: &str) -> Answer {
        self.raw(Method::GET, target, &[], None).await.unwrap()
    }

    /// Places a limit order with the trade key.
    pub(crate) async fn limit(
        &self,
        side: &str,
        amount: &str,
        price: &str,
        coid: Option<&str>,
    ) -> Answer {
        let coid = coid.map_or(String::new(), |c| format!(r#","clientOrderId":"{c}""#));
        let body = format!(
            r#"{{"market":"BTC-EUR","side":"{side}","orderType":"limit","amount":"{amount}","price":"{price}","operatorId":543462{coid}}}"#
        );
        self.trade(Method::POST, "/v2/order", Some(&body)).await
    }
}

pub(crate) const COID: &str = "2be7d0df-d8dc-7b93-a550-8876f3b393e9";
