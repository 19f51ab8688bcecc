//! The relay's configuration, from the process environment.

use community_core::config::{ConfigError, Reader, Secret};
use std::path::PathBuf;

/// Discord's gateway; the relay normally learns the URL from `GET /gateway/bot`,
/// but a fixed default keeps start-up free of HTTP calls.
pub(crate) const DEFAULT_GATEWAY_URL: &str = "wss://gateway.discord.gg";

#[derive(Debug)]
#[allow(dead_code)] // token and secret are used by the forwarding loop (issue 4)
pub(crate) struct Config {
    pub(crate) bot_token: Secret,
    pub(crate) gateway_url: String,
    pub(crate) scoring_endpoint_url: String,
    pub(crate) shared_secret: Secret,
    pub(crate) state_dir: PathBuf,
    pub(crate) batch_size: usize,
    pub(crate) batch_interval_ms: u64,
}

impl Config {
    pub(crate) fn from_process_env() -> Result<Self, ConfigError> {
        Self::read(&|name| std::env::var(name).ok())
    }

    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut read = Reader::new(lookup);
        let config = Self {
            bot_token: read.secret("DISCORD_BOT_TOKEN", 1),
            scoring_endpoint_url: read.url("SCORING_ENDPOINT_URL", None),
            shared_secret: read.secret("RELAY_SHARED_SECRET", 32),
            state_dir: PathBuf::from(read.required("RELAY_STATE_DIR")),
            batch_size: read.parse_or("RELAY_BATCH_SIZE", 500),
            batch_interval_ms: read.parse_or("RELAY_BATCH_INTERVAL_MS", 250),
            gateway_url: read.url_with_schemes(
                "DISCORD_GATEWAY_URL",
                Some(DEFAULT_GATEWAY_URL),
                &["ws", "wss"],
            ),
        };
        read.finish().map(|()| config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_named() {
        let err = Config::read(&|_| None).expect_err("nothing set");
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "DISCORD_BOT_TOKEN",
                "SCORING_ENDPOINT_URL",
                "RELAY_SHARED_SECRET",
                "RELAY_STATE_DIR"
            ]
        );
    }

    #[test]
    fn a_malformed_batch_size_is_named() {
        let lookup = |name: &str| match name {
            "RELAY_BATCH_SIZE" => Some("lots".to_owned()),
            _ => Some("x".repeat(40)),
        };
        let err = Config::read(&lookup).expect_err("bad values");
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"RELAY_BATCH_SIZE"), "{names:?}");
    }
}
