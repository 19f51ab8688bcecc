//! Dispatch payloads shaped like the ones Discord sends (API v10): every
//! snowflake a string, the fields a real client receives, including the ones
//! a relay should skip over (embeds, mentions, components, ...).

use serde_json::{Value, json};

/// Turns a snowflake into the string Discord puts on the wire.
fn id(value: u64) -> Value {
    Value::String(value.to_string())
}

/// A `MESSAGE_CREATE` in a guild (or a DM when `guild_id` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageCreate {
    pub id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub author_id: u64,
    pub username: String,
    pub global_name: Option<String>,
    /// The member's server nickname.
    pub nick: Option<String>,
    pub bot: bool,
    pub webhook_id: Option<u64>,
    pub content: String,
    /// ISO 8601, as Discord formats it.
    pub timestamp: String,
}

impl MessageCreate {
    /// A plain message from a human member; chain the setters for the rest.
    pub fn new(id: u64, guild_id: u64, channel_id: u64, author_id: u64) -> Self {
        Self {
            id,
            channel_id,
            guild_id: Some(guild_id),
            author_id,
            username: format!("member{author_id}"),
            global_name: None,
            nick: None,
            bot: false,
            webhook_id: None,
            content: "hello there".to_owned(),
            timestamp: "2026-11-20T10:00:00.000000+00:00".to_owned(),
        }
    }

    #[must_use]
    pub fn content(mut self, content: impl Into<String>) -> Self {
        self.content = content.into();
        self
    }

    #[must_use]
    pub fn nick(mut self, nick: impl Into<String>) -> Self {
        self.nick = Some(nick.into());
        self
    }

    #[must_use]
    pub fn global_name(mut self, name: impl Into<String>) -> Self {
        self.global_name = Some(name.into());
        self
    }

    #[must_use]
    pub fn bot(mut self) -> Self {
        self.bot = true;
        self
    }

    #[must_use]
    pub fn webhook(mut self, webhook_id: u64) -> Self {
        self.webhook_id = Some(webhook_id);
        self
    }

    #[must_use]
    pub fn in_dm(mut self) -> Self {
        self.guild_id = None;
        self
    }

    #[must_use]
    pub fn timestamp(mut self, timestamp: impl Into<String>) -> Self {
        self.timestamp = timestamp.into();
        self
    }

    /// The `d` of the dispatch.
    pub fn to_json(&self) -> Value {
        let mut author = json!({
            "username": self.username,
            "public_flags": 0,
            "primary_guild": null,
            "id": id(self.author_id),
            "global_name": self.global_name,
            "discriminator": "0",
            "collectibles": null,
            "clan": null,
            "avatar_decoration_data": null,
            "avatar": "8342729096ea3675442027381ff50dfe",
        });
        if self.bot {
            author["bot"] = json!(true);
        }
        let mut message = json!({
            "type": 0,
            "tts": false,
            "timestamp": self.timestamp,
            "pinned": false,
            "nonce": (self.id ^ 0x5a5a).to_string(),
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": false,
            "id": id(self.id),
            "flags": 0,
            "embeds": [],
            "edited_timestamp": null,
            "content": self.content,
            "components": [],
            "channel_type": 0,
            "channel_id": id(self.channel_id),
            "author": author,
            "attachments": [],
        });
        if let Some(guild_id) = self.guild_id {
            message["guild_id"] = id(guild_id);
            message["member"] = json!({
                "roles": ["1000000000000000100"],
                "premium_since": null,
                "pending": false,
                "nick": self.nick,
                "mute": false,
                "joined_at": "2025-01-01T00:00:00.000000+00:00",
                "flags": 0,
                "deaf": false,
                "communication_disabled_until": null,
                "banner": null,
                "avatar": null,
            });
        }
        if let Some(webhook_id) = self.webhook_id {
            message["webhook_id"] = id(webhook_id);
        }
        message
    }
}

/// The emoji of a reaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emoji {
    Unicode(String),
    Custom { id: u64, name: String },
}

/// A reaction, sent as `MESSAGE_REACTION_ADD` or `MESSAGE_REACTION_REMOVE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    pub message_id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    /// The member who reacted.
    pub user_id: u64,
    pub username: String,
    pub nick: Option<String>,
    pub bot: bool,
    /// Who wrote the message; Discord sends it with additions only.
    pub message_author_id: Option<u64>,
    pub emoji: Emoji,
    pub burst: bool,
}

impl Reaction {
    /// `user_id` reacts 👍 to `message_id`, written by `message_author_id`.
    pub fn new(
        message_id: u64,
        guild_id: u64,
        channel_id: u64,
        user_id: u64,
        message_author_id: u64,
    ) -> Self {
        Self {
            message_id,
            channel_id,
            guild_id: Some(guild_id),
            user_id,
            username: format!("member{user_id}"),
            nick: None,
            bot: false,
            message_author_id: Some(message_author_id),
            emoji: Emoji::Unicode("👍".to_owned()),
            burst: false,
        }
    }

    #[must_use]
    pub fn emoji(mut self, emoji: Emoji) -> Self {
        self.emoji = emoji;
        self
    }

    #[must_use]
    pub fn bot(mut self) -> Self {
        self.bot = true;
        self
    }

    #[must_use]
    pub fn nick(mut self, nick: impl Into<String>) -> Self {
        self.nick = Some(nick.into());
        self
    }

    fn emoji_json(&self) -> Value {
        match &self.emoji {
            Emoji::Unicode(name) => json!({ "id": null, "name": name }),
            Emoji::Custom { id: emoji_id, name } => {
                json!({ "id": id(*emoji_id), "name": name, "animated": false })
            }
        }
    }

    /// The `d` of a `MESSAGE_REACTION_ADD`: with the member and the message's
    /// author.
    pub fn add_json(&self) -> Value {
        let mut user = json!({
            "username": self.username,
            "public_flags": 0,
            "id": id(self.user_id),
            "global_name": null,
            "discriminator": "0",
            "avatar": null,
        });
        if self.bot {
            user["bot"] = json!(true);
        }
        let mut reaction = json!({
            "user_id": id(self.user_id),
            "type": 0,
            "message_id": id(self.message_id),
            "emoji": self.emoji_json(),
            "channel_id": id(self.channel_id),
            "burst_colors": [],
            "burst": self.burst,
        });
        if let Some(author) = self.message_author_id {
            reaction["message_author_id"] = id(author);
        }
        if let Some(guild_id) = self.guild_id {
            reaction["guild_id"] = id(guild_id);
            reaction["member"] = json!({
                "user": user,
                "roles": [],
                "premium_since": null,
                "pending": false,
                "nick": self.nick,
                "mute": false,
                "joined_at": "2025-01-01T00:00:00.000000+00:00",
                "flags": 0,
                "deaf": false,
                "communication_disabled_until": null,
                "avatar": null,
            });
        }
        reaction
    }

    /// The `d` of a `MESSAGE_REACTION_REMOVE`: no member, no author.
    pub fn remove_json(&self) -> Value {
        let mut reaction = json!({
            "user_id": id(self.user_id),
            "type": 0,
            "message_id": id(self.message_id),
            "emoji": self.emoji_json(),
            "channel_id": id(self.channel_id),
            "burst": self.burst,
        });
        if let Some(guild_id) = self.guild_id {
            reaction["guild_id"] = id(guild_id);
        }
        reaction
    }
}

/// A `MESSAGE_DELETE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageDelete {
    pub id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
}

impl MessageDelete {
    pub fn new(id: u64, guild_id: u64, channel_id: u64) -> Self {
        Self {
            id,
            channel_id,
            guild_id: Some(guild_id),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut deleted = json!({ "id": id(self.id), "channel_id": id(self.channel_id) });
        if let Some(guild_id) = self.guild_id {
            deleted["guild_id"] = id(guild_id);
        }
        deleted
    }
}

/// The first whole dispatch frame: `op`, `s`, `t`, `d` in that order, as
/// Discord sends them (twilight reads the first three without parsing `d`).
pub(crate) fn dispatch_frame(sequence: u64, event_type: &str, data: &str) -> String {
    format!(r#"{{"op":0,"s":{sequence},"t":"{event_type}","d":{data}}}"#)
}

/// A non-dispatch frame.
pub(crate) fn op_frame(op: u8, data: &Value) -> String {
    format!(r#"{{"op":{op},"s":null,"t":null,"d":{data}}}"#)
}

/// `READY` for a new session whose resume URL is the fake gateway itself.
pub(crate) fn ready(session_id: &str, resume_gateway_url: &str, shard: [u32; 2]) -> Value {
    json!({
        "v": 10,
        "user_settings": {},
        "user": {
            "verified": true,
            "username": "community-os-fake",
            "mfa_enabled": false,
            "id": "1000000000000000999",
            "global_name": null,
            "flags": 0,
            "email": null,
            "discriminator": "0000",
            "bot": true,
            "avatar": null
        },
        "session_type": "normal",
        "session_id": session_id,
        "resume_gateway_url": resume_gateway_url,
        "relationships": [],
        "private_channels": [],
        "presences": [],
        "guilds": [{ "unavailable": true, "id": "1000000000000000001" }],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["us-east"],
        "auth": {},
        "application": { "id": "1000000000000000999", "flags": 565_248 },
        "_trace": ["[\"fake-gateway\"]"],
        "shard": shard
    })
}

/// A pre-serialized ~1 KB `MESSAGE_CREATE` with holes for the sequence and
/// the message id, so a firehose spends its time writing, not serializing.
#[derive(Clone, Debug)]
pub struct FirehoseTemplate {
    /// Text between the sequence and the message id.
    middle: String,
    /// Text after the message id.
    tail: String,
    /// Length of a rendered frame, for reporting.
    approx_len: usize,
}

impl FirehoseTemplate {
    const HOLE: &'static str = "\"9999999999999999999\"";

    /// Messages of about `frame_len` bytes from a rotating set of members.
    pub fn new(frame_len: usize) -> Self {
        let mut message = MessageCreate::new(
            9_999_999_999_999_999_999,
            1_000_000_000_000_000_001,
            1_000_000_000_000_000_003,
            1_000_000_000_000_000_002,
        )
        .global_name("Firehose Member")
        .nick("hose")
        .content(String::new())
        .to_json();
        let base = dispatch_frame(1_000_000, "MESSAGE_CREATE", &message.to_string()).len();
        let filler = "lorem ipsum dolor sit amet ".repeat(frame_len / 27 + 1);
        let pad = frame_len.saturating_sub(base).min(filler.len());
        message["content"] = Value::String(filler[..pad].to_owned());
        let data = message.to_string();
        let (before, after) = data
            .split_once(Self::HOLE)
            .expect("the message id appears in the payload");
        let middle = format!(r#","t":"MESSAGE_CREATE","d":{before}""#);
        let tail = format!("\"{after}}}");
        Self {
            approx_len: base + pad,
            middle,
            tail,
        }
    }

    /// About how long each frame is.
    pub fn frame_len(&self) -> usize {
        self.approx_len
    }

    /// The frame for dispatch `sequence` carrying message `message_id`.
    pub fn render(&self, sequence: u64, message_id: u64) -> String {
        use std::fmt::Write as _;
        let mut frame = String::with_capacity(self.approx_len + 16);
        frame.push_str(r#"{"op":0,"s":"#);
        let _ = write!(frame, "{sequence}");
        frame.push_str(&self.middle);
        let _ = write!(frame, "{message_id}");
        frame.push_str(&self.tail);
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firehose_frames_are_dispatches_of_the_requested_size() {
        let template = FirehoseTemplate::new(1024);
        let frame = template.render(42, 1_100_000_000_000_000_042);
        assert!((1000..1100).contains(&frame.len()), "{}", frame.len());
        assert!(frame.starts_with(r#"{"op":0,"s":42,"t":"MESSAGE_CREATE","d":{"#));
        let value: Value = serde_json::from_str(&frame).expect("valid JSON");
        assert_eq!(value["d"]["id"], "1100000000000000042");
        assert_eq!(value["d"]["guild_id"], "1000000000000000001");
    }

    #[test]
    fn dispatch_frames_put_op_s_t_first() {
        let frame = dispatch_frame(7, "MESSAGE_DELETE", r#"{"id":"1"}"#);
        assert_eq!(
            frame,
            r#"{"op":0,"s":7,"t":"MESSAGE_DELETE","d":{"id":"1"}}"#
        );
    }
}
