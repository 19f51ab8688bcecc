//! Gateway dispatches → [`RelayEvent`]s.
//!
//! The fast path reads only the fields scoring needs straight from the raw
//! JSON (ids, author, member names, bot flags, timestamp; the content only
//! borrowed, to recognise `!close`) and skips the rest without building it.
//! The typed path deserializes twilight-model's full types and converts them
//! with the core's constructors. Both must give identical events: the tests
//! below compare them on realistic payloads, so the fast path cannot drift
//! from the core's rules.

use std::borrow::Cow;
use std::fmt;

use community_core::relay::{
    DispatchPosition, RelayEvent, RelayEventKind, dedupe_for_message, dedupe_for_reaction,
    is_close_command, is_member_message,
};
use serde::Deserialize;
use serde::de::DeserializeSeed as _;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use twilight_model::channel::message::MessageType;
use twilight_model::gateway::event::{DispatchEvent, GatewayEvent, GatewayEventDeserializer};
use twilight_model::gateway::payload::incoming::MessageDelete;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, EmojiMarker, GuildMarker, MessageMarker, UserMarker,
};
use twilight_model::util::Timestamp;

use crate::config::Parser;

/// The dispatches the relay forwards, by their `t`.
pub(crate) fn kind_of(event_type: &str) -> Option<RelayEventKind> {
    match event_type {
        "MESSAGE_CREATE" => Some(RelayEventKind::MessageCreate),
        "MESSAGE_REACTION_ADD" => Some(RelayEventKind::ReactionAdd),
        "MESSAGE_REACTION_REMOVE" => Some(RelayEventKind::ReactionRemove),
        "MESSAGE_DELETE" => Some(RelayEventKind::MessageDelete),
        _ => None,
    }
}

/// A dispatch the relay should forward but could not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("{kind:?} payload: {source}")]
    Json {
        kind: RelayEventKind,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("reaction emoji has neither an id nor a name")]
    NoEmoji,
    #[error("not a gateway event")]
    NotAnEvent,
}

/// The event for one dispatch of kind `kind` (whole frame in `frame`);
/// `Ok(None)` when it is not about a guild.
pub(crate) fn relay_event(
    parser: Parser,
    kind: RelayEventKind,
    frame: &str,
    position: DispatchPosition<'_>,
    received_at: Timestamp,
) -> Result<Option<RelayEvent>, ParseError> {
    match parser {
        Parser::Fast => fast(kind, frame, position, received_at),
        Parser::Typed => typed(kind, frame, position, received_at),
    }
}

fn json_error(kind: RelayEventKind) -> impl FnOnce(serde_json::Error) -> ParseError {
    move |source| ParseError::Json {
        kind,
        source: Box::new(source),
    }
}

/// `{"op":0,"s":..,"t":..,"d":{...}}`: only `d` is read, the rest skipped.
#[derive(Deserialize)]
struct Envelope<T> {
    d: T,
}

/// A string borrowed from the frame when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl Text<'_> {
    fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

#[derive(Deserialize)]
struct FastUser<'a> {
    id: Id<UserMarker>,
    #[serde(borrow)]
    username: Text<'a>,
    #[serde(default, borrow)]
    global_name: Option<Text<'a>>,
    #[serde(default)]
    bot: bool,
}

#[derive(Deserialize)]
struct FastMessageMember<'a> {
    #[serde(default, borrow)]
    nick: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct FastMessage<'a> {
    id: Id<MessageMarker>,
    channel_id: Id<ChannelMarker>,
    #[serde(default)]
    guild_id: Option<Id<GuildMarker>>,
    #[serde(borrow)]
    author: FastUser<'a>,
    #[serde(default, borrow)]
    member: Option<FastMessageMember<'a>>,
    #[serde(borrow)]
    content: Text<'a>,
    timestamp: Timestamp,
    #[serde(default)]
    webhook_id: Option<IgnoredAny>,
    #[serde(rename = "type")]
    kind: u8,
}

#[derive(Deserialize)]
struct FastEmoji<'a> {
    #[serde(default)]
    id: Option<Id<EmojiMarker>>,
    #[serde(default, borrow)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct FastReactionMember<'a> {
    #[serde(borrow)]
    user: FastUser<'a>,
    #[serde(default, borrow)]
    nick: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct FastReaction<'a> {
    user_id: Id<UserMarker>,
    channel_id: Id<ChannelMarker>,
    message_id: Id<MessageMarker>,
    #[serde(default)]
    guild_id: Option<Id<GuildMarker>>,
    #[serde(default)]
    message_author_id: Option<Id<UserMarker>>,
    #[serde(borrow)]
    emoji: FastEmoji<'a>,
    #[serde(default, borrow)]
    member: Option<FastReactionMember<'a>>,
}

fn fast(
    kind: RelayEventKind,
    frame: &str,
    position: DispatchPosition<'_>,
    received_at: Timestamp,
) -> Result<Option<RelayEvent>, ParseError> {
    match kind {
        RelayEventKind::MessageCreate => {
            let Envelope { d: message } = serde_json::from_str::<Envelope<FastMessage<'_>>>(frame)
                .map_err(json_error(kind))?;
            let Some(guild_id) = message.guild_id else {
                return Ok(None);
            };
            if !is_member_message(MessageType::from(message.kind)) {
                return Ok(None);
            }
            let author = message.author;
            // Same order as the core's `message_create`: nick, global name,
            // username.
            let member_name = message
                .member
                .and_then(|member| member.nick)
                .or(author.global_name)
                .unwrap_or(author.username)
                .into_owned();
            Ok(Some(RelayEvent {
                kind,
                guild_id,
                channel_id: message.channel_id,
                message_id: message.id,
                user_id: Some(author.id),
                message_author_id: None,
                emoji: None,
                occurred_at: message.timestamp,
                is_bot: author.bot || message.webhook_id.is_some(),
                is_close_command: is_close_command(&message.content.0),
                member_name: Some(member_name),
                dedupe: dedupe_for_message(message.id),
            }))
        }
        RelayEventKind::ReactionAdd | RelayEventKind::ReactionRemove => {
            let Envelope { d: reaction } =
                serde_json::from_str::<Envelope<FastReaction<'_>>>(frame)
                    .map_err(json_error(kind))?;
            let Some(guild_id) = reaction.guild_id else {
                return Ok(None);
            };
            let emoji = match (reaction.emoji.id, reaction.emoji.name) {
                (Some(id), _) => id.to_string(),
                (None, Some(name)) => name.into_owned(),
                (None, None) => return Err(ParseError::NoEmoji),
            };
            let (is_bot, member_name) = match reaction.member {
                Some(member) => (
                    member.user.bot,
                    Some(
                        member
                            .nick
                            .or(member.user.global_name)
                            .unwrap_or(member.user.username)
                            .into_owned(),
                    ),
                ),
                None => (false, None),
            };
            Ok(Some(RelayEvent {
                kind,
                guild_id,
                channel_id: reaction.channel_id,
                message_id: reaction.message_id,
                user_id: Some(reaction.user_id),
                message_author_id: reaction.message_author_id,
                dedupe: dedupe_for_reaction(
                    reaction.message_id,
                    reaction.user_id,
                    &emoji,
                    position,
                ),
                emoji: Some(emoji),
                occurred_at: received_at,
                is_bot,
                is_close_command: false,
                member_name,
            }))
        }
        RelayEventKind::MessageDelete => {
            // Three ids: the typed struct is already minimal.
            let Envelope { d: deleted } =
                serde_json::from_str::<Envelope<MessageDelete>>(frame).map_err(json_error(kind))?;
            Ok(RelayEvent::message_delete(&deleted, received_at))
        }
    }
}

fn typed(
    kind: RelayEventKind,
    frame: &str,
    position: DispatchPosition<'_>,
    received_at: Timestamp,
) -> Result<Option<RelayEvent>, ParseError> {
    // What `twilight_gateway::parse` does (serde_json, no simd-json), on the
    // borrowed frame.
    let deserializer = GatewayEventDeserializer::from_json(frame).ok_or(ParseError::NotAnEvent)?;
    let event = deserializer
        .deserialize(&mut serde_json::Deserializer::from_str(frame))
        .map(Some)
        .map_err(json_error(kind))?;
    Ok(match event {
        Some(GatewayEvent::Dispatch(_, dispatch)) => match dispatch {
            DispatchEvent::MessageCreate(message) => RelayEvent::message_create(&message.message),
            DispatchEvent::ReactionAdd(reaction) => RelayEvent::reaction(
                RelayEventKind::ReactionAdd,
                &reaction.0,
                position,
                received_at,
            ),
            DispatchEvent::ReactionRemove(reaction) => RelayEvent::reaction(
                RelayEventKind::ReactionRemove,
                &reaction.0,
                position,
                received_at,
            ),
            DispatchEvent::MessageDelete(deleted) => {
                RelayEvent::message_delete(&deleted, received_at)
            }
            _ => None,
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fake_gateway::payloads::{Emoji, MessageCreate, MessageDelete, Reaction};
    use serde_json::Value;

    const GUILD: u64 = 1_000_000_000_000_000_001;
    const CHANNEL: u64 = 1_000_000_000_000_000_003;
    const POSITION: DispatchPosition<'static> = DispatchPosition {
        session_id: "fake0001",
        sequence: 42,
    };

    fn frame(event_type: &str, data: &Value) -> String {
        format!(r#"{{"op":0,"s":42,"t":"{event_type}","d":{data}}}"#)
    }

    fn received() -> Timestamp {
        Timestamp::from_secs(1_795_000_000).expect("valid")
    }

    fn both(event_type: &str, data: &Value) -> (Option<RelayEvent>, Option<RelayEvent>) {
        let kind = kind_of(event_type).expect("a forwarded kind");
        let frame = frame(event_type, data);
        let fast = relay_event(Parser::Fast, kind, &frame, POSITION, received()).expect("fast");
        let typed = relay_event(Parser::Typed, kind, &frame, POSITION, received()).expect("typed");
        (fast, typed)
    }

    /// The fast path gives exactly what the core's constructors give from
    /// twilight's full types, for every shape of payload the relay meets.
    #[test]
    fn fast_path_agrees_with_the_typed_path() {
        let message = |id| MessageCreate::new(id, GUILD, CHANNEL, 1_000_000_000_000_000_002);
        let reaction = || {
            Reaction::new(
                1_100_000_000_000_000_001,
                GUILD,
                CHANNEL,
                1_000_000_000_000_000_009,
                1_000_000_000_000_000_002,
            )
        };
        let cases: Vec<(&str, &str, Value)> = vec![
            ("plain message", "MESSAGE_CREATE", message(1).to_json()),
            (
                "with nick",
                "MESSAGE_CREATE",
                message(2).nick("Ally").global_name("Alice").to_json(),
            ),
            (
                "global name only",
                "MESSAGE_CREATE",
                message(3).global_name("Alice").to_json(),
            ),
            (
                "!close",
                "MESSAGE_CREATE",
                message(4).content("  !close\n").to_json(),
            ),
            (
                "not quite !close",
                "MESSAGE_CREATE",
                message(5).content("!close now").to_json(),
            ),
            (
                "escaped content",
                "MESSAGE_CREATE",
                message(6).content("say \"hi\"\n\u{1F600}").to_json(),
            ),
            (
                "escaped nick",
                "MESSAGE_CREATE",
                message(7).nick("A\"l\\y").to_json(),
            ),
            ("bot author", "MESSAGE_CREATE", message(8).bot().to_json()),
            (
                "webhook",
                "MESSAGE_CREATE",
                message(9).webhook(1_000_000_000_000_000_077).to_json(),
            ),
            (
                "direct message",
                "MESSAGE_CREATE",
                message(10).in_dm().to_json(),
            ),
            (
                "unicode reaction",
                "MESSAGE_REACTION_ADD",
                reaction().add_json(),
            ),
            (
                "custom reaction",
                "MESSAGE_REACTION_ADD",
                reaction()
                    .emoji(Emoji::Custom {
                        id: 1_200_000_000_000_000_005,
                        name: "party".to_owned(),
                    })
                    .add_json(),
            ),
            (
                "bot reaction with nick",
                "MESSAGE_REACTION_ADD",
                reaction().bot().nick("Robo").add_json(),
            ),
            (
                "removal",
                "MESSAGE_REACTION_REMOVE",
                reaction().remove_json(),
            ),
            (
                "custom removal",
                "MESSAGE_REACTION_REMOVE",
                reaction()
                    .emoji(Emoji::Custom {
                        id: 1_200_000_000_000_000_005,
                        name: "party".to_owned(),
                    })
                    .remove_json(),
            ),
            (
                "delete",
                "MESSAGE_DELETE",
                MessageDelete::new(1_100_000_000_000_000_001, GUILD, CHANNEL).to_json(),
            ),
        ];
        for (name, event_type, data) in cases {
            let (fast, typed) = both(event_type, &data);
            assert_eq!(fast, typed, "{name}");
            if name != "direct message" {
                assert!(fast.is_some(), "{name}");
            }
        }
    }

    /// Replies count; the system messages Discord posts in a member's name
    /// (a join, a boost, a pin, a thread started, an AutoMod alert) do not.
    #[test]
    fn only_messages_members_write_are_forwarded() {
        for (kind, forwarded) in [
            (0, true),
            (19, true),
            (6, false),
            (7, false),
            (8, false),
            (18, false),
            (24, false),
        ] {
            let mut data = MessageCreate::new(1, GUILD, CHANNEL, 2).to_json();
            data["type"] = serde_json::json!(kind);
            if kind == 19 {
                data["message_reference"] = serde_json::json!({ "type": 0, "channel_id": CHANNEL.to_string(), "message_id": "3" });
            }
            let (fast, typed) = both("MESSAGE_CREATE", &data);
            assert_eq!(fast, typed, "type {kind}");
            assert_eq!(fast.is_some(), forwarded, "type {kind}");
        }
    }

    #[test]
    fn content_never_reaches_the_event() {
        let data = MessageCreate::new(1, GUILD, CHANNEL, 2)
            .content("my secret plans")
            .to_json();
        let (fast, _) = both("MESSAGE_CREATE", &data);
        let wire = serde_json::to_string(&fast).expect("serializes");
        assert!(!wire.contains("secret plans"), "{wire}");
    }

    #[test]
    fn a_malformed_payload_is_an_error_not_a_panic() {
        let cases = [
            r#"{"op":0,"s":1,"t":"MESSAGE_CREATE","d":{"id":"1"}}"#,
            r#"{"op":0,"s":1,"t":"MESSAGE_CREATE","d":null}"#,
            r#"{"op":0,"s":1,"t":"MESSAGE_REACTION_ADD","d":{"user_id":"0"}}"#,
            r#"not json"#,
        ];
        for frame in cases {
            let kind = if frame.contains("REACTION") {
                RelayEventKind::ReactionAdd
            } else {
                RelayEventKind::MessageCreate
            };
            for parser in [Parser::Fast, Parser::Typed] {
                assert!(
                    relay_event(parser, kind, frame, POSITION, received()).is_err(),
                    "{parser:?} {frame}"
                );
            }
        }
        let no_emoji = frame(
            "MESSAGE_REACTION_ADD",
            &serde_json::json!({
                "user_id": "9", "channel_id": "3", "message_id": "11", "guild_id": "1",
                "emoji": { "id": null, "name": null }
            }),
        );
        assert!(matches!(
            relay_event(
                Parser::Fast,
                RelayEventKind::ReactionAdd,
                &no_emoji,
                POSITION,
                received()
            ),
            Err(ParseError::NoEmoji)
        ));
    }

    #[test]
    fn only_the_four_engagement_dispatches_are_forwarded() {
        for t in [
            "MESSAGE_CREATE",
            "MESSAGE_REACTION_ADD",
            "MESSAGE_REACTION_REMOVE",
            "MESSAGE_DELETE",
        ] {
            assert!(kind_of(t).is_some(), "{t}");
        }
        for t in [
            "MESSAGE_UPDATE",
            "MESSAGE_DELETE_BULK",
            "MESSAGE_REACTION_REMOVE_ALL",
            "GUILD_CREATE",
            "READY",
            "RESUMED",
            "TYPING_START",
        ] {
            assert!(kind_of(t).is_none(), "{t}");
        }
    }
}
