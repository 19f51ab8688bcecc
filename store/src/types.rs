//! What the database calls take and return.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker, UserMarker};

pub use community_core::engagement::{EventKind, ScoredEvent};
pub use community_core::settings::{GuildSettings, TicketCloseAction};

pub type GuildId = Id<GuildMarker>;
pub type MemberId = Id<UserMarker>;
pub type RoleId = Id<RoleMarker>;
/// A calendar day (UTC), `YYYY-MM-DD` on the wire.
pub type Day = time::Date;

/// What one `ingest_events` call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct IngestReport {
    /// Events in the batch.
    pub received: u32,
    /// Events stored now.
    pub inserted: u32,
    /// Events already stored before (replays); they changed nothing.
    pub duplicates: u32,
}

/// One member's activity on one day.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DailyScore {
    pub day: Day,
    pub messages: i32,
    pub reactions: i32,
    pub points: f64,
}

/// A service's heartbeat, as it reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Heartbeat {
    #[serde(rename = "p_service")]
    pub service: String,
    #[serde(rename = "p_instance")]
    pub instance: String,
    #[serde(rename = "p_started_at", with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Free-form figures: events forwarded, spool depth, latency, last error.
    #[serde(rename = "p_status")]
    pub status: serde_json::Value,
}

/// A service's last heartbeat, as stored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ServiceHeartbeat {
    pub service: String,
    pub instance: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub beat_at: OffsetDateTime,
    pub status: serde_json::Value,
}

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// A line to append to the application log.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry<'a> {
    #[serde(rename = "p_level")]
    pub level: LogLevel,
    #[serde(rename = "p_source")]
    pub source: &'a str,
    #[serde(rename = "p_message")]
    pub message: &'a str,
    #[serde(rename = "p_fields")]
    pub fields: serde_json::Value,
}

/// A log line written together with other work in one call (see
/// `Store::finish_audit`), rather than on its own through `append_log`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PendingLog {
    pub level: LogLevel,
    pub source: &'static str,
    pub message: String,
    pub fields: serde_json::Value,
}

/// A stored log line.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LogLine {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub level: LogLevel,
    pub source: String,
    pub message: String,
    pub fields: serde_json::Value,
}

/// The database answers, and at which schema version.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DatabaseHealth {
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    pub schema_version: Option<String>,
}
