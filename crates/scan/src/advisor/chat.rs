//! An OpenAI-compatible chat-completions client: one POST to `<base_url>/chat/completions`,
//! explicit connect and request timeouts, a bounded answer size, and an error that says
//! whether the provider may have billed the call (the budget guard settles by it).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use vigil_store::TokenUsage;

use super::config::AdvisorConfig;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatMessage {
    pub(crate) role: &'static str,
    pub(crate) content: String,
}

/// A completion as the provider returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    /// The assistant's text, if any.
    pub(crate) content: Option<String>,
    /// The model's refusal message, if it refused (OpenAI's `message.refusal`).
    pub(crate) refusal: Option<String>,
    /// Why the completion ended (`stop`, `length`, `content_filter`, …).
    pub(crate) finish_reason: Option<String>,
    /// Tokens used, when reported.
    pub(crate) usage: Option<TokenUsage>,
}

/// Why a call gave no completion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChatError {
    /// The request never reached the provider (connection refused, DNS, TLS): not billed.
    #[error("the LLM endpoint could not be reached: {0}")]
    NotSent(String),
    /// No answer in time, or the connection broke after the request was sent: the provider
    /// may have processed and billed it.
    #[error("the LLM call ended without an answer ({0}); it may have been processed")]
    NoAnswer(String),
    /// The provider answered with an error status.
    #[error("the LLM endpoint answered HTTP {status}: {detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        detail: String,
    },
    /// A success status whose body is not a completion: the call happened, its usage may be
    /// known.
    #[error("the LLM endpoint's answer is not a chat completion: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
        /// Tokens used, when the body still reported them.
        usage: Option<TokenUsage>,
    },
}

/// The client.
#[derive(Debug, Clone)]
pub(crate) struct ChatClient {
    http: reqwest::Client,
    url: String,
    api_key: SecretString,
    model: String,
    max_tokens: u32,
    json_mode: bool,
    bytes_max: usize,
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

impl ChatClient {
    pub(crate) fn new(config: &AdvisorConfig) -> Result<ChatClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ChatClient {
            http,
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            api_key: config.api_key.clone(),
            model: config.model.clone(),
            max_tokens: config.max_tokens,
            json_mode: config.json_mode,
            bytes_max: config.response_bytes_max,
        })
    }

    pub(crate) fn model(&self) -> &str {
        &self.model
    }

    pub(crate) fn max_tokens(&self) -> u32 {
        self.max_tokens
    }

    /// The request body (also what the prompt estimate measures).
    pub(crate) fn body(&self, messages: &[ChatMessage]) -> Value {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
        });
        if self.json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        body
    }

    /// Sends one chat completion request.
    pub(crate) async fn complete(&self, messages: &[ChatMessage]) -> Result<Completion, ChatError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.api_key.expose_secret())
            .json(&self.body(messages))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let status = response.status();
        let body = self.read_bounded(response).await?;
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(ChatError::Status {
                status: status.as_u16(),
                detail: snippet(&text),
            });
        }
        parse_completion(&text)
    }

    async fn read_bounded(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ChatError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > self.bytes_max {
                return Err(ChatError::Malformed {
                    detail: format!("the answer is larger than {} bytes", self.bytes_max),
                    usage: None,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Connection failures before the request left are "not sent"; anything later (timeouts,
/// broken connections, body errors) may have been processed.
fn classify(error: &reqwest::Error) -> ChatError {
    if error.is_connect() || error.is_builder() {
        ChatError::NotSent(error.to_string())
    } else {
        ChatError::NoAnswer(error.to_string())
    }
}

fn usage_of(body: &Value) -> Option<TokenUsage> {
    let usage = body.get("usage")?;
    let count = |name: &str| {
        usage
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(TokenUsage {
        prompt_tokens: count("prompt_tokens")?,
        completion_tokens: count("completion_tokens")?,
    })
}

/// Reads an OpenAI chat-completion body.
pub(crate) fn parse_completion(text: &str) -> Result<Completion, ChatError> {
    let body: Value = serde_json::from_str(text).map_err(|e| ChatError::Malformed {
        detail: format!("not JSON ({e}): {}", snippet(text)),
        usage: None,
    })?;
    let usage = usage_of(&body);
    let malformed = |detail: &str| ChatError::Malformed {
        detail: detail.to_owned(),
        usage,
    };
    let choice = body
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| malformed("no choices[0]"))?;
    let message = choice
        .get("message")
        .ok_or_else(|| malformed("no choices[0].message"))?;
    let text_field = |name: &str| -> Result<Option<String>, ChatError> {
        match message.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(malformed(&format!("choices[0].message.{name} is not text"))),
        }
    };
    Ok(Completion {
        content: text_field("content")?,
        refusal: text_field("refusal")?,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_usage_and_refusal() {
        let c = parse_completion(
            r#"{"choices":[{"message":{"role":"assistant","content":"{\"proposals\":[]}"},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#,
        )
        .unwrap();
        assert_eq!(c.content.as_deref(), Some("{\"proposals\":[]}"));
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            c.usage,
            Some(TokenUsage {
                prompt_tokens: 12,
                completion_tokens: 5
            })
        );
        let refused = parse_completion(
            r#"{"choices":[{"message":{"content":null,"refusal":"I can't help with trading."}}],
                "usage":{"prompt_tokens":3,"completion_tokens":7}}"#,
        )
        .unwrap();
        assert_eq!(
            refused.refusal.as_deref(),
            Some("I can't help with trading.")
        );
        assert_eq!(refused.content, None);
    }

    #[test]
    fn a_body_that_is_not_a_completion_keeps_its_usage() {
        let err =
            parse_completion(r#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#).unwrap_err();
        assert!(matches!(
            err,
            ChatError::Malformed {
                usage: Some(TokenUsage {
                    prompt_tokens: 3,
                    completion_tokens: 4
                }),
                ..
            }
        ));
        assert!(matches!(
            parse_completion("<html>"),
            Err(ChatError::Malformed { usage: None, .. })
        ));
    }
}
