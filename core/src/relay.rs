//! The wire format between the gateway relay and the scoring endpoint.
//!
//! The relay turns gateway dispatches into compact [`RelayEvent`]s (ids, kind,
//! time, flags; never message content), batches them into a [`RelayBatch`] and
//! POSTs the JSON with two headers:
//!
//! - [`TIMESTAMP_HEADER`]: the unix time in seconds when the request was signed;
//! - [`SIGNATURE_HEADER`]: lowercase hex HMAC-SHA256 under `RELAY_SHARED_SECRET`
//!   of the ASCII string `"{timestamp}."` followed by the raw body bytes, e.g.
//!   `1795000000.{"events":[...]}`.
//!
//! The endpoint checks the MAC ([`verify`]) and the timestamp window before it
//! reads the body, then [`RelayBatch::parse`]s it; a malformed batch is refused
//! whole.
//!
//! Exactly-once counting rests on [`RelayEvent::dedupe`]: the same gateway
//! dispatch always yields the same key (a RESUME replay, a batch retried from
//! the spool), while two real events never share one (a reaction added,
//! removed and added again is three events).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use twilight_model::channel::message::{EmojiReactionType, Message, MessageType};
use twilight_model::gateway::GatewayReaction;
use twilight_model::gateway::payload::incoming::MessageDelete;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, UserMarker};
use twilight_model::util::Timestamp;

/// Header with the unix time (seconds) the batch was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Relay-Timestamp";
/// Header with the hex HMAC-SHA256 of `"{timestamp}."` + body.
pub const SIGNATURE_HEADER: &str = "X-Relay-Signature";
/// The most events one batch may carry; the relay must split larger ones.
pub const MAX_BATCH_EVENTS: usize = 5_000;
/// The longest dedupe key accepted (a reaction key is well under this).
pub const MAX_DEDUPE_LEN: usize = 256;
/// The message content that asks for a ticket to be closed.
pub const CLOSE_COMMAND: &str = "!close";

type HmacSha256 = Hmac<Sha256>;

/// Which gateway dispatch an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayEventKind {
    MessageCreate,
    ReactionAdd,
    ReactionRemove,
    /// Forwarded so it can be counted; it does not change a score (see
    /// [`crate::scoring`]).
    MessageDelete,
}

/// One engagement event as the relay forwards it. No message content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelayEvent {
    pub kind: RelayEventKind,
    pub guild_id: Id<GuildMarker>,
    pub channel_id: Id<ChannelMarker>,
    pub message_id: Id<MessageMarker>,
    /// The message's author, or the member who reacted. Absent only for
    /// `message_delete`, whose dispatch does not say who wrote the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Id<UserMarker>>,
    /// For reactions: who wrote the message reacted to. Discord sends it with
    /// MESSAGE_REACTION_ADD only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_author_id: Option<Id<UserMarker>>,
    /// For reactions: the custom emoji's id, or the unicode emoji itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// When the message was sent; for reactions and deletions, when the relay
    /// received the dispatch (Discord does not timestamp those).
    pub occurred_at: Timestamp,
    #[serde(default)]
    pub is_bot: bool,
    /// The message's content was exactly `!close` (after trimming). The
    /// content itself never leaves the relay.
    #[serde(default)]
    pub is_close_command: bool,
    /// The member's display name when the dispatch carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_name: Option<String>,
    /// Stable across replays of one dispatch, distinct between events; see
    /// [`dedupe_for_message`] and [`dedupe_for_reaction`].
    pub dedupe: String,
}

/// Where a dispatch sits in the gateway session: what makes a reaction event
/// unique, since Discord gives reactions no id of their own. A RESUME replays
/// missed dispatches with their original session and sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchPosition<'a> {
    pub session_id: &'a str,
    pub sequence: u64,
}

/// A batch of events, the body of one POST to the scoring endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RelayBatch {
    pub events: Vec<RelayEvent>,
}

/// The request was not signed by the relay, or not recently. All variants map
/// to 401.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayAuthError {
    #[error("missing {TIMESTAMP_HEADER} header")]
    MissingTimestamp,
    #[error("{TIMESTAMP_HEADER} is not a unix time in seconds")]
    MalformedTimestamp(#[source] std::num::ParseIntError),
    #[error("missing {SIGNATURE_HEADER} header")]
    MissingMac,
    #[error("{SIGNATURE_HEADER} is not hex")]
    MalformedMac(#[source] hex::FromHexError),
    #[error("MAC does not match the body and timestamp")]
    BadMac,
    #[error("timestamp is {skew_secs}s away from now, more than the {max_skew_secs}s allowed")]
    Stale { skew_secs: i64, max_skew_secs: i64 },
}

/// The batch body is unusable; nothing of it may be applied. The message names
/// the reason and is safe to return in the 400.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error("batch is not valid JSON of the expected shape: {0}")]
    Json(#[source] serde_json::Error),
    #[error("batch has {count} events, more than the {max} allowed")]
    TooLarge { count: usize, max: usize },
    #[error("event {index}: {problem}")]
    Event { index: usize, problem: EventProblem },
}

/// What is wrong with one event of a batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventProblem {
    #[error("{kind:?} needs a user_id")]
    MissingUser { kind: RelayEventKind },
    #[error("{kind:?} needs an emoji")]
    MissingEmoji { kind: RelayEventKind },
    #[error("dedupe key is empty")]
    EmptyDedupe,
    #[error("dedupe key is {len} bytes, more than {MAX_DEDUPE_LEN}")]
    DedupeTooLong { len: usize },
}

impl RelayBatch {
    /// Parses and validates a request body. An empty batch is valid; the same
    /// dedupe key twice in one batch is valid (scoring counts it once).
    pub fn parse(body: &[u8]) -> Result<Self, BatchError> {
        let batch: Self = serde_json::from_slice(body).map_err(BatchError::Json)?;
        if batch.events.len() > MAX_BATCH_EVENTS {
            return Err(BatchError::TooLarge {
                count: batch.events.len(),
                max: MAX_BATCH_EVENTS,
            });
        }
        for (index, event) in batch.events.iter().enumerate() {
            event
                .check()
                .map_err(|problem| BatchError::Event { index, problem })?;
        }
        Ok(batch)
    }
}

impl RelayEvent {
    /// The checks [`RelayBatch::parse`] applies to each event.
    pub fn check(&self) -> Result<(), EventProblem> {
        let kind = self.kind;
        if self.dedupe.is_empty() {
            return Err(EventProblem::EmptyDedupe);
        }
        if self.dedupe.len() > MAX_DEDUPE_LEN {
            return Err(EventProblem::DedupeTooLong {
                len: self.dedupe.len(),
            });
        }
        if kind != RelayEventKind::MessageDelete && self.user_id.is_none() {
            return Err(EventProblem::MissingUser { kind });
        }
        let is_reaction = matches!(
            kind,
            RelayEventKind::ReactionAdd | RelayEventKind::ReactionRemove
        );
        if is_reaction && self.emoji.as_deref().is_none_or(str::is_empty) {
            return Err(EventProblem::MissingEmoji { kind });
        }
        Ok(())
    }

    /// A MESSAGE_CREATE as the relay forwards it; `None` outside a guild or
    /// for a message a member did not write (see [`is_member_message`]).
    /// This is the one place that reads the content: only to set
    /// [`is_close_command`](Self::is_close_command).
    pub fn message_create(message: &Message) -> Option<Self> {
        let guild_id = message.guild_id?;
        if !is_member_message(message.kind) {
            return None;
        }
        let member_name = message
            .member
            .as_ref()
            .and_then(|member| member.nick.clone())
            .or_else(|| message.author.global_name.clone())
            .or_else(|| Some(message.author.name.clone()));
        Some(Self {
            kind: RelayEventKind::MessageCreate,
            guild_id,
            channel_id: message.channel_id,
            message_id: message.id,
            user_id: Some(message.author.id),
            message_author_id: None,
            emoji: None,
            occurred_at: message.timestamp,
            is_bot: message.author.bot || message.webhook_id.is_some(),
            is_close_command: is_close_command(&message.content),
            member_name,
            dedupe: dedupe_for_message(message.id),
        })
    }

    /// A MESSAGE_REACTION_ADD or _REMOVE (`kind` says which); `None` outside a
    /// guild or for another `kind`. `received_at` is the relay's clock.
    pub fn reaction(
        kind: RelayEventKind,
        reaction: &GatewayReaction,
        position: DispatchPosition<'_>,
        received_at: Timestamp,
    ) -> Option<Self> {
        if !matches!(
            kind,
            RelayEventKind::ReactionAdd | RelayEventKind::ReactionRemove
        ) {
            return None;
        }
        let guild_id = reaction.guild_id?;
        let emoji = emoji_key(&reaction.emoji);
        let member = reaction.member.as_ref();
        Some(Self {
            kind,
            guild_id,
            channel_id: reaction.channel_id,
            message_id: reaction.message_id,
            user_id: Some(reaction.user_id),
            message_author_id: reaction.message_author_id,
            dedupe: dedupe_for_reaction(reaction.message_id, reaction.user_id, &emoji, position),
            emoji: Some(emoji),
            occurred_at: received_at,
            // A removal carries no member, so a bot's removal is not flagged;
            // it cancels nothing because the bot's add was never recorded.
            is_bot: member.is_some_and(|member| member.user.bot),
            is_close_command: false,
            member_name: member.map(|member| {
                member
                    .nick
                    .clone()
                    .or_else(|| member.user.global_name.clone())
                    .unwrap_or_else(|| member.user.name.clone())
            }),
        })
    }

    /// A MESSAGE_DELETE; `None` outside a guild.
    pub fn message_delete(deleted: &MessageDelete, received_at: Timestamp) -> Option<Self> {
        Some(Self {
            kind: RelayEventKind::MessageDelete,
            guild_id: deleted.guild_id?,
            channel_id: deleted.channel_id,
            message_id: deleted.id,
            user_id: None,
            message_author_id: None,
            emoji: None,
            occurred_at: received_at,
            is_bot: false,
            is_close_command: false,
            member_name: None,
            dedupe: dedupe_for_message(deleted.id),
        })
    }
}

/// Whether a message is one a member wrote: a plain message or a reply.
/// Discord also posts system messages in a member's name (a join, a boost,
/// a pin, a thread started, an AutoMod alert about a blocked message): they
/// are no engagement and score nothing, so the relay does not forward them.
pub fn is_member_message(kind: MessageType) -> bool {
    matches!(kind, MessageType::Regular | MessageType::Reply)
}

/// Whether a message asks to close its ticket: exactly `!close` after trimming.
pub fn is_close_command(content: &str) -> bool {
    content.trim() == CLOSE_COMMAND
}

/// How an emoji is named in events and in the database: a custom emoji by its
/// id (its name can change), a unicode emoji by itself.
pub fn emoji_key(emoji: &EmojiReactionType) -> String {
    match emoji {
        EmojiReactionType::Custom { id, .. } => id.to_string(),
        EmojiReactionType::Unicode { name } => name.clone(),
    }
}

/// A message is one event however often it is replayed: its id.
pub fn dedupe_for_message(message_id: Id<MessageMarker>) -> String {
    message_id.to_string()
}

/// `{message}:{user}:{emoji}:{session_id}:{seq}`. Adding, removing and adding
/// again are separate dispatches with separate sequence numbers, hence
/// separate events; a RESUME replays a dispatch with its original session and
/// sequence, hence the same key.
pub fn dedupe_for_reaction(
    message_id: Id<MessageMarker>,
    user_id: Id<UserMarker>,
    emoji: &str,
    position: DispatchPosition<'_>,
) -> String {
    format!(
        "{message_id}:{user_id}:{emoji}:{}:{}",
        position.session_id, position.sequence
    )
}

fn mac(secret: &[u8], timestamp_unix: i64, body: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of any length (long keys are hashed), so this
    // cannot fail; the Result comes from the generic `KeyInit` trait.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp_unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The [`SIGNATURE_HEADER`] value: lowercase hex HMAC-SHA256 under `secret`
/// of `"{timestamp_unix}."` followed by `body`.
pub fn sign(secret: &[u8], timestamp_unix: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp_unix, body).finalize().into_bytes())
}

/// Checks a request from the relay: the MAC (compared in constant time), then
/// that the timestamp is within `max_skew_secs` of `now_unix` either way.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    mac_header: Option<&str>,
    body: &[u8],
    now_unix: i64,
    max_skew_secs: i64,
) -> Result<(), RelayAuthError> {
    let timestamp_header = timestamp_header.ok_or(RelayAuthError::MissingTimestamp)?;
    let timestamp: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(RelayAuthError::MalformedTimestamp)?;
    let mac_header = mac_header.ok_or(RelayAuthError::MissingMac)?;
    let claimed = hex::decode(mac_header.trim()).map_err(RelayAuthError::MalformedMac)?;
    mac(secret, timestamp, body)
        .verify_slice(&claimed)
        .map_err(|_| RelayAuthError::BadMac)?;
    let skew_secs = now_unix.saturating_sub(timestamp).saturating_abs();
    if skew_secs > max_skew_secs {
        return Err(RelayAuthError::Stale {
            skew_secs,
            max_skew_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"relay-shared-secret-for-tests-only";
    const NOW: i64 = 1_795_000_000;

    fn position(sequence: u64) -> DispatchPosition<'static> {
        DispatchPosition {
            session_id: "a1b2c3",
            sequence,
        }
    }

    #[test]
    fn sign_is_hmac_of_timestamp_dot_body() {
        // Independent computation of the documented string.
        let mut expected = HmacSha256::new_from_slice(SECRET).expect("key");
        expected.update(b"1795000000.{\"events\":[]}");
        let expected = hex::encode(expected.finalize().into_bytes());
        assert_eq!(sign(SECRET, NOW, br#"{"events":[]}"#), expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn verify_table() {
        let body: &[u8] = br#"{"events":[]}"#;
        let good = sign(SECRET, NOW, body);
        let ts = NOW.to_string();
        let old_ts = (NOW - 301).to_string();
        let old_mac = sign(SECRET, NOW - 301, body);
        let future_ts = (NOW + 301).to_string();
        let future_mac = sign(SECRET, NOW + 301, body);
        let edge_ts = (NOW - 300).to_string();
        let edge_mac = sign(SECRET, NOW - 300, body);
        let other_secret = sign(b"another secret", NOW, body);

        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8], &'a str);
        let cases: [Case<'_>; 12] = [
            ("valid", Some(&ts), Some(&good), body, "ok"),
            (
                "edge of window",
                Some(&edge_ts),
                Some(&edge_mac),
                body,
                "ok",
            ),
            ("too old", Some(&old_ts), Some(&old_mac), body, "stale"),
            (
                "too far ahead",
                Some(&future_ts),
                Some(&future_mac),
                body,
                "stale",
            ),
            (
                "tampered body",
                Some(&ts),
                Some(&good),
                br#"{"events":[{}]}"#,
                "bad",
            ),
            ("timestamp swapped", Some(&old_ts), Some(&good), body, "bad"),
            ("other secret", Some(&ts), Some(&other_secret), body, "bad"),
            ("truncated mac", Some(&ts), Some(&good[..62]), body, "bad"),
            ("mac not hex", Some(&ts), Some("zz"), body, "malformed mac"),
            (
                "timestamp not a number",
                Some("soon"),
                Some(&good),
                body,
                "malformed ts",
            ),
            ("missing timestamp", None, Some(&good), body, "missing ts"),
            ("missing mac", Some(&ts), None, body, "missing mac"),
        ];
        for (name, timestamp, mac, body, expect) in cases {
            let result = verify(SECRET, timestamp, mac, body, NOW, 300);
            let got = match &result {
                Ok(()) => "ok",
                Err(RelayAuthError::Stale { .. }) => "stale",
                Err(RelayAuthError::BadMac) => "bad",
                Err(RelayAuthError::MalformedMac(_)) => "malformed mac",
                Err(RelayAuthError::MalformedTimestamp(_)) => "malformed ts",
                Err(RelayAuthError::MissingTimestamp) => "missing ts",
                Err(RelayAuthError::MissingMac) => "missing mac",
            };
            assert_eq!(got, expect, "{name}: {result:?}");
        }
    }

    fn message_event_json() -> serde_json::Value {
        json!({
            "kind": "message_create",
            "guild_id": "1000000000000000001",
            "channel_id": "1000000000000000003",
            "message_id": "1100000000000000001",
            "user_id": "1000000000000000002",
            "occurred_at": "2026-11-20T10:00:00.000000+00:00",
            "is_bot": false,
            "is_close_command": false,
            "dedupe": "1100000000000000001"
        })
    }

    #[test]
    fn parse_accepts_a_minimal_message_event_with_string_snowflakes() {
        let body = json!({ "events": [message_event_json()] }).to_string();
        let batch = RelayBatch::parse(body.as_bytes()).expect("valid batch");
        assert_eq!(batch.events.len(), 1);
        let event = &batch.events[0];
        assert_eq!(event.kind, RelayEventKind::MessageCreate);
        assert_eq!(event.user_id, Some(Id::new(1_000_000_000_000_000_002)));
        let back = serde_json::to_value(&batch).expect("serializes");
        assert_eq!(back["events"][0]["guild_id"], "1000000000000000001");
        assert!(back["events"][0].get("emoji").is_none());
    }

    #[test]
    fn parse_table() {
        let with = |key: &str, value: serde_json::Value| {
            let mut event = message_event_json();
            event[key] = value;
            json!({ "events": [event] }).to_string()
        };
        let without = |key: &str| {
            let mut event = message_event_json();
            event.as_object_mut().expect("object").remove(key);
            json!({ "events": [event] }).to_string()
        };
        let too_many = json!({
            "events": vec![message_event_json(); MAX_BATCH_EVENTS + 1]
        })
        .to_string();
        let at_limit = json!({
            "events": vec![message_event_json(); MAX_BATCH_EVENTS]
        })
        .to_string();
        let duplicates = json!({ "events": [message_event_json(), message_event_json()] });

        let cases: Vec<(&str, String, Result<usize, &str>)> = vec![
            ("empty batch", r#"{"events":[]}"#.to_owned(), Ok(0)),
            ("duplicate keys", duplicates.to_string(), Ok(2)),
            ("at the limit", at_limit, Ok(MAX_BATCH_EVENTS)),
            ("over the limit", too_many, Err("too large")),
            ("not json", "events".to_owned(), Err("json")),
            ("no events field", "{}".to_owned(), Err("json")),
            (
                "unknown kind",
                with("kind", json!("typing_start")),
                Err("json"),
            ),
            // twilight reads numeric snowflakes too; zero is never an id.
            ("numeric snowflake", with("guild_id", json!(12)), Ok(1)),
            ("zero snowflake", with("guild_id", json!("0")), Err("json")),
            (
                "bad timestamp",
                with("occurred_at", json!("yesterday")),
                Err("json"),
            ),
            ("message without user", without("user_id"), Err("event")),
            ("empty dedupe", with("dedupe", json!("")), Err("event")),
            (
                "huge dedupe",
                with("dedupe", json!("x".repeat(300))),
                Err("event"),
            ),
            (
                "reaction without emoji",
                with("kind", json!("reaction_add")),
                Err("event"),
            ),
        ];
        for (name, body, expect) in cases {
            let got = match RelayBatch::parse(body.as_bytes()) {
                Ok(batch) => Ok(batch.events.len()),
                Err(BatchError::Json(_)) => Err("json"),
                Err(BatchError::TooLarge { .. }) => Err("too large"),
                Err(BatchError::Event { .. }) => Err("event"),
            };
            assert_eq!(got, expect, "{name}");
        }
    }

    #[test]
    fn batch_error_names_the_event_and_reason() {
        let mut event = message_event_json();
        event["kind"] = json!("reaction_remove");
        let body = json!({ "events": [message_event_json(), event] }).to_string();
        let err = RelayBatch::parse(body.as_bytes()).expect_err("no emoji");
        assert_eq!(err.to_string(), "event 1: ReactionRemove needs an emoji");
    }

    #[test]
    fn reaction_dedupe_is_stable_for_a_replay_and_distinct_for_a_new_dispatch() {
        let message = Id::new(11);
        let user = Id::new(22);
        let add = dedupe_for_reaction(message, user, "👍", position(40));
        let replayed = dedupe_for_reaction(message, user, "👍", position(40));
        let removed = dedupe_for_reaction(message, user, "👍", position(41));
        let added_again = dedupe_for_reaction(message, user, "👍", position(42));
        let new_session = dedupe_for_reaction(
            message,
            user,
            "👍",
            DispatchPosition {
                session_id: "zzz",
                sequence: 40,
            },
        );
        assert_eq!(add, "11:22:👍:a1b2c3:40");
        assert_eq!(add, replayed);
        for other in [&removed, &added_again, &new_session] {
            assert_ne!(&add, other);
        }
    }

    #[test]
    fn close_command_table() {
        let cases = [
            ("!close", true),
            ("  !close\n", true),
            ("!close now", false),
            ("!CLOSE", false),
            ("please !close", false),
            ("", false),
        ];
        for (content, expected) in cases {
            assert_eq!(is_close_command(content), expected, "{content:?}");
        }
    }

    fn gateway_message(content: &str, bot: bool) -> Message {
        serde_json::from_value(json!({
            "id": "1100000000000000001",
            "channel_id": "1000000000000000003",
            "guild_id": "1000000000000000001",
            "author": {
                "id": "1000000000000000002", "username": "alice", "discriminator": "0",
                "global_name": "Alice", "avatar": null, "bot": bot
            },
            "member": {
                "roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00",
                "deaf": false, "mute": false, "flags": 0, "nick": "Ally"
            },
            "content": content,
            "timestamp": "2026-11-20T10:00:00.000000+00:00",
            "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0
        }))
        .expect("a MESSAGE_CREATE payload")
    }

    #[test]
    fn message_create_carries_flags_and_never_the_content() {
        let event =
            RelayEvent::message_create(&gateway_message(" !close ", false)).expect("guild message");
        assert!(event.is_close_command);
        assert!(!event.is_bot);
        assert_eq!(event.member_name.as_deref(), Some("Ally"));
        assert_eq!(event.dedupe, "1100000000000000001");
        let wire = serde_json::to_string(&event).expect("serializes");
        assert!(!wire.contains("!close"), "content leaked: {wire}");

        let secret = RelayEvent::message_create(&gateway_message("my secret plans", true))
            .expect("guild message");
        assert!(secret.is_bot);
        assert!(!secret.is_close_command);
        let wire = serde_json::to_string(&secret).expect("serializes");
        assert!(!wire.contains("secret plans"), "content leaked: {wire}");
    }

    #[test]
    fn reaction_event_from_gateway_payload() {
        let reaction: GatewayReaction = serde_json::from_value(json!({
            "user_id": "1000000000000000009",
            "channel_id": "1000000000000000003",
            "message_id": "1100000000000000001",
            "guild_id": "1000000000000000001",
            "message_author_id": "1000000000000000002",
            "burst": false,
            "type": 0,
            "emoji": { "id": "1200000000000000005", "name": "party", "animated": false },
            "member": {
                "user": { "id": "1000000000000000009", "username": "bob",
                          "discriminator": "0", "avatar": null },
                "roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00",
                "deaf": false, "mute": false, "flags": 0, "nick": null
            }
        }))
        .expect("a MESSAGE_REACTION_ADD payload");
        let at = Timestamp::from_secs(NOW).expect("valid time");
        let event = RelayEvent::reaction(RelayEventKind::ReactionAdd, &reaction, position(7), at)
            .expect("guild reaction");
        assert_eq!(event.emoji.as_deref(), Some("1200000000000000005"));
        assert_eq!(
            event.dedupe,
            "1100000000000000001:1000000000000000009:1200000000000000005:a1b2c3:7"
        );
        assert_eq!(
            event.message_author_id,
            Some(Id::new(1_000_000_000_000_000_002))
        );
        assert_eq!(event.member_name.as_deref(), Some("bob"));
        assert_eq!(event.occurred_at, at);
        assert!(event.check().is_ok());
        assert!(
            RelayEvent::reaction(RelayEventKind::MessageCreate, &reaction, position(7), at)
                .is_none()
        );
    }

    #[test]
    fn unicode_emoji_key_is_the_emoji() {
        let emoji = EmojiReactionType::Unicode {
            name: "🔥".to_owned(),
        };
        assert_eq!(emoji_key(&emoji), "🔥");
    }
}
