//! Engagement events as the database stores them.
//!
//! A [`ScoredEvent`] is the unit the scoring endpoint hands to the store: one
//! Discord event, already scored by the guild's rules, with the idempotency key
//! that makes a replayed event count nothing the second time.

use serde::{Deserialize, Serialize};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, UserMarker};
use twilight_model::util::Timestamp;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A member posted a message.
    Message,
    /// A member added a reaction.
    ReactionAdd,
    /// A member removed a reaction: takes back what the matching add scored.
    ReactionRemove,
}

impl EventKind {
    /// The name used on the wire and in the `activity_logs.kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::ReactionAdd => "reaction_add",
            Self::ReactionRemove => "reaction_remove",
        }
    }
}

/// One scored engagement event, as `ingest_events(jsonb)` takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredEvent {
    /// Unique per Discord event; a second insert with the same key is a no-op.
    pub idempotency_key: String,
    pub guild_id: Id<GuildMarker>,
    pub member_id: Id<UserMarker>,
    /// Display name at the time of the event, when the event carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_name: Option<String>,
    pub channel_id: Id<ChannelMarker>,
    pub message_id: Id<MessageMarker>,
    pub kind: EventKind,
    /// For reactions: the emoji (custom emoji id or unicode name). A removal
    /// cancels the latest standing add of the same member, message and emoji.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    pub occurred_at: Timestamp,
    /// Points this event adds to the member's score (negative for a removal).
    /// For a reaction removal the database takes back exactly what the matching
    /// add scored, whatever is sent here.
    pub points: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scored_event_round_trips_with_snowflakes_as_strings() {
        let json = serde_json::json!({
            "idempotency_key": "message:1100000000000000001",
            "guild_id": "1000000000000000001",
            "member_id": "1000000000000000002",
            "channel_id": "1000000000000000003",
            "message_id": "1100000000000000001",
            "kind": "message",
            "occurred_at": "2026-11-20T10:00:00.000000+00:00",
            "points": 1.0
        });
        let event: ScoredEvent = serde_json::from_value(json.clone()).expect("valid event");
        assert_eq!(event.kind, EventKind::Message);
        assert_eq!(event.member_name, None);
        let back = serde_json::to_value(&event).expect("serializes");
        assert_eq!(back["guild_id"], "1000000000000000001");
        assert_eq!(back["kind"], "message");
    }
}
