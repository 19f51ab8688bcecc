//! The forwarder: one task that batches events, delivers batches to the
//! scoring endpoint one at a time in order, spools what cannot be delivered
//! now, and saves the session state once it is safe.
//!
//! Batches are numbered as they are sealed and always sent lowest number
//! first, wherever they live (memory or spool): a batch sealed during an
//! outage waits behind the spool, so a reaction's removal never overtakes its
//! add. At most `RELAY_MEMORY_BATCHES` sealed batches are held in memory; the
//! rest go straight to disk, so memory stays bounded however long the outage.
//! Nothing here waits on the network inline: the request in flight is one
//! branch of the loop, so events keep flowing in while it runs and the
//! gateway tasks (and their heartbeats) never stall behind it.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use community_core::config::Secret;
use community_core::relay::{RelayBatch, RelayEvent, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};

use crate::Hooks;
use crate::spool::Spool;
use crate::state::{self, Position, Progress};
use crate::status::{Health, QueueDepth};

/// What the gateway tasks send the forwarder, in dispatch order per shard.
#[derive(Debug)]
pub(crate) enum Item {
    /// A session began (READY) or was first seen after a RESUME; everything
    /// up to `sequence` was already dispatched before it.
    Session {
        shard: usize,
        session_id: Arc<str>,
        resume_url: Option<Arc<str>>,
        sequence: u64,
    },
    /// A dispatch to forward.
    Event {
        shard: usize,
        sequence: u64,
        event: RelayEvent,
    },
    /// A dispatch the relay does not forward; its sequence still counts.
    Seen { shard: usize, sequence: u64 },
}

/// Exponential backoff with jitter: `min · 2^attempt`, capped at `max`, of
/// which a random half is taken off so retries from many relays spread out.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The next delay; `jitter` is uniform in `[0, 1)`.
    pub(crate) fn next(&mut self, jitter: f64) -> Duration {
        let factor = 2_u32.saturating_pow(self.attempt.min(30));
        let ceiling = self.min.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The longest delay it gives.
    pub(crate) fn max(&self) -> Duration {
        self.max
    }
}

/// Failures that stop the relay: the spool or state cannot be written, so
/// events could no longer be kept safe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    #[error("cannot write the spool under {dir}")]
    Spool {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the session state under {dir}")]
    State {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What the forwarder needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) endpoint: Arc<str>,
    pub(crate) secret: Secret,
    pub(crate) state_dir: PathBuf,
    pub(crate) batch_size: usize,
    pub(crate) batch_interval: Duration,
    pub(crate) memory_batches: usize,
    pub(crate) status_interval: Duration,
    pub(crate) state_interval: Duration,
    pub(crate) retry_min: Duration,
    pub(crate) retry_max: Duration,
}

/// A sealed batch held in memory: not yet acknowledged, not yet spooled.
#[derive(Debug)]
struct Sealed {
    events: usize,
    body: Bytes,
}

/// How a delivery ended.
#[derive(Debug)]
enum Outcome {
    Acknowledged,
    /// Try again later (5xx, 401, 408, 429, timeout, connection refused...).
    Transient {
        why: String,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
    },
    /// The endpoint refused the batch itself (400, 422): retrying cannot help.
    Refused {
        status: StatusCode,
        body: String,
    },
    /// The endpoint took the batch once a few events were left out: those,
    /// as a batch body of their own (`kept`), are set aside.
    PartlyRefused {
        status: StatusCode,
        body: String,
        refused: usize,
        kept: Bytes,
    },
    /// A spooled batch could not be read back.
    Unreadable(io::Error),
}

struct InFlight {
    /// `None` for a status report with no events.
    batch: Option<u64>,
    events: usize,
    with_status: bool,
    future: Pin<Box<dyn Future<Output = Outcome> + Send>>,
}

pub(crate) struct Forwarder {
    settings: Settings,
    client: reqwest::Client,
    hooks: Hooks,
    health: Arc<Health>,
    open: Vec<RelayEvent>,
    open_deadline: Option<Instant>,
    memory: BTreeMap<u64, Sealed>,
    spool: Spool,
    next_number: u64,
    progress: Progress,
    saved: Vec<Option<Position>>,
    inflight: Option<InFlight>,
    retry_at: Option<Instant>,
    backoff: Backoff,
    status_due: bool,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("open", &self.open.len())
            .field("memory", &self.memory.len())
            .field("spool", &self.spool)
            .field("next_number", &self.next_number)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    pub(crate) fn new(
        settings: Settings,
        client: reqwest::Client,
        hooks: Hooks,
        health: Arc<Health>,
        spool: Spool,
        saved: Vec<Option<Position>>,
    ) -> Self {
        let next_number = spool.last_number().map_or(1, |n| n + 1);
        let backoff = Backoff::new(settings.retry_min, settings.retry_max);
        Self {
            open: Vec::with_capacity(settings.batch_size),
            settings,
            client,
            hooks,
            health,
            open_deadline: None,
            memory: BTreeMap::new(),
            spool,
            next_number,
            progress: Progress::new(saved.clone()),
            saved,
            inflight: None,
            retry_at: None,
            backoff,
            status_due: false,
        }
    }

    fn spool_error(&self) -> impl FnOnce(io::Error) -> ForwardError + use<> {
        let dir = self.settings.state_dir.join("spool");
        move |source| ForwardError::Spool { dir, source }
    }

    /// Runs until every gateway task has hung up (shutdown or a fatal close),
    /// then spools what is left and saves the state.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Item>) -> Result<(), ForwardError> {
        if self.spool.batches() > 0 {
            tracing::info!(
                batches = self.spool.batches(),
                events = self.spool.events(),
                "resending batches spooled by a previous run"
            );
        }
        // The first report one interval after start, then every interval;
        // it rides on the next batch, or goes alone when there is none.
        let status_every = self.settings.status_interval;
        let mut status_tick = tokio::time::interval_at(Instant::now() + status_every, status_every);
        status_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut state_tick = tokio::time::interval(self.settings.state_interval);
        state_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut items = Vec::with_capacity(256);
        loop {
            self.pump();
            let far = Instant::now() + Duration::from_secs(86_400);
            let open_deadline = self.open_deadline;
            let retry_at = self.retry_at.filter(|_| self.inflight.is_none());
            tokio::select! {
                received = rx.recv_many(&mut items, 256) => {
                    if received == 0 {
                        break;
                    }
                    for item in items.drain(..) {
                        self.take(item).await?;
                    }
                }
                outcome = in_flight(&mut self.inflight) => self.finish(outcome).await?,
                () = sleep_until(open_deadline.unwrap_or(far)), if open_deadline.is_some() => {
                    self.seal().await?;
                }
                () = sleep_until(retry_at.unwrap_or(far)), if retry_at.is_some() => {
                    self.retry_at = None;
                }
                _ = status_tick.tick() => self.status_due = true,
                _ = state_tick.tick() => self.save_state().await?,
            }
        }
        self.flush().await
    }

    async fn take(&mut self, item: Item) -> Result<(), ForwardError> {
        match item {
            Item::Session {
                shard,
                session_id,
                resume_url,
                sequence,
            } => self
                .progress
                .session(shard, session_id, resume_url, sequence),
            Item::Seen { shard, sequence } => self.progress.seen(shard, sequence),
            Item::Event {
                shard,
                sequence,
                event,
            } => {
                if self.open.is_empty() {
                    self.open_deadline = Some(Instant::now() + self.settings.batch_interval);
                }
                self.open.push(event);
                self.progress.seen(shard, sequence);
                if self.open.len() >= self.settings.batch_size {
                    self.seal().await?;
                }
            }
        }
        Ok(())
    }

    /// Closes the open batch: numbered, serialized once, kept in memory if
    /// there is room, else spooled at once.
    async fn seal(&mut self) -> Result<(), ForwardError> {
        self.open_deadline = None;
        if self.open.is_empty() {
            return Ok(());
        }
        let number = self.next_number;
        self.next_number += 1;
        let events = self.open.len();
        let batch = RelayBatch {
            events: std::mem::take(&mut self.open),
        };
        let mut body = BytesMut::with_capacity(events * 320 + 16).writer();
        serde_json::to_writer(&mut body, &batch).expect("a RelayBatch always serializes");
        let body = body.into_inner().freeze();
        self.open = batch.events;
        self.open.clear();
        self.progress.sealed(number);
        // While anything is spooled (an outage, or its backlog draining) new
        // batches join the spool too: everything stays on disk, in order, and
        // the saved session keeps up with it. What is on disk must always be
        // older than what is only in memory: a crash loses the memory, the
        // restarted relay sends the spool first, then the gateway replays
        // what was lost; a spooled batch newer than a lost one would overtake
        // it. So when memory is full, it goes to disk first.
        if self.spool.batches() == 0 && self.memory.len() < self.settings.memory_batches {
            self.memory.insert(number, Sealed { events, body });
        } else {
            tracing::debug!(batch = number, events, "batch goes to the spool");
            self.spill_memory().await?;
            let error = self.spool_error();
            self.spool
                .write(number, events, body)
                .await
                .map_err(error)?;
        }
        Ok(())
    }

    fn queue_depth(&self) -> QueueDepth {
        QueueDepth {
            spool_batches: self.spool.batches(),
            spool_events: self.spool.events(),
            memory_batches: self.memory.len(),
            memory_events: self.memory.values().map(|s| s.events).sum(),
        }
    }

    /// Starts the next delivery if none is running and no backoff is due.
    fn pump(&mut self) {
        if self.inflight.is_some() || self.retry_at.is_some() {
            return;
        }
        let in_memory = self.memory.first_key_value().map(|(n, s)| (*n, s.events));
        let spooled = self.spool.first();
        let next = match (in_memory, spooled) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        let status = self.status_due.then(|| {
            let now = crate::timestamp((self.hooks.wall_clock)());
            serde_json::to_vec(&self.health.report(now, self.queue_depth()))
                .expect("status always serializes")
        });
        let (batch, events, body): (Option<u64>, usize, BodySource) = match next {
            Some((number, events)) => {
                let body = match self.memory.get(&number) {
                    Some(sealed) => BodySource::Ready(sealed.body.clone()),
                    None => match self.spool.reader(number) {
                        Some(read) => BodySource::Read(Box::pin(read)),
                        None => return,
                    },
                };
                (Some(number), events, body)
            }
            None if status.is_some() => (
                None,
                0,
                BodySource::Ready(Bytes::from_static(br#"{"events":[]}"#)),
            ),
            None => return,
        };
        let with_status = status.is_some();
        let future = deliver(
            self.client.clone(),
            Arc::clone(&self.settings.endpoint),
            self.settings.secret.clone(),
            Arc::clone(&self.hooks.wall_clock),
            body,
            status,
        );
        self.inflight = Some(InFlight {
            batch,
            events,
            with_status,
            future: Box::pin(future),
        });
    }

    /// A batch delivered (or partly set aside): out of memory, or off the
    /// spool.
    async fn done_with(&mut self, number: u64) -> Result<(), ForwardError> {
        if self.memory.remove(&number).is_none() {
            let error = self.spool_error();
            self.spool.remove(number).await.map_err(error)?;
        }
        Ok(())
    }

    async fn finish(&mut self, outcome: Outcome) -> Result<(), ForwardError> {
        let Some(InFlight {
            batch,
            events,
            with_status,
            ..
        }) = self.inflight.take()
        else {
            return Ok(());
        };
        let Some(number) = batch else {
            // A status report alone: on failure, the next tick tries again.
            self.status_due = false;
            if !matches!(outcome, Outcome::Acknowledged) {
                tracing::warn!(?outcome, "status report not delivered");
            }
            return Ok(());
        };
        match outcome {
            Outcome::Acknowledged => {
                if with_status {
                    self.status_due = false;
                }
                self.done_with(number).await?;
                self.backoff.reset();
                self.health
                    .events_forwarded
                    .fetch_add(events as u64, Ordering::Relaxed);
                tracing::debug!(batch = number, events, "batch acknowledged");
            }
            Outcome::Transient {
                why,
                status,
                retry_after,
            } => {
                // The failed batch and every batch behind it in memory go to
                // disk: none of them may be lost if the outage outlasts us.
                self.spill_memory().await?;
                let jitter = (self.hooks.jitter)();
                // A Retry-After longer than the longest backoff is not
                // trusted further than it (nor can it overflow the clock).
                let delay = self
                    .backoff
                    .next(jitter)
                    .max(retry_after.unwrap_or_default().min(self.backoff.max()));
                self.retry_at = Some(Instant::now() + delay);
                let spooled = self.spool.batches();
                if status == Some(StatusCode::UNAUTHORIZED) {
                    tracing::error!(
                        batch = number,
                        retry_in_ms = delay.as_millis(),
                        spooled,
                        "the scoring endpoint refused the signature (401): check that \
                         RELAY_SHARED_SECRET matches the endpoint's and that both clocks are \
                         right; the batch stays spooled and is retried"
                    );
                } else if status.is_some_and(|s| s.is_client_error()) {
                    tracing::error!(
                        batch = number,
                        error = %why,
                        retry_in_ms = delay.as_millis(),
                        spooled,
                        "the scoring endpoint refused the request: check SCORING_ENDPOINT_URL \
                         (the interactions worker's /events) and anything in front of it; the \
                         batch stays spooled and is retried"
                    );
                } else {
                    tracing::warn!(
                        batch = number,
                        error = %why,
                        retry_in_ms = delay.as_millis(),
                        spooled,
                        "scoring endpoint unavailable; batch spooled, retrying"
                    );
                }
            }
            Outcome::PartlyRefused {
                status,
                body,
                refused,
                kept,
            } => {
                let error = self.spool_error();
                let kept = self
                    .spool
                    .write_rejected(number, refused, kept)
                    .await
                    .map_err(error)?;
                self.done_with(number).await?;
                self.backoff.reset();
                self.health
                    .events_forwarded
                    .fetch_add((events - refused) as u64, Ordering::Relaxed);
                self.health
                    .events_rejected
                    .fetch_add(refused as u64, Ordering::Relaxed);
                tracing::error!(
                    batch = number,
                    events,
                    refused,
                    status = status.as_u16(),
                    response = %body,
                    kept = %kept.display(),
                    "the scoring endpoint refused some events of a batch as malformed; the rest \
                     were delivered, those are kept aside and not retried (once the endpoint \
                     takes them: gateway-relay replay-rejected)"
                );
            }
            Outcome::Refused { status, body } => {
                let error = self.spool_error();
                let kept = match self.memory.remove(&number) {
                    Some(sealed) => self
                        .spool
                        .write_rejected(number, sealed.events, sealed.body)
                        .await
                        .map_err(error)?,
                    None => self.spool.reject(number).await.map_err(error)?,
                };
                self.backoff.reset();
                self.health
                    .events_rejected
                    .fetch_add(events as u64, Ordering::Relaxed);
                tracing::error!(
                    batch = number,
                    events,
                    status = status.as_u16(),
                    response = %body,
                    kept = %kept.display(),
                    "the scoring endpoint refused a batch as malformed; it is kept aside and \
                     not retried (once the endpoint takes it: gateway-relay replay-rejected)"
                );
            }
            Outcome::Unreadable(err) => {
                if err.kind() == io::ErrorKind::NotFound {
                    tracing::error!(batch = number, "spooled batch vanished from disk");
                    let _ = self.spool.remove(number).await;
                } else {
                    return Err((self.spool_error())(err));
                }
            }
        }
        Ok(())
    }

    /// Moves every batch held in memory to the spool, oldest first.
    async fn spill_memory(&mut self) -> Result<(), ForwardError> {
        for (number, sealed) in std::mem::take(&mut self.memory) {
            let error = self.spool_error();
            self.spool
                .write(number, sealed.events, sealed.body)
                .await
                .map_err(error)?;
        }
        Ok(())
    }

    /// Saves the session state if what is safe has moved.
    async fn save_state(&mut self) -> Result<(), ForwardError> {
        let oldest_unsafe = self.memory.keys().next().copied();
        let safe = self
            .progress
            .settle(oldest_unsafe, self.open.is_empty())
            .to_vec();
        if safe == self.saved {
            return Ok(());
        }
        let dir = self.settings.state_dir.clone();
        let positions = safe.clone();
        tokio::task::spawn_blocking(move || state::save(&dir, &positions))
            .await
            .map_err(io::Error::other)
            .and_then(|saved| saved)
            .map_err(|source| ForwardError::State {
                dir: self.settings.state_dir.clone(),
                source,
            })?;
        tracing::debug!(?safe, "session state saved");
        self.saved = safe;
        Ok(())
    }

    /// Shutdown: the open batch and every batch still in memory (the one in
    /// flight included: if it did arrive, the endpoint ignores the repeat)
    /// go to the spool; then everything received is safe to resume after.
    async fn flush(mut self) -> Result<(), ForwardError> {
        self.inflight = None;
        self.seal().await?;
        let spooled: usize = self.memory.values().map(|s| s.events).sum();
        self.spill_memory().await?;
        self.save_state().await?;
        tracing::info!(
            spooled_now = spooled,
            spool_batches = self.spool.batches(),
            spool_events = self.spool.events(),
            "forwarder stopped; undelivered batches are in the spool"
        );
        Ok(())
    }
}

/// Awaits the delivery in flight, or forever when there is none.
async fn in_flight(inflight: &mut Option<InFlight>) -> Outcome {
    match inflight {
        Some(inflight) => inflight.future.as_mut().await,
        None => std::future::pending().await,
    }
}

enum BodySource {
    Ready(Bytes),
    Read(Pin<Box<dyn Future<Output = io::Result<Bytes>> + Send>>),
}

/// `{"events":[...]}` + `status` → `{"events":[...],"status":{...}}`.
fn with_status(body: &[u8], status: &[u8]) -> Bytes {
    match body.strip_suffix(b"}") {
        Some(open) => {
            let mut joined = BytesMut::with_capacity(body.len() + status.len() + 16);
            joined.extend_from_slice(open);
            joined.extend_from_slice(br#","status":"#);
            joined.extend_from_slice(status);
            joined.extend_from_slice(b"}");
            joined.freeze()
        }
        None => Bytes::copy_from_slice(body),
    }
}

/// Signs the body now (not when it was spooled) and POSTs it.
async fn deliver(
    client: reqwest::Client,
    endpoint: Arc<str>,
    secret: Secret,
    wall_clock: Arc<dyn Fn() -> std::time::SystemTime + Send + Sync>,
    body: BodySource,
    status: Option<Vec<u8>>,
) -> Outcome {
    let body = match body {
        BodySource::Ready(body) => body,
        BodySource::Read(read) => match read.await {
            Ok(body) => body,
            Err(err) => return Outcome::Unreadable(err),
        },
    };
    let events = body.clone();
    let body = match &status {
        Some(status) => with_status(&body, status),
        None => body,
    };
    let poster = Poster {
        client,
        endpoint,
        secret,
        wall_clock,
    };
    match poster.post(body).await {
        Outcome::Refused { status, body } => poster.split(&events, status, body).await,
        other => other,
    }
}

/// What a delivery needs to sign and send a body.
struct Poster {
    client: reqwest::Client,
    endpoint: Arc<str>,
    secret: Secret,
    wall_clock: Arc<dyn Fn() -> std::time::SystemTime + Send + Sync>,
}

impl Poster {
    /// The endpoint refused `batch` as malformed: one bad event must not
    /// take the good ones with it. Halves are sent in order, and halved
    /// again while refused, down to the events refused alone, which are
    /// all that is set aside. An event delivered in a half is counted once
    /// even if the whole batch is sent again later (after a transient
    /// failure part-way): its dedupe key makes the endpoint skip it.
    async fn split(&self, batch: &[u8], status: StatusCode, why: String) -> Outcome {
        let whole = Outcome::Refused {
            status,
            body: why.clone(),
        };
        let Ok(RelayBatch { events }) = serde_json::from_slice::<RelayBatch>(batch) else {
            return whole;
        };
        if events.len() < 2 {
            return whole;
        }
        let mut parts: VecDeque<&[RelayEvent]> = VecDeque::new();
        let (first, second) = events.split_at(events.len() / 2);
        parts.extend([first, second]);
        let mut refused: Vec<RelayEvent> = Vec::new();
        let mut why = why;
        while let Some(part) = parts.pop_front() {
            let Ok(body) = serde_json::to_vec(&serde_json::json!({ "events": part })) else {
                return whole;
            };
            match self.post(Bytes::from(body)).await {
                Outcome::Acknowledged => {}
                Outcome::Refused { body, .. } if part.len() > 1 => {
                    why = body;
                    let (first, second) = part.split_at(part.len() / 2);
                    parts.push_front(second);
                    parts.push_front(first);
                }
                Outcome::Refused { body, .. } => {
                    why = body;
                    refused.extend_from_slice(part);
                }
                other => return other,
            }
        }
        if refused.is_empty() {
            // Every half went through (the refusal was about the batch as
            // a whole, or did not last): all delivered.
            return Outcome::Acknowledged;
        }
        if refused.len() == events.len() {
            return whole;
        }
        let kept = serde_json::to_vec(&serde_json::json!({ "events": refused }))
            .map(Bytes::from)
            .unwrap_or_default();
        Outcome::PartlyRefused {
            status,
            body: why,
            refused: refused.len(),
            kept,
        }
    }

    /// Signs `body` now and POSTs it.
    async fn post(&self, body: Bytes) -> Outcome {
        let timestamp = crate::timestamp((self.wall_clock)()).as_secs();
        let signature = sign(self.secret.expose().as_bytes(), timestamp, &body);
        let response = self
            .client
            .post(&*self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                return Outcome::Transient {
                    why: community_core::error_chain(&err),
                    status: None,
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Acknowledged;
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(500).collect();
        // Only the endpoint's own verdict that the batch is malformed sets it
        // aside. Any other refusal (404 or 405 from a wrong SCORING_ENDPOINT_URL,
        // 403 from a proxy in front, 401 for the secret or clocks) is about the
        // setup, not the events: they stay spooled until it is fixed.
        let malformed = matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
        );
        if !malformed {
            Outcome::Transient {
                why: format!("HTTP {status}: {excerpt}"),
                status: Some(status),
                retry_after,
            }
        } else {
            Outcome::Refused {
                status,
                body: excerpt,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_takes_off_at_most_half() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let no_jitter: Vec<u128> = (0..7).map(|_| backoff.next(0.0).as_millis()).collect();
        assert_eq!(no_jitter, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        backoff.reset();
        assert_eq!(backoff.next(0.999_999).as_millis(), 250);
        assert_eq!(backoff.next(0.5).as_millis(), 750);
        for _ in 0..100 {
            backoff.next(0.3);
        }
        assert_eq!(backoff.next(1.0), Duration::from_secs(4));
    }

    #[test]
    fn status_goes_next_to_events_in_the_same_object() {
        let joined = with_status(br#"{"events":[1]}"#, br#"{"instance":"a"}"#);
        assert_eq!(&joined[..], br#"{"events":[1],"status":{"instance":"a"}}"#);
        let value: serde_json::Value = serde_json::from_slice(&joined).expect("valid JSON");
        assert_eq!(value["status"]["instance"], "a");
    }
}
