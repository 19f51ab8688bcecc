//! The relay's configuration, from the process environment.

use community_core::config::{ConfigError, Reader, Secret};
use community_core::relay::MAX_BATCH_EVENTS;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Discord's gateway; the relay normally learns the URL from `GET /gateway/bot`,
/// but a fixed default keeps start-up free of HTTP calls.
pub const DEFAULT_GATEWAY_URL: &str = "wss://gateway.discord.gg";

/// How gateway dispatches become relay events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parser {
    /// Reads only the fields scoring needs from the raw JSON.
    Fast,
    /// Deserializes twilight-model's full event types, then converts them
    /// with the core's constructors (slower; kept as a fallback and as the
    /// benchmark's reference).
    Typed,
}

impl FromStr for Parser {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "fast" => Ok(Self::Fast),
            "typed" => Ok(Self::Typed),
            _ => Err(()),
        }
    }
}

/// Log lines as text (default) or one JSON object per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(()),
        }
    }
}

/// A number within `MIN..=MAX`; anything else is reported as not valid.
#[derive(Clone, Copy, Debug)]
struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> FromStr for Bounded<MIN, MAX> {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let value: u64 = s.parse().map_err(|_| ())?;
        (MIN..=MAX)
            .contains(&value)
            .then_some(Self(value))
            .ok_or(())
    }
}

/// A boolean written `true`/`false`/`1`/`0`.
#[derive(Clone, Copy, Debug)]
struct Flag(bool);

impl FromStr for Flag {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "true" | "1" | "yes" => Ok(Self(true)),
            "false" | "0" | "no" => Ok(Self(false)),
            _ => Err(()),
        }
    }
}

const MAX_BATCH: u64 = MAX_BATCH_EVENTS as u64;
const HOUR_MS: u64 = 3_600_000;

#[derive(Clone, Debug)]
pub struct Config {
    pub bot_token: Secret,
    pub gateway_url: String,
    pub scoring_endpoint_url: String,
    pub shared_secret: Secret,
    pub state_dir: PathBuf,
    /// A batch leaves when it holds this many events...
    pub batch_size: usize,
    /// ...or when its first event is this old, whichever comes first.
    pub batch_interval: Duration,
    /// Shards run by this process (ids `0..shards`, all of the bot's).
    pub shards: u32,
    /// How often a status report reaches the endpoint, events or not.
    pub status_interval: Duration,
    /// Sealed batches kept in memory before new ones go straight to the spool.
    pub memory_batches: usize,
    pub request_timeout: Duration,
    /// First and largest retry delay when the endpoint fails.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How often the session state is written when it has moved.
    pub state_interval: Duration,
    pub parser: Parser,
    pub log_format: LogFormat,
    /// Names this relay in status reports.
    pub instance: String,
    /// Skips Discord's 5 s spacing between IDENTIFYs; only for a local fake
    /// gateway.
    pub identify_unthrottled: bool,
    /// Tokio worker threads. One keeps up with ~230k events/s on this kind
    /// of machine (measured: faster than two, which trade CPU for wakeups);
    /// more only help with many busy shards.
    pub worker_threads: usize,
}

impl Config {
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads every variable through `lookup` (the environment, or a test's
    /// map) and names every missing or malformed one.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut read = Reader::new(lookup);
        let ms = |value: u64| Duration::from_millis(value);
        let config = Self {
            bot_token: read.secret("DISCORD_BOT_TOKEN", 1),
            scoring_endpoint_url: read.url("SCORING_ENDPOINT_URL", None),
            shared_secret: read.secret("RELAY_SHARED_SECRET", 32),
            state_dir: PathBuf::from(read.required("RELAY_STATE_DIR")),
            batch_size: usize::try_from(
                read.parse_or("RELAY_BATCH_SIZE", Bounded::<1, MAX_BATCH>(500))
                    .0,
            )
            .unwrap_or(MAX_BATCH_EVENTS),
            batch_interval: ms(read
                .parse_or("RELAY_BATCH_INTERVAL_MS", Bounded::<1, HOUR_MS>(250))
                .0),
            gateway_url: read.url_with_schemes(
                "DISCORD_GATEWAY_URL",
                Some(DEFAULT_GATEWAY_URL),
                &["ws", "wss"],
            ),
            shards: u32::try_from(read.parse_or("RELAY_SHARDS", Bounded::<1, 65_535>(1)).0)
                .unwrap_or(1),
            status_interval: Duration::from_secs(
                read.parse_or("RELAY_STATUS_INTERVAL_SECS", Bounded::<1, 86_400>(30))
                    .0,
            ),
            memory_batches: usize::try_from(
                read.parse_or("RELAY_MEMORY_BATCHES", Bounded::<1, 1_000>(4))
                    .0,
            )
            .unwrap_or(4),
            request_timeout: ms(read
                .parse_or("RELAY_REQUEST_TIMEOUT_MS", Bounded::<1, HOUR_MS>(10_000))
                .0),
            retry_min: ms(read
                .parse_or("RELAY_RETRY_MIN_MS", Bounded::<1, HOUR_MS>(500))
                .0),
            retry_max: ms(read
                .parse_or("RELAY_RETRY_MAX_MS", Bounded::<1, HOUR_MS>(60_000))
                .0),
            state_interval: ms(read
                .parse_or("RELAY_STATE_INTERVAL_MS", Bounded::<1, HOUR_MS>(1_000))
                .0),
            parser: read.parse_or("RELAY_PARSER", Parser::Fast),
            log_format: read.parse_or("RELAY_LOG_FORMAT", LogFormat::Text),
            instance: read
                .optional("RELAY_INSTANCE")
                .or_else(|| lookup("HOSTNAME").filter(|h| !h.trim().is_empty()))
                .unwrap_or_else(|| "gateway-relay".to_owned()),
            identify_unthrottled: read.parse_or("RELAY_IDENTIFY_UNTHROTTLED", Flag(false)).0,
            worker_threads: usize::try_from(
                read.parse_or("RELAY_WORKER_THREADS", Bounded::<1, 64>(1)).0,
            )
            .unwrap_or(1),
        };
        // The scheme alone passed the reader; a host or port that cannot
        // be parsed would otherwise show only as endless retries.
        if !config.scoring_endpoint_url.is_empty()
            && let Err(err) = reqwest::Url::parse(&config.scoring_endpoint_url)
        {
            read.problem(
                "SCORING_ENDPOINT_URL",
                format!("is not a valid URL ({err})"),
            );
        }
        read.finish().map(|()| config)
    }

    /// The gateway URL to hand twilight as its proxy URL: `None` for
    /// Discord's own, which twilight knows.
    pub fn proxy_url(&self) -> Option<&str> {
        (self.gateway_url != DEFAULT_GATEWAY_URL).then_some(self.gateway_url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> Option<String> {
        match name {
            "DISCORD_BOT_TOKEN" => Some("token".to_owned()),
            "SCORING_ENDPOINT_URL" => Some("http://127.0.0.1:9/events".to_owned()),
            "RELAY_SHARED_SECRET" => Some("s".repeat(32)),
            "RELAY_STATE_DIR" => Some("/var/lib/relay".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn every_missing_variable_is_named() {
        let err = Config::from_lookup(&|_| None).expect_err("nothing set");
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
    fn defaults() {
        let config = Config::from_lookup(&valid).expect("valid");
        assert_eq!(config.batch_size, 500);
        assert_eq!(config.batch_interval, Duration::from_millis(250));
        assert_eq!(config.shards, 1);
        assert_eq!(config.status_interval, Duration::from_secs(30));
        assert_eq!(config.parser, Parser::Fast);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.proxy_url(), None);
        assert!(!config.identify_unthrottled);
        assert_eq!(config.worker_threads, 1);
    }

    #[test]
    fn malformed_values_are_named() {
        let cases = [
            ("RELAY_BATCH_SIZE", "lots"),
            ("RELAY_BATCH_SIZE", "0"),
            ("RELAY_BATCH_SIZE", "5001"),
            ("RELAY_BATCH_INTERVAL_MS", "-5"),
            ("RELAY_SHARDS", "0"),
            ("RELAY_STATUS_INTERVAL_SECS", "never"),
            ("RELAY_PARSER", "simd"),
            ("RELAY_LOG_FORMAT", "xml"),
            ("RELAY_IDENTIFY_UNTHROTTLED", "maybe"),
            ("DISCORD_GATEWAY_URL", "https://gateway.discord.gg"),
            ("SCORING_ENDPOINT_URL", "ftp://x"),
            ("SCORING_ENDPOINT_URL", "http://worker:port/events"),
            ("SCORING_ENDPOINT_URL", "https://[::1/events"),
            ("RELAY_SHARED_SECRET", "too-short"),
        ];
        for (variable, value) in cases {
            let lookup = |name: &str| {
                if name == variable {
                    Some(value.to_owned())
                } else {
                    valid(name)
                }
            };
            let err = Config::from_lookup(&lookup).expect_err(variable);
            let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, [variable], "{variable}={value}");
        }
    }

    #[test]
    fn a_local_gateway_is_a_proxy_url() {
        let lookup = |name: &str| match name {
            "DISCORD_GATEWAY_URL" => Some("ws://127.0.0.1:4500/".to_owned()),
            "RELAY_PARSER" => Some("typed".to_owned()),
            "RELAY_IDENTIFY_UNTHROTTLED" => Some("true".to_owned()),
            _ => valid(name),
        };
        let config = Config::from_lookup(&lookup).expect("valid");
        assert_eq!(config.proxy_url(), Some("ws://127.0.0.1:4500"));
        assert_eq!(config.parser, Parser::Typed);
        assert!(config.identify_unthrottled);
    }
}
