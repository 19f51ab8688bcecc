//! Engagement scoring: turns relay events into [`ScoredEvent`]s under a
//! guild's [`ScoringRules`].
//!
//! The rules, in the community's words:
//! - a message scores `message_points` (1 by default), a reaction
//!   `reaction_points` (0.5 by default);
//! - bots score nothing;
//! - a member reacting to their own message scores nothing;
//! - removing a reaction takes back what the matching add scored (the store
//!   finds the add by member, message and emoji);
//! - deleting a message does **not** change the score: the message was real
//!   engagement when it happened, Discord does not say who wrote a deleted
//!   message, and taking points back would let a moderator's cleanup punish
//!   the author twice. Deletions are counted, not scored
//!   ([`SkipReason::MessageDeleted`]);
//! - an optional per-member message cooldown (off by default): a message less
//!   than `message_cooldown_secs` from the member's last scored message is
//!   recorded with 0 points, so spam cannot farm points;
//! - `!close` messages score like any message and are also reported as a
//!   [`CloseRequest`] for the ticket path, which decides whether the author
//!   may close.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, UserMarker};
use twilight_model::util::Timestamp;

use crate::engagement::{EventKind, ScoredEvent};
use crate::relay::{RelayEvent, RelayEventKind};

/// A guild's scoring weights. Construct through [`ScoringRules::new`] or
/// validate a deserialized value with [`ScoringRules::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringRules {
    pub message_points: f64,
    pub reaction_points: f64,
    /// 0 turns the cooldown off.
    pub message_cooldown_secs: u32,
}

impl Default for ScoringRules {
    fn default() -> Self {
        Self {
            message_points: 1.0,
            reaction_points: 0.5,
            message_cooldown_secs: 0,
        }
    }
}

/// A weight a Creator Manager entered is unusable; safe to show them.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    #[error("{field} must be a finite number of points, zero or more (got {value})")]
    InvalidPoints { field: &'static str, value: f64 },
}

impl ScoringRules {
    pub fn new(
        message_points: f64,
        reaction_points: f64,
        message_cooldown_secs: u32,
    ) -> Result<Self, RulesError> {
        Self {
            message_points,
            reaction_points,
            message_cooldown_secs,
        }
        .validate()
    }

    /// Points must be finite and not negative.
    pub fn validate(self) -> Result<Self, RulesError> {
        for (field, value) in [
            ("message_points", self.message_points),
            ("reaction_points", self.reaction_points),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(RulesError::InvalidPoints { field, value });
            }
        }
        Ok(self)
    }
}

/// A member of a guild: scores and cooldowns are per guild.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuildMember {
    pub guild_id: Id<GuildMarker>,
    pub member_id: Id<UserMarker>,
}

/// Someone typed `!close` in a channel; the ticket path checks it is a ticket
/// channel and that they may close it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CloseRequest {
    pub guild_id: Id<GuildMarker>,
    pub channel_id: Id<ChannelMarker>,
    pub user_id: Id<UserMarker>,
    pub message_id: Id<MessageMarker>,
    pub at: Timestamp,
}

/// Why an event was not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// Sent or reacted by a bot.
    Bot,
    /// A member reacted to their own message.
    OwnMessage,
    /// A deleted message: counted, never scored (see the module docs).
    MessageDeleted,
    /// The event lacks what its kind needs (no user, no emoji). The batch
    /// parser refuses these, so this only happens to unchecked events.
    Incomplete,
}

/// What scoring made of one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Scored {
    /// Record this event; `close` is set for a `!close` message.
    Recorded {
        event: ScoredEvent,
        close: Option<CloseRequest>,
    },
    Skipped(SkipReason),
}

/// How many events were skipped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SkipCounts {
    pub bot: u32,
    pub own_message: u32,
    pub message_deleted: u32,
    pub incomplete: u32,
}

impl SkipCounts {
    fn add(&mut self, reason: SkipReason) {
        let count = match reason {
            SkipReason::Bot => &mut self.bot,
            SkipReason::OwnMessage => &mut self.own_message,
            SkipReason::MessageDeleted => &mut self.message_deleted,
            SkipReason::Incomplete => &mut self.incomplete,
        };
        *count = count.saturating_add(1);
    }

    pub fn total(&self) -> u32 {
        self.bot
            .saturating_add(self.own_message)
            .saturating_add(self.message_deleted)
            .saturating_add(self.incomplete)
    }
}

/// The result of scoring a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchScore {
    /// What to hand to the store, in batch order.
    pub events: Vec<ScoredEvent>,
    /// `!close` messages, in batch order.
    pub close_requests: Vec<CloseRequest>,
    pub skipped: SkipCounts,
    /// Messages that scored under a cooldown and so were recorded with 0 points.
    pub cooled_down: u32,
    /// Each member's latest scored message time after this batch, for members
    /// whose time moved: what the caller keeps for the next batch's cooldown.
    pub last_scored: HashMap<GuildMember, Timestamp>,
}

/// The idempotency key of a scored event: its kind, `:`, the relay's dedupe key.
pub fn idempotency_key(kind: EventKind, dedupe: &str) -> String {
    format!("{}:{dedupe}", kind.as_str())
}

/// Scores one event, ignoring the cooldown (which needs the member's history:
/// see [`score_batch`]).
pub fn score(rules: &ScoringRules, event: &RelayEvent) -> Scored {
    if event.kind == RelayEventKind::MessageDelete {
        return Scored::Skipped(SkipReason::MessageDeleted);
    }
    if event.is_bot {
        return Scored::Skipped(SkipReason::Bot);
    }
    let Some(member_id) = event.user_id else {
        return Scored::Skipped(SkipReason::Incomplete);
    };
    let (kind, points) = match event.kind {
        RelayEventKind::MessageCreate => (EventKind::Message, rules.message_points),
        RelayEventKind::ReactionAdd => (EventKind::ReactionAdd, rules.reaction_points),
        RelayEventKind::ReactionRemove => (EventKind::ReactionRemove, -rules.reaction_points),
        RelayEventKind::MessageDelete => return Scored::Skipped(SkipReason::MessageDeleted),
    };
    let is_reaction = kind != EventKind::Message;
    if is_reaction && event.emoji.is_none() {
        return Scored::Skipped(SkipReason::Incomplete);
    }
    // Discord names the message's author on reaction adds only; a removal on
    // one's own message reaches the store, finds no add to cancel, and changes
    // nothing.
    if is_reaction && event.message_author_id == Some(member_id) {
        return Scored::Skipped(SkipReason::OwnMessage);
    }
    let close = (kind == EventKind::Message && event.is_close_command).then_some(CloseRequest {
        guild_id: event.guild_id,
        channel_id: event.channel_id,
        user_id: member_id,
        message_id: event.message_id,
        at: event.occurred_at,
    });
    Scored::Recorded {
        event: ScoredEvent {
            idempotency_key: idempotency_key(kind, &event.dedupe),
            guild_id: event.guild_id,
            member_id,
            member_name: event.member_name.clone(),
            channel_id: event.channel_id,
            message_id: event.message_id,
            kind,
            emoji: if is_reaction {
                event.emoji.clone()
            } else {
                None
            },
            occurred_at: event.occurred_at,
            points,
        },
        close,
    }
}

/// Scores a batch under each guild's rules (a guild missing from `rules` uses
/// [`ScoringRules::default`]), applying the message cooldown against
/// `last_scored`: each member's latest message that scored points before this
/// batch.
///
/// The cooldown looks at messages in time order, whatever their order in the
/// batch, and counts distance either way: a message that arrives late (an
/// older batch from the relay's spool) cannot farm points either. A message
/// repeated in the batch is scored once.
pub fn score_batch(
    events: &[RelayEvent],
    rules: &HashMap<Id<GuildMarker>, ScoringRules>,
    last_scored: &HashMap<GuildMember, Timestamp>,
) -> BatchScore {
    let rules_for = |guild: Id<GuildMarker>| rules.get(&guild).copied().unwrap_or_default();
    let mut out = BatchScore::default();
    let mut seen: HashSet<String> = HashSet::with_capacity(events.len());

    let mut scored: Vec<ScoredEvent> = Vec::with_capacity(events.len());
    for event in events {
        match score(&rules_for(event.guild_id), event) {
            Scored::Recorded { event, close } => {
                if !seen.insert(event.idempotency_key.clone()) {
                    continue;
                }
                out.close_requests.extend(close);
                scored.push(event);
            }
            Scored::Skipped(reason) => out.skipped.add(reason),
        }
    }

    // Cooldown pass over the scored messages in time order.
    let mut messages: Vec<usize> = scored
        .iter()
        .enumerate()
        .filter(|(_, event)| event.kind == EventKind::Message)
        .map(|(index, _)| index)
        .collect();
    messages.sort_by_key(|&index| (scored[index].occurred_at.as_micros(), index));
    for index in messages {
        let event = &mut scored[index];
        let cooldown_secs = rules_for(event.guild_id).message_cooldown_secs;
        if cooldown_secs == 0 || event.points == 0.0 {
            continue;
        }
        let member = GuildMember {
            guild_id: event.guild_id,
            member_id: event.member_id,
        };
        let previous = out
            .last_scored
            .get(&member)
            .or_else(|| last_scored.get(&member));
        let cooling = previous.is_some_and(|previous| {
            let apart = event.occurred_at.as_micros().abs_diff(previous.as_micros());
            apart < u64::from(cooldown_secs) * 1_000_000
        });
        if cooling {
            event.points = 0.0;
            out.cooled_down = out.cooled_down.saturating_add(1);
        } else {
            // Only a later message moves the member's clock forward.
            if previous.is_none_or(|previous| event.occurred_at.as_micros() > previous.as_micros())
            {
                out.last_scored.insert(member, event.occurred_at);
            }
        }
    }

    out.events = scored;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUILD: u64 = 100;
    const CHANNEL: u64 = 200;
    const ALICE: u64 = 1;
    const BOB: u64 = 2;
    const T0: i64 = 1_795_000_000;

    fn at(offset_secs: i64) -> Timestamp {
        Timestamp::from_secs(T0 + offset_secs).expect("valid time")
    }

    fn message(id: u64, user: u64, offset_secs: i64) -> RelayEvent {
        RelayEvent {
            kind: RelayEventKind::MessageCreate,
            guild_id: Id::new(GUILD),
            channel_id: Id::new(CHANNEL),
            message_id: Id::new(id),
            user_id: Some(Id::new(user)),
            message_author_id: None,
            emoji: None,
            occurred_at: at(offset_secs),
            is_bot: false,
            is_close_command: false,
            member_name: Some(format!("member-{user}")),
            dedupe: id.to_string(),
        }
    }

    fn reaction(
        kind: RelayEventKind,
        message_id: u64,
        user: u64,
        author: Option<u64>,
    ) -> RelayEvent {
        RelayEvent {
            kind,
            user_id: Some(Id::new(user)),
            message_author_id: author.map(Id::new),
            emoji: Some("👍".to_owned()),
            dedupe: format!("{message_id}:{user}:👍:s:9"),
            ..message(message_id, user, 0)
        }
    }

    fn bot(mut event: RelayEvent) -> RelayEvent {
        event.is_bot = true;
        event
    }

    fn close_command(mut event: RelayEvent) -> RelayEvent {
        event.is_close_command = true;
        event
    }

    #[derive(Debug, PartialEq)]
    enum Expect {
        Recorded {
            key: &'static str,
            kind: EventKind,
            points: f64,
            close: bool,
        },
        Skipped(SkipReason),
    }

    #[test]
    fn score_table() {
        use RelayEventKind::{MessageDelete, ReactionAdd, ReactionRemove};
        let rules = ScoringRules::default();
        let custom = ScoringRules::new(2.0, 0.25, 0).expect("valid rules");
        let delete = RelayEvent {
            kind: MessageDelete,
            user_id: None,
            ..message(50, ALICE, 0)
        };
        let no_user = RelayEvent {
            user_id: None,
            ..message(51, ALICE, 0)
        };
        let no_emoji = RelayEvent {
            emoji: None,
            ..reaction(ReactionAdd, 52, BOB, Some(ALICE))
        };

        let cases: Vec<(&str, ScoringRules, RelayEvent, Expect)> = vec![
            (
                "message scores message points",
                rules,
                message(10, ALICE, 0),
                Expect::Recorded {
                    key: "message:10",
                    kind: EventKind::Message,
                    points: 1.0,
                    close: false,
                },
            ),
            (
                "weights come from the guild's rules",
                custom,
                message(10, ALICE, 0),
                Expect::Recorded {
                    key: "message:10",
                    kind: EventKind::Message,
                    points: 2.0,
                    close: false,
                },
            ),
            (
                "reaction to someone else's message",
                rules,
                reaction(ReactionAdd, 10, BOB, Some(ALICE)),
                Expect::Recorded {
                    key: "reaction_add:10:2:👍:s:9",
                    kind: EventKind::ReactionAdd,
                    points: 0.5,
                    close: false,
                },
            ),
            (
                "reaction with unknown author",
                custom,
                reaction(ReactionAdd, 10, BOB, None),
                Expect::Recorded {
                    key: "reaction_add:10:2:👍:s:9",
                    kind: EventKind::ReactionAdd,
                    points: 0.25,
                    close: false,
                },
            ),
            (
                "reaction to own message",
                rules,
                reaction(ReactionAdd, 10, ALICE, Some(ALICE)),
                Expect::Skipped(SkipReason::OwnMessage),
            ),
            (
                "removal takes back",
                rules,
                reaction(ReactionRemove, 10, BOB, None),
                Expect::Recorded {
                    key: "reaction_remove:10:2:👍:s:9",
                    kind: EventKind::ReactionRemove,
                    points: -0.5,
                    close: false,
                },
            ),
            (
                "bot message",
                rules,
                bot(message(10, ALICE, 0)),
                Expect::Skipped(SkipReason::Bot),
            ),
            (
                "bot reaction",
                rules,
                bot(reaction(ReactionAdd, 10, BOB, Some(ALICE))),
                Expect::Skipped(SkipReason::Bot),
            ),
            (
                "bot !close is not a close request",
                rules,
                bot(close_command(message(10, ALICE, 0))),
                Expect::Skipped(SkipReason::Bot),
            ),
            (
                "message delete is counted, not scored",
                rules,
                delete,
                Expect::Skipped(SkipReason::MessageDeleted),
            ),
            (
                "!close scores and requests a close",
                rules,
                close_command(message(10, ALICE, 0)),
                Expect::Recorded {
                    key: "message:10",
                    kind: EventKind::Message,
                    points: 1.0,
                    close: true,
                },
            ),
            (
                "message without user",
                rules,
                no_user,
                Expect::Skipped(SkipReason::Incomplete),
            ),
            (
                "reaction without emoji",
                rules,
                no_emoji,
                Expect::Skipped(SkipReason::Incomplete),
            ),
        ];

        for (name, rules, event, expect) in cases {
            match (score(&rules, &event), expect) {
                (
                    Scored::Recorded {
                        event: scored,
                        close,
                    },
                    Expect::Recorded {
                        key,
                        kind,
                        points,
                        close: wants_close,
                    },
                ) => {
                    assert_eq!(scored.idempotency_key, key, "{name}");
                    assert_eq!(scored.kind, kind, "{name}");
                    assert_eq!(scored.points, points, "{name}");
                    assert_eq!(close.is_some(), wants_close, "{name}");
                    assert_eq!(scored.guild_id, event.guild_id, "{name}");
                    assert_eq!(Some(scored.member_id), event.user_id, "{name}");
                    assert_eq!(scored.message_id, event.message_id, "{name}");
                    assert_eq!(scored.occurred_at, event.occurred_at, "{name}");
                    assert_eq!(scored.member_name, event.member_name, "{name}");
                    let emoji = if kind == EventKind::Message {
                        None
                    } else {
                        event.emoji.clone()
                    };
                    assert_eq!(scored.emoji, emoji, "{name}");
                    if let Some(close) = close {
                        assert_eq!(close.channel_id, event.channel_id, "{name}");
                        assert_eq!(Some(close.user_id), event.user_id, "{name}");
                    }
                }
                (Scored::Skipped(reason), Expect::Skipped(expected)) => {
                    assert_eq!(reason, expected, "{name}");
                }
                (got, expect) => panic!("{name}: expected {expect:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn rules_validation_table() {
        let cases = [
            ("defaults", 1.0, 0.5, true),
            ("zero is allowed", 0.0, 0.0, true),
            ("negative message points", -1.0, 0.5, false),
            ("negative reaction points", 1.0, -0.5, false),
            ("NaN", f64::NAN, 0.5, false),
            ("infinite", 1.0, f64::INFINITY, false),
        ];
        for (name, message, reaction, ok) in cases {
            assert_eq!(
                ScoringRules::new(message, reaction, 0).is_ok(),
                ok,
                "{name}"
            );
        }
        assert_eq!(
            ScoringRules::new(1.0, -0.5, 0),
            Err(RulesError::InvalidPoints {
                field: "reaction_points",
                value: -0.5
            })
        );
        assert_eq!(
            ScoringRules::default(),
            ScoringRules::new(1.0, 0.5, 0).expect("valid")
        );
    }

    #[test]
    fn rules_deserialize_with_defaults_for_missing_fields() {
        let rules: ScoringRules =
            serde_json::from_str(r#"{"message_cooldown_secs": 60}"#).expect("valid");
        assert_eq!(rules.message_points, 1.0);
        assert_eq!(rules.message_cooldown_secs, 60);
    }

    fn points_of(batch: &BatchScore) -> Vec<(String, f64)> {
        batch
            .events
            .iter()
            .map(|event| (event.idempotency_key.clone(), event.points))
            .collect()
    }

    fn with_cooldown(secs: u32) -> HashMap<Id<GuildMarker>, ScoringRules> {
        HashMap::from([(
            Id::new(GUILD),
            ScoringRules::new(1.0, 0.5, secs).expect("valid"),
        )])
    }

    #[test]
    fn cooldown_table() {
        let alice = GuildMember {
            guild_id: Id::new(GUILD),
            member_id: Id::new(ALICE),
        };
        type Case = (
            &'static str,
            u32,
            Vec<RelayEvent>,
            Option<i64>,
            Vec<f64>,
            Option<i64>,
        );
        let cases: Vec<Case> = vec![
            (
                "off by default: every message scores",
                0,
                vec![
                    message(1, ALICE, 0),
                    message(2, ALICE, 1),
                    message(3, ALICE, 2),
                ],
                None,
                vec![1.0, 1.0, 1.0],
                None,
            ),
            (
                "messages inside the window score 0 but are recorded",
                60,
                vec![
                    message(1, ALICE, 0),
                    message(2, ALICE, 30),
                    message(3, ALICE, 59),
                    message(4, ALICE, 60),
                    message(5, ALICE, 90),
                    message(6, ALICE, 120),
                ],
                None,
                vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
                Some(120),
            ),
            (
                "history from earlier batches counts",
                60,
                vec![message(1, ALICE, 10), message(2, ALICE, 70)],
                Some(0),
                vec![0.0, 1.0],
                Some(70),
            ),
            (
                "batch order does not matter, time order does",
                60,
                vec![message(2, ALICE, 30), message(1, ALICE, 0)],
                None,
                vec![0.0, 1.0],
                Some(0),
            ),
            (
                "a late older message cannot farm",
                60,
                vec![message(1, ALICE, -20)],
                Some(0),
                vec![0.0],
                None,
            ),
            (
                "a much older message scores, the latest time stays",
                60,
                vec![message(1, ALICE, -600)],
                Some(0),
                vec![1.0],
                None,
            ),
            (
                "members cool down separately",
                60,
                vec![message(1, ALICE, 0), message(2, BOB, 1)],
                None,
                vec![1.0, 1.0],
                Some(0),
            ),
            (
                "reactions are not cooled down",
                60,
                vec![
                    message(1, ALICE, 0),
                    reaction(RelayEventKind::ReactionAdd, 9, ALICE, Some(BOB)),
                ],
                None,
                vec![1.0, 0.5],
                Some(0),
            ),
        ];
        for (name, cooldown, events, previous, expected, latest) in cases {
            let last = previous
                .map(|offset| HashMap::from([(alice, at(offset))]))
                .unwrap_or_default();
            let batch = score_batch(&events, &with_cooldown(cooldown), &last);
            let points: Vec<f64> = batch.events.iter().map(|event| event.points).collect();
            assert_eq!(points, expected, "{name}: {:?}", points_of(&batch));
            let cooled = expected.iter().filter(|points| **points == 0.0).count();
            assert_eq!(batch.cooled_down as usize, cooled, "{name}");
            assert_eq!(
                batch.last_scored.get(&alice).copied(),
                latest.map(at),
                "{name}"
            );
        }
    }

    #[test]
    fn batch_collects_close_requests_skips_and_repeats_once() {
        let events = vec![
            message(1, ALICE, 0),
            close_command(message(2, BOB, 5)),
            bot(message(3, 99, 6)),
            bot(message(4, 99, 7)),
            reaction(RelayEventKind::ReactionAdd, 1, ALICE, Some(ALICE)),
            RelayEvent {
                kind: RelayEventKind::MessageDelete,
                user_id: None,
                ..message(1, ALICE, 9)
            },
            message(1, ALICE, 0),
        ];
        let batch = score_batch(&events, &HashMap::new(), &HashMap::new());
        assert_eq!(
            points_of(&batch),
            vec![("message:1".to_owned(), 1.0), ("message:2".to_owned(), 1.0)]
        );
        assert_eq!(batch.close_requests.len(), 1);
        assert_eq!(batch.close_requests[0].user_id, Id::new(BOB));
        assert_eq!(batch.close_requests[0].channel_id, Id::new(CHANNEL));
        assert_eq!(
            batch.skipped,
            SkipCounts {
                bot: 2,
                own_message: 1,
                message_deleted: 1,
                incomplete: 0
            }
        );
        assert_eq!(batch.skipped.total(), 4);
    }

    #[test]
    fn guilds_without_rules_use_the_defaults() {
        let other_guild = RelayEvent {
            guild_id: Id::new(GUILD + 1),
            ..message(1, ALICE, 0)
        };
        let rules = HashMap::from([(
            Id::new(GUILD),
            ScoringRules::new(3.0, 0.5, 0).expect("valid"),
        )]);
        let batch = score_batch(
            &[message(2, ALICE, 0), other_guild],
            &rules,
            &HashMap::new(),
        );
        let points: Vec<f64> = batch.events.iter().map(|event| event.points).collect();
        assert_eq!(points, vec![3.0, 1.0]);
    }
}
