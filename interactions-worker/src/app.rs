//! The interactions application: what happens for each request, with no
//! platform types. The worker shell builds an [`App`] from its bindings and
//! turns a [`Reply`] into a `worker::Response`; tests build one natively
//! against the local database stack and the Discord/Gemini stand-ins.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use community_clients::gemini::GeminiClient;
use community_clients::{DiscordClient, DiscordError, DiscordFailure, Sleep};
use community_core::audit::{PriceTable, RequestTemplate};
use community_core::config::Secret;
use community_core::responses;
use community_core::routing::{self, Action, Incoming};
use community_store::{LogEntry, LogLevel, PendingLog, Store};
use time::OffsetDateTime;
use twilight_model::application::interaction::Interaction;
use twilight_model::channel::message::MessageFlags;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, UserMarker};

use crate::verify::Verifier;
use crate::{audits, events, settings, tickets};

/// Work that finishes after the response is sent (`wait_until`).
pub type Later<T = ()> = Pin<Box<dyn Future<Output = T>>>;

/// `work`'s output if it finishes before `timer`; else `work`, still
/// running, to finish elsewhere.
async fn within<T>(work: Later<T>, timer: impl Future<Output = ()>) -> Result<T, Later<T>> {
    let mut work = Some(work);
    let mut timer = std::pin::pin!(timer);
    std::future::poll_fn(move |cx| {
        let Some(running) = work.as_mut() else {
            return Poll::Pending;
        };
        if let Poll::Ready(out) = running.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match (timer.as_mut().poll(cx), work.take()) {
            (Poll::Ready(()), Some(running)) => Poll::Ready(Err(running)),
            (_, taken) => {
                work = taken;
                Poll::Pending
            }
        }
    })
    .await
}

/// What to send back, and what to finish afterwards.
pub struct Reply {
    pub status: u16,
    /// The JSON body, serialized.
    pub body: String,
    pub later: Option<Later>,
    /// The later work races two waits (see [`App::act`]): the worker runs
    /// it with `community_fetch::undriven`, whose executor can wake it for
    /// either.
    pub later_races: bool,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body", &self.body)
            .field("later", &self.later.is_some())
            .field("later_races", &self.later_races)
            .finish()
    }
}

impl Reply {
    /// A message only the member who asked sees, with nothing after it.
    pub fn ephemeral(text: &str) -> Self {
        Self::interaction(&responses::ephemeral_message(text), None)
    }

    pub fn interaction(response: &InteractionResponse, later: Option<Later>) -> Self {
        Self {
            status: 200,
            body: serde_json::to_string(response).unwrap_or_default(),
            later,
            later_races: false,
        }
    }
}

/// A verified interaction after [`App::triage`].
#[derive(Debug)]
pub enum Triage {
    /// Answered already (a PING's PONG).
    Answer(Reply),
    /// To be carried out by [`App::act`].
    Act(Box<Interaction>, Pending),
}

/// The actions that wait on the database or Discord before they can answer.
#[derive(Debug)]
pub enum Pending {
    Unknown {
        what: String,
    },
    TicketPanel,
    Settings,
    OpenTicketButton,
    Claim {
        ticket_id: community_core::ticket::TicketId,
    },
    CloseRequest {
        ticket_id: community_core::ticket::TicketId,
    },
}

/// A request refused before anything happened: the caller's doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// 401: the signature (or relay MAC) is missing or wrong.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 400: signed correctly, but not a payload we can read.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 503: the service cannot take it now (database down); send again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized(_) => 401,
            Self::BadRequest(_) => 400,
            Self::Unavailable(_) => 503,
        }
    }
}

/// Everything a request needs: configuration and the adapters.
pub struct App<S> {
    /// Checks Discord's signatures (WebCrypto in the Worker, dalek natively).
    pub verifier: Verifier,
    pub application_id: Id<ApplicationMarker>,
    pub store: Store,
    pub discord: DiscordClient<S>,
    pub gemini: Option<GeminiClient>,
    /// The model audits are judged by (`GEMINI_MODEL`), set or not a key:
    /// part of every audit's cache key.
    pub gemini_model: String,
    /// Every audit's Gemini request, serialized once with this
    /// configuration's output limits.
    pub audit_template: RequestTemplate,
    pub prices: PriceTable,
    pub relay_secret: Secret,
    pub relay_max_skew_secs: i64,
    /// Where diagnostics go besides the database log (the worker's console).
    pub console: fn(&str),
    /// Waits, for [`App::act`]'s time limit.
    pub sleep: S,
    /// The bot's user id, once Discord has said it (see
    /// [`App::bot_user_id`]).
    pub bot_user: std::cell::Cell<Option<Id<UserMarker>>>,
    /// How long an interaction's own work (database and Discord calls)
    /// may take before it is answered "still working" and finished in the
    /// background: [`ANSWER_WITHIN`] unless a test shortens it.
    pub answer_within: Duration,
    /// How much longer that work may take in the background before its
    /// user is told it is slow: [`SLOW_AFTER`] unless a test shortens it.
    pub slow_after: Duration,
}

/// Discord waits 3 s for an interaction's answer, and the answer still has
/// to travel back: work that has not finished in 2 s is answered "still
/// working" and finished in the background ([`App::act`]).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The answer sent when an interaction's work runs past [`ANSWER_WITHIN`].
pub use community_core::responses::STILL_WORKING_MESSAGE;

/// A Worker's background work gets 30 s after its answer: work still running
/// this long after "still working" replaces that message with
/// [`SLOW_MESSAGE`], so its user is not left waiting on it if the work is cut
/// off. The work goes on; if it finishes, its answer replaces this one.
pub const SLOW_AFTER: Duration = Duration::from_secs(20);

/// What replaces [`STILL_WORKING_MESSAGE`] after [`SLOW_AFTER`].
pub const SLOW_MESSAGE: &str = "This is taking much longer than it should: Discord or our database is slow right now, and it has been logged. If this message does not change within a minute, please try again.";

impl<S> std::fmt::Debug for App<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

/// What this worker's log lines say they come from.
const LOG_SOURCE: &str = "interactions-worker";

/// The generic message for anything that went wrong on our side.
pub const INTERNAL_ERROR_MESSAGE: &str =
    "Something went wrong on our side and it has been logged. Please try again in a moment.";

impl<S: Sleep + 'static> App<S> {
    /// `POST /interactions`: verify, parse, route, answer within Discord's 3 s.
    pub async fn interaction(
        self: &Rc<Self>,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Reply, Rejection> {
        self.verifier
            .verify(signature, timestamp, body)
            .await
            .map_err(|err| {
                if err.is_senders_fault() {
                    Rejection::Unauthorized(err.to_string())
                } else {
                    Rejection::Unavailable(err.to_string())
                }
            })?;
        match self.triage(body, now)? {
            Triage::Answer(reply) => Ok(reply),
            Triage::Act(interaction, action) => Ok(self.act(*interaction, action, now).await),
        }
    }

    /// The synchronous part of a verified interaction: everything that can
    /// be answered without waiting (a PONG, a body we cannot read, and the
    /// deferrals whose work goes on after the answer) is answered here;
    /// the rest says what to do.
    pub fn triage(self: &Rc<Self>, body: &[u8], now: OffsetDateTime) -> Result<Triage, Rejection> {
        let interaction = match routing::parse(body) {
            Ok(Incoming::Ping) => {
                return Ok(Triage::Answer(Reply::interaction(&responses::pong(), None)));
            }
            Ok(Incoming::Interaction(interaction)) => interaction,
            Err(err) => return Err(Rejection::BadRequest(err.to_string())),
        };
        let action =
            routing::route(&interaction).map_err(|err| Rejection::BadRequest(err.to_string()))?;
        Ok(self.act_at_once(interaction, action, now))
    }

    /// Carry out a verified interaction that waits on I/O before answering,
    /// within Discord's time: work still running after
    /// [`answer_within`](Self::answer_within) is answered with
    /// [`STILL_WORKING_MESSAGE`] (to its user only) and goes on in the
    /// background, where its answer replaces that message, or follows it
    /// when the answer is for the whole channel ([`Self::answer_late`]).
    pub async fn act(
        self: &Rc<Self>,
        interaction: Interaction,
        pending: Pending,
        now: OffsetDateTime,
    ) -> Reply {
        let token = interaction.token.clone();
        let app = Rc::clone(self);
        let work: Later<Reply> =
            Box::pin(async move { app.act_now(interaction, pending, now).await });
        match within(work, self.sleep.sleep(self.answer_within)).await {
            Ok(reply) => reply,
            Err(work) => {
                let app = Rc::clone(self);
                let later: Later = Box::pin(async move {
                    let reply = match within(work, app.sleep.sleep(app.slow_after)).await {
                        Ok(reply) => reply,
                        Err(work) => {
                            app.say_it_is_slow(&token).await;
                            work.await
                        }
                    };
                    app.answer_late(&token, reply).await;
                });
                Reply {
                    later_races: true,
                    ..Reply::interaction(
                        &responses::ephemeral_message(STILL_WORKING_MESSAGE),
                        Some(later),
                    )
                }
            }
        }
    }

    /// Delivers an answer that came after [`STILL_WORKING_MESSAGE`]: a
    /// message to the user alone replaces it; a message for the channel is
    /// posted as a follow-up, and then "still working" says it is done (or
    /// that it could not be posted); a form (which Discord shows only as the
    /// first answer) becomes a request to try again. Then the answer's own
    /// background work, if any, runs: it edits the same message, the user's
    /// own.
    async fn answer_late(&self, token: &str, reply: Reply) {
        let response: Option<InteractionResponse> = serde_json::from_str(&reply.body).ok();
        let replace = match response {
            Some(InteractionResponse {
                kind: InteractionResponseType::ChannelMessageWithSource,
                data: Some(data),
            }) => {
                let ephemeral = data
                    .flags
                    .is_some_and(|flags| flags.contains(MessageFlags::EPHEMERAL));
                if ephemeral {
                    Some(data)
                } else {
                    let posted = self
                        .webhook_call(|| self.discord.followup(self.application_id, token, &data))
                        .await;
                    Some(responses::ephemeral_data(match posted {
                        Ok(()) => "Done.",
                        Err(err) => {
                            self.log_error(
                                "could not post a late answer",
                                &err,
                                serde_json::json!({}),
                            )
                            .await;
                            INTERNAL_ERROR_MESSAGE
                        }
                    }))
                }
            }
            Some(InteractionResponse {
                kind: InteractionResponseType::Modal,
                ..
            }) => Some(responses::ephemeral_data(
                "That took too long for me to show the form. Please try again.",
            )),
            // No pending action answers otherwise; should one start to, it
            // must not be lost without a word.
            _ => {
                self.log(
                    LogLevel::Error,
                    "a late answer of an unexpected kind was not delivered",
                    serde_json::json!({ "answer": reply.body }),
                )
                .await;
                Some(responses::ephemeral_data(INTERNAL_ERROR_MESSAGE))
            }
        };
        if let Some(data) = replace {
            self.replace_first_answer(token, &data, "could not finish a late answer")
                .await;
        }
        if let Some(later) = reply.later {
            later.await;
        }
    }

    /// Replaces "still working" with [`SLOW_MESSAGE`], and logs that the
    /// work is slow.
    async fn say_it_is_slow(&self, token: &str) {
        // Said first: the database may be what is slow.
        self.replace_first_answer(
            token,
            &responses::ephemeral_data(SLOW_MESSAGE),
            "could not say an interaction is slow",
        )
        .await;
        self.log(
            LogLevel::Warn,
            "an interaction's work is still running",
            serde_json::json!({ "after_secs": (self.answer_within + self.slow_after).as_secs_f64() }),
        )
        .await;
    }

    /// Edits the interaction's first answer (through [`Self::webhook_call`]);
    /// a failure is logged as `failed`.
    async fn replace_first_answer(
        &self,
        token: &str,
        data: &InteractionResponseData,
        failed: &str,
    ) {
        if let Err(err) = self
            .webhook_call(|| self.discord.edit_original(self.application_id, token, data))
            .await
        {
            self.log_error(failed, &err, serde_json::json!({})).await;
        }
    }

    /// A call to the interaction webhook right after the first answer went
    /// out, tried again while Discord does not know that answer yet (a 404:
    /// the answer and the call can cross).
    async fn webhook_call<'a, F, Fut>(&'a self, call: F) -> Result<(), DiscordError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), DiscordError>> + 'a,
    {
        let mut tries = 1;
        loop {
            match call().await {
                Err(err) if err.failure() == DiscordFailure::NotFound && tries < 4 => {
                    tries += 1;
                    self.sleep.sleep(Duration::from_millis(500)).await;
                }
                done => return done,
            }
        }
    }

    /// The work of a verified interaction that waits on I/O, without a time
    /// limit ([`Self::act`] sets one).
    async fn act_now(
        self: &Rc<Self>,
        interaction: Interaction,
        pending: Pending,
        now: OffsetDateTime,
    ) -> Reply {
        match pending {
            Pending::Unknown { what } => {
                self.log(
                    LogLevel::Warn,
                    "unknown interaction",
                    serde_json::json!({
                        "what": what,
                        "hint": "the registered commands may be out of date: run `cargo xtask register-commands`",
                    }),
                )
                .await;
                Reply::ephemeral(&format!(
                    "I don't know {what}. The bot's commands may be out of date: please tell whoever runs the bot to register them again."
                ))
            }
            Pending::TicketPanel => tickets::panel(self, &interaction).await,
            Pending::Settings => settings::settings(self, &interaction).await,
            Pending::OpenTicketButton => tickets::open_button(self, &interaction, now).await,
            Pending::Claim { ticket_id } => {
                tickets::claim(self, &interaction, ticket_id, now).await
            }
            Pending::CloseRequest { ticket_id } => {
                tickets::close_request(self, &interaction, ticket_id).await
            }
        }
    }

    /// The actions answered without awaiting anything (their slow part, if
    /// any, is deferred work in the reply); the others become [`Pending`].
    fn act_at_once(
        self: &Rc<Self>,
        interaction: Box<Interaction>,
        action: Action,
        now: OffsetDateTime,
    ) -> Triage {
        let pending = match action {
            Action::Ping => return Triage::Answer(Reply::interaction(&responses::pong(), None)),
            Action::Audit {
                text,
                from_message,
                public,
            } => {
                return Triage::Answer(audits::audit(
                    self,
                    *interaction,
                    text,
                    from_message,
                    public,
                    now,
                ));
            }
            Action::OpenTicket { reason } => {
                return Triage::Answer(tickets::open(self, *interaction, reason));
            }
            Action::CloseConfirm { ticket_id } => {
                return Triage::Answer(tickets::close_confirmed(
                    self,
                    *interaction,
                    ticket_id,
                    now,
                ));
            }
            Action::Close => {
                return Triage::Answer(tickets::close_command(self, *interaction, now));
            }
            Action::Unknown { what } => Pending::Unknown { what },
            Action::TicketPanel => Pending::TicketPanel,
            Action::Settings => Pending::Settings,
            Action::OpenTicketButton => Pending::OpenTicketButton,
            Action::Claim { ticket_id } => Pending::Claim { ticket_id },
            Action::CloseRequest { ticket_id } => Pending::CloseRequest { ticket_id },
        };
        Triage::Act(interaction, pending)
    }

    /// `POST /events`: a signed batch from the gateway relay.
    pub async fn events(
        self: &Rc<Self>,
        timestamp: Option<&str>,
        mac: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Reply, Rejection> {
        events::ingest(self, timestamp, mac, body, now).await
    }

    /// Log to the application log (what the admin live log shows) and the
    /// console. Best effort: logging never fails a request.
    pub async fn log(&self, level: LogLevel, message: &str, fields: serde_json::Value) {
        self.store_log(self.pending_log(level, message, fields))
            .await;
    }

    /// Log an internal failure with its whole chain.
    pub async fn log_error(
        &self,
        what: &str,
        err: &(dyn std::error::Error + 'static),
        fields: serde_json::Value,
    ) {
        self.store_log(self.pending_error(what, err, fields)).await;
    }

    async fn store_log(&self, line: PendingLog) {
        let entry = LogEntry {
            level: line.level,
            source: line.source,
            message: &line.message,
            fields: line.fields,
        };
        if let Err(err) = self.store.append_log(&entry).await {
            (self.console)(&format!(
                "[error] could not write the application log: {err}"
            ));
        }
    }

    /// A log line written to the console now and to the database later,
    /// with other work (see `audits::run`).
    pub fn pending_log(
        &self,
        level: LogLevel,
        message: &str,
        fields: serde_json::Value,
    ) -> PendingLog {
        (self.console)(&format!("[{}] {message} {fields}", level.as_str()));
        PendingLog {
            level,
            source: LOG_SOURCE,
            message: message.to_owned(),
            fields,
        }
    }

    /// An internal failure with its whole chain, as a pending log line.
    pub fn pending_error(
        &self,
        what: &str,
        err: &(dyn std::error::Error + 'static),
        fields: serde_json::Value,
    ) -> PendingLog {
        let mut fields = fields;
        if let Some(map) = fields.as_object_mut() {
            map.insert("error".into(), community_core::error_chain(err).into());
        }
        self.pending_log(LogLevel::Error, what, fields)
    }

    /// Finish a deferred response by replacing "thinking…" with `data`.
    pub async fn finish(
        &self,
        interaction_token: &str,
        data: &twilight_model::http::interaction::InteractionResponseData,
    ) {
        if let Err(err) = self
            .discord
            .edit_original(self.application_id, interaction_token, data)
            .await
        {
            self.log_error(
                "could not finish a deferred interaction",
                &err,
                serde_json::json!({}),
            )
            .await;
        }
    }

    /// The bot's user id, which its channel overwrites name: asked of
    /// Discord once per isolate. If Discord cannot say, the application id,
    /// which it is for every application made since about 2019.
    pub async fn bot_user_id(&self) -> Id<UserMarker> {
        if let Some(id) = self.bot_user.get() {
            return id;
        }
        match self.discord.current_user_id().await {
            Ok(id) => {
                self.bot_user.set(Some(id));
                id
            }
            Err(err) => {
                self.log_error(
                    "reading the bot's user id; using the application id",
                    &err,
                    serde_json::json!({}),
                )
                .await;
                self.application_id.cast()
            }
        }
    }

    /// Send an ephemeral follow-up (after a deferred component update).
    pub async fn follow_up(&self, interaction_token: &str, text: &str) {
        if let Err(err) = self
            .discord
            .followup(
                self.application_id,
                interaction_token,
                &responses::ephemeral_data(text),
            )
            .await
        {
            self.log_error("could not send a follow-up", &err, serde_json::json!({}))
                .await;
        }
    }
}

/// Convert an interaction's time arguments.
pub fn timestamp(at: OffsetDateTime) -> twilight_model::util::Timestamp {
    checked_timestamp(at).unwrap_or_else(|| {
        twilight_model::util::Timestamp::from_secs(0).unwrap_or_else(|_| unreachable_timestamp())
    })
}

/// The same, `None` out of twilight's range.
pub fn checked_timestamp(at: OffsetDateTime) -> Option<twilight_model::util::Timestamp> {
    let micros = i64::try_from(at.unix_timestamp_nanos() / 1_000).ok()?;
    twilight_model::util::Timestamp::from_micros(micros).ok()
}

fn unreachable_timestamp() -> twilight_model::util::Timestamp {
    // Timestamp::from_secs(0) cannot fail; keep the shell panic-free anyway.
    twilight_model::util::Timestamp::parse("1970-01-01T00:00:00+00:00").unwrap_or_else(|_| {
        #[allow(clippy::unwrap_used)]
        twilight_model::util::Timestamp::from_secs(1).unwrap()
    })
}
