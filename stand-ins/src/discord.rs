//! The fake Discord REST API (v10): guild channels, messages, interaction
//! webhooks and application commands, kept in memory, in the shapes Discord
//! documents. Limits Discord enforces and a worker must handle (50 channels
//! in a category, 500 in a guild, 2000 characters in a message, one
//! acknowledgement per interaction) are enforced here too, with Discord's
//! error bodies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::{Snowflakes, discord_now, snowflake_timestamp};
use crate::lock;

/// The id of the bot user that authors messages sent with the bot token.
pub const BOT_USER_ID: &str = "1100000000000000001";
/// The bot user's name.
pub const BOT_USERNAME: &str = "Community OS";
/// The channel that messages sent through interaction webhooks claim to be
/// in: the stand-in does not see the interaction, so it cannot know the real
/// one.
pub const INTERACTION_CHANNEL_ID: &str = "1100000000000000002";

/// Discord's limits the stand-in enforces.
const MAX_CHANNELS_PER_CATEGORY: usize = 50;
const MAX_CHANNELS_PER_GUILD: usize = 500;
const MAX_CONTENT_CHARS: usize = 2000;
const MAX_EMBEDS: usize = 10;
/// `SUPPRESS_EMBEDS`, `EPHEMERAL`, `SUPPRESS_NOTIFICATIONS`, `IS_COMPONENTS_V2`:
/// the message flags a sender may set.
const SETTABLE_FLAGS: u64 = 4 | 64 | 4096 | 32768;
/// `LOADING`: a deferred interaction response not yet edited.
const LOADING_FLAG: u64 = 128;
/// `GUILD_CATEGORY`.
const CATEGORY_TYPE: u8 = 4;

/// A guild channel as the stand-in holds it; [`Channel::to_json`] gives
/// Discord's Channel object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: String,
    /// Discord's channel type: 0 text, 4 category, ...
    #[serde(rename = "type")]
    pub kind: u8,
    pub guild_id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub position: i64,
    pub permission_overwrites: Vec<PermissionOverwrite>,
    pub topic: Option<String>,
}

/// An allow/deny pair for a role (type 0) or a member (type 1); permission
/// bit sets as decimal strings, as Discord returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionOverwrite {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub allow: String,
    pub deny: String,
}

impl PermissionOverwrite {
    /// Whether this overwrite denies the permission `bit` (e.g. `1 << 10`,
    /// View Channel).
    pub fn denies(&self, bit: u64) -> bool {
        self.deny.parse::<u64>().is_ok_and(|deny| deny & bit != 0)
    }

    /// Whether this overwrite allows the permission `bit`.
    pub fn allows(&self, bit: u64) -> bool {
        self.allow
            .parse::<u64>()
            .is_ok_and(|allow| allow & bit != 0)
    }
}

impl Channel {
    /// Discord's Channel object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "guild_id": self.guild_id,
            "name": self.name,
            "parent_id": self.parent_id,
            "position": self.position,
            "permission_overwrites": self.permission_overwrites,
            "topic": self.topic,
            "nsfw": false,
            "last_message_id": null,
            "rate_limit_per_user": 0,
            "flags": 0,
        })
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub id: String,
    pub username: String,
    pub global_name: Option<String>,
    pub bot: bool,
}

/// A message as the stand-in holds it; [`Message::to_json`] gives Discord's
/// Message object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub channel_id: String,
    pub author: Author,
    pub content: String,
    pub timestamp: String,
    pub edited_timestamp: Option<String>,
    pub embeds: Vec<Value>,
    pub components: Vec<Value>,
    pub flags: u64,
    /// Set on messages sent through an interaction webhook.
    pub webhook_id: Option<String>,
}

impl Message {
    /// Discord's Message object.
    pub fn to_json(&self) -> Value {
        let mut author = json!({
            "id": self.author.id,
            "username": self.author.username,
            "discriminator": "0",
            "global_name": self.author.global_name,
            "avatar": null,
        });
        if self.author.bot {
            author["bot"] = Value::Bool(true);
        }
        let mut message = json!({
            "id": self.id,
            "channel_id": self.channel_id,
            "author": author,
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": false,
            "type": 0,
            "flags": self.flags,
        });
        if let Some(webhook_id) = &self.webhook_id {
            message["webhook_id"] = json!(webhook_id);
            message["application_id"] = json!(webhook_id);
        }
        message
    }
}

/// Everything the fake Discord knows.
#[derive(Debug, Default)]
pub(crate) struct DiscordState {
    snowflakes: Snowflakes,
    channels: BTreeMap<u64, Channel>,
    /// Per channel, oldest first.
    messages: HashMap<u64, Vec<Message>>,
    /// Keyed by application id and guild id (`None` for global commands).
    commands: HashMap<(String, Option<String>), Vec<Value>>,
    acknowledged: HashSet<String>,
    /// The original response of each interaction, by interaction token.
    originals: HashMap<String, Message>,
    followups: HashMap<String, Vec<Message>>,
    /// Guild members someone seeded, with their role ids, by (guild, user).
    members: HashMap<(String, String), (String, Vec<String>)>,
    /// Roles someone seeded, with their permission bits, by guild and role
    /// id. Every guild also has @everyone (its id is the guild's), with no
    /// permissions unless seeded.
    roles: HashMap<String, BTreeMap<String, u64>>,
}

pub(crate) type Shared = Arc<Mutex<DiscordState>>;

impl DiscordState {
    pub(crate) fn channels(&self, guild_id: &str) -> Vec<Channel> {
        self.channels
            .values()
            .filter(|channel| channel.guild_id == guild_id)
            .cloned()
            .collect()
    }

    pub(crate) fn messages(&self, channel_id: &str) -> Option<Vec<Message>> {
        let id = channel_id.parse().ok()?;
        self.channels.get(&id)?;
        Some(self.messages.get(&id).cloned().unwrap_or_default())
    }

    pub(crate) fn seed_member(
        &mut self,
        guild_id: &str,
        user_id: &str,
        name: &str,
        roles: &[&str],
    ) {
        self.members.insert(
            (guild_id.to_owned(), user_id.to_owned()),
            (
                name.to_owned(),
                roles.iter().map(|r| (*r).to_owned()).collect(),
            ),
        );
    }

    pub(crate) fn seed_role(&mut self, guild_id: &str, role_id: &str, permissions: u64) {
        self.roles
            .entry(guild_id.to_owned())
            .or_default()
            .insert(role_id.to_owned(), permissions);
    }

    pub(crate) fn seed_message(
        &mut self,
        channel_id: &str,
        author_id: &str,
        author_name: &str,
        content: &str,
    ) -> Result<Message, ApiError> {
        let channel = self.known_channel(channel_id)?;
        let id = self.snowflakes.next();
        let message = Message {
            id: id.to_string(),
            channel_id: channel.to_string(),
            author: Author {
                id: author_id.to_owned(),
                username: author_name.to_owned(),
                global_name: Some(author_name.to_owned()),
                bot: false,
            },
            content: content.to_owned(),
            timestamp: snowflake_timestamp(id),
            edited_timestamp: None,
            embeds: Vec::new(),
            components: Vec::new(),
            flags: 0,
            webhook_id: None,
        };
        self.messages
            .entry(channel)
            .or_default()
            .push(message.clone());
        Ok(message)
    }

    fn known_channel(&self, channel_id: &str) -> Result<u64, ApiError> {
        channel_id
            .parse::<u64>()
            .ok()
            .filter(|id| self.channels.contains_key(id))
            .ok_or_else(ApiError::unknown_channel)
    }

    pub(crate) fn create_channel(
        &mut self,
        guild_id: &str,
        body: &Value,
    ) -> Result<Channel, ApiError> {
        if guild_id.parse::<u64>().is_err() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, 10004, "Unknown Guild"));
        }
        let name = required_name(body)?;
        let kind = match body.get("type") {
            None | Some(Value::Null) => 0,
            Some(kind) => kind
                .as_u64()
                .and_then(|kind| u8::try_from(kind).ok())
                .ok_or_else(|| {
                    ApiError::invalid_form(
                        "type",
                        "BASE_TYPE_CHOICES",
                        "Value must be one of {0, 2, 4, 5, 13, 15, 16}.",
                    )
                })?,
        };
        let parent_id = optional_snowflake(body, "parent_id")?;
        let permission_overwrites = overwrites(body)?.unwrap_or_default();
        let in_guild = self.channels(guild_id);
        if in_guild.len() >= MAX_CHANNELS_PER_GUILD {
            return Err(ApiError::from_body(
                StatusCode::BAD_REQUEST,
                guild_channel_limit_body(),
            ));
        }
        if let Some(parent) = &parent_id {
            self.check_parent(parent, None)?;
        }
        let id = self.snowflakes.next();
        let channel = Channel {
            id: id.to_string(),
            kind,
            guild_id: guild_id.to_owned(),
            name,
            parent_id,
            position: i64::try_from(in_guild.len()).unwrap_or(i64::MAX),
            permission_overwrites,
            topic: body.get("topic").and_then(Value::as_str).map(str::to_owned),
        };
        self.channels.insert(id, channel.clone());
        Ok(channel)
    }

    /// A parent must be a category with room; an id the stand-in has never
    /// seen is accepted, since a worker's configured category may have been
    /// made outside it.
    fn check_parent(&self, parent: &str, moving: Option<u64>) -> Result<(), ApiError> {
        let known = parent
            .parse::<u64>()
            .ok()
            .and_then(|id| self.channels.get(&id));
        if known.is_some_and(|channel| channel.kind != CATEGORY_TYPE) {
            return Err(ApiError::invalid_form(
                "parent_id",
                "CHANNEL_PARENT_INVALID_TYPE",
                "Not a category",
            ));
        }
        let children = self
            .channels
            .iter()
            .filter(|(id, channel)| {
                channel.parent_id.as_deref() == Some(parent) && Some(**id) != moving
            })
            .count();
        if children >= MAX_CHANNELS_PER_CATEGORY {
            return Err(ApiError::from_body(
                StatusCode::BAD_REQUEST,
                category_full_body(),
            ));
        }
        Ok(())
    }

    fn modify_channel(&mut self, channel_id: &str, body: &Value) -> Result<Channel, ApiError> {
        let id = self.known_channel(channel_id)?;
        let name = match body.get("name") {
            None => None,
            Some(_) => Some(required_name(body)?),
        };
        let parent_id = match body.get("parent_id") {
            None => None,
            Some(_) => Some(optional_snowflake(body, "parent_id")?),
        };
        let overwrites = overwrites(body)?;
        if let Some(Some(parent)) = &parent_id {
            let current = self.channels.get(&id).and_then(|c| c.parent_id.clone());
            if current.as_deref() != Some(parent.as_str()) {
                self.check_parent(parent, Some(id))?;
            }
        }
        let channel = self
            .channels
            .get_mut(&id)
            .ok_or_else(ApiError::unknown_channel)?;
        if let Some(name) = name {
            channel.name = name;
        }
        if let Some(parent_id) = parent_id {
            channel.parent_id = parent_id;
        }
        if let Some(overwrites) = overwrites {
            channel.permission_overwrites = overwrites;
        }
        if let Some(topic) = body.get("topic") {
            channel.topic = topic.as_str().map(str::to_owned);
        }
        if let Some(position) = body.get("position").and_then(Value::as_i64) {
            channel.position = position;
        }
        Ok(channel.clone())
    }

    pub(crate) fn delete_channel(&mut self, channel_id: &str) -> Result<Channel, ApiError> {
        let id = self.known_channel(channel_id)?;
        let channel = self
            .channels
            .remove(&id)
            .ok_or_else(ApiError::unknown_channel)?;
        self.messages.remove(&id);
        // Deleting a category leaves its channels in the guild, uncategorised.
        for child in self.channels.values_mut() {
            if child.parent_id.as_deref() == Some(channel.id.as_str()) {
                child.parent_id = None;
            }
        }
        Ok(channel)
    }

    fn create_message(&mut self, channel_id: &str, body: &Value) -> Result<Message, ApiError> {
        let channel = self.known_channel(channel_id)?;
        let message = self.new_message(channel.to_string(), bot_author(), None, body)?;
        self.messages
            .entry(channel)
            .or_default()
            .push(message.clone());
        Ok(message)
    }

    /// A message the bot sent, edited: the fields the body gives replace
    /// its own. Discord lets the bot edit its own messages only.
    fn edit_message(
        &mut self,
        channel_id: &str,
        message_id: &str,
        body: &Value,
    ) -> Result<Message, ApiError> {
        let channel = self.known_channel(channel_id)?;
        let message = self
            .messages
            .get_mut(&channel)
            .and_then(|messages| messages.iter_mut().find(|m| m.id == message_id))
            .ok_or_else(unknown_message)?;
        if message.author.id != BOT_USER_ID || message.webhook_id.is_some() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                50005,
                "Cannot edit a message authored by another user",
            ));
        }
        apply_edit(message, body)?;
        Ok(message.clone())
    }

    fn new_message(
        &mut self,
        channel_id: String,
        author: Author,
        webhook_id: Option<String>,
        body: &Value,
    ) -> Result<Message, ApiError> {
        let content = body
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let embeds = embeds(body);
        let components = array_field(body, "components");
        if content.chars().count() > MAX_CONTENT_CHARS {
            return Err(ApiError::invalid_form(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        if embeds.len() > MAX_EMBEDS {
            return Err(ApiError::invalid_form(
                "embeds",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 10 or fewer in length.",
            ));
        }
        if content.is_empty() && embeds.is_empty() && components.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                50006,
                "Cannot send an empty message",
            ));
        }
        let id = self.snowflakes.next();
        Ok(Message {
            id: id.to_string(),
            channel_id,
            author,
            content,
            timestamp: snowflake_timestamp(id),
            edited_timestamp: None,
            embeds,
            components,
            flags: body.get("flags").and_then(Value::as_u64).unwrap_or(0) & SETTABLE_FLAGS,
            webhook_id,
        })
    }

    fn list_messages(&self, channel_id: &str, query: &str) -> Result<Vec<Message>, ApiError> {
        let id = self.known_channel(channel_id)?;
        let param = |name: &str| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        let limit = match param("limit") {
            None => 50,
            Some(raw) => match raw.parse::<usize>() {
                Ok(limit @ 1..=100) => limit,
                Ok(0) => {
                    return Err(ApiError::invalid_form(
                        "limit",
                        "NUMBER_TYPE_MIN",
                        "int value should be greater than or equal to 1.",
                    ));
                }
                Ok(_) => {
                    return Err(ApiError::invalid_form(
                        "limit",
                        "NUMBER_TYPE_MAX",
                        "int value should be less than or equal to 100.",
                    ));
                }
                Err(_) => {
                    return Err(ApiError::invalid_form(
                        "limit",
                        "NUMBER_TYPE_COERCE",
                        &format!("Value \"{raw}\" is not int."),
                    ));
                }
            },
        };
        let snowflake_param = |name: &str| -> Result<Option<u64>, ApiError> {
            param(name)
                .map(|raw| {
                    raw.parse::<u64>().map_err(|_| {
                        ApiError::invalid_form(
                            name,
                            "NUMBER_TYPE_COERCE",
                            &format!("Value \"{raw}\" is not snowflake."),
                        )
                    })
                })
                .transpose()
        };
        let before = snowflake_param("before")?;
        let after = snowflake_param("after")?;
        let all = self
            .messages
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let id_of = |message: &Message| message.id.parse::<u64>().unwrap_or_default();
        let mut page: Vec<Message> = if let Some(after) = after {
            // The `limit` messages right after `after`, then newest first.
            all.iter()
                .filter(|message| id_of(message) > after)
                .take(limit)
                .cloned()
                .collect()
        } else {
            let mut newest_first: Vec<Message> = all
                .iter()
                .rev()
                .filter(|message| before.is_none_or(|before| id_of(message) < before))
                .take(limit)
                .cloned()
                .collect();
            newest_first.reverse();
            newest_first
        };
        page.reverse();
        Ok(page)
    }

    fn interaction_callback(
        &mut self,
        interaction_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let kind = body.get("type").and_then(Value::as_u64).ok_or_else(|| {
            ApiError::invalid_form("type", "BASE_TYPE_REQUIRED", "This field is required")
        })?;
        if !matches!(kind, 1 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 12) {
            return Err(ApiError::invalid_form(
                "type",
                "BASE_TYPE_CHOICES",
                "Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}.",
            ));
        }
        if self.acknowledged.contains(interaction_id) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                40060,
                "Interaction has already been acknowledged.",
            ));
        }
        let data = body.get("data").cloned().unwrap_or_else(|| json!({}));
        let application_id = BOT_USER_ID.to_owned();
        let original = match kind {
            4 | 7 => Some(self.new_message(
                INTERACTION_CHANNEL_ID.to_owned(),
                webhook_author(&application_id),
                Some(application_id),
                &data,
            )?),
            5 => {
                let id = self.snowflakes.next();
                Some(Message {
                    id: id.to_string(),
                    channel_id: INTERACTION_CHANNEL_ID.to_owned(),
                    author: webhook_author(&application_id),
                    content: String::new(),
                    timestamp: snowflake_timestamp(id),
                    edited_timestamp: None,
                    embeds: Vec::new(),
                    components: Vec::new(),
                    flags: (data.get("flags").and_then(Value::as_u64).unwrap_or(0)
                        & SETTABLE_FLAGS)
                        | LOADING_FLAG,
                    webhook_id: Some(application_id),
                })
            }
            _ => None,
        };
        self.acknowledged.insert(interaction_id.to_owned());
        if let Some(original) = original {
            self.originals.insert(token.to_owned(), original);
        }
        Ok(())
    }

    fn create_followup(
        &mut self,
        application_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<Message, ApiError> {
        let message = self.new_message(
            INTERACTION_CHANNEL_ID.to_owned(),
            webhook_author(application_id),
            Some(application_id.to_owned()),
            body,
        )?;
        self.followups
            .entry(token.to_owned())
            .or_default()
            .push(message.clone());
        Ok(message)
    }

    /// A worker answers an interaction in its HTTP response (type 5, "thinking…")
    /// and Discord makes that the original message; a stand-in never sees that
    /// response, so the first edit of an original it does not know creates it.
    fn edit_original(
        &mut self,
        application_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<Message, ApiError> {
        if !self.originals.contains_key(token) {
            let id = self.snowflakes.next();
            self.originals.insert(
                token.to_owned(),
                Message {
                    id: id.to_string(),
                    channel_id: INTERACTION_CHANNEL_ID.to_owned(),
                    author: webhook_author(application_id),
                    content: String::new(),
                    timestamp: snowflake_timestamp(id),
                    edited_timestamp: None,
                    embeds: Vec::new(),
                    components: Vec::new(),
                    flags: LOADING_FLAG,
                    webhook_id: Some(application_id.to_owned()),
                },
            );
        }
        let original = self.originals.get_mut(token).ok_or_else(unknown_message)?;
        apply_edit(original, body)?;
        original.flags &= !LOADING_FLAG;
        Ok(original.clone())
    }

    fn overwrite_commands(
        &mut self,
        application_id: &str,
        guild_id: Option<&str>,
        body: &Value,
    ) -> Result<Vec<Value>, ApiError> {
        let Some(wanted) = body.as_array() else {
            return Err(ApiError::invalid_form_root(
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            ));
        };
        let key = (application_id.to_owned(), guild_id.map(str::to_owned));
        let existing = self.commands.get(&key).cloned().unwrap_or_default();
        let mut seen = HashSet::new();
        let mut commands = Vec::with_capacity(wanted.len());
        for (index, command) in wanted.iter().enumerate() {
            let field = |name: &str| format!("{index}.{name}");
            let name = command.get("name").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid_form(
                    &field("name"),
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            })?;
            if name.is_empty() || name.chars().count() > 32 {
                return Err(ApiError::invalid_form(
                    &field("name"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 32 in length.",
                ));
            }
            let kind = command.get("type").and_then(Value::as_u64).unwrap_or(1);
            let description = command.get("description").and_then(Value::as_str);
            if kind == 1 && description.is_none_or(|d| d.is_empty() || d.chars().count() > 100) {
                return Err(ApiError::invalid_form(
                    &field("description"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            if !seen.insert((name.to_owned(), kind)) {
                return Err(ApiError::invalid_form(
                    &field("name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    &format!("Application command names must be unique: {name}"),
                ));
            }
            let previous = existing.iter().find(|old| {
                old.get("name").and_then(Value::as_str) == Some(name)
                    && old.get("type").and_then(Value::as_u64) == Some(kind)
            });
            let mut stored: Map<String, Value> = command.as_object().cloned().unwrap_or_default();
            stored.insert("type".into(), json!(kind));
            stored.insert("description".into(), json!(description.unwrap_or_default()));
            stored.insert("application_id".into(), json!(application_id));
            stored.entry("options").or_insert_with(|| json!([]));
            stored
                .entry("default_member_permissions")
                .or_insert(Value::Null);
            stored.entry("nsfw").or_insert(Value::Bool(false));
            match guild_id {
                Some(guild_id) => {
                    stored.insert("guild_id".into(), json!(guild_id));
                }
                None => {
                    stored.remove("guild_id");
                }
            }
            let unchanged = previous.is_some_and(|old| same_definition(old, &stored));
            let id = previous
                .and_then(|old| old.get("id").cloned())
                .unwrap_or_else(|| json!(self.snowflakes.next().to_string()));
            let version = match previous.and_then(|old| old.get("version")) {
                Some(version) if unchanged => version.clone(),
                _ => json!(self.snowflakes.next().to_string()),
            };
            stored.insert("id".into(), id);
            stored.insert("version".into(), version);
            commands.push(Value::Object(stored));
        }
        self.commands.insert(key, commands.clone());
        Ok(commands)
    }

    fn list_commands(&self, application_id: &str, guild_id: Option<&str>) -> Vec<Value> {
        self.commands
            .get(&(application_id.to_owned(), guild_id.map(str::to_owned)))
            .cloned()
            .unwrap_or_default()
    }
}

/// Whether two stored commands differ only in their id and version.
fn same_definition(old: &Value, new: &Map<String, Value>) -> bool {
    let strip = |command: &Map<String, Value>| {
        let mut command = command.clone();
        command.remove("id");
        command.remove("version");
        command
    };
    old.as_object().is_some_and(|old| strip(old) == strip(new))
}

fn bot_author() -> Author {
    Author {
        id: BOT_USER_ID.to_owned(),
        username: BOT_USERNAME.to_owned(),
        global_name: None,
        bot: true,
    }
}

fn webhook_author(application_id: &str) -> Author {
    Author {
        id: application_id.to_owned(),
        username: BOT_USERNAME.to_owned(),
        global_name: None,
        bot: true,
    }
}

fn array_field(body: &Value, name: &str) -> Vec<Value> {
    body.get(name)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The embeds of a message body as Discord stores them: `type` is `rich`
/// unless the sender said otherwise.
fn embeds(body: &Value) -> Vec<Value> {
    let mut embeds = array_field(body, "embeds");
    for embed in &mut embeds {
        if let Some(embed) = embed.as_object_mut() {
            embed.entry("type").or_insert_with(|| json!("rich"));
        }
    }
    embeds
}

fn required_name(body: &Value) -> Result<String, ApiError> {
    let name = body.get("name").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid_form("name", "BASE_TYPE_REQUIRED", "This field is required")
    })?;
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_form(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        ));
    }
    Ok(name.to_owned())
}

/// A snowflake field that may be absent or null; Discord accepts ids as
/// strings or numbers.
fn optional_snowflake(body: &Value, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => snowflake_value(value).map(Some).ok_or_else(|| {
            ApiError::invalid_form(
                field,
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{value}\" is not snowflake."),
            )
        }),
    }
}

fn snowflake_value(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => text.parse::<u64>().ok().map(|id| id.to_string()),
        Value::Number(number) => number.as_u64().map(|id| id.to_string()),
        _ => None,
    }
}

fn permission_bits(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => Some("0".to_owned()),
        Some(Value::String(text)) => text.parse::<u64>().ok().map(|bits| bits.to_string()),
        Some(Value::Number(number)) => number.as_u64().map(|bits| bits.to_string()),
        Some(_) => None,
    }
}

fn overwrites(body: &Value) -> Result<Option<Vec<PermissionOverwrite>>, ApiError> {
    let Some(list) = body.get("permission_overwrites") else {
        return Ok(None);
    };
    let Some(list) = list.as_array() else {
        return Err(ApiError::invalid_form(
            "permission_overwrites",
            "LIST_TYPE_CONVERT",
            "Only iterables may be used in a ListType",
        ));
    };
    list.iter()
        .enumerate()
        .map(|(index, overwrite)| {
            let bad = |name: &str, message: &str| {
                ApiError::invalid_form(
                    &format!("permission_overwrites.{index}.{name}"),
                    "BASE_TYPE_REQUIRED",
                    message,
                )
            };
            let id = overwrite
                .get("id")
                .and_then(snowflake_value)
                .ok_or_else(|| bad("id", "This field is required"))?;
            let kind = overwrite
                .get("type")
                .and_then(Value::as_u64)
                .filter(|kind| *kind <= 1)
                .ok_or_else(|| bad("type", "Value must be one of {0, 1}."))?;
            let allow = permission_bits(overwrite.get("allow"))
                .ok_or_else(|| bad("allow", "Invalid permission bits."))?;
            let deny = permission_bits(overwrite.get("deny"))
                .ok_or_else(|| bad("deny", "Invalid permission bits."))?;
            Ok(PermissionOverwrite {
                id,
                kind: u8::try_from(kind).unwrap_or_default(),
                allow,
                deny,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn unknown_message() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, 10008, "Unknown Message")
}

pub(crate) fn category_full_body() -> Value {
    json!({
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {
            "parent_id": {
                "_errors": [{
                    "code": "CHANNEL_PARENT_MAX_CHANNELS",
                    "message": "Maximum number of channels in category reached (50)"
                }]
            }
        }
    })
}

pub(crate) fn guild_channel_limit_body() -> Value {
    json!({ "message": "Maximum number of guild channels reached (500)", "code": 30013 })
}

/// A Discord error response: `{code, message, errors?}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: u32, message: &str) -> Self {
        Self::from_body(status, json!({ "message": message, "code": code }))
    }

    fn from_body(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }

    pub(crate) fn unknown_channel() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10003, "Unknown Channel")
    }

    /// 50035 with the error under `errors.<path>._errors`, where `path` is
    /// dot-separated (`permission_overwrites.0.id`).
    fn invalid_form(path: &str, code: &str, message: &str) -> Self {
        let mut errors = json!({ "_errors": [{ "code": code, "message": message }] });
        for segment in path.rsplit('.') {
            errors = json!({ segment: errors });
        }
        Self::from_body(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Invalid Form Body", "code": 50035, "errors": errors }),
        )
    }

    fn invalid_form_root(code: &str, message: &str) -> Self {
        Self::from_body(
            StatusCode::BAD_REQUEST,
            json!({
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": { "_errors": [{ "code": code, "message": message }] }
            }),
        )
    }

    #[cfg(test)]
    fn body(&self) -> &Value {
        &self.body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body)
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            50109,
            "The request body contains invalid JSON.",
        )
    })
}

/// An edit's body applied to `message`: the fields it gives replace the
/// message's own. Refused, changing nothing, when its content is too long.
fn apply_edit(message: &mut Message, body: &Value) -> Result<(), ApiError> {
    let content = match body.get("content") {
        Some(content) => content.as_str().unwrap_or_default().to_owned(),
        None => message.content.clone(),
    };
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(ApiError::invalid_form(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    message.content = content;
    if body.get("embeds").is_some() {
        message.embeds = embeds(body);
    }
    if body.get("components").is_some() {
        message.components = array_field(body, "components");
    }
    message.edited_timestamp = Some(discord_now());
    Ok(())
}

/// The routes under `/api/v10`.
pub(crate) fn router(state: Shared) -> Router {
    let bot_routes = Router::new()
        .route(
            "/guilds/{guild_id}/channels",
            post(create_channel).get(list_channels),
        )
        .route(
            "/channels/{channel_id}",
            get(get_channel)
                .patch(modify_channel)
                .delete(delete_channel),
        )
        .route(
            "/channels/{channel_id}/messages",
            post(create_message).get(list_messages),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}",
            patch(edit_message),
        )
        .route("/guilds/{guild_id}/members/{user_id}", get(get_member))
        .route("/guilds/{guild_id}/roles", get(list_roles))
        .route("/users/@me", get(current_user))
        .route(
            "/applications/{application_id}/commands",
            get(list_global_commands).put(overwrite_global_commands),
        )
        .route(
            "/applications/{application_id}/guilds/{guild_id}/commands",
            get(list_guild_commands).put(overwrite_guild_commands),
        )
        .route_layer(middleware::from_fn(require_bot_token));
    let webhook_routes = Router::new()
        .route(
            "/interactions/{interaction_id}/{token}/callback",
            post(interaction_callback),
        )
        .route("/webhooks/{application_id}/{token}", post(create_followup))
        .route("/gateway", get(gateway))
        .route(
            "/webhooks/{application_id}/{token}/messages/@original",
            patch(edit_original).get(get_original),
        );
    Router::new()
        .nest("/api/v10", bot_routes.merge(webhook_routes))
        .with_state(state)
}

pub(crate) async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, 0, "404: Not Found").into_response()
}

pub(crate) async fn method_not_allowed() -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed").into_response()
}

/// Bot routes need `Authorization: Bot <token>`; interaction webhooks are
/// authorised by the token in their path instead.
async fn require_bot_token(request: Request, next: Next) -> Response {
    let authorised = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bot "))
        .is_some_and(|token| !token.trim().is_empty());
    if !authorised {
        return ApiError::new(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized").into_response();
    }
    next.run(request).await
}

type Reply = Result<Response, ApiError>;

async fn create_channel(
    State(state): State<Shared>,
    Path(guild_id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let channel = lock(&state).create_channel(&guild_id, &body)?;
    Ok(json_response(StatusCode::CREATED, &channel.to_json()))
}

async fn list_channels(State(state): State<Shared>, Path(guild_id): Path<String>) -> Reply {
    let channels: Vec<Value> = lock(&state)
        .channels(&guild_id)
        .iter()
        .map(Channel::to_json)
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(channels)))
}

async fn get_channel(State(state): State<Shared>, Path(channel_id): Path<String>) -> Reply {
    let state = lock(&state);
    let id = state.known_channel(&channel_id)?;
    let channel = state
        .channels
        .get(&id)
        .ok_or_else(ApiError::unknown_channel)?;
    Ok(json_response(StatusCode::OK, &channel.to_json()))
}

/// Get Current User: the bot user the token belongs to. Its id is not the
/// tests' application id, as for an application older than its bot-user
/// ids being the same.
/// Get Gateway (no authentication): where a bot would connect.
async fn gateway() -> Reply {
    Ok(json_response(
        StatusCode::OK,
        &json!({ "url": "wss://gateway.discord.gg" }),
    ))
}

async fn current_user() -> Reply {
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": BOT_USER_ID, "username": BOT_USERNAME, "discriminator": "0",
            "global_name": null, "avatar": null, "bot": true, "flags": 0,
        }),
    ))
}

/// Get Guild Member: a seeded member with their roles, else 10007.
async fn get_member(
    State(state): State<Shared>,
    Path((guild_id, user_id)): Path<(String, String)>,
) -> Reply {
    let state = lock(&state);
    let (name, roles) = state
        .members
        .get(&(guild_id, user_id.clone()))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, 10007, "Unknown Member"))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "user": { "id": user_id, "username": name, "global_name": name, "discriminator": "0", "avatar": null },
            "nick": null,
            "avatar": null,
            "roles": roles,
            "joined_at": "2025-01-01T00:00:00.000000+00:00",
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
        }),
    ))
}

/// Get Guild Roles: @everyone and the seeded roles, with their permissions.
async fn list_roles(State(state): State<Shared>, Path(guild_id): Path<String>) -> Reply {
    let state = lock(&state);
    let seeded = state.roles.get(&guild_id);
    let everyone = seeded.and_then(|roles| roles.get(&guild_id)).copied();
    let role = |id: &str, name: &str, position: usize, permissions: u64| {
        json!({
            "id": id, "name": name, "color": 0, "colors": { "primary_color": 0 },
            "hoist": false, "icon": null, "unicode_emoji": null, "position": position,
            "permissions": permissions.to_string(), "managed": false, "mentionable": false,
            "flags": 0,
        })
    };
    let mut roles = vec![role(&guild_id, "@everyone", 0, everyone.unwrap_or(0))];
    roles.extend(
        seeded
            .into_iter()
            .flatten()
            .filter(|(id, _)| **id != guild_id)
            .enumerate()
            .map(|(i, (id, permissions))| role(id, &format!("role-{id}"), i + 1, *permissions)),
    );
    Ok(json_response(StatusCode::OK, &Value::Array(roles)))
}

async fn modify_channel(
    State(state): State<Shared>,
    Path(channel_id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let channel = lock(&state).modify_channel(&channel_id, &body)?;
    Ok(json_response(StatusCode::OK, &channel.to_json()))
}

async fn delete_channel(State(state): State<Shared>, Path(channel_id): Path<String>) -> Reply {
    let channel = lock(&state).delete_channel(&channel_id)?;
    Ok(json_response(StatusCode::OK, &channel.to_json()))
}

async fn create_message(
    State(state): State<Shared>,
    Path(channel_id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let message = lock(&state).create_message(&channel_id, &body)?;
    Ok(json_response(StatusCode::OK, &message.to_json()))
}

async fn edit_message(
    State(state): State<Shared>,
    Path((channel_id, message_id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let message = lock(&state).edit_message(&channel_id, &message_id, &body)?;
    Ok(json_response(StatusCode::OK, &message.to_json()))
}

async fn list_messages(
    State(state): State<Shared>,
    Path(channel_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let messages = lock(&state).list_messages(&channel_id, query.as_deref().unwrap_or_default())?;
    let messages: Vec<Value> = messages.iter().map(Message::to_json).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(messages)))
}

async fn interaction_callback(
    State(state): State<Shared>,
    Path((interaction_id, token)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    lock(&state).interaction_callback(&interaction_id, &token, &body)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create_followup(
    State(state): State<Shared>,
    Path((application_id, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let message = lock(&state).create_followup(&application_id, &token, &body)?;
    let wait = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(key, value)| key == "wait" && value == "true");
    if wait {
        Ok(json_response(StatusCode::OK, &message.to_json()))
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn edit_original(
    State(state): State<Shared>,
    Path((application_id, token)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let message = lock(&state).edit_original(&application_id, &token, &body)?;
    Ok(json_response(StatusCode::OK, &message.to_json()))
}

async fn get_original(
    State(state): State<Shared>,
    Path((_application_id, token)): Path<(String, String)>,
) -> Reply {
    let state = lock(&state);
    let message = state.originals.get(&token).ok_or_else(unknown_message)?;
    Ok(json_response(StatusCode::OK, &message.to_json()))
}

async fn overwrite_global_commands(
    State(state): State<Shared>,
    Path(application_id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let commands = lock(&state).overwrite_commands(&application_id, None, &body)?;
    Ok(json_response(StatusCode::OK, &Value::Array(commands)))
}

async fn overwrite_guild_commands(
    State(state): State<Shared>,
    Path((application_id, guild_id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let commands = lock(&state).overwrite_commands(&application_id, Some(&guild_id), &body)?;
    Ok(json_response(StatusCode::OK, &Value::Array(commands)))
}

async fn list_global_commands(
    State(state): State<Shared>,
    Path(application_id): Path<String>,
) -> Reply {
    let commands = lock(&state).list_commands(&application_id, None);
    Ok(json_response(StatusCode::OK, &Value::Array(commands)))
}

async fn list_guild_commands(
    State(state): State<Shared>,
    Path((application_id, guild_id)): Path<(String, String)>,
) -> Reply {
    let commands = lock(&state).list_commands(&application_id, Some(&guild_id));
    Ok(json_response(StatusCode::OK, &Value::Array(commands)))
}

/// Discord's documented errors, ready to queue with
/// [`StandIns::fail_discord`](crate::StandIns::fail_discord). Each matches
/// any request until narrowed with [`Fault::on`](crate::Fault::on).
pub mod faults {
    use serde_json::json;

    use crate::Fault;
    use crate::clock::unix_now_secs;

    /// 403, code 50013: the bot lacks a permission the action needs (e.g.
    /// Manage Channels or Manage Roles for a ticket channel's overwrites).
    pub fn missing_permissions() -> Fault {
        Fault::respond(
            403,
            json!({ "message": "Missing Permissions", "code": 50013 }),
        )
    }

    /// 403, code 50001: the bot cannot see the guild or channel.
    pub fn missing_access() -> Fault {
        Fault::respond(403, json!({ "message": "Missing Access", "code": 50001 }))
    }

    /// 400, code 50035 with `errors.parent_id._errors[0].code =
    /// "CHANNEL_PARENT_MAX_CHANNELS"`: the category already has 50 channels.
    pub fn category_full() -> Fault {
        Fault::respond(400, super::category_full_body())
    }

    /// 400, code 30013: the guild already has 500 channels.
    pub fn guild_channel_limit() -> Fault {
        Fault::respond(400, super::guild_channel_limit_body())
    }

    /// 502 with no JSON body, as Cloudflare answers when Discord's servers
    /// fail behind it. With [`Fault::after_acting`], Discord did the work
    /// first.
    pub fn server_error() -> Fault {
        Fault {
            body: None,
            ..Fault::respond(502, json!(null))
        }
    }

    /// 404, code 10015: the interaction webhook is not known (yet): what a
    /// follow-up or an edit gets when it reaches Discord before the
    /// interaction's first answer.
    pub fn unknown_webhook() -> Fault {
        Fault::respond(404, json!({ "message": "Unknown Webhook", "code": 10015 }))
    }

    /// 404, code 10003.
    pub fn unknown_channel() -> Fault {
        Fault::respond(404, json!({ "message": "Unknown Channel", "code": 10003 }))
    }

    /// 429 for a quarter of a second, per-route (`global: false`).
    pub fn rate_limited() -> Fault {
        rate_limited_for(0.25, false)
    }

    /// 429 with `retry_after` seconds in the body and the headers Discord
    /// sends: `Retry-After` (whole seconds, rounded up) and `X-RateLimit-*`
    /// (`Limit`, `Remaining: 0`, `Reset`, `Reset-After`, `Bucket`, `Scope`,
    /// and `Global` for a global limit).
    pub fn rate_limited_for(retry_after: f64, global: bool) -> Fault {
        let reset = unix_now_secs() + retry_after;
        let mut fault = Fault::respond(
            429,
            json!({
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": global,
            }),
        )
        .header("Retry-After", &format!("{}", retry_after.ceil().max(0.0)))
        .header("X-RateLimit-Limit", "5")
        .header("X-RateLimit-Remaining", "0")
        .header("X-RateLimit-Reset", &format!("{reset:.3}"))
        .header("X-RateLimit-Reset-After", &format!("{retry_after:.3}"))
        .header("X-RateLimit-Bucket", "6f2f1d0b8b2a4c51a3f0d8e2c5a7b9e1")
        .header("X-RateLimit-Scope", if global { "global" } else { "user" });
        if global {
            fault = fault.header("X-RateLimit-Global", "true");
        }
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guild_with_category(state: &mut DiscordState) -> Channel {
        state
            .create_channel("900", &json!({"name": "tickets", "type": 4}))
            .expect("category")
    }

    #[test]
    fn a_category_takes_at_most_fifty_channels() {
        let mut state = DiscordState::default();
        let category = guild_with_category(&mut state);
        for n in 0..50 {
            state
                .create_channel(
                    "900",
                    &json!({"name": format!("t-{n}"), "parent_id": category.id}),
                )
                .expect("room in the category");
        }
        let full = state
            .create_channel("900", &json!({"name": "t-50", "parent_id": category.id}))
            .expect_err("category full");
        assert_eq!(full.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            full.body()["errors"]["parent_id"]["_errors"][0]["code"],
            "CHANNEL_PARENT_MAX_CHANNELS"
        );
        // Outside the category there is still room.
        assert!(
            state
                .create_channel("900", &json!({"name": "general"}))
                .is_ok()
        );
    }

    #[test]
    fn a_guild_takes_at_most_five_hundred_channels() {
        let mut state = DiscordState::default();
        for n in 0..500 {
            state
                .create_channel("900", &json!({"name": format!("c-{n}")}))
                .expect("room in the guild");
        }
        let full = state
            .create_channel("900", &json!({"name": "one-more"}))
            .expect_err("guild full");
        assert_eq!(full.body()["code"], 30013);
        assert!(
            state
                .create_channel("901", &json!({"name": "other guild"}))
                .is_ok()
        );
    }

    #[test]
    fn form_errors_nest_under_the_field_path() {
        let error = ApiError::invalid_form("permission_overwrites.0.id", "X", "m");
        assert_eq!(
            error.body()["errors"]["permission_overwrites"]["0"]["id"]["_errors"][0]["code"],
            "X"
        );
    }

    #[test]
    fn overwrites_accept_numbers_or_strings_and_come_back_as_strings() {
        let parsed = overwrites(&json!({"permission_overwrites": [
            {"id": "900", "type": 0, "deny": 1024},
            {"id": 42, "type": 1, "allow": "3072"}
        ]}))
        .expect("valid")
        .expect("present");
        assert_eq!(parsed[0].deny, "1024");
        assert_eq!(parsed[0].allow, "0");
        assert!(parsed[0].denies(1 << 10));
        assert_eq!(parsed[1].id, "42");
        assert!(parsed[1].allows(1 << 10) && parsed[1].allows(1 << 11));
    }

    #[test]
    fn messages_page_newest_first_before_and_after_an_id() {
        let mut state = DiscordState::default();
        let channel = state
            .create_channel("900", &json!({"name": "c"}))
            .expect("channel");
        let ids: Vec<String> = (0..5)
            .map(|n| {
                state
                    .seed_message(&channel.id, "7", "ann", &format!("m{n}"))
                    .expect("seeded")
                    .id
            })
            .collect();
        let contents = |page: Vec<Message>| -> Vec<String> {
            page.into_iter().map(|message| message.content).collect()
        };
        assert_eq!(
            contents(state.list_messages(&channel.id, "limit=2").expect("page")),
            ["m4", "m3"]
        );
        assert_eq!(
            contents(
                state
                    .list_messages(&channel.id, &format!("limit=2&before={}", ids[3]))
                    .expect("page")
            ),
            ["m2", "m1"]
        );
        assert_eq!(
            contents(
                state
                    .list_messages(&channel.id, &format!("limit=2&after={}", ids[0]))
                    .expect("page")
            ),
            ["m2", "m1"]
        );
        assert_eq!(
            state
                .list_messages(&channel.id, "limit=101")
                .expect_err("too many")
                .body()["errors"]["limit"]["_errors"][0]["code"],
            "NUMBER_TYPE_MAX"
        );
    }
}
