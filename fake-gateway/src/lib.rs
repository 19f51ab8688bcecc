//! A local Discord gateway (API v10, JSON encoding, no compression) that
//! speaks the real protocol, so the relay and its tests can run against it
//! with an unmodified twilight shard pointed here by its proxy URL.
//!
//! What it does, as Discord documents it:
//! - HELLO (op 10) on connect; heartbeats (op 1) answered with op 11;
//! - IDENTIFY (op 2) starts a new session: READY (with `resume_gateway_url`
//!   set to this server's own `ws://` address), then the dispatches that were
//!   waiting for a session;
//! - dispatches are `{"op":0,"s":n,"t":...,"d":...}` with those keys first,
//!   snowflakes as strings, one sequence per session;
//! - RESUME (op 6) replays every dispatch after the given sequence, then
//!   RESUMED; an unknown session gets op 9 `false`;
//! - scriptable: op 7 (reconnect), op 9 (invalid session, resumable or not),
//!   close with any code (4004 and 4010–4014 are fatal to the client), a
//!   "zombie" connection that stops answering, a silently dropped socket;
//! - a firehose of pre-serialized ~1 KB `MESSAGE_CREATE`s for benchmarks.
//!
//! Dispatches follow the guild's shard (`(guild_id >> 22) % shards`). While a
//! shard has a session, a dispatch gets its sequence at once: if the client
//! is away it is kept for the RESUME replay, as Discord does. With no session
//! at all it waits for the next READY (Discord would drop it; tests want it).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fake_gateway::{FakeGateway, payloads::MessageCreate};
//! let gateway = FakeGateway::start().await?;
//! // DISCORD_GATEWAY_URL=gateway.url()
//! gateway.wait_for(|counts| counts.identifies == 1).await;
//! gateway.message_create(&MessageCreate::new(11, 1, 3, 2).content("hi"));
//! gateway.reconnect(); // op 7: the client comes back with RESUME
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

mod connection;
pub mod payloads;

use payloads::{FirehoseTemplate, MessageCreate, MessageDelete, Reaction};

/// How the fake gateway behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sent in HELLO. Discord's is 41.25 s.
    pub heartbeat_interval: Duration,
    /// The shard count clients are expected to identify with; dispatches are
    /// routed by guild id.
    pub shards: u32,
    /// When set, an IDENTIFY with another token is closed with 4004.
    pub token: Option<String>,
    /// Dispatches kept per session for RESUME replays; an older sequence
    /// cannot be resumed (op 9 `false`).
    pub replay_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(41_250),
            shards: 1,
            token: None,
            replay_limit: 100_000,
        }
    }
}

/// What the gateway has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// WebSocket connections accepted.
    pub connections: usize,
    pub identifies: usize,
    /// RESUMEs received, accepted or not.
    pub resumes: usize,
    /// RESUMEs answered with op 9 because the session was unknown or too old.
    pub resumes_refused: usize,
    pub heartbeats: usize,
    /// Dispatches (READY and RESUMED included) written to clients, replays
    /// counted again.
    pub dispatches_sent: usize,
    /// Connections currently attached to a session.
    pub attached: usize,
}

/// What became of a pushed dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Sent to the connected client with this sequence.
    Sent { shard: u32, sequence: u64 },
    /// The session exists but no client is attached: kept for the replay.
    Kept { shard: u32, sequence: u64 },
    /// No session yet: it goes out after the next READY.
    Waiting { shard: u32 },
}

impl Delivery {
    /// The sequence number, once the dispatch has one.
    pub fn sequence(self) -> Option<u64> {
        match self {
            Self::Sent { sequence, .. } | Self::Kept { sequence, .. } => Some(sequence),
            Self::Waiting { .. } => None,
        }
    }
}

/// A running fake gateway. Dropping it stops the server and every connection.
#[derive(Debug)]
pub struct FakeGateway {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) url: String,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) counts: Counts,
    pub(crate) shards: Vec<Slot>,
    /// Every open connection, attached or not.
    pub(crate) connections: HashMap<u64, mpsc::UnboundedSender<Control>>,
    pub(crate) identify_payloads: Vec<Value>,
    next_connection: u64,
    next_session: u64,
}

/// One shard's session and the connection attached to it.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) session: Option<SessionLog>,
    /// `(event type, data)` pushed while there was no session.
    pub(crate) waiting: VecDeque<(String, String)>,
    pub(crate) attached: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct SessionLog {
    pub(crate) id: String,
    pub(crate) sequence: u64,
    /// `(sequence, frame)` of the most recent dispatches.
    pub(crate) log: VecDeque<(u64, Arc<str>)>,
    /// The oldest sequence a RESUME may name (replays start after it).
    pub(crate) oldest_resumable: u64,
}

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Control {
    Frame(Arc<str>),
    Reconnect,
    InvalidSession { resumable: bool },
    Close { code: u16, reason: String },
    Zombie,
    Drop,
    Firehose(Firehose),
}

#[derive(Debug)]
pub(crate) struct Firehose {
    pub(crate) first_sequence: u64,
    pub(crate) count: u64,
    pub(crate) first_message_id: u64,
    pub(crate) template: Arc<FirehoseTemplate>,
    pub(crate) done: oneshot::Sender<io::Result<()>>,
}

/// Completes when every firehose frame has been written to the socket.
#[derive(Debug)]
pub struct FirehoseDone(oneshot::Receiver<io::Result<()>>);

impl FirehoseDone {
    pub async fn wait(self) -> io::Result<()> {
        self.0
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the connection ended mid-firehose")))
    }
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Wakes everyone in [`FakeGateway::wait_for`].
    pub(crate) fn notify(&self) {
        self.changed.notify_waiters();
    }

    pub(crate) fn new_connection(&self, tx: mpsc::UnboundedSender<Control>) -> u64 {
        let mut state = self.state();
        state.next_connection += 1;
        let id = state.next_connection;
        state.connections.insert(id, tx);
        state.counts.connections += 1;
        drop(state);
        self.notify();
        id
    }

    pub(crate) fn new_session_id(state: &mut State) -> String {
        state.next_session += 1;
        format!("fake{:08x}", state.next_session.wrapping_mul(0x9e37_79b9))
    }
}

impl State {
    /// Detaches `connection` from whatever session it serves.
    pub(crate) fn detach(&mut self, connection: u64) {
        for slot in &mut self.shards {
            if slot.attached == Some(connection) {
                slot.attached = None;
            }
        }
        self.counts.attached = self.shards.iter().filter(|s| s.attached.is_some()).count();
    }

    pub(crate) fn attach(&mut self, shard: usize, connection: u64) {
        if let Some(previous) = self.shards[shard].attached.replace(connection)
            && previous != connection
            && let Some(tx) = self.connections.get(&previous)
        {
            // Discord serves a session on one connection: the newer wins.
            let _ = tx.send(Control::Drop);
        }
        self.counts.attached = self.shards.iter().filter(|s| s.attached.is_some()).count();
    }

    /// Gives the next sequence of `shard`'s session to a dispatch, keeps it
    /// for replays and sends it to the attached connection.
    pub(crate) fn sequence_and_send(
        &mut self,
        shard: usize,
        event_type: &str,
        data: &str,
        replay_limit: usize,
    ) -> Option<(u64, bool)> {
        let slot = &mut self.shards[shard];
        let session = slot.session.as_mut()?;
        session.sequence += 1;
        let sequence = session.sequence;
        let frame: Arc<str> = payloads::dispatch_frame(sequence, event_type, data).into();
        session.log.push_back((sequence, Arc::clone(&frame)));
        while session.log.len() > replay_limit {
            if let Some((dropped, _)) = session.log.pop_front() {
                session.oldest_resumable = dropped;
            }
        }
        let sent = slot
            .attached
            .and_then(|connection| self.connections.get(&connection))
            .is_some_and(|tx| tx.send(Control::Frame(frame)).is_ok());
        if sent {
            self.counts.dispatches_sent += 1;
        }
        Some((sequence, sent))
    }
}

impl FakeGateway {
    /// Starts on a free port of 127.0.0.1 with the default [`Options`], in
    /// the current tokio runtime (so a paused test clock covers it too).
    pub async fn start() -> io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> io::Result<Self> {
        Self::start_on(0, options).await
    }

    /// Starts on the given port of 127.0.0.1 (0: any free port).
    pub async fn start_on(port: u16, options: Options) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shards = usize::try_from(options.shards.max(1)).unwrap_or(1);
        let shared = Arc::new(Shared {
            url: format!("ws://{addr}"),
            options,
            state: Mutex::new(State {
                shards: (0..shards).map(|_| Slot::default()).collect(),
                ..State::default()
            }),
            changed: Notify::new(),
        });
        let accept = tokio::spawn(connection::accept_loop(listener, Arc::clone(&shared)));
        Ok(Self {
            shared,
            addr,
            accept,
        })
    }

    /// `ws://127.0.0.1:PORT`: the client's gateway (proxy) URL, and the
    /// `resume_gateway_url` it is sent in READY.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counts(&self) -> Counts {
        self.shared.state().counts
    }

    /// Waits until `done(counts)` holds. Put a timeout around it.
    pub async fn wait_for(&self, done: impl Fn(&Counts) -> bool) -> Counts {
        loop {
            let changed = self.shared.changed.notified();
            let counts = self.counts();
            if done(&counts) {
                return counts;
            }
            changed.await;
        }
    }

    /// The payloads (`d`) of every IDENTIFY received, token included.
    pub fn identify_payloads(&self) -> Vec<Value> {
        self.shared.state().identify_payloads.clone()
    }

    /// The current session id of `shard`, if any.
    pub fn session_id(&self, shard: u32) -> Option<String> {
        let state = self.shared.state();
        let slot = state.shards.get(usize::try_from(shard).ok()?)?;
        slot.session.as_ref().map(|s| s.id.clone())
    }

    /// The last sequence given out in `shard`'s session.
    pub fn sequence(&self, shard: u32) -> Option<u64> {
        let state = self.shared.state();
        let slot = state.shards.get(usize::try_from(shard).ok()?)?;
        slot.session.as_ref().map(|s| s.sequence)
    }

    /// Sends (or keeps) a dispatch of type `event_type` with data `data`,
    /// routed to the shard of its `guild_id` (shard 0 without one).
    pub fn dispatch(&self, event_type: &str, data: &Value) -> Delivery {
        let guild = data
            .get("guild_id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<u64>().ok())
            .unwrap_or(0);
        let mut state = self.shared.state();
        let count = u64::try_from(state.shards.len()).unwrap_or(1);
        let index = usize::try_from((guild >> 22) % count).unwrap_or(0);
        let shard = u32::try_from(index).unwrap_or(0);
        let data = data.to_string();
        let delivery = match state.sequence_and_send(
            index,
            event_type,
            &data,
            self.shared.options.replay_limit,
        ) {
            Some((sequence, true)) => Delivery::Sent { shard, sequence },
            Some((sequence, false)) => Delivery::Kept { shard, sequence },
            None => {
                state.shards[index]
                    .waiting
                    .push_back((event_type.to_owned(), data));
                Delivery::Waiting { shard }
            }
        };
        drop(state);
        self.shared.notify();
        delivery
    }

    pub fn message_create(&self, message: &MessageCreate) -> Delivery {
        self.dispatch("MESSAGE_CREATE", &message.to_json())
    }

    pub fn reaction_add(&self, reaction: &Reaction) -> Delivery {
        self.dispatch("MESSAGE_REACTION_ADD", &reaction.add_json())
    }

    pub fn reaction_remove(&self, reaction: &Reaction) -> Delivery {
        self.dispatch("MESSAGE_REACTION_REMOVE", &reaction.remove_json())
    }

    pub fn message_delete(&self, deleted: &MessageDelete) -> Delivery {
        self.dispatch("MESSAGE_DELETE", &deleted.to_json())
    }

    /// Tells every attached connection to do `what`; returns how many.
    fn tell_attached(&self, what: impl Fn() -> Control, and_then: impl Fn(&mut Slot)) -> usize {
        let mut state = self.shared.state();
        let state = &mut *state;
        let mut told = 0;
        for slot in &mut state.shards {
            if let Some(connection) = slot.attached
                && let Some(tx) = state.connections.get(&connection)
                && tx.send(what()).is_ok()
            {
                told += 1;
            }
            and_then(slot);
        }
        told
    }

    /// op 7: every attached client should reconnect and RESUME. Dispatches
    /// pushed meanwhile are kept for the replay.
    pub fn reconnect(&self) -> usize {
        let told = self.tell_attached(|| Control::Reconnect, |slot| slot.attached = None);
        self.shared.state().counts.attached = 0;
        told
    }

    /// op 9. Not resumable: the sessions end, the clients IDENTIFY again, and
    /// dispatches pushed meanwhile wait for the new READY.
    pub fn invalidate_session(&self, resumable: bool) -> usize {
        let told = self.tell_attached(
            || Control::InvalidSession { resumable },
            |slot| {
                slot.attached = None;
                if !resumable {
                    slot.session = None;
                }
            },
        );
        self.shared.state().counts.attached = 0;
        told
    }

    /// Closes every connection with `code` (4004, 4010–4014 are fatal).
    pub fn close(&self, code: u16) -> usize {
        self.tell_all(|| Control::Close {
            code,
            reason: close_reason(code).to_owned(),
        })
    }

    /// Every connection stops answering (no heartbeat ACK, no dispatches)
    /// but stays open, until the client gives up on it.
    pub fn zombie(&self) -> usize {
        let told = self.tell_all(|| Control::Zombie);
        let mut state = self.shared.state();
        for slot in &mut state.shards {
            slot.attached = None;
        }
        state.counts.attached = 0;
        told
    }

    /// Drops every socket without a close frame.
    pub fn drop_connections(&self) -> usize {
        self.tell_all(|| Control::Drop)
    }

    fn tell_all(&self, what: impl Fn() -> Control) -> usize {
        let state = self.shared.state();
        state
            .connections
            .values()
            .filter(|tx| tx.send(what()).is_ok())
            .count()
    }

    /// Writes `count` ~`frame_len`-byte `MESSAGE_CREATE`s to the client of
    /// shard 0 as fast as its socket takes them (waiting for it to be
    /// identified first). They are not kept for replays.
    pub async fn firehose(&self, count: u64, frame_len: usize) -> io::Result<FirehoseDone> {
        let template = Arc::new(FirehoseTemplate::new(frame_len));
        let (done, rx) = oneshot::channel();
        loop {
            let changed = self.shared.changed.notified();
            {
                let mut state = self.shared.state();
                let state = &mut *state;
                let slot = &mut state.shards[0];
                if let (Some(connection), Some(session)) = (slot.attached, slot.session.as_mut())
                    && let Some(tx) = state.connections.get(&connection)
                {
                    let first_sequence = session.sequence + 1;
                    session.sequence += count;
                    session.oldest_resumable = session.sequence;
                    session.log.clear();
                    tx.send(Control::Firehose(Firehose {
                        first_sequence,
                        count,
                        first_message_id: 1_200_000_000_000_000_000 + first_sequence,
                        template,
                        done,
                    }))
                    .map_err(|_| io::Error::other("the connection just ended"))?;
                    state.counts.dispatches_sent += usize::try_from(count).unwrap_or(usize::MAX);
                    return Ok(FirehoseDone(rx));
                }
            }
            changed.await;
        }
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.accept.abort();
        let state = self.shared.state();
        for tx in state.connections.values() {
            let _ = tx.send(Control::Drop);
        }
    }
}

/// Discord's reason text for its close codes.
pub fn close_reason(code: u16) -> &'static str {
    match code {
        4000 => "Unknown error",
        4001 => "Unknown opcode",
        4002 => "Decode error",
        4003 => "Not authenticated",
        4004 => "Authentication failed",
        4005 => "Already authenticated",
        4007 => "Invalid seq",
        4008 => "Rate limited",
        4009 => "Session timed out",
        4010 => "Invalid shard",
        4011 => "Sharding required",
        4012 => "Invalid API version",
        4013 => "Invalid intent(s)",
        4014 => "Disallowed intent(s)",
        _ => "",
    }
}
