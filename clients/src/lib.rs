//! Clients for the two outside services, Discord's REST API and Google
//! Gemini. Each takes its base URL from configuration, so tests and local
//! runs point them at stand-ins; time is passed in through [`Sleep`], so the
//! same code runs in a worker (wasm32, fetch) and natively (tokio).

pub mod discord;
pub mod gemini;

use std::future::Future;
use std::time::Duration;

pub use discord::{DiscordClient, DiscordError, DiscordFailure};
pub use gemini::{GeminiClient, GeminiError};

/// Waiting, as the platform provides it (`worker::Delay`, `tokio::time::sleep`).
pub trait Sleep {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

/// `future`, or `None` when `limit` passes first.
pub async fn with_timeout<S: Sleep, F: Future>(
    sleep: &S,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    let future = std::pin::pin!(future);
    let timer = std::pin::pin!(sleep.sleep(limit));
    match select(future, timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

/// The HTTP client both clients use. Natively, reqwest is built without a
/// TLS crypto provider of its own (the relay and xtask enable
/// `rustls-no-provider`, and features unify across the workspace), so the
/// process-wide default is set to ring — the one twilight's gateway uses —
/// unless something set one already. In a worker, fetch does TLS.
pub(crate) fn http_client() -> reqwest::Client {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::new()
}

/// Why a request got no answer at all (a refused connection, a reset, a
/// body that could not be read).
pub type TransportError = Box<dyn std::error::Error + Send + Sync>;

/// A whole response, as both clients read it.
pub(crate) struct Exchange {
    pub status: u16,
    /// The `Retry-After` header, seconds, when present and numeric.
    pub retry_after: Option<f64>,
    pub body: Vec<u8>,
}

/// Sends a request built with reqwest. Natively with reqwest's client; in a
/// worker with the runtime's own fetch (see `community-fetch` for why).
pub(crate) async fn exchange(request: reqwest::RequestBuilder) -> Result<Exchange, TransportError> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let body = response.bytes().await?.to_vec();
        Ok(Exchange {
            status,
            retry_after,
            body,
        })
    }
    #[cfg(target_arch = "wasm32")]
    {
        let request = request.build()?;
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        let body = request.body().and_then(|body| body.as_bytes());
        let answer = community_fetch::send(
            request.method().as_str(),
            request.url().as_str(),
            headers,
            body,
        )
        .await?;
        Ok(Exchange {
            status: answer.status,
            retry_after: answer
                .header("retry-after")
                .and_then(|v| v.parse::<f64>().ok()),
            body: answer.body,
        })
    }
}

/// The User-Agent Discord asks bots to send.
pub const USER_AGENT: &str = concat!(
    "DiscordBot (https://github.com/community-os/community-os, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);
