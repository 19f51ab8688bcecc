//! Clients for the two outside services, Discord's REST API and Google
//! Gemini. Each takes its base URL from configuration, so tests and local
//! runs point them at stand-ins; waiting is passed in through [`Sleep`], and
//! requests go out through `community-fetch`, so the same code runs in a
//! worker (wasm32, the runtime's fetch) and natively (reqwest, tokio).

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

/// Why a request got no answer at all (a refused connection, a reset, a
/// body that could not be read, a time limit).
pub type TransportError = community_fetch::FetchError;

/// The User-Agent Discord asks bots to send.
pub const USER_AGENT: &str = concat!(
    "DiscordBot (https://github.com/community-os/community-os, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);
