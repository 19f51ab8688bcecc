//! One task per shard: reads the gateway, turns the four engagement
//! dispatches into events and hands everything to the forwarder in order.
//!
//! twilight handles the protocol: heartbeats, op 7 (reconnect and RESUME),
//! op 9 (RESUME or IDENTIFY again), zombied connections (no ACK within a
//! heartbeat interval: reconnect and RESUME) and reconnecting with backoff.
//! A fatal close code (4004, 4010–4014) ends the shard; this task reports
//! it. The loop only ever waits on the shard and on the forwarder's channel,
//! never on the network to the endpoint.

use std::sync::Arc;

use community_core::relay::DispatchPosition;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, watch};
use twilight_gateway::{CloseFrame, Message, Shard, ShardState};
use twilight_model::gateway::event::GatewayEventDeserializer;

use crate::config::Parser;
use crate::forward::Item;
use crate::parse::{kind_of, relay_event};
use crate::status::Health;
use crate::{Hooks, timestamp};

/// Why a shard task ended.
#[derive(Debug)]
pub(crate) enum ShardEnd {
    /// Told to stop, or the forwarder is gone.
    Stopped,
    /// Discord closed the connection for good.
    Fatal {
        shard: u32,
        code: Option<u16>,
        reason: String,
    },
}

pub(crate) struct ShardTask {
    pub(crate) index: usize,
    pub(crate) shard: Shard,
    pub(crate) items: mpsc::Sender<Item>,
    pub(crate) parser: Parser,
    pub(crate) health: Arc<Health>,
    pub(crate) hooks: Hooks,
    pub(crate) stop: watch::Receiver<bool>,
}

impl ShardTask {
    pub(crate) async fn run(mut self) -> ShardEnd {
        let id = self.shard.id();
        let mut session: Option<Arc<str>> = None;
        let mut last_close: Option<CloseFrame<'static>> = None;
        let mut stop = self.stop.clone();
        let stopped = stop.wait_for(|stop| *stop);
        tokio::pin!(stopped);
        loop {
            let message = tokio::select! {
                biased;
                _ = &mut stopped => return ShardEnd::Stopped,
                message = self.shard.next() => message,
            };
            match message {
                None => {
                    self.record_health();
                    let (code, reason) = last_close.map_or((None, String::new()), |f| {
                        (Some(f.code), f.reason.into_owned())
                    });
                    return ShardEnd::Fatal {
                        shard: id.number(),
                        code,
                        reason,
                    };
                }
                Some(Err(err)) => {
                    self.record_health();
                    tracing::warn!(shard = id.number(), error = %err, "gateway receive error; the shard reconnects");
                }
                Some(Ok(Message::Close(frame))) => {
                    self.record_health();
                    let fatal = self.shard.state() == ShardState::FatallyClosed;
                    if fatal {
                        tracing::error!(
                            shard = id.number(),
                            ?frame,
                            "gateway closed the connection for good"
                        );
                    } else {
                        tracing::info!(
                            shard = id.number(),
                            ?frame,
                            "gateway connection closed; twilight reconnects"
                        );
                    }
                    last_close = frame;
                }
                Some(Ok(Message::Text(text))) => {
                    if self.handle(&text, &mut session).await.is_err() {
                        return ShardEnd::Stopped;
                    }
                }
            }
        }
    }

    fn record_health(&self) {
        let latency = self
            .shard
            .latency()
            .recent()
            .first()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        if let Some(health) = self.health.shards.get(self.index) {
            health.record(self.shard.state(), latency);
        }
    }

    /// One text frame; `Err` when the forwarder is gone.
    async fn handle(&mut self, text: &str, session: &mut Option<Arc<str>>) -> Result<(), ()> {
        let Some(frame) = GatewayEventDeserializer::from_json(text) else {
            return Ok(());
        };
        let (op, sequence, event_type) = frame.into_parts();
        let (0, Some(sequence)) = (op, sequence) else {
            // HELLO, heartbeat ACK, op 7, op 9: twilight acted on it.
            self.record_health();
            return Ok(());
        };
        let index = self.index;
        if let Some(current) = self.shard.session()
            && session.as_deref() != Some(current.id())
        {
            let id: Arc<str> = current.id().into();
            *session = Some(Arc::clone(&id));
            self.record_health();
            tracing::info!(shard = index, session = %id, sequence, "gateway session");
            let item = Item::Session {
                shard: index,
                session_id: id,
                resume_url: self.shard.resume_url().map(Arc::from),
                sequence: sequence.saturating_sub(1),
            };
            self.items.send(item).await.map_err(|_| ())?;
        }
        let kind = event_type.as_deref().and_then(kind_of);
        let item = match (kind, session.as_deref()) {
            (Some(kind), Some(session_id)) => {
                let received_at = timestamp((self.hooks.wall_clock)());
                let position = DispatchPosition {
                    session_id,
                    sequence,
                };
                match relay_event(self.parser, kind, text, position, received_at) {
                    Ok(Some(event)) => {
                        self.health.event_received(received_at);
                        Item::Event {
                            shard: index,
                            sequence,
                            event,
                        }
                    }
                    // Not in a guild: nothing to score.
                    Ok(None) => Item::Seen {
                        shard: index,
                        sequence,
                    },
                    Err(err) => {
                        tracing::error!(
                            shard = index,
                            sequence,
                            error = %err,
                            "cannot read a dispatch the relay should forward; skipped"
                        );
                        Item::Seen {
                            shard: index,
                            sequence,
                        }
                    }
                }
            }
            _ => Item::Seen {
                shard: index,
                sequence,
            },
        };
        self.items.send(item).await.map_err(|_| ())
    }
}
