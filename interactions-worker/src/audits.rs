//! `/audit` and "Audit message": the text goes to Gemini under the
//! compliance policy and comes back Green / Yellow / Red.
//!
//! Every audit writes an `audits` row; every AI call also a ledger row,
//! whether it succeeded or not. The same text within the guild's cache
//! window returns the stored verdict without a new call, and a guild's daily
//! AI budget stops calls once spent.

use std::rc::Rc;

use community_clients::{GeminiError, Sleep};
use community_core::audit::{
    AuditInputError, AuditOutcome, AuditReason, AuditRequest, Usage, Verdict, parse_response,
};
use community_core::responses;
use community_core::routing;
use community_store::{AuditRecord, CachedAudit, LogLevel, PendingLog};
use time::OffsetDateTime;
use twilight_model::application::interaction::Interaction;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

use crate::app::{App, INTERNAL_ERROR_MESSAGE, Reply};

/// Who asked for an audit, and of what.
#[derive(Clone, Debug)]
pub struct Asked {
    pub guild: Id<GuildMarker>,
    pub member: Id<UserMarker>,
    pub channel: Option<Id<ChannelMarker>>,
    pub source: &'static str,
    /// The verdict is for the whole channel (`/audit public:True`), not
    /// only for whoever asked.
    pub public: bool,
}

/// Validate the text now (the member's mistakes are answered at once), then
/// defer and audit in the background.
pub fn audit<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    interaction: Interaction,
    text: String,
    from_message: bool,
    public: bool,
    now: OffsetDateTime,
) -> Reply {
    let (Some(guild), Some(member)) = (
        routing::guild_id(&interaction),
        routing::member_id(&interaction),
    ) else {
        return Reply::ephemeral("Audits work inside a server.");
    };
    let request = match AuditRequest::new(&text, &app.gemini_model) {
        Ok(request) => request,
        Err(AuditInputError::Empty) if from_message => {
            return Reply::ephemeral(
                "That message has no text to audit: images and attachments are not audited.",
            );
        }
        Err(err) => {
            return Reply::ephemeral(&format!("I can't audit that: {err}."));
        }
    };
    let asked = Asked {
        guild,
        member,
        channel: routing::channel_id(&interaction),
        source: if from_message { "message" } else { "command" },
        public,
    };
    let app = Rc::clone(app);
    let later = Box::pin(async move {
        let data = run(&app, &asked, &request, now).await;
        app.finish(&interaction.token, &data).await;
    });
    Reply::interaction(&responses::deferred_channel_message(!public), Some(later))
}

/// The whole audit; returns the message that replaces "thinking…".
///
/// Two round trips to the database whatever happens: `audit_begin` before
/// (settings, cache, budget) and `finish_audit` after (the audit, its ledger
/// row, and the log lines it produced).
pub async fn run<S: Sleep + 'static>(
    app: &App<S>,
    asked: &Asked,
    request: &AuditRequest,
    now: OffsetDateTime,
) -> twilight_model::http::interaction::InteractionResponseData {
    // The answer replaces "thinking…", which Discord shows to the channel
    // or to the member alone as the deferral said: the same here.
    let private = !asked.public;
    let text = |t: &str| responses::text_data(t, private);
    let precheck = match app
        .store
        .audit_begin(asked.guild, request.text_hash(), now)
        .await
    {
        Ok(p) => p,
        Err(err) => {
            app.log_error(
                "audit pre-check",
                &err,
                serde_json::json!({ "guild_id": asked.guild }),
            )
            .await;
            return text(INTERNAL_ERROR_MESSAGE);
        }
    };
    let mut books = Books {
        app,
        logs: Vec::new(),
        record: AuditRecord {
            guild_id: asked.guild,
            requested_by: asked.member,
            channel_id: asked.channel,
            source: asked.source,
            text_hash: request.text_hash().to_owned(),
            text_length: u32::try_from(request.text().chars().count()).unwrap_or(u32::MAX),
            verdict: None,
            reasons: serde_json::json!([]),
            suggested_fixes: serde_json::json!([]),
            model: None,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            status: "failed",
            error: None,
            error_kind: None,
            ai_called: false,
        },
    };
    let guild = serde_json::json!({ "guild_id": asked.guild });

    if let Some(cached) = precheck.cached.as_ref().and_then(cached_outcome) {
        let record = &mut books.record;
        record.status = "cached";
        record.verdict = Some(verdict_column(cached.verdict));
        record.reasons = serde_json::to_value(&cached.reasons).unwrap_or_default();
        record.suggested_fixes = serde_json::to_value(&cached.suggested_fixes).unwrap_or_default();
        record.model = precheck.cached.as_ref().and_then(|c| c.model.clone());
        books.save().await;
        let mut data = responses::audit_message(&cached, private);
        data.content =
            Some("Same text as a recent audit: here is its verdict (no new AI call).".to_owned());
        return data;
    }
    if precheck.budget_exhausted() {
        books.record.status = "budget_exhausted";
        books.log(
            LogLevel::Warn,
            "AI budget exhausted",
            serde_json::json!({ "guild_id": asked.guild, "spent_usd": precheck.spent_today_usd, "budget_usd": precheck.daily_budget_usd }),
        );
        books.save().await;
        return text(&format!(
            "Today's AI budget for this server ({}) is spent, so no audit can run until it resets at midnight UTC.",
            community_core::settings::usd(precheck.daily_budget_usd)
        ));
    }
    let Some(gemini) = app.gemini.as_ref() else {
        books.record.error = Some("GEMINI_API_KEY is not set".to_owned());
        books.log(
            LogLevel::Warn,
            "an audit was asked for, but GEMINI_API_KEY is not set",
            guild,
        );
        books.save().await;
        return text(
            "AI audits are not set up on this server yet (no Gemini key). Please tell an admin.",
        );
    };

    books.record.ai_called = true;
    books.record.model = Some(gemini.model().to_owned());
    let body = request.body_json(&app.audit_template);
    let size = body.len();
    let answer = gemini.generate_content(body).await;
    let outcome = match answer {
        Err(err) => {
            // Gemini may have billed a call it did not answer in time: its
            // input is charged, estimated, so the budget sees it.
            books.record.error = Some(if matches!(err, GeminiError::Timeout(_)) {
                books.charge(gemini.model(), Usage::estimated_input(size));
                format!("{err} (its input is charged, estimated from the request's size)")
            } else {
                err.to_string()
            });
            books.record.error_kind = Some(err.kind());
            books.log_error("Gemini call failed", &err, guild);
            books.save().await;
            return text(gemini_failure_message(&err));
        }
        Ok(bytes) => parse_response(&bytes),
    };
    match outcome {
        Ok(outcome) => {
            books.charge(gemini.model(), outcome.usage);
            let record = &mut books.record;
            record.status = "ok";
            record.verdict = Some(verdict_column(outcome.verdict));
            record.reasons = serde_json::to_value(&outcome.reasons).unwrap_or_default();
            record.suggested_fixes =
                serde_json::to_value(&outcome.suggested_fixes).unwrap_or_default();
            books.save().await;
            responses::audit_message(&outcome, private)
        }
        Err(err) => {
            books.charge(gemini.model(), err.usage());
            books.record.error = Some(err.to_string());
            books.record.error_kind = Some(err.kind());
            books.log_error("Gemini answer unusable", &err, guild);
            books.save().await;
            text(err.user_message())
        }
    }
}

/// What an audit writes, kept until the end and written in one call.
struct Books<'a, S> {
    app: &'a App<S>,
    record: AuditRecord,
    logs: Vec<PendingLog>,
}

impl<S: Sleep + 'static> Books<'_, S> {
    fn log(&mut self, level: LogLevel, message: &str, fields: serde_json::Value) {
        self.logs.push(self.app.pending_log(level, message, fields));
    }

    fn log_error(
        &mut self,
        what: &str,
        err: &(dyn std::error::Error + 'static),
        fields: serde_json::Value,
    ) {
        self.logs.push(self.app.pending_error(what, err, fields));
    }

    fn charge(&mut self, model: &str, usage: Usage) {
        self.record.input_tokens = usage.input_tokens;
        self.record.output_tokens = usage.output_tokens;
        match self
            .app
            .prices
            .cost(model, usage.input_tokens, usage.output_tokens)
        {
            Some(cost) => self.record.cost_usd = cost,
            None => self.log(
                LogLevel::Warn,
                "no price for model; its calls are recorded at $0",
                serde_json::json!({ "model": model }),
            ),
        }
    }

    /// The audit, its ledger row and the log lines, together. If that
    /// fails, the failure is logged on its own (the lines were already
    /// written to the console).
    async fn save(self) {
        if let Err(err) = self.app.store.finish_audit(&self.record, &self.logs).await {
            self.app
                .log_error(
                    "recording an audit",
                    &err,
                    serde_json::json!({ "guild_id": self.record.guild_id, "log_lines_not_stored": self.logs.len() }),
                )
                .await;
        }
    }
}

/// What to tell the member when the call to Gemini failed.
pub fn gemini_failure_message(err: &GeminiError) -> &'static str {
    match err {
        GeminiError::Timeout(_) => {
            "The AI reviewer took too long to answer. Please try again in a moment."
        }
        GeminiError::RateLimited(_) => {
            "The AI reviewer is busy (rate limited). Please try again in a minute."
        }
        GeminiError::Unavailable { .. } | GeminiError::Unreachable(_) => {
            "The AI reviewer is unavailable right now. Please try again later."
        }
        _ => "The AI reviewer refused the request. Please tell an admin; it has been logged.",
    }
}

fn verdict_column(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Green => "green",
        Verdict::Yellow => "yellow",
        Verdict::Red => "red",
    }
}

fn cached_outcome(cached: &CachedAudit) -> Option<AuditOutcome> {
    let verdict = match cached.verdict.as_str() {
        "green" => Verdict::Green,
        "yellow" => Verdict::Yellow,
        "red" => Verdict::Red,
        _ => return None,
    };
    Some(AuditOutcome {
        verdict,
        reasons: serde_json::from_value::<Vec<AuditReason>>(cached.reasons.clone()).ok()?,
        suggested_fixes: serde_json::from_value(cached.suggested_fixes.clone()).ok()?,
        usage: Usage::default(),
    })
}
