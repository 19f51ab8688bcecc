//! One client connection: the protocol side of the fake gateway.

use std::io;
use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_websockets::{CloseCode, Limits, Message, ServerBuilder, WebSocketStream};

use crate::payloads::{dispatch_frame, op_frame, ready};
use crate::{Control, Firehose, SessionLog, Shared};

type Socket = WebSocketStream<TcpStream>;

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
            Err(err) => {
                tracing::warn!(error = %err, "fake gateway: accept failed");
            }
        }
    }
}

/// How a connection ends.
enum End {
    /// The client went away (or asked to).
    Client,
    /// We were told to drop or close it.
    Told,
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let socket = match ServerBuilder::new()
        .limits(Limits::unlimited())
        .accept(stream)
        .await
    {
        Ok((_request, socket)) => socket,
        Err(err) => {
            tracing::debug!(error = %err, "fake gateway: WebSocket handshake failed");
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let id = shared.new_connection(tx.clone());
    let mut connection = Connection {
        id,
        shared: Arc::clone(&shared),
        socket,
        tx,
    };
    let end = connection.run(rx).await;
    tracing::debug!(
        connection = id,
        told = matches!(end, Ok(End::Told)),
        "fake gateway: connection ended"
    );
    let mut state = shared.state();
    state.detach(id);
    state.connections.remove(&id);
    drop(state);
    shared.notify();
}

struct Connection {
    id: u64,
    shared: Arc<Shared>,
    socket: Socket,
    /// Our own control channel: replays go through it so they stay in order
    /// with dispatches pushed meanwhile.
    tx: mpsc::UnboundedSender<Control>,
}

impl Connection {
    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Control>) -> io::Result<End> {
        let interval = self.shared.options.heartbeat_interval.as_millis();
        self.send(op_frame(10, &json!({ "heartbeat_interval": interval })))
            .await?;
        loop {
            tokio::select! {
                incoming = self.socket.next() => match incoming {
                    Some(Ok(message)) if message.is_text() => {
                        let text = message.as_text().unwrap_or_default().to_owned();
                        if let Some(end) = self.handle(&text).await? {
                            return Ok(end);
                        }
                    }
                    Some(Ok(message)) if message.is_close() => return Ok(End::Client),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return Ok(End::Client),
                },
                control = rx.recv() => {
                    let Some(control) = control else { return Ok(End::Told) };
                    if let Some(end) = self.control(control).await? {
                        return Ok(end);
                    }
                }
            }
        }
    }

    async fn send(&mut self, frame: String) -> io::Result<()> {
        self.socket
            .send(Message::text(frame))
            .await
            .map_err(io::Error::other)
    }

    async fn control(&mut self, control: Control) -> io::Result<Option<End>> {
        match control {
            Control::Frame(frame) => self.send(frame.to_string()).await?,
            Control::Reconnect => self.send(op_frame(7, &Value::Null)).await?,
            Control::InvalidSession { resumable } => {
                self.send(op_frame(9, &Value::Bool(resumable))).await?;
            }
            Control::Close { code, reason } => {
                let code = CloseCode::try_from(code).ok();
                let _ = self.socket.send(Message::close(code, &reason)).await;
                return Ok(Some(End::Told));
            }
            Control::Drop => return Ok(Some(End::Told)),
            Control::Zombie => return self.zombie().await.map(Some),
            Control::Firehose(firehose) => self.firehose(firehose).await?,
        }
        Ok(None)
    }

    /// Reads and discards until the client gives up; answers nothing.
    async fn zombie(&mut self) -> io::Result<End> {
        self.shared.state().detach(self.id);
        self.shared.notify();
        while let Some(Ok(message)) = self.socket.next().await {
            if message.is_close() {
                break;
            }
        }
        Ok(End::Client)
    }

    async fn firehose(&mut self, firehose: Firehose) -> io::Result<()> {
        let Firehose {
            first_sequence,
            count,
            first_message_id,
            template,
            done,
        } = firehose;
        let result = async {
            for i in 0..count {
                let frame = template.render(first_sequence + i, first_message_id + i);
                self.socket
                    .feed(Message::text(frame))
                    .await
                    .map_err(io::Error::other)?;
            }
            self.socket.flush().await.map_err(io::Error::other)
        }
        .await;
        let failed = result
            .as_ref()
            .err()
            .map(|e| io::Error::new(e.kind(), e.to_string()));
        let _ = done.send(result);
        failed.map_or(Ok(()), Err)
    }

    /// Handles one client frame; `Some` ends the connection.
    async fn handle(&mut self, text: &str) -> io::Result<Option<End>> {
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            let _ = self
                .socket
                .send(Message::close(
                    CloseCode::try_from(4002).ok(),
                    "Decode error",
                ))
                .await;
            return Ok(Some(End::Told));
        };
        let data = payload.get("d").cloned().unwrap_or(Value::Null);
        match payload.get("op").and_then(Value::as_u64) {
            Some(1) => {
                self.shared.state().counts.heartbeats += 1;
                self.shared.notify();
                self.send(op_frame(11, &Value::Null)).await?;
            }
            Some(2) => return self.identify(data).await,
            Some(6) => self.resume(&data).await?,
            _ => {}
        }
        Ok(None)
    }

    async fn identify(&mut self, data: Value) -> io::Result<Option<End>> {
        let token = data
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let wrong_token = self
            .shared
            .options
            .token
            .as_deref()
            .is_some_and(|expected| token.strip_prefix("Bot ").unwrap_or(token) != expected);
        let shard = data
            .get("shard")
            .and_then(Value::as_array)
            .map(|pair| {
                let get = |i: usize| {
                    pair.get(i)
                        .and_then(Value::as_u64)
                        .and_then(|v| u32::try_from(v).ok())
                };
                [get(0).unwrap_or(0), get(1).unwrap_or(1)]
            })
            .unwrap_or([0, 1]);
        let refused = {
            let mut state = self.shared.state();
            state.counts.identifies += 1;
            state.identify_payloads.push(data);
            let shard_count = state.shards.len();
            let index = usize::try_from(shard[0]).unwrap_or(usize::MAX);
            let bad_shard =
                index >= shard_count || usize::try_from(shard[1]).ok() != Some(shard_count);
            if wrong_token {
                Some((4004, "Authentication failed"))
            } else if bad_shard {
                Some((4010, "Invalid shard"))
            } else {
                None
            }
        };
        self.shared.notify();
        if let Some((code, reason)) = refused {
            let _ = self
                .socket
                .send(Message::close(CloseCode::try_from(code).ok(), reason))
                .await;
            return Ok(Some(End::Told));
        }
        let index = usize::try_from(shard[0]).unwrap_or_default();
        let mut state = self.shared.state();
        let session_id = Shared::new_session_id(&mut state);
        let ready = ready(&session_id, &self.shared.url, shard).to_string();
        let frame: Arc<str> = dispatch_frame(1, "READY", &ready).into();
        state.shards[index].session = Some(SessionLog {
            id: session_id,
            sequence: 1,
            log: [(1, Arc::clone(&frame))].into(),
            oldest_resumable: 0,
        });
        state.attach(index, self.id);
        let _ = self.tx.send(Control::Frame(frame));
        state.counts.dispatches_sent += 1;
        let limit = self.shared.options.replay_limit;
        while let Some((event_type, data)) = state.shards[index].waiting.pop_front() {
            state.sequence_and_send(index, &event_type, &data, limit);
        }
        drop(state);
        self.shared.notify();
        Ok(None)
    }

    async fn resume(&mut self, data: &Value) -> io::Result<()> {
        let session_id = data
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let after = data.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let accepted = self.replay(session_id, after);
        self.shared.notify();
        if accepted {
            Ok(())
        } else {
            self.send(op_frame(9, &Value::Bool(false))).await
        }
    }

    /// Attaches to the session and queues every dispatch after `after`, then
    /// RESUMED; `false` if the session is unknown or `after` is too old.
    fn replay(&self, session_id: &str, after: u64) -> bool {
        let mut state = self.shared.state();
        state.counts.resumes += 1;
        let found = state.shards.iter().position(|slot| {
            slot.session
                .as_ref()
                .is_some_and(|s| s.id == session_id && after >= s.oldest_resumable)
        });
        let Some(index) = found else {
            state.counts.resumes_refused += 1;
            return false;
        };
        state.attach(index, self.id);
        let Some(session) = state.shards[index].session.as_mut() else {
            return false;
        };
        let replay: Vec<Arc<str>> = session
            .log
            .iter()
            .filter(|(sequence, _)| *sequence > after)
            .map(|(_, frame)| Arc::clone(frame))
            .collect();
        session.sequence += 1;
        let resumed: Arc<str> = dispatch_frame(session.sequence, "RESUMED", "{}").into();
        session
            .log
            .push_back((session.sequence, Arc::clone(&resumed)));
        state.counts.dispatches_sent += replay.len() + 1;
        for frame in replay {
            let _ = self.tx.send(Control::Frame(frame));
        }
        let _ = self.tx.send(Control::Frame(resumed));
        true
    }
}
