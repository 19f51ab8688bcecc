//! Tickets and audits: the calls the interactions worker makes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, UserMarker};

use crate::{Error, GuildId, MemberId, PendingLog, Store};

/// A ticket row as the worker reads it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TicketRow {
    pub id: u64,
    pub guild_id: GuildId,
    pub channel_id: Option<Id<ChannelMarker>>,
    pub opener_id: MemberId,
    pub opener_name: Option<String>,
    pub reason: String,
    pub status: TicketStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    pub claimed_by: Option<Id<UserMarker>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub claimed_at: Option<OffsetDateTime>,
    pub closed_by: Option<Id<UserMarker>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Opening,
    Open,
    Claimed,
    Closed,
    Failed,
}

/// What `open_ticket` decided, and the member's reservations abandoned
/// while opening whose channels were not looked for yet (migration 015):
/// their channels, if Discord made them, belong to no ticket.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Opening {
    #[serde(flatten)]
    pub outcome: OpenTicket,
    #[serde(default)]
    pub lapsed: Vec<u64>,
}

/// Whether `open_ticket` reserved a ticket.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OpenTicket {
    /// A row is reserved: create the channel, then attach or abandon it.
    Reserved { ticket_id: u64 },
    /// The member already holds the most open tickets allowed.
    LimitReached { open: Vec<OpenTicketRef> },
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct OpenTicketRef {
    pub ticket_id: u64,
    pub channel_id: Option<Id<ChannelMarker>>,
    pub status: TicketStatus,
}

/// What scoring a relay batch needs to know about one of its guilds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ScoringContext {
    pub settings: crate::GuildSettings,
    /// Member id → when they last scored a message (RFC 3339); empty when
    /// the guild has no message cooldown.
    pub last_scored: std::collections::HashMap<String, String>,
}

/// One message of a ticket's transcript.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TranscriptMessage {
    pub message_id: String,
    pub author_id: String,
    pub author_name: Option<String>,
    pub content: String,
    pub attachments: serde_json::Value,
    /// RFC 3339.
    pub sent_at: String,
}

/// What `audit_begin` found.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AuditPrecheck {
    pub cached: Option<CachedAudit>,
    pub spent_today_usd: f64,
    pub daily_budget_usd: f64,
}

impl AuditPrecheck {
    pub fn budget_exhausted(&self) -> bool {
        self.spent_today_usd >= self.daily_budget_usd
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CachedAudit {
    pub audit_id: u64,
    pub verdict: String,
    pub reasons: serde_json::Value,
    pub suggested_fixes: serde_json::Value,
    pub model: Option<String>,
}

/// One audit to record (and its ledger row when `ai_called`). A `None` is
/// left out rather than sent as `null`: `record_audit` reads a missing key
/// as null.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    pub guild_id: GuildId,
    pub requested_by: MemberId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<Id<ChannelMarker>>,
    /// `command` or `message`.
    pub source: &'static str,
    pub text_hash: String,
    pub text_length: u32,
    /// `green`, `yellow`, `red` when there is a verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'static str>,
    pub reasons: serde_json::Value,
    pub suggested_fixes: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// `ok`, `cached`, `failed`, `budget_exhausted`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    pub ai_called: bool,
}

impl Store {
    /// Reserve a ticket for a member, unless they hold the most allowed.
    pub async fn open_ticket(
        &self,
        guild: GuildId,
        opener: MemberId,
        opener_name: &str,
        reason: &str,
        max_open: u32,
    ) -> Result<Opening, Error> {
        self.rpc(
            "open_ticket",
            &serde_json::json!({
                "p_guild_id": guild, "p_opener_id": opener, "p_opener_name": opener_name,
                "p_reason": reason, "p_max_open": max_open,
            }),
        )
        .await
    }

    /// A member's tickets that count toward the open-ticket limit.
    pub async fn member_open_tickets(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<Vec<OpenTicketRef>, Error> {
        self.rpc(
            "member_open_tickets",
            &serde_json::json!({ "p_guild_id": guild, "p_member_id": member }),
        )
        .await
    }

    /// The reserved ticket got its channel; false if it was no longer opening.
    pub async fn attach_ticket_channel(
        &self,
        ticket_id: u64,
        channel: Id<ChannelMarker>,
    ) -> Result<bool, Error> {
        self.rpc(
            "attach_ticket_channel",
            &serde_json::json!({ "p_ticket_id": ticket_id, "p_channel_id": channel }),
        )
        .await
    }

    /// The channel could not be created: the reservation fails, with why.
    pub async fn abandon_ticket(&self, ticket_id: u64, failure: &str) -> Result<(), Error> {
        self.rpc_unit(
            "abandon_ticket",
            &serde_json::json!({ "p_ticket_id": ticket_id, "p_failure": failure }),
        )
        .await
    }

    pub async fn ticket_by_channel(
        &self,
        channel: Id<ChannelMarker>,
    ) -> Result<Option<TicketRow>, Error> {
        self.rpc(
            "ticket_by_channel",
            &serde_json::json!({ "p_channel_id": channel }),
        )
        .await
    }

    /// Says the channels of these lapsed reservations ([`Opening::lapsed`])
    /// were looked for, and deleted if found: they are not returned again.
    pub async fn lapsed_channels_checked(&self, ticket_ids: &[u64]) -> Result<(), Error> {
        self.rpc_unit(
            "lapsed_channels_checked",
            &serde_json::json!({ "p_ticket_ids": ticket_ids }),
        )
        .await
    }

    /// Claims `!close` messages to act on: the message ids among `requests`
    /// not claimed before. The relay may deliver a message again; each is
    /// acted on once (migration 014).
    pub async fn claim_close_requests(
        &self,
        requests: &[community_core::scoring::CloseRequest],
    ) -> Result<Vec<Id<MessageMarker>>, Error> {
        #[derive(Serialize)]
        struct A<'a> {
            p_requests: &'a [community_core::scoring::CloseRequest],
        }
        self.rpc(
            "claim_close_requests",
            &A {
                p_requests: requests,
            },
        )
        .await
    }

    pub async fn ticket_by_id(&self, ticket_id: u64) -> Result<Option<TicketRow>, Error> {
        self.rpc(
            "ticket_by_id",
            &serde_json::json!({ "p_ticket_id": ticket_id }),
        )
        .await
    }

    /// Claim an open ticket; `None` if it was not open any more.
    pub async fn claim_ticket(
        &self,
        ticket_id: u64,
        staff: MemberId,
        at: OffsetDateTime,
    ) -> Result<Option<TicketRow>, Error> {
        self.rpc(
            "claim_ticket",
            &serde_json::json!({ "p_ticket_id": ticket_id, "p_staff_id": staff, "p_at": rfc3339(at) }),
        )
        .await
    }

    /// Close a ticket and store its transcript together, with `note` (say,
    /// that the transcript is not whole) as its close note; `None` if it was
    /// already closed.
    pub async fn close_ticket(
        &self,
        ticket_id: u64,
        closed_by: MemberId,
        at: OffsetDateTime,
        transcript: &[TranscriptMessage],
        note: Option<&str>,
    ) -> Result<Option<TicketRow>, Error> {
        let mut args = serde_json::json!({
            "p_ticket_id": ticket_id, "p_closed_by": closed_by, "p_at": rfc3339(at),
            "p_transcript": transcript,
        });
        if let Some(note) = note {
            args["p_note"] = serde_json::Value::from(note);
        }
        self.rpc("close_ticket", &args).await
    }

    /// Close an open ticket whose channel was deleted outside the bot, with
    /// `note` saying so, no transcript, and no one as its closer or closing
    /// time (migration 006); `None` if it was no longer open or no longer
    /// has that channel.
    pub async fn close_vanished_ticket(
        &self,
        ticket_id: u64,
        channel_id: Id<ChannelMarker>,
        note: &str,
    ) -> Result<Option<TicketRow>, Error> {
        self.rpc(
            "close_vanished_ticket",
            &serde_json::json!({
                "p_ticket_id": ticket_id, "p_channel_id": channel_id, "p_note": note,
            }),
        )
        .await
    }

    /// For each guild of a relay batch, with the batch's members in it: its
    /// settings, and when each member last scored a message where the guild
    /// has a message cooldown. One round trip for the whole batch
    /// (migration 007).
    pub async fn scoring_context(
        &self,
        guilds: &[(GuildId, Vec<MemberId>)],
    ) -> Result<Vec<ScoringContext>, Error> {
        #[derive(Serialize)]
        struct Guild<'a> {
            guild_id: GuildId,
            member_ids: &'a [MemberId],
        }
        #[derive(Serialize)]
        struct A<'a> {
            p_guilds: Vec<Guild<'a>>,
        }
        let p_guilds = guilds
            .iter()
            .map(|(guild_id, member_ids)| Guild {
                guild_id: *guild_id,
                member_ids,
            })
            .collect();
        self.rpc("scoring_context", &A { p_guilds }).await
    }

    /// Before an AI call, in one round trip: a stored verdict for this text
    /// within the guild's cache window, and today's AI spend against the
    /// guild's daily budget (both settings read in the database).
    pub async fn audit_begin(
        &self,
        guild: GuildId,
        text_hash: &str,
        now: OffsetDateTime,
    ) -> Result<AuditPrecheck, Error> {
        // Typed arguments, not `json!`: every audit sends these two.
        #[derive(Serialize)]
        struct Args<'a> {
            p_guild_id: GuildId,
            p_text_hash: &'a str,
            p_now: String,
        }
        self.rpc(
            "audit_begin",
            &Args {
                p_guild_id: guild,
                p_text_hash: text_hash,
                p_now: rfc3339(now),
            },
        )
        .await
    }

    /// Record an audit, its ledger row when an AI call was made, and the log
    /// lines it produced, in one round trip. (The function returns the
    /// audit's id; nothing here needs it.)
    pub async fn finish_audit(
        &self,
        audit: &AuditRecord,
        logs: &[PendingLog],
    ) -> Result<(), Error> {
        #[derive(Serialize)]
        struct Args<'a> {
            p_audit: &'a AuditRecord,
            p_logs: &'a [PendingLog],
        }
        self.rpc_unit(
            "finish_audit",
            &Args {
                p_audit: audit,
                p_logs: logs,
            },
        )
        .await
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
