//! Local HTTP stand-ins for the two outside services the interactions worker
//! calls: Discord's REST API (v10) and Gemini's `generateContent`.
//!
//! They serve the shapes the services document, keep Discord's state
//! (channels, messages, commands) in memory, record every request they
//! receive and answer with scripted faults on demand. The code under test is
//! the real client, pointed here by its configurable base URL.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let stand_ins = stand_ins::StandIns::start()?;
//! // DISCORD_API_BASE=http://127.0.0.1:PORT/api/v10
//! let discord = stand_ins.discord_api_base();
//! stand_ins.fail_discord(stand_ins::discord::faults::missing_permissions().on("POST", "/api/v10/guilds/"));
//! // ... run the worker against `discord` ...
//! let sent = stand_ins.discord_requests();
//! # Ok(()) }
//! ```
//!
//! See the README for the routes and the control API.

use std::future::IntoFuture as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, anyhow};
use tokio::sync::oneshot;

mod clock;
pub mod discord;
mod fault;
pub mod gemini;
mod record;
mod server;

pub use discord::{Author, Channel, Message, PermissionOverwrite};
pub use fault::Fault;
pub use record::RecordedRequest;

use server::Service;

/// The port `stand-ins` listens on for Discord unless told otherwise.
pub const DEFAULT_DISCORD_PORT: u16 = 54330;
/// The port `stand-ins` listens on for Gemini unless told otherwise.
pub const DEFAULT_GEMINI_PORT: u16 = 54331;

/// Both stand-ins, running on 127.0.0.1 on a background thread with their
/// own tokio runtime, so they work the same from a plain `#[test]` and from
/// a `#[tokio::test]` (even one with a paused clock). Every method reads or
/// changes their state directly: none blocks on the network. Dropping it
/// stops both servers.
#[derive(Debug)]
pub struct StandIns {
    discord_addr: SocketAddr,
    gemini_addr: SocketAddr,
    discord: Arc<Service>,
    gemini: Arc<Service>,
    discord_state: discord::Shared,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StandIns {
    /// Starts both servers on free ports.
    pub fn start() -> Result<Self> {
        Self::start_on(0, 0)
    }

    /// Starts both servers on the given ports (0: any free port).
    pub fn start_on(discord_port: u16, gemini_port: u16) -> Result<Self> {
        let bind = |port: u16, what: &str| {
            let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .with_context(|| format!("binding the {what} stand-in to 127.0.0.1:{port}"))?;
            listener.set_nonblocking(true)?;
            anyhow::Ok(listener)
        };
        let discord_listener = bind(discord_port, "Discord")?;
        let gemini_listener = bind(gemini_port, "Gemini")?;
        let discord_addr = discord_listener.local_addr()?;
        let gemini_addr = gemini_listener.local_addr()?;

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the stand-ins' runtime")?;
        let (discord_listener, gemini_listener) = {
            let _context = runtime.enter();
            (
                tokio::net::TcpListener::from_std(discord_listener)?,
                tokio::net::TcpListener::from_std(gemini_listener)?,
            )
        };

        let discord = Arc::new(Service::default());
        let gemini = Arc::new(Service::default());
        let discord_state = discord::Shared::default();
        let discord_app = server::discord_app(discord.clone(), discord_state.clone());
        let gemini_app = server::gemini_app(gemini.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("stand-ins".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(discord_listener, discord_app).into_future() => {}
                        _ = axum::serve(gemini_listener, gemini_app).into_future() => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here ends every open connection.
            })
            .context("starting the stand-ins' thread")?;

        Ok(Self {
            discord_addr,
            gemini_addr,
            discord,
            gemini,
            discord_state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Discord's API base, `http://127.0.0.1:PORT/api/v10`.
    pub fn discord_api_base(&self) -> String {
        format!("{}/api/v10", self.discord_url())
    }

    /// Gemini's API base, `http://127.0.0.1:PORT/v1beta`.
    pub fn gemini_api_base(&self) -> String {
        format!("{}/v1beta", self.gemini_url())
    }

    /// The Discord stand-in's root, where its control API lives
    /// (`/_stand_in/...`).
    pub fn discord_url(&self) -> String {
        format!("http://{}", self.discord_addr)
    }

    /// The Gemini stand-in's root, where its control API lives.
    pub fn gemini_url(&self) -> String {
        format!("http://{}", self.gemini_addr)
    }

    /// Every request the Discord stand-in received, oldest first.
    pub fn discord_requests(&self) -> Vec<RecordedRequest> {
        self.discord.requests()
    }

    /// Every request the Gemini stand-in received, oldest first.
    pub fn gemini_requests(&self) -> Vec<RecordedRequest> {
        self.gemini.requests()
    }

    /// Queues a fault for the Discord stand-in; see [`discord::faults`].
    pub fn fail_discord(&self, fault: Fault) {
        self.discord.add_fault(fault);
    }

    /// Queues a fault for the Gemini stand-in; see [`gemini::faults`].
    pub fn fail_gemini(&self, fault: Fault) {
        self.gemini.add_fault(fault);
    }

    /// Make a guild member known to `GET /guilds/{guild}/members/{user}`.
    pub fn seed_member(&self, guild_id: &str, user_id: &str, name: &str, roles: &[&str]) {
        lock(&self.discord_state).seed_member(guild_id, user_id, name, roles);
    }

    /// Give a guild a role with these permission bits, for
    /// `GET /guilds/{guild}/roles` (the guild's own id is @everyone).
    pub fn seed_role(&self, guild_id: &str, role_id: &str, permissions: u64) {
        lock(&self.discord_state).seed_role(guild_id, role_id, permissions);
    }

    /// Adds a message written by a member (not the bot) to a channel the
    /// stand-in knows, as if they had typed it in Discord.
    pub fn seed_message(
        &self,
        channel_id: &str,
        author_id: &str,
        author_name: &str,
        content: &str,
    ) -> Result<Message> {
        lock(&self.discord_state)
            .seed_message(channel_id, author_id, author_name, content)
            .map_err(|error| anyhow!("seeding a message in channel {channel_id}: {error:?}"))
    }

    /// Creates a channel directly (e.g. the tickets category the worker is
    /// configured with), with the same rules as Discord's create route.
    /// `kind` is Discord's channel type: 0 text, 4 category.
    pub fn seed_channel(&self, guild_id: &str, name: &str, kind: u8) -> Result<Channel> {
        lock(&self.discord_state)
            .create_channel(guild_id, &serde_json::json!({ "name": name, "type": kind }))
            .map_err(|error| anyhow!("seeding channel {name} in guild {guild_id}: {error:?}"))
    }

    /// Deletes a channel as a server admin would in Discord's own client:
    /// nothing is recorded as a request.
    pub fn delete_channel_by_hand(&self, channel_id: &str) -> Result<Channel> {
        lock(&self.discord_state)
            .delete_channel(channel_id)
            .map_err(|error| anyhow!("deleting channel {channel_id}: {error:?}"))
    }

    /// The guild's channels as they are now, by id.
    pub fn channels(&self, guild_id: &str) -> Vec<Channel> {
        lock(&self.discord_state).channels(guild_id)
    }

    /// A channel's messages, oldest first; empty for an unknown channel.
    pub fn messages(&self, channel_id: &str) -> Vec<Message> {
        lock(&self.discord_state)
            .messages(channel_id)
            .unwrap_or_default()
    }

    /// Forgets the recorded requests and pending faults of both stand-ins.
    /// Discord's channels, messages and commands stay.
    pub fn clear(&self) {
        for service in [&self.discord, &self.gemini] {
            service.clear_requests();
            service.clear_faults();
        }
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Locks state shared with the servers. A handler that panicked mid-update
/// must not take every later test down with it, so poisoning is ignored.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
