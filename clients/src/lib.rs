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

/// The User-Agent Discord asks bots to send.
pub const USER_AGENT: &str = concat!(
    "DiscordBot (https://github.com/community-os/community-os, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);
