//! Shared by the relay's integration tests: a local HTTP sink standing in for
//! the scoring endpoint (it checks the MAC with the core's `verify`, parses
//! the batch with `RelayBatch::parse`, records it and can be told to fail or
//! hang), the relay's environment, and a running relay.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::IntoFuture as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use community_core::relay::{RelayBatch, RelayEvent, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use gateway_relay::{Config, Hooks, RunError};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub const SECRET: &str = "relay-shared-secret-for-tests-0123456789";
pub const TOKEN: &str = "relay-test-token";
/// Long enough for anything in virtual time; a hang shows up as a failure.
pub const WAIT: Duration = Duration::from_secs(600);

/// How the sink answers a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Accept,
    Status(u16),
    /// Never answers (until the relay gives up).
    Hang,
    /// Records the batch as applied, then answers with this status: the
    /// response was lost, so the relay will send the same batch again.
    ApplyThenFail(u16),
}

/// One request the sink accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub events: Vec<RelayEvent>,
    pub status: Option<Value>,
    pub body: Bytes,
    /// When it arrived (tokio's clock, so virtual under a paused test).
    pub at: tokio::time::Instant,
}

#[derive(Debug, Default)]
struct SinkState {
    accepted: Vec<Received>,
    /// Arrival times of every request, accepted or not.
    attempts: Vec<tokio::time::Instant>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
    bad_mac: usize,
    malformed: usize,
    /// Dedupe keys whose events the sink refuses as malformed (400), with
    /// every batch that holds one: as an endpoint of another version would.
    refuse: std::collections::HashSet<String>,
}

#[derive(Debug)]
struct SinkShared {
    state: Mutex<SinkState>,
    changed: Notify,
}

/// The scoring endpoint stand-in, in the caller's runtime.
#[derive(Debug)]
pub struct Sink {
    shared: Arc<SinkShared>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

fn lock(state: &Mutex<SinkState>) -> MutexGuard<'_, SinkState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sink {
    pub async fn start() -> Self {
        let shared = Arc::new(SinkShared {
            state: Mutex::new(SinkState::default()),
            changed: Notify::new(),
        });
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).into_future().await;
        });
        Self {
            shared,
            addr,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// The next `count` requests get `reply`.
    pub fn script(&self, count: usize, reply: Reply) {
        let mut state = lock(&self.shared.state);
        state.script.extend(std::iter::repeat_n(reply, count));
    }

    /// From now on, any batch holding the event with this dedupe key is
    /// refused as malformed (400).
    pub fn refuse_event(&self, dedupe: &str) {
        lock(&self.shared.state).refuse.insert(dedupe.to_owned());
    }

    /// The endpoint was fixed: nothing is refused any more.
    pub fn accept_all(&self) {
        lock(&self.shared.state).refuse.clear();
    }

    /// Every request (after the script) gets `reply`.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.shared.state).default = Some(reply);
    }

    pub fn accepted(&self) -> Vec<Received> {
        lock(&self.shared.state).accepted.clone()
    }

    pub fn attempts(&self) -> Vec<tokio::time::Instant> {
        lock(&self.shared.state).attempts.clone()
    }

    /// Events in the order they were accepted, duplicates included.
    pub fn events(&self) -> Vec<RelayEvent> {
        lock(&self.shared.state)
            .accepted
            .iter()
            .flat_map(|r| r.events.iter().cloned())
            .collect()
    }

    /// Dedupe keys in first-accepted order, each once: what the database
    /// keeps (`on conflict do nothing`).
    pub fn stored_keys(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.events()
            .into_iter()
            .filter(|e| seen.insert(e.dedupe.clone()))
            .map(|e| e.dedupe)
            .collect()
    }

    pub fn bad_requests(&self) -> (usize, usize) {
        let state = lock(&self.shared.state);
        (state.bad_mac, state.malformed)
    }

    /// Waits until `done(self)` holds.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                let changed = self.shared.changed.notified();
                if done(self) {
                    return;
                }
                changed.await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }

    pub async fn wait_for_keys(&self, count: usize) {
        self.wait_until(&format!("{count} distinct events"), |sink| {
            sink.stored_keys().len() >= count
        })
        .await;
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn receive(
    State(shared): State<Arc<SinkShared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let reply = {
        let mut state = lock(&shared.state);
        state.attempts.push(tokio::time::Instant::now());
        let reply = state
            .script
            .pop_front()
            .or(state.default)
            .unwrap_or(Reply::Accept);
        drop(state);
        shared.changed.notify_waiters();
        reply
    };
    match reply {
        Reply::Accept | Reply::ApplyThenFail(_) => {}
        Reply::Status(code) => {
            let code = StatusCode::from_u16(code).expect("a status code");
            return (code, format!("scripted {code}"));
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            return (StatusCode::OK, String::new());
        }
    }
    let verified = verify(
        SECRET.as_bytes(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        unix_now(),
        300,
    );
    if let Err(err) = verified {
        lock(&shared.state).bad_mac += 1;
        shared.changed.notify_waiters();
        return (StatusCode::UNAUTHORIZED, err.to_string());
    }
    let batch = match RelayBatch::parse(&body) {
        Ok(batch) => batch,
        Err(err) => {
            lock(&shared.state).malformed += 1;
            shared.changed.notify_waiters();
            return (StatusCode::BAD_REQUEST, err.to_string());
        }
    };
    let refused = {
        let state = lock(&shared.state);
        batch
            .events
            .iter()
            .position(|event| state.refuse.contains(&event.dedupe))
    };
    if let Some(index) = refused {
        lock(&shared.state).malformed += 1;
        shared.changed.notify_waiters();
        return (
            StatusCode::BAD_REQUEST,
            format!("event {index}: unknown kind"),
        );
    }
    let status = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|mut v| v.get_mut("status").map(Value::take));
    lock(&shared.state).accepted.push(Received {
        events: batch.events,
        status,
        body,
        at: tokio::time::Instant::now(),
    });
    shared.changed.notify_waiters();
    match reply {
        Reply::ApplyThenFail(code) => (
            StatusCode::from_u16(code).expect("a status code"),
            "applied, but the answer is lost".to_owned(),
        ),
        _ => (StatusCode::OK, String::new()),
    }
}

/// The relay's environment for a test; override entries as needed.
pub fn relay_env(gateway_url: &str, sink_url: &str, state_dir: &Path) -> HashMap<String, String> {
    [
        ("DISCORD_BOT_TOKEN", TOKEN),
        ("DISCORD_GATEWAY_URL", gateway_url),
        ("SCORING_ENDPOINT_URL", sink_url),
        ("RELAY_SHARED_SECRET", SECRET),
        ("RELAY_STATE_DIR", &state_dir.display().to_string()),
        ("RELAY_BATCH_SIZE", "10"),
        ("RELAY_BATCH_INTERVAL_MS", "50"),
        ("RELAY_IDENTIFY_UNTHROTTLED", "true"),
        ("RELAY_STATE_INTERVAL_MS", "100"),
        ("RELAY_RETRY_MIN_MS", "200"),
        ("RELAY_RETRY_MAX_MS", "2000"),
        ("RELAY_REQUEST_TIMEOUT_MS", "2000"),
        ("RELAY_INSTANCE", "relay-under-test"),
        // Status reports only where a test asks for them.
        ("RELAY_STATUS_INTERVAL_SECS", "86400"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn config(env: &HashMap<String, String>) -> Config {
    Config::from_lookup(&|name| env.get(name).cloned()).expect("a valid configuration")
}

/// A relay running in this runtime.
#[derive(Debug)]
pub struct Relay {
    task: JoinHandle<Result<(), RunError>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Relay {
    pub fn start(env: &HashMap<String, String>) -> Self {
        Self::start_with(env, no_jitter())
    }

    pub fn start_with(env: &HashMap<String, String>, hooks: Hooks) -> Self {
        let config = config(env);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway_relay::run(config, hooks, async move {
            let _ = stopped.await;
        }));
        Self {
            task,
            shutdown: Some(shutdown),
        }
    }

    /// Graceful stop, as on SIGTERM.
    pub async fn stop(mut self) -> Result<(), RunError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.finished().await
    }

    /// Gone at once, nothing flushed: as SIGKILL leaves it.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Waits for the relay to end on its own.
    pub async fn finished(self) -> Result<(), RunError> {
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the relay ends in time")
            .expect("the relay task does not panic")
    }
}

/// Fixed time and no jitter: retries happen exactly at `min · 2^n`.
pub fn no_jitter() -> Hooks {
    Hooks {
        jitter: Arc::new(|| 0.0),
        ..Hooks::default()
    }
}

/// Files in `state_dir/sub`.
pub fn files(state_dir: &Path, sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_dir.join(sub))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The saved session state, if any.
pub fn saved_state(state_dir: &Path) -> Option<Value> {
    let bytes = std::fs::read(state_dir.join("session.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn saved_sequence(state_dir: &Path) -> Option<u64> {
    saved_state(state_dir)?["shards"][0]["sequence"].as_u64()
}
