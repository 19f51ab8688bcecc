//! The relay's health, shared between the gateway tasks (latency, last event)
//! and the forwarder (counts, spool depth), and the `status` object the
//! forwarder puts next to `events` in a batch at least every
//! `RELAY_STATUS_INTERVAL_SECS`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

use serde::Serialize;
use twilight_gateway::ShardState;
use twilight_model::util::Timestamp;

/// Per shard, written by its gateway task.
#[derive(Debug, Default)]
pub(crate) struct ShardHealth {
    /// Most recent heartbeat round trip in ms, `u64::MAX` while unknown.
    latency_ms: AtomicU64,
    state: AtomicU8,
}

impl ShardHealth {
    pub(crate) fn record(&self, state: ShardState, latency_ms: Option<u64>) {
        let code = match state {
            ShardState::Active => 1,
            ShardState::Resuming => 2,
            ShardState::Identifying => 3,
            ShardState::Disconnected { .. } => 4,
            ShardState::FatallyClosed => 5,
        };
        self.state.store(code, Ordering::Relaxed);
        self.latency_ms
            .store(latency_ms.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn state_name(&self) -> &'static str {
        match self.state.load(Ordering::Relaxed) {
            1 => "active",
            2 => "resuming",
            3 => "identifying",
            4 => "disconnected",
            5 => "fatally_closed",
            _ => "starting",
        }
    }

    fn latency(&self) -> Option<u64> {
        Some(self.latency_ms.load(Ordering::Relaxed)).filter(|ms| *ms != u64::MAX)
    }
}

/// Everything the status report reads.
#[derive(Debug)]
pub(crate) struct Health {
    pub(crate) instance: String,
    pub(crate) started_at: Timestamp,
    pub(crate) shards: Vec<ShardHealth>,
    /// Unix µs of the last forwarded dispatch received, 0 before the first.
    last_event_micros: AtomicI64,
    /// Events acknowledged by the endpoint since start.
    pub(crate) events_forwarded: AtomicU64,
    /// Events in batches the endpoint refused as malformed.
    pub(crate) events_rejected: AtomicU64,
}

impl Health {
    pub(crate) fn new(instance: String, started_at: Timestamp, shards: u32) -> Arc<Self> {
        Arc::new(Self {
            instance,
            started_at,
            shards: (0..shards).map(|_| ShardHealth::default()).collect(),
            last_event_micros: AtomicI64::new(0),
            events_forwarded: AtomicU64::new(0),
            events_rejected: AtomicU64::new(0),
        })
    }

    pub(crate) fn event_received(&self, at: Timestamp) {
        self.last_event_micros
            .store(at.as_micros(), Ordering::Relaxed);
    }

    /// The report, as of `now`, with the forwarder's own figures.
    pub(crate) fn report(&self, now: Timestamp, queue: QueueDepth) -> RelayStatus {
        let shards: Vec<ShardStatus> = self
            .shards
            .iter()
            .enumerate()
            .map(|(id, shard)| ShardStatus {
                id: u32::try_from(id).unwrap_or(u32::MAX),
                state: shard.state_name(),
                latency_ms: shard.latency(),
            })
            .collect();
        let last = self.last_event_micros.load(Ordering::Relaxed);
        RelayStatus {
            instance: self.instance.clone(),
            version: env!("CARGO_PKG_VERSION"),
            started_at: self.started_at,
            sent_at: now,
            events_forwarded: self.events_forwarded.load(Ordering::Relaxed),
            events_rejected: self.events_rejected.load(Ordering::Relaxed),
            spool_batches: queue.spool_batches,
            spool_events: queue.spool_events,
            memory_batches: queue.memory_batches,
            memory_events: queue.memory_events,
            gateway_latency_ms: shards.iter().filter_map(|s| s.latency_ms).max(),
            last_event_at: (last != 0)
                .then(|| Timestamp::from_micros(last).ok())
                .flatten(),
            shards,
        }
    }
}

/// What waits to be delivered, from the forwarder.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct QueueDepth {
    pub(crate) spool_batches: usize,
    pub(crate) spool_events: usize,
    pub(crate) memory_batches: usize,
    pub(crate) memory_events: usize,
}

/// The `status` field of a batch body.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RelayStatus {
    pub(crate) instance: String,
    pub(crate) version: &'static str,
    pub(crate) started_at: Timestamp,
    pub(crate) sent_at: Timestamp,
    pub(crate) events_forwarded: u64,
    pub(crate) events_rejected: u64,
    pub(crate) spool_batches: usize,
    pub(crate) spool_events: usize,
    pub(crate) memory_batches: usize,
    pub(crate) memory_events: usize,
    /// The slowest shard's last heartbeat round trip.
    pub(crate) gateway_latency_ms: Option<u64>,
    pub(crate) last_event_at: Option<Timestamp>,
    pub(crate) shards: Vec<ShardStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ShardStatus {
    pub(crate) id: u32,
    pub(crate) state: &'static str,
    pub(crate) latency_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_the_documented_shape() {
        let started = Timestamp::from_secs(1_795_000_000).expect("valid");
        let health = Health::new("relay-a".to_owned(), started, 2);
        health.shards[0].record(ShardState::Active, Some(41));
        health.shards[1].record(ShardState::Resuming, Some(97));
        health.event_received(Timestamp::from_secs(1_795_000_100).expect("valid"));
        health.events_forwarded.store(12, Ordering::Relaxed);
        let queue = QueueDepth {
            spool_batches: 2,
            spool_events: 900,
            memory_batches: 1,
            memory_events: 10,
        };
        let now = Timestamp::from_secs(1_795_000_200).expect("valid");
        let value = serde_json::to_value(health.report(now, queue)).expect("serializes");
        assert_eq!(
            value,
            serde_json::json!({
                "instance": "relay-a",
                "version": env!("CARGO_PKG_VERSION"),
                "started_at": "2026-11-18T11:06:40.000000+00:00",
                "sent_at": "2026-11-18T11:10:00.000000+00:00",
                "events_forwarded": 12,
                "events_rejected": 0,
                "spool_batches": 2,
                "spool_events": 900,
                "memory_batches": 1,
                "memory_events": 10,
                "gateway_latency_ms": 97,
                "last_event_at": "2026-11-18T11:08:20.000000+00:00",
                "shards": [
                    { "id": 0, "state": "active", "latency_ms": 41 },
                    { "id": 1, "state": "resuming", "latency_ms": 97 }
                ]
            })
        );
    }
}
