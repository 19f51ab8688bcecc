//! Google Gemini's `generateContent`. The request body and the reading of
//! the answer belong to the audit policy in `community-core`; this is the
//! HTTP call, its time limit and its failures.

use std::time::Duration;

use community_core::config::Secret;
use serde_json::Value;

use community_fetch::{Client, FetchError, Request};

/// How long an audit may wait for Gemini before the user is told it failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// A Gemini client for one model.
pub struct GeminiClient {
    http: Client,
    base: String,
    api_key: Secret,
    model: String,
    timeout: Duration,
}

impl std::fmt::Debug for GeminiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiClient")
            .field("base", &self.base)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// What went wrong calling Gemini.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeminiError {
    #[error("Gemini unreachable")]
    Unreachable(#[source] crate::TransportError),
    #[error("Gemini did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Gemini rate limited the request (HTTP 429): {0}")]
    RateLimited(String),
    #[error("Gemini failed (HTTP {status}): {message}")]
    Unavailable { status: u16, message: String },
    #[error("Gemini refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
}

impl GeminiError {
    /// A short name for the ledger's `error_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::RateLimited(_) => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Rejected { .. } => "rejected",
        }
    }
}

impl GeminiClient {
    /// `base` is the API root, e.g. `https://generativelanguage.googleapis.com/v1beta`.
    pub fn new(base: &str, api_key: Secret, model: &str) -> Self {
        Self {
            http: Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            model: model.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// POST `body` (JSON) to `models/{model}:generateContent`; the raw 200
    /// body.
    pub async fn generate_content(&self, body: Vec<u8>) -> Result<Vec<u8>, GeminiError> {
        let request = Request::new(
            "POST",
            format!("{}/models/{}:generateContent", self.base, self.model),
        )
        .header("content-type", "application/json")
        .header("x-goog-api-key", self.api_key.expose())
        .timeout(self.timeout)
        .body(body);
        let answer = match self.http.send(&request).await {
            Ok(answer) => answer,
            Err(FetchError::Timeout(limit)) => return Err(GeminiError::Timeout(limit)),
            Err(err) => return Err(GeminiError::Unreachable(err)),
        };
        let (status, bytes) = (answer.status, answer.body);
        match status {
            200..=299 => Ok(bytes),
            429 => Err(GeminiError::RateLimited(error_message(&bytes))),
            500..=599 => Err(GeminiError::Unavailable {
                status,
                message: error_message(&bytes),
            }),
            _ => Err(GeminiError::Rejected {
                status,
                message: error_message(&bytes),
            }),
        }
    }
}

/// `error.message` of Gemini's error body, or the start of whatever came.
fn error_message(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_error_bodies_give_their_message() {
        let body = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(error_message(body), "Resource has been exhausted");
        assert_eq!(
            error_message(b"upstream connect error"),
            "upstream connect error"
        );
    }
}
