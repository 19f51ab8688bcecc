//! gateway-relay: the always-on process that holds Discord's gateway
//! connection and forwards engagement events to the scoring endpoint, every
//! one of them at least once, in order (ADR 0005; the endpoint makes it
//! exactly once with idempotency keys).
//!
//! - [`gateway`]: a twilight shard per task; the four engagement dispatches
//!   (MESSAGE_CREATE, MESSAGE_REACTION_ADD/REMOVE, MESSAGE_DELETE) become
//!   compact [`RelayEvent`](community_core::relay::RelayEvent)s, read from
//!   the raw JSON by [`parse`]'s fast path;
//! - [`forward`]: batches (N events or T ms), signs each batch when it is
//!   sent, delivers them one at a time oldest first, spools what the
//!   endpoint cannot take now ([`spool`]), and reports status;
//! - [`state`]: the session id, resume URL and sequence, saved only once
//!   every event before them is acknowledged or spooled, so a restarted
//!   relay RESUMEs and Discord replays the rest.
//!
//! [`run`] wires them together; `main` adds the environment, logging and
//! signals.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{ConfigBuilder, Intents, Session, Shard, ShardId};
use twilight_model::util::Timestamp;

pub mod config;
mod forward;
mod gateway;
mod parse;
mod spool;
mod state;
mod status;

pub use config::Config;
pub use forward::ForwardError;

use forward::{Forwarder, Settings};
use gateway::{ShardEnd, ShardTask};
use status::Health;

/// What the relay asks Discord for: messages and reactions in guilds, and
/// message content only to recognise `!close` (it never leaves the relay).
pub const INTENTS: Intents = Intents::GUILD_MESSAGES
    .union(Intents::GUILD_MESSAGE_REACTIONS)
    .union(Intents::MESSAGE_CONTENT);

/// Time and randomness, injected so tests can fix them.
#[derive(Clone)]
pub struct Hooks {
    /// Uniform in `[0, 1)`: spreads retries.
    pub jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
    /// The wall clock: signatures and the time reactions were received.
    pub wall_clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            jitter: Arc::new(fastrand::f64),
            wall_clock: Arc::new(SystemTime::now),
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

/// Why the relay stopped other than by being asked to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error(
        "Discord closed shard {shard}'s gateway connection with {} ({reason}): {}",
        code.map_or_else(|| "no code".to_owned(), |c| c.to_string()),
        fatal_advice(*code)
    )]
    Fatal {
        shard: u32,
        code: Option<u16>,
        reason: String,
    },
    #[error("cannot use the state directory {path}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "another gateway-relay is running with the state directory {}: run exactly one relay \
         per bot (two would count every reaction twice)",
        path.display()
    )]
    AlreadyRunning { path: PathBuf },
    #[error("cannot build the HTTP client for the scoring endpoint")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error("a relay task panicked")]
    Panicked(#[source] tokio::task::JoinError),
}

impl RunError {
    /// How an I/O failure in the state directory `path` is reported.
    fn state_dir(path: &std::path::Path) -> impl Fn(io::Error) -> Self + Copy + '_ {
        |source| Self::StateDir {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Discord refused the bot (token, intents, sharding): restarting as is
    /// cannot help.
    pub fn is_fatal_close(&self) -> bool {
        matches!(self, Self::Fatal { .. })
    }
}

fn fatal_advice(code: Option<u16>) -> &'static str {
    match code {
        Some(4004) => "DISCORD_BOT_TOKEN is wrong or was reset",
        Some(4010 | 4011) => "the shard layout is wrong for this bot: set RELAY_SHARDS",
        Some(4012) => "the gateway API version is not supported",
        Some(4013) => "the intents are invalid",
        Some(4014) => {
            "a privileged intent is not enabled: turn on Message Content for the bot in the \
             Discord Developer Portal"
        }
        _ => "the shard cannot reconnect",
    }
}

/// An exclusive lock on `state_dir/relay.lock`: a second relay on the same
/// state directory stops at once instead of forwarding every dispatch a
/// second time and numbering its spool over the first one's.
fn lock_state_dir(state_dir: &std::path::Path) -> Result<std::fs::File, RunError> {
    let path = state_dir.join("relay.lock");
    let dir_error = RunError::state_dir(state_dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(dir_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(RunError::AlreadyRunning {
            path: state_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(err)) => Err(dir_error(err)),
    }
}

/// What [`replay_rejected`] moved back to the spool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replayed {
    pub batches: usize,
    pub events: usize,
}

/// `gateway-relay replay-rejected`: puts every batch the endpoint refused as
/// malformed (`state_dir/rejected/`) back in the spool, so the next run
/// sends it first; for after the endpoint was fixed to take them. Events the
/// endpoint has already counted are skipped there by their dedupe keys.
/// Refuses while a relay runs on `state_dir` (it holds the lock).
pub fn replay_rejected(state_dir: &std::path::Path) -> Result<Replayed, RunError> {
    let dir_error = RunError::state_dir(state_dir);
    // A mistyped directory (or a container without its volume) must not
    // look like a relay with nothing set aside.
    if !state_dir.join("spool").is_dir() {
        return Err(dir_error(io::Error::new(
            io::ErrorKind::NotFound,
            "no spool here: is RELAY_STATE_DIR the directory the relay runs with?",
        )));
    }
    let _lock = lock_state_dir(state_dir)?;
    let (batches, events) = spool::requeue_rejected(state_dir).map_err(dir_error)?;
    Ok(Replayed { batches, events })
}

/// Unix time → Discord timestamp.
pub(crate) fn timestamp(at: SystemTime) -> Timestamp {
    let micros = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    Timestamp::from_micros(micros)
        .unwrap_or_else(|_| Timestamp::from_secs(0).expect("the epoch is a valid timestamp"))
}

/// Runs the relay until `shutdown` completes (then flushes to the spool,
/// saves the state and returns `Ok`) or a shard is closed for good.
pub async fn run(
    config: Config,
    hooks: Hooks,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    // Exactly one rustls provider, for both the gateway and the endpoint.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state_dir = config.state_dir.clone();
    let dir_error = RunError::state_dir(&state_dir);
    tokio::fs::create_dir_all(&state_dir)
        .await
        .map_err(dir_error)?;
    // Held until the relay stops (the kernel lets go of it if it dies).
    let _lock = lock_state_dir(&state_dir)?;
    let saved = state::load(&state_dir, config.shards).map_err(dir_error)?;
    let spool = spool::Spool::open(&state_dir).await.map_err(dir_error)?;
    let health = Health::new(
        config.instance.clone(),
        timestamp((hooks.wall_clock)()),
        config.shards,
    );
    let client = reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "community-os-gateway-relay/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(RunError::HttpClient)?;

    let (items, received) = mpsc::channel(config.batch_size.max(256) * 2);
    let (stop, stopping) = watch::channel(false);
    let queue = if config.identify_unthrottled {
        InMemoryQueue::new(0, 0, Duration::ZERO, 0)
    } else {
        InMemoryQueue::default()
    };
    let mut shards = JoinSet::new();
    for index in 0..config.shards {
        let position = saved
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .cloned()
            .flatten();
        let mut builder =
            ConfigBuilder::new(config.bot_token.expose().to_owned(), INTENTS).queue(queue.clone());
        if let Some(proxy) = config.proxy_url() {
            builder = builder.proxy_url(proxy.to_owned());
        }
        if let Some(position) = position {
            tracing::info!(
                shard = index,
                session = %position.session_id,
                sequence = position.sequence,
                "resuming the saved session"
            );
            builder = builder.session(Session::new(
                position.sequence,
                position.session_id.to_string(),
            ));
            if let Some(url) = position.resume_url {
                builder = builder.resume_url(url.to_string());
            }
        }
        let shard = Shard::with_config(ShardId::new(index, config.shards), builder.build());
        shards.spawn(
            ShardTask {
                index: usize::try_from(index).unwrap_or_default(),
                shard,
                items: items.clone(),
                parser: config.parser,
                health: Arc::clone(&health),
                hooks: hooks.clone(),
                stop: stopping.clone(),
            }
            .run(),
        );
    }
    drop(items);

    let settings = Settings {
        endpoint: config.scoring_endpoint_url.as_str().into(),
        secret: config.shared_secret.clone(),
        state_dir,
        batch_size: config.batch_size,
        batch_interval: config.batch_interval,
        memory_batches: config.memory_batches,
        status_interval: config.status_interval,
        state_interval: config.state_interval,
        retry_min: config.retry_min,
        retry_max: config.retry_max,
    };
    let mut forwarder = JoinSet::new();
    forwarder.spawn(Forwarder::new(settings, client, hooks, health, spool, saved).run(received));

    tokio::pin!(shutdown);
    let mut fatal = None;
    let mut forwarded = None;
    tokio::select! {
        () = &mut shutdown => tracing::info!("shutting down: flushing to the spool"),
        Some(ended) = shards.join_next() => fatal = shard_end(ended)?,
        // The forwarder only stops early when it can no longer keep events
        // safe (spool or state unwritable).
        Some(ended) = forwarder.join_next() => forwarded = Some(ended),
    }
    let _ = stop.send(true);
    while let Some(ended) = shards.join_next().await {
        fatal = fatal.or(shard_end(ended)?);
    }
    if let Some(ended) = forwarded.or(forwarder.join_next().await) {
        ended.map_err(RunError::Panicked)??;
    }
    match fatal {
        Some(fatal) => Err(fatal),
        None => Ok(()),
    }
}

fn shard_end(
    ended: Result<ShardEnd, tokio::task::JoinError>,
) -> Result<Option<RunError>, RunError> {
    match ended.map_err(RunError::Panicked)? {
        ShardEnd::Stopped => Ok(None),
        ShardEnd::Fatal {
            shard,
            code,
            reason,
        } => Ok(Some(RunError::Fatal {
            shard,
            code,
            reason,
        })),
    }
}
