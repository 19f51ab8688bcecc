//! Discord's REST API (v10): the handful of routes Community OS uses.
//!
//! Every request carries the bot token and Discord's User-Agent. A 429 is
//! honoured: the client waits the `retry_after` Discord gives (up to
//! [`MAX_RATE_LIMIT_WAIT`], at most [`MAX_ATTEMPTS`] tries) instead of
//! hammering, then reports [`DiscordError::RateLimited`].

use std::time::Duration;

use community_core::config::Secret;
use community_fetch::{Client, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use twilight_model::application::command::Command;
use twilight_model::channel::{Channel, Message};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::InteractionResponseData;
use twilight_model::http::permission_overwrite::PermissionOverwrite;
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, ChannelMarker, GuildMarker, MessageMarker};

use crate::{Sleep, USER_AGENT};

/// Longest single wait for a rate limit before giving up on the request.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);
/// Tries per request when rate limited.
pub const MAX_ATTEMPTS: u32 = 3;

/// A Discord REST client.
pub struct DiscordClient<S> {
    http: Client,
    base: String,
    token: Secret,
    sleep: S,
}

impl<S> std::fmt::Debug for DiscordClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// What went wrong with a Discord call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscordError {
    #[error("Discord API unreachable ({route})")]
    Unreachable {
        route: &'static str,
        #[source]
        source: crate::TransportError,
    },
    #[error("Discord API refused {route}: HTTP {status}, code {code}: {message}")]
    Api {
        route: &'static str,
        status: u16,
        /// Discord's JSON error code (0 when it gave none).
        code: u64,
        message: String,
        /// Field errors of a 50035 "Invalid Form Body".
        errors: Option<Value>,
    },
    #[error("Discord API rate limited {route}; retry after {retry_after:?}")]
    RateLimited {
        route: &'static str,
        retry_after: Duration,
    },
    #[error("Discord API answered {route} with an unexpected body")]
    Malformed {
        route: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// The kinds of Discord failure a user is told about differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscordFailure {
    /// 50013 (or 50001, Missing Access: a channel or category the bot
    /// cannot see): the bot lacks a permission (Manage Channels, Manage
    /// Roles, ...).
    MissingPermissions,
    /// 50035 with CHANNEL_PARENT_MAX_CHANNELS: the ticket category holds 50 channels.
    CategoryFull,
    /// 30013: the server has 500 channels.
    ChannelLimit,
    /// 429 that did not clear in time.
    RateLimited,
    /// 10003 and friends: the thing is gone.
    NotFound,
    /// Any other refusal (a 4xx): trying again will not help.
    Refused,
    /// Anything else: network trouble, 5xx, an unexpected answer.
    Other,
}

impl DiscordError {
    /// Whether Discord may have done what was asked even so: the answer was
    /// lost (unreachable), unreadable, or a server error. A refusal (4xx)
    /// or a rate limit means it did not.
    pub fn may_have_acted(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Malformed { .. } => true,
            Self::Api { status, .. } => *status >= 500,
            Self::RateLimited { .. } => false,
        }
    }

    /// Which kind of failure this is, for the user's message.
    pub fn failure(&self) -> DiscordFailure {
        match self {
            Self::RateLimited { .. } => DiscordFailure::RateLimited,
            Self::Api {
                code: 50013 | 50001,
                ..
            } => DiscordFailure::MissingPermissions,
            Self::Api { code: 30013, .. } => DiscordFailure::ChannelLimit,
            Self::Api {
                code: 50035,
                errors: Some(errors),
                ..
            } if errors.to_string().contains("CHANNEL_PARENT_MAX_CHANNELS") => {
                DiscordFailure::CategoryFull
            }
            Self::Api { status: 404, .. } => DiscordFailure::NotFound,
            Self::Api { status, .. } if (400..500).contains(status) => DiscordFailure::Refused,
            _ => DiscordFailure::Other,
        }
    }
}

/// The body of "Create Guild Channel" for a ticket's private text channel.
#[derive(Clone, Debug, Serialize)]
pub struct CreateTextChannel {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Id<ChannelMarker>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub permission_overwrites: Vec<PermissionOverwrite>,
}

/// The body of "Modify Channel" used to archive a ticket channel.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModifyChannel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The category to move it into; left as it is when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Id<ChannelMarker>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission_overwrites: Option<Vec<PermissionOverwrite>>,
}

impl<S: Sleep> DiscordClient<S> {
    /// `base` is the API root, e.g. `https://discord.com/api/v10`.
    pub fn new(base: &str, bot_token: Secret, sleep: S) -> Self {
        Self {
            http: Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: bot_token,
            sleep,
        }
    }

    pub async fn create_text_channel(
        &self,
        guild: Id<GuildMarker>,
        body: &CreateTextChannel,
    ) -> Result<Channel, DiscordError> {
        let route = "create channel";
        let request = json(
            route,
            self.as_bot("POST", &format!("/guilds/{guild}/channels")),
            body,
        )?;
        self.call(route, request).await
    }

    pub async fn modify_channel(
        &self,
        channel: Id<ChannelMarker>,
        body: &ModifyChannel,
    ) -> Result<Channel, DiscordError> {
        let route = "modify channel";
        let request = json(
            route,
            self.as_bot("PATCH", &format!("/channels/{channel}")),
            body,
        )?;
        self.call(route, request).await
    }

    /// Every channel of a guild.
    pub async fn guild_channels(
        &self,
        guild: Id<GuildMarker>,
    ) -> Result<Vec<Channel>, DiscordError> {
        let request = self.as_bot("GET", &format!("/guilds/{guild}/channels"));
        self.call("get channels", request).await
    }

    /// Whether a channel still exists: `false` when Discord answers Unknown
    /// Channel (10003), as it does once the channel was deleted.
    pub async fn channel_exists(&self, channel: Id<ChannelMarker>) -> Result<bool, DiscordError> {
        let request = self.as_bot("GET", &format!("/channels/{channel}"));
        match self.call_unit("get channel", request).await {
            Ok(()) => Ok(true),
            Err(DiscordError::Api {
                status: 404,
                code: 10003,
                ..
            }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    pub async fn delete_channel(&self, channel: Id<ChannelMarker>) -> Result<(), DiscordError> {
        let request = self.as_bot("DELETE", &format!("/channels/{channel}"));
        self.call_unit("delete channel", request).await
    }

    pub async fn create_message(
        &self,
        channel: Id<ChannelMarker>,
        body: &InteractionResponseData,
    ) -> Result<Message, DiscordError> {
        let route = "create message";
        let request = json(
            route,
            self.as_bot("POST", &format!("/channels/{channel}/messages")),
            body,
        )?;
        self.call(route, request).await
    }

    /// Edit a message the bot sent: the fields `body` gives replace its own
    /// (`components: []` takes its buttons away).
    pub async fn edit_message(
        &self,
        channel: Id<ChannelMarker>,
        message: Id<MessageMarker>,
        body: &InteractionResponseData,
    ) -> Result<Message, DiscordError> {
        let route = "edit message";
        let request = json(
            route,
            self.as_bot("PATCH", &format!("/channels/{channel}/messages/{message}")),
            body,
        )?;
        self.call(route, request).await
    }

    /// Up to 100 messages before `before` (newest first), as Discord pages them.
    pub async fn channel_messages(
        &self,
        channel: Id<ChannelMarker>,
        before: Option<Id<MessageMarker>>,
    ) -> Result<Vec<Message>, DiscordError> {
        let path = match before {
            Some(before) => format!("/channels/{channel}/messages?limit=100&before={before}"),
            None => format!("/channels/{channel}/messages?limit=100"),
        };
        self.call("get messages", self.as_bot("GET", &path)).await
    }

    /// A channel's messages, oldest first: every one, or the newest `cap`
    /// and `false` when there were more.
    pub async fn channel_history(
        &self,
        channel: Id<ChannelMarker>,
        cap: usize,
    ) -> Result<(Vec<Message>, bool), DiscordError> {
        let mut all = Vec::new();
        let mut before = None;
        let complete = loop {
            let page = self.channel_messages(channel, before).await?;
            let full = page.len() == 100;
            before = page.last().map(|m| m.id);
            all.extend(page);
            if !full {
                break all.len() <= cap;
            }
            if all.len() >= cap {
                // Another page may hold more: only the newest `cap` are kept.
                break false;
            }
        };
        all.truncate(cap);
        all.reverse();
        Ok((all, complete))
    }

    /// Send a follow-up message for an interaction (no bot token: the
    /// interaction token authorises it).
    pub async fn followup(
        &self,
        application: Id<ApplicationMarker>,
        token: &str,
        body: &InteractionResponseData,
    ) -> Result<(), DiscordError> {
        let route = "follow-up";
        let path = format!("/webhooks/{application}/{token}");
        let request = json(route, self.as_interaction("POST", &path), body)?;
        self.call_unit(route, request).await
    }

    /// Replace the original response of an interaction (finishing a deferral).
    pub async fn edit_original(
        &self,
        application: Id<ApplicationMarker>,
        token: &str,
        body: &InteractionResponseData,
    ) -> Result<(), DiscordError> {
        let route = "edit original";
        let path = format!("/webhooks/{application}/{token}/messages/@original");
        let request = json(route, self.as_interaction("PATCH", &path), body)?;
        self.call_unit(route, request).await
    }

    /// The role ids of a guild member.
    pub async fn guild_member_roles(
        &self,
        guild: Id<GuildMarker>,
        user: Id<twilight_model::id::marker::UserMarker>,
    ) -> Result<Vec<Id<twilight_model::id::marker::RoleMarker>>, DiscordError> {
        #[derive(serde::Deserialize)]
        struct Member {
            roles: Vec<Id<twilight_model::id::marker::RoleMarker>>,
        }
        let path = format!("/guilds/{guild}/members/{user}");
        let member: Member = self.call("get member", self.as_bot("GET", &path)).await?;
        Ok(member.roles)
    }

    /// Each of a guild's roles (@everyone's id is the guild's) with the
    /// permissions it grants server-wide.
    pub async fn guild_roles(
        &self,
        guild: Id<GuildMarker>,
    ) -> Result<Vec<(Id<twilight_model::id::marker::RoleMarker>, Permissions)>, DiscordError> {
        #[derive(serde::Deserialize)]
        struct Role {
            id: Id<twilight_model::id::marker::RoleMarker>,
            permissions: Permissions,
        }
        let path = format!("/guilds/{guild}/roles");
        let roles: Vec<Role> = self.call("get roles", self.as_bot("GET", &path)).await?;
        Ok(roles.into_iter().map(|r| (r.id, r.permissions)).collect())
    }

    /// The bot's own user id (`GET /users/@me`): the id its member
    /// overwrites name. For applications made since about 2019 it is the
    /// application id; older ones have a bot user of their own.
    pub async fn current_user_id(
        &self,
    ) -> Result<Id<twilight_model::id::marker::UserMarker>, DiscordError> {
        #[derive(serde::Deserialize)]
        struct User {
            id: Id<twilight_model::id::marker::UserMarker>,
        }
        let user: User = self
            .call("get current user", self.as_bot("GET", "/users/@me"))
            .await?;
        Ok(user.id)
    }

    /// The application's commands, globally or in one guild.
    pub async fn commands(
        &self,
        application: Id<ApplicationMarker>,
        guild: Option<Id<GuildMarker>>,
    ) -> Result<Vec<Command>, DiscordError> {
        let path = commands_path(application, guild);
        self.call("get commands", self.as_bot("GET", &path)).await
    }

    /// Replace the application's commands with `commands`.
    pub async fn overwrite_commands(
        &self,
        application: Id<ApplicationMarker>,
        guild: Option<Id<GuildMarker>>,
        commands: &[Command],
    ) -> Result<Vec<Command>, DiscordError> {
        let route = "overwrite commands";
        let path = commands_path(application, guild);
        let request = json(route, self.as_bot("PUT", &path), commands)?;
        self.call(route, request).await
    }

    /// Bulk-overwrite the application's commands with `desired` and say
    /// what that changed (compared with what was registered before).
    pub async fn register_commands(
        &self,
        application: Id<ApplicationMarker>,
        guild: Option<Id<GuildMarker>>,
        desired: &[Command],
    ) -> Result<community_core::commands::CommandChanges, DiscordError> {
        let existing = self.commands(application, guild).await?;
        let scope = match guild {
            Some(_) => community_core::commands::Scope::Guild,
            None => community_core::commands::Scope::Global,
        };
        let changes = community_core::commands::diff(&existing, desired, scope);
        self.overwrite_commands(application, guild, desired).await?;
        Ok(changes)
    }

    /// A request as the bot: its token in `Authorization`.
    fn as_bot(&self, method: &'static str, path: &str) -> Request {
        self.as_interaction(method, path)
            .header("authorization", format!("Bot {}", self.token.expose()))
    }

    /// A request the interaction token in its path authorises (the
    /// interaction's webhook): no bot token.
    fn as_interaction(&self, method: &'static str, path: &str) -> Request {
        Request::new(method, format!("{}{path}", self.base)).header("user-agent", USER_AGENT)
    }

    /// A call whose answer is decoded as `T` (an empty body as `null`).
    async fn call<T: DeserializeOwned>(
        &self,
        route: &'static str,
        request: Request,
    ) -> Result<T, DiscordError> {
        let answer = self.send(route, &request).await?;
        let text = String::from_utf8_lossy(&answer);
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).map_err(|source| DiscordError::Malformed { route, source })
    }

    /// A call whose success is all there is to know (an edit, a delete, a
    /// follow-up): the answer's body is not read unless it is an error.
    async fn call_unit(&self, route: &'static str, request: Request) -> Result<(), DiscordError> {
        self.send(route, &request.discard_success_body())
            .await
            .map(drop)
    }

    /// Sends `request` until it is not rate limited (see the module docs):
    /// the body of its 2xx answer, or the error it stands for.
    async fn send(&self, route: &'static str, request: &Request) -> Result<Vec<u8>, DiscordError> {
        let mut attempt = 1;
        loop {
            let answer = self
                .http
                .send(request)
                .await
                .map_err(|source| DiscordError::Unreachable { route, source })?;
            if answer.status == 429 {
                let retry_after = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .and_then(|v| v.get("retry_after").and_then(Value::as_f64))
                    .or_else(|| answer.header("retry-after")?.parse::<f64>().ok())
                    .map_or(Duration::from_secs(1), |secs| {
                        Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
                    });
                if attempt < MAX_ATTEMPTS && retry_after <= MAX_RATE_LIMIT_WAIT {
                    self.sleep.sleep(retry_after).await;
                    attempt += 1;
                    continue;
                }
                return Err(DiscordError::RateLimited { route, retry_after });
            }
            if !(200..300).contains(&answer.status) {
                return Err(api_error(
                    route,
                    answer.status,
                    &String::from_utf8_lossy(&answer.body),
                ));
            }
            return Ok(answer.body);
        }
    }
}

/// `request` with `body` as its JSON body.
fn json<B: Serialize + ?Sized>(
    route: &'static str,
    request: Request,
    body: &B,
) -> Result<Request, DiscordError> {
    request
        .json(body)
        .map_err(|source| DiscordError::Malformed { route, source })
}

fn commands_path(application: Id<ApplicationMarker>, guild: Option<Id<GuildMarker>>) -> String {
    match guild {
        Some(guild) => format!("/applications/{application}/guilds/{guild}/commands"),
        None => format!("/applications/{application}/commands"),
    }
}

fn api_error(route: &'static str, status: u16, text: &str) -> DiscordError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    DiscordError::Api {
        route,
        status,
        code: body.get("code").and_then(Value::as_u64).unwrap_or(0),
        message: body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| text.chars().take(200).collect(), str::to_owned),
        errors: body.get("errors").cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_error_codes_map_to_what_the_user_is_told() {
        let cases = [
            (
                403,
                r#"{"message":"Missing Permissions","code":50013}"#,
                DiscordFailure::MissingPermissions,
            ),
            (
                400,
                r#"{"message":"Maximum number of guild channels reached (500)","code":30013}"#,
                DiscordFailure::ChannelLimit,
            ),
            (
                400,
                r#"{"message":"Invalid Form Body","code":50035,"errors":{"parent_id":{"_errors":[{"code":"CHANNEL_PARENT_MAX_CHANNELS","message":"Maximum number of channels in category reached (50)"}]}}}"#,
                DiscordFailure::CategoryFull,
            ),
            (
                400,
                r#"{"message":"Invalid Form Body","code":50035,"errors":{"name":{}}}"#,
                DiscordFailure::Refused,
            ),
            (
                403,
                r#"{"message":"Missing Access","code":50001}"#,
                DiscordFailure::MissingPermissions,
            ),
            (
                404,
                r#"{"message":"Unknown Channel","code":10003}"#,
                DiscordFailure::NotFound,
            ),
            (502, "<html>bad gateway</html>", DiscordFailure::Other),
        ];
        for (status, body, expected) in cases {
            assert_eq!(api_error("x", status, body).failure(), expected, "{body}");
        }
    }

    #[test]
    fn a_non_json_error_keeps_a_short_message() {
        let DiscordError::Api { message, code, .. } = api_error("x", 502, &"x".repeat(1000)) else {
            panic!("expected an API error");
        };
        assert_eq!(code, 0);
        assert_eq!(message.len(), 200);
    }
}
