//! Support tickets: the panel, opening (a private channel per ticket),
//! claiming and closing with a transcript.
//!
//! Nothing is left half-created: a ticket row is reserved before the channel
//! is created and abandoned if Discord refuses; a channel whose row cannot be
//! attached is deleted again.

use std::rc::Rc;

use community_clients::discord::{CreateTextChannel, ModifyChannel};
use community_clients::{DiscordError, DiscordFailure, Sleep};
use community_core::responses;
use community_core::routing;
use community_core::ticket::{self, Ticket, TicketAction, TicketButton, TicketId, TicketState};
use community_store::{
    GuildSettings, OpenTicket, Opening, TicketCloseAction, TicketRow, TicketStatus,
    TranscriptMessage,
};
use time::OffsetDateTime;
use twilight_model::application::interaction::Interaction;
use twilight_model::channel::Message;
use twilight_model::channel::message::Component;
use twilight_model::guild::Permissions;
use twilight_model::http::permission_overwrite::PermissionOverwrite;
use twilight_model::http::permission_overwrite::PermissionOverwriteType;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, GuildMarker, MessageMarker, RoleMarker, UserMarker,
};

use crate::app::{App, INTERNAL_ERROR_MESSAGE, Reply, timestamp};

/// When a vanished channel was noticed, in its ticket's note.
const NOTE_TIME: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");

/// Most messages kept in a transcript.
pub const TRANSCRIPT_CAP: usize = 1_000;

const MEMBER_ALLOW: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::ATTACH_FILES)
    .union(Permissions::EMBED_LINKS);

/// What to tell a member when Discord refuses a ticket operation.
pub fn discord_failure_message(err: &DiscordError) -> &'static str {
    match err.failure() {
        DiscordFailure::MissingPermissions => {
            "I don't have the permissions I need (in the ticket category: Manage Channels, Manage Roles, and the Attach Files, Embed Links and Manage Messages that ticket channels grant). Please tell a server admin."
        }
        DiscordFailure::CategoryFull => {
            "The ticket category is full (Discord allows 50 channels per category). Please tell staff so they can close old tickets or set another category."
        }
        DiscordFailure::ChannelLimit => {
            "This server has reached Discord's limit of 500 channels, so no ticket channel can be created. Please tell staff."
        }
        DiscordFailure::RateLimited => {
            "Discord is rate limiting me right now. Please try again in a minute."
        }
        DiscordFailure::Refused => {
            "Discord refused the request, so nothing was done. Please tell a server admin: the details are in the dashboard's log."
        }
        _ => "Discord did not accept the request. Please try again in a moment.",
    }
}

async fn settings_or_reply<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
) -> Result<GuildSettings, Reply> {
    match app.store.guild_settings(guild).await {
        Ok(settings) => Ok(settings),
        Err(err) => {
            app.log_error(
                "reading guild settings",
                &err,
                serde_json::json!({ "guild_id": guild }),
            )
            .await;
            Err(Reply::ephemeral(INTERNAL_ERROR_MESSAGE))
        }
    }
}

fn in_guild(interaction: &Interaction) -> Result<(Id<GuildMarker>, Id<UserMarker>), Reply> {
    match (
        routing::guild_id(interaction),
        routing::member_id(interaction),
    ) {
        (Some(guild), Some(member)) => Ok((guild, member)),
        _ => Err(Reply::ephemeral("Tickets work inside a server.")),
    }
}

/// `/ticket-panel`: staff post the "Open ticket" panel in the channel.
pub async fn panel<S: Sleep + 'static>(app: &Rc<App<S>>, interaction: &Interaction) -> Reply {
    let (guild, _) = match in_guild(interaction) {
        Ok(ids) => ids,
        Err(reply) => return reply,
    };
    let settings = match settings_or_reply(app, guild).await {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    if !routing::is_staff(interaction, settings.staff_role_id) {
        return Reply::ephemeral(
            "Only staff (the staff role, or Manage Channels) can post the ticket panel.",
        );
    }
    Reply::interaction(&responses::ticket_panel_message(), None)
}

/// "Open ticket": the reason modal, unless the member already holds the most
/// open tickets allowed — then a link to the open one, and a check in the
/// background that its channel still exists (see [`close_vanished`]).
pub async fn open_button<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    interaction: &Interaction,
    now: OffsetDateTime,
) -> Reply {
    let (guild, member) = match in_guild(interaction) {
        Ok(ids) => ids,
        Err(reply) => return reply,
    };
    let settings = match settings_or_reply(app, guild).await {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    match app.store.member_open_tickets(guild, member).await {
        Ok(open) if open.len() >= settings.max_open_tickets as usize => {
            let answer = responses::ephemeral_message(&already_open_message(&open));
            let app = Rc::clone(app);
            let token = interaction.token.clone();
            let later = Box::pin(async move {
                if let Some(text) = close_vanished(&app, &settings, member, &open, now).await {
                    app.finish(&token, &responses::ephemeral_data(&text)).await;
                }
            });
            Reply::interaction(&answer, Some(later))
        }
        Ok(_) => Reply::interaction(&responses::modal_open_ticket(), None),
        Err(err) => {
            app.log_error(
                "counting open tickets",
                &err,
                serde_json::json!({ "guild_id": guild }),
            )
            .await;
            Reply::ephemeral(INTERNAL_ERROR_MESSAGE)
        }
    }
}

/// Close the member's open tickets whose channel was deleted by hand (in
/// Discord, not through the bot): nothing else would ever close them, and
/// they would hold the member at the open-ticket limit for good. Returns
/// what to tell the member instead of the link, if any was closed.
async fn close_vanished<S: Sleep + 'static>(
    app: &App<S>,
    settings: &GuildSettings,
    member: Id<UserMarker>,
    open: &[community_store::OpenTicketRef],
    now: OffsetDateTime,
) -> Option<String> {
    let mut closed = Vec::new();
    for ticket in open {
        // A ticket still being set up has no channel yet; its reservation
        // lapses on its own.
        let Some(channel) = ticket.channel_id else {
            continue;
        };
        match app.discord.channel_exists(channel).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(err) => {
                app.log_error(
                    "checking a ticket's channel",
                    &err,
                    serde_json::json!({ "ticket_id": ticket.ticket_id, "channel_id": channel }),
                )
                .await;
                continue;
            }
        }
        let note = format!(
            "Its channel was deleted outside the bot (found gone on {} UTC); no transcript.",
            now.format(NOTE_TIME).unwrap_or_default()
        );
        match app
            .store
            .close_vanished_ticket(ticket.ticket_id, channel, &note)
            .await
        {
            Ok(Some(row)) => {
                app.log(
                    community_store::LogLevel::Warn,
                    "ticket closed: its channel was deleted outside the bot",
                    serde_json::json!({ "ticket_id": ticket.ticket_id, "channel_id": channel, "opener_id": member }),
                )
                .await;
                post_to_log(app, settings, &row, now, (0, false)).await;
                closed.push(ticket.ticket_id);
            }
            // Closed by someone else meanwhile: nothing left to do.
            Ok(None) => closed.push(ticket.ticket_id),
            Err(err) => {
                app.log_error(
                    "closing a ticket whose channel was deleted",
                    &err,
                    serde_json::json!({ "ticket_id": ticket.ticket_id }),
                )
                .await;
            }
        }
    }
    match closed.as_slice() {
        [] => None,
        [one] => Some(format!(
            "Your ticket #{one} was closed: its channel had been deleted. Click \"Open ticket\" again to open a new one."
        )),
        many => Some(format!(
            "Your tickets {} were closed: their channels had been deleted. Click \"Open ticket\" again to open a new one.",
            many.iter()
                .map(|id| format!("#{id}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Tell the guild's ticket log channel, if it has one, about a ticket just
/// closed (`closed`, as the close left it: no closer when its channel had
/// vanished), with its transcript's length and whether it is whole. Best
/// effort: the close stands whether or not the log hears of it.
async fn post_to_log<S: Sleep + 'static>(
    app: &App<S>,
    settings: &GuildSettings,
    closed: &TicketRow,
    now: OffsetDateTime,
    (messages, complete): (usize, bool),
) {
    let Some(log_channel) = settings.ticket_log_channel_id else {
        return;
    };
    let summary = responses::ticket_closed_log(&responses::ClosedTicket {
        id: TicketId(closed.id),
        opener: closed.opener_id,
        reason: &closed.reason,
        claimed_by: closed.claimed_by,
        closed_by: closed.closed_by,
        opened_at: closed.opened_at.unix_timestamp(),
        closed_at: now.unix_timestamp(),
        messages,
        complete,
    });
    if let Err(err) = app.discord.create_message(log_channel, &summary).await {
        app.log_error(
            "posting to the ticket log channel",
            &err,
            serde_json::json!({ "ticket_id": closed.id, "channel_id": log_channel }),
        )
        .await;
    }
}

fn already_open_message(open: &[community_store::OpenTicketRef]) -> String {
    let links: Vec<String> = open
        .iter()
        .map(|t| match t.channel_id {
            Some(channel) => format!("<#{channel}>"),
            None => format!("#{} (being set up)", t.ticket_id),
        })
        .collect();
    let listed = links.join(", ");
    if links.len() == 1 {
        format!("You already have an open ticket: {listed}. Please continue there.")
    } else {
        format!("You already have open tickets: {listed}. Please continue in one of them.")
    }
}

/// The reason modal was submitted: defer, then create the ticket.
pub fn open<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    interaction: Interaction,
    reason: String,
) -> Reply {
    let (guild, member) = match in_guild(&interaction) {
        Ok(ids) => ids,
        Err(reply) => return reply,
    };
    let app = Rc::clone(app);
    let later = Box::pin(async move {
        let name = routing::member_name(&interaction).unwrap_or_else(|| member.to_string());
        let text = match create_ticket(&app, guild, member, &name, &reason).await {
            Ok(text) | Err(text) => text,
        };
        app.finish(&interaction.token, &responses::ephemeral_data(&text))
            .await;
    });
    Reply::interaction(&responses::deferred_channel_message(true), Some(later))
}

/// Reserve, create the channel, attach, welcome. Ok/Err: what to tell the member.
pub async fn create_ticket<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
    member: Id<UserMarker>,
    member_name: &str,
    reason: &str,
) -> Result<String, String> {
    let settings = match app.store.guild_settings(guild).await {
        Ok(s) => s,
        Err(err) => {
            app.log_error(
                "reading guild settings",
                &err,
                serde_json::json!({ "guild_id": guild }),
            )
            .await;
            return Err(INTERNAL_ERROR_MESSAGE.to_owned());
        }
    };
    let opening = app
        .store
        .open_ticket(
            guild,
            member,
            member_name,
            reason,
            settings.max_open_tickets,
        )
        .await;
    if let Ok(Opening { lapsed, .. }) = &opening
        && !lapsed.is_empty()
    {
        remove_lapsed_channels(app, guild, lapsed).await;
    }
    let ticket_id = match opening.map(|opening| opening.outcome) {
        Ok(OpenTicket::Reserved { ticket_id }) => ticket_id,
        Ok(OpenTicket::LimitReached { open }) => return Err(already_open_message(&open)),
        Err(err) => {
            app.log_error(
                "reserving a ticket",
                &err,
                serde_json::json!({ "guild_id": guild }),
            )
            .await;
            return Err(INTERNAL_ERROR_MESSAGE.to_owned());
        }
    };

    let topic = format!("{}<@{member}>", topic_prefix(ticket_id));
    let body = CreateTextChannel {
        name: ticket::channel_name(member_name, TicketId(ticket_id)),
        kind: 0,
        parent_id: settings.ticket_category_id,
        topic: Some(topic.clone()),
        permission_overwrites: overwrites(
            guild,
            member,
            &staff_roles(app, guild, &settings).await,
            app.bot_user_id().await,
        ),
    };
    let created = match app.discord.create_text_channel(guild, &body).await {
        Ok(channel) => Ok(channel),
        Err(err) => {
            let failure = format!("{:?}", err.failure());
            app.log_error(
                "creating a ticket channel",
                &err,
                serde_json::json!({ "guild_id": guild, "ticket_id": ticket_id, "failure": failure }),
            )
            .await;
            // The answer was lost or a server error: the channel may exist
            // even so. Keep it if it does, rather than leave it behind.
            let found = if err.may_have_acted() {
                created_after_all(app, guild, ticket_id, &topic).await
            } else {
                None
            };
            found.ok_or(err)
        }
    };
    let channel = match created {
        Ok(channel) => channel,
        Err(err) => {
            if let Err(db) = app.store.abandon_ticket(ticket_id, &err.to_string()).await {
                app.log_error(
                    "abandoning a ticket",
                    &db,
                    serde_json::json!({ "ticket_id": ticket_id }),
                )
                .await;
            }
            return Err(discord_failure_message(&err).to_owned());
        }
    };

    match app.store.attach_ticket_channel(ticket_id, channel.id).await {
        Ok(true) => {}
        outcome => {
            // No row to go with the channel: take the channel back.
            let detail = match outcome {
                Err(err) => err.to_string(),
                _ => "the reservation was no longer open".to_owned(),
            };
            app.log(
                community_store::LogLevel::Error,
                "could not attach a ticket channel; deleting it",
                serde_json::json!({ "ticket_id": ticket_id, "channel_id": channel.id, "error": detail }),
            )
            .await;
            if let Err(err) = app.discord.delete_channel(channel.id).await {
                app.log_error(
                    "deleting an unattached ticket channel",
                    &err,
                    serde_json::json!({ "channel_id": channel.id }),
                )
                .await;
            }
            if let Err(err) = app.store.abandon_ticket(ticket_id, &detail).await {
                app.log_error(
                    "abandoning a ticket",
                    &err,
                    serde_json::json!({ "ticket_id": ticket_id }),
                )
                .await;
            }
            return Err(INTERNAL_ERROR_MESSAGE.to_owned());
        }
    }

    let welcome =
        responses::ticket_welcome(TicketId(ticket_id), member, settings.staff_role_id, reason);
    // The ticket and its channel exist; a welcome that could not be posted
    // leaves it without its buttons, so the member hears how to close it.
    let welcomed = match app.discord.create_message(channel.id, &welcome).await {
        Ok(_) => true,
        Err(err) => {
            app.log_error(
                "posting a ticket's welcome message",
                &err,
                serde_json::json!({ "ticket_id": ticket_id }),
            )
            .await;
            // Discord may have posted it even so: it is not posted twice.
            err.may_have_acted()
        }
    };
    app.log(
        community_store::LogLevel::Info,
        "ticket opened",
        serde_json::json!({ "ticket_id": ticket_id, "guild_id": guild, "channel_id": channel.id, "opener_id": member }),
    )
    .await;
    Ok(if welcomed {
        format!("Your ticket is open: <#{}>", channel.id)
    } else {
        format!(
            "Your ticket is open: <#{}>. I couldn't post its Claim and Close buttons there, so use `/close` in the channel when you are done.",
            channel.id
        )
    })
}

/// The start of a ticket channel's topic, which names its ticket: how a
/// channel whose ticket never learnt of it is found.
fn topic_prefix(ticket_id: u64) -> String {
    format!("Ticket #{ticket_id} opened by ")
}

/// Deletes the channels of reservations abandoned while opening (the work
/// was cut off between creating the channel and attaching it), found by
/// their topic: no channel is left without a ticket. The ones settled (no
/// channel, or deleted) are marked so; the rest are tried again the next
/// time the member opens a ticket.
async fn remove_lapsed_channels<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
    lapsed: &[u64],
) {
    let settled = delete_lapsed_channels(app, guild, lapsed).await;
    if settled.is_empty() {
        return;
    }
    if let Err(err) = app.store.lapsed_channels_checked(&settled).await {
        app.log_error(
            "marking the channels of abandoned tickets as looked for",
            &err,
            serde_json::json!({ "ticket_ids": settled }),
        )
        .await;
    }
}

/// [`remove_lapsed_channels`]' Discord half: the tickets settled.
async fn delete_lapsed_channels<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
    lapsed: &[u64],
) -> Vec<u64> {
    let channels = match app.discord.guild_channels(guild).await {
        Ok(channels) => channels,
        Err(err) => {
            app.log_error(
                "looking for channels of tickets abandoned while opening; some may be left behind",
                &err,
                serde_json::json!({ "guild_id": guild, "ticket_ids": lapsed }),
            )
            .await;
            return Vec::new();
        }
    };
    let mut settled = Vec::with_capacity(lapsed.len());
    for &ticket_id in lapsed {
        let prefix = topic_prefix(ticket_id);
        let Some(channel) = channels
            .iter()
            .find(|c| c.topic.as_deref().is_some_and(|t| t.starts_with(&prefix)))
        else {
            settled.push(ticket_id);
            continue;
        };
        match app.discord.delete_channel(channel.id).await {
            Ok(()) => {
                settled.push(ticket_id);
                app.log(
                    community_store::LogLevel::Warn,
                    "deleted the channel of a ticket abandoned while opening",
                    serde_json::json!({ "ticket_id": ticket_id, "channel_id": channel.id }),
                )
                .await;
            }
            Err(err) if err.failure() == DiscordFailure::NotFound => settled.push(ticket_id),
            Err(err) => {
                app.log_error(
                    "deleting the channel of a ticket abandoned while opening",
                    &err,
                    serde_json::json!({ "ticket_id": ticket_id, "channel_id": channel.id }),
                )
                .await;
            }
        }
    }
    settled
}

/// After a failed "create channel" that may have worked even so: the ticket's
/// channel (found by its topic), if Discord made it. `None` when it did not,
/// or when Discord cannot say (logged: a channel may be left behind).
async fn created_after_all<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
    ticket_id: u64,
    topic: &str,
) -> Option<twilight_model::channel::Channel> {
    match app.discord.guild_channels(guild).await {
        Ok(channels) => {
            let channel = channels
                .into_iter()
                .find(|c| c.topic.as_deref() == Some(topic))?;
            app.log(
                community_store::LogLevel::Warn,
                "the ticket channel was created after all; keeping it",
                serde_json::json!({ "ticket_id": ticket_id, "channel_id": channel.id }),
            )
            .await;
            Some(channel)
        }
        Err(err) => {
            app.log_error(
                "checking whether a ticket channel was created; one may be left behind",
                &err,
                serde_json::json!({ "guild_id": guild, "ticket_id": ticket_id, "topic": topic }),
            )
            .await;
            None
        }
    }
}

/// Every ticket channel, open or archived: hidden from @everyone, kept
/// visible to the bot that manages it.
fn private_to_the_bot(guild: Id<GuildMarker>, bot: Id<UserMarker>) -> Vec<PermissionOverwrite> {
    vec![
        // @everyone's role id is the guild id.
        PermissionOverwrite {
            id: guild.cast(),
            kind: PermissionOverwriteType::Role,
            allow: None,
            deny: Some(Permissions::VIEW_CHANNEL),
        },
        // The bot keeps access to the channel it creates.
        PermissionOverwrite {
            id: bot.cast(),
            kind: PermissionOverwriteType::Member,
            allow: Some(MEMBER_ALLOW | Permissions::MANAGE_CHANNELS),
            deny: None,
        },
    ]
}

fn overwrites(
    guild: Id<GuildMarker>,
    member: Id<UserMarker>,
    staff_roles: &[Id<RoleMarker>],
    bot: Id<UserMarker>,
) -> Vec<PermissionOverwrite> {
    let mut list = private_to_the_bot(guild, bot);
    list.push(PermissionOverwrite {
        id: member.cast(),
        kind: PermissionOverwriteType::Member,
        allow: Some(MEMBER_ALLOW),
        deny: None,
    });
    list.extend(staff_roles.iter().map(|role| PermissionOverwrite {
        id: role.cast(),
        kind: PermissionOverwriteType::Role,
        allow: Some(MEMBER_ALLOW | Permissions::MANAGE_MESSAGES),
        deny: None,
    }));
    list
}

/// The roles let into the guild's ticket channels as staff, as
/// [`routing::is_staff`] counts them: the staff role, and the roles granting
/// Manage Channels ([`routing::manage_channels_roles`], read from Discord),
/// who can close tickets and would otherwise not see them (only
/// Administrator passes a channel's overwrites). If Discord cannot say, the
/// staff role alone (logged): the ticket opens all the same.
async fn staff_roles<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
    settings: &GuildSettings,
) -> Vec<Id<RoleMarker>> {
    let mut roles: Vec<_> = settings.staff_role_id.into_iter().collect();
    match app.discord.guild_roles(guild).await {
        Ok(guild_roles) => roles.extend(
            routing::manage_channels_roles(guild, &guild_roles)
                .into_iter()
                .filter(|role| Some(*role) != settings.staff_role_id),
        ),
        Err(err) => {
            app.log_error(
                "reading the server's roles for a ticket channel's staff",
                &err,
                serde_json::json!({ "guild_id": guild }),
            )
            .await;
        }
    }
    roles
}

/// The core's view of a stored ticket.
pub fn as_core_ticket(row: &TicketRow) -> Ticket {
    let at = |t: Option<OffsetDateTime>| t.map(timestamp);
    let state = match (row.status, row.closed_by, row.claimed_by) {
        (TicketStatus::Closed, by, _) => TicketState::Closed {
            // Nobody, for a ticket whose channel vanished (no one can act
            // on it from Discord any more; this only keeps it closed).
            by: by.unwrap_or(row.opener_id),
            at: at(row.closed_at).unwrap_or_else(|| timestamp(row.opened_at)),
        },
        (_, _, Some(by)) if row.status == TicketStatus::Claimed => TicketState::Claimed {
            by,
            at: at(row.claimed_at).unwrap_or_else(|| timestamp(row.opened_at)),
        },
        _ => TicketState::Open,
    };
    let mut ticket = Ticket::new(TicketId(row.id), row.opener_id, timestamp(row.opened_at));
    ticket.state = state;
    ticket
}

async fn load<S: Sleep + 'static>(app: &App<S>, ticket_id: TicketId) -> Result<TicketRow, String> {
    match app.store.ticket_by_id(ticket_id.0).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err("That ticket doesn't exist any more.".to_owned()),
        Err(err) => {
            app.log_error(
                "reading a ticket",
                &err,
                serde_json::json!({ "ticket_id": ticket_id.0 }),
            )
            .await;
            Err(INTERNAL_ERROR_MESSAGE.to_owned())
        }
    }
}

/// Who pressed a ticket's button, their guild's settings and the ticket, or
/// the reply that explains why not.
async fn button_context<S: Sleep + 'static>(
    app: &App<S>,
    interaction: &Interaction,
    ticket_id: TicketId,
) -> Result<(Id<UserMarker>, GuildSettings, TicketRow), Reply> {
    let (guild, member) = in_guild(interaction)?;
    let settings = settings_or_reply(app, guild).await?;
    let row = load(app, ticket_id)
        .await
        .map_err(|text| Reply::ephemeral(&text))?;
    Ok((member, settings, row))
}

/// "Claim": staff take the ticket; the first claim is the first response.
pub async fn claim<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    interaction: &Interaction,
    ticket_id: TicketId,
    now: OffsetDateTime,
) -> Reply {
    let (staff, settings, row) = match button_context(app, interaction, ticket_id).await {
        Ok(context) => context,
        Err(reply) => return reply,
    };
    let action = TicketAction::Claim {
        staff,
        at: timestamp(now),
        is_staff: routing::is_staff(interaction, settings.staff_role_id),
    };
    if let Err(refused) = ticket::transition(&as_core_ticket(&row), action) {
        return Reply::ephemeral(&capitalise(&refused.to_string()));
    }
    match app.store.claim_ticket(ticket_id.0, staff, now).await {
        Ok(Some(_)) => {
            app.log(
                community_store::LogLevel::Info,
                "ticket claimed",
                serde_json::json!({ "ticket_id": ticket_id.0, "staff_id": staff }),
            )
            .await;
            Reply::interaction(
                &responses::channel_message(&format!(
                    "<@{staff}> has claimed this ticket and will help you."
                )),
                None,
            )
        }
        Ok(None) => Reply::ephemeral("Someone claimed or closed this ticket just now."),
        Err(err) => {
            app.log_error(
                "claiming a ticket",
                &err,
                serde_json::json!({ "ticket_id": ticket_id.0 }),
            )
            .await;
            Reply::ephemeral(INTERNAL_ERROR_MESSAGE)
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// "Close": ask for confirmation, if this member may close it.
pub async fn close_request<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    interaction: &Interaction,
    ticket_id: TicketId,
) -> Reply {
    let (member, settings, row) = match button_context(app, interaction, ticket_id).await {
        Ok(context) => context,
        Err(reply) => return reply,
    };
    let is_staff = routing::is_staff(interaction, settings.staff_role_id);
    let is_opener = row.opener_id == member;
    // Closed, yet its channel is still here (the button was pressed in
    // it): removing the channel failed last time. Confirming tries again.
    if row.status == TicketStatus::Closed && (is_staff || is_opener) {
        return Reply::interaction(
            &responses::close_confirmation(ticket_id, settings.ticket_close_action),
            None,
        );
    }
    let action = TicketAction::Close {
        by: member,
        at: timestamp(OffsetDateTime::UNIX_EPOCH),
        is_staff,
        is_opener,
    };
    match ticket::transition(&as_core_ticket(&row), action) {
        Ok(_) => Reply::interaction(
            &responses::close_confirmation(ticket_id, settings.ticket_close_action),
            None,
        ),
        Err(refused) => Reply::ephemeral(&capitalise(&refused.to_string())),
    }
}

/// "Close ticket" confirmed: acknowledge, then close with the transcript.
pub fn close_confirmed<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    interaction: Interaction,
    ticket_id: TicketId,
    now: OffsetDateTime,
) -> Reply {
    let (guild, member) = match in_guild(&interaction) {
        Ok(ids) => ids,
        Err(reply) => return reply,
    };
    let app = Rc::clone(app);
    let later = Box::pin(async move {
        let text = match load(&app, ticket_id).await {
            Ok(row) => {
                close(&app, &row, guild, member, Some(&interaction), now)
                    .await
                    .text
            }
            Err(text) => text,
        };
        app.follow_up(&interaction.token, &text).await;
    });
    Reply::interaction(&responses::deferred_update(), Some(later))
}

/// `/close` inside a ticket channel.
pub fn close_command<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    interaction: Interaction,
    now: OffsetDateTime,
) -> Reply {
    let (guild, member) = match in_guild(&interaction) {
        Ok(ids) => ids,
        Err(reply) => return reply,
    };
    let Some(channel) = routing::channel_id(&interaction) else {
        return Reply::ephemeral("Use /close inside a ticket channel.");
    };
    let app = Rc::clone(app);
    let later = Box::pin(async move {
        let text = match app.store.ticket_by_channel(channel).await {
            Ok(Some(row)) => {
                close(&app, &row, guild, member, Some(&interaction), now)
                    .await
                    .text
            }
            Ok(None) => {
                "This isn't a ticket channel: use /close inside the ticket you want to close."
                    .to_owned()
            }
            Err(err) => {
                app.log_error(
                    "finding a ticket by channel",
                    &err,
                    serde_json::json!({ "channel_id": channel }),
                )
                .await;
                INTERNAL_ERROR_MESSAGE.to_owned()
            }
        };
        app.finish(&interaction.token, &responses::ephemeral_data(&text))
            .await;
    });
    Reply::interaction(&responses::deferred_channel_message(true), Some(later))
}

/// `!close` typed in a ticket channel, as the relay reported it. Staff only:
/// the member's roles are read from Discord.
pub async fn close_from_relay<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
    channel: Id<ChannelMarker>,
    user: Id<UserMarker>,
    now: OffsetDateTime,
) {
    // (The relay may deliver a `!close` again after an outage: `ingest`
    // hands each message here once.) A closed ticket whose channel is still
    // there gets its channel removed again, as with the Close button.
    let row = match app.store.ticket_by_channel(channel).await {
        Ok(Some(row)) => row,
        Ok(None) => return, // `!close` outside a ticket channel: nothing to do
        Err(err) => {
            app.log_error(
                "finding a ticket for !close",
                &err,
                serde_json::json!({ "channel_id": channel }),
            )
            .await;
            return;
        }
    };
    let closing = close(app, &row, guild, user, None, now).await;
    app.log(
        community_store::LogLevel::Info,
        "!close handled",
        serde_json::json!({ "ticket_id": row.id, "user_id": user, "outcome": closing.text }),
    )
    .await;
    // `!close` has no interaction to answer: the outcome goes to the channel
    // it was typed in, unless that channel is gone now.
    if !closing.channel_removed {
        let reply = responses::text_data(&format!("<@{user}> {}", closing.text), false);
        if let Err(err) = app.discord.create_message(channel, &reply).await {
            app.log_error(
                "answering !close in its channel",
                &err,
                serde_json::json!({ "ticket_id": row.id, "channel_id": channel }),
            )
            .await;
        }
    }
}

/// Whether whoever typed `!close` is staff, from their roles as Discord has
/// them: the staff role, or a role granting Manage Channels. An error (and
/// a log row) when Discord cannot say: staff must not be told they are not.
async fn staff_by_roles<S: Sleep + 'static>(
    app: &App<S>,
    guild: Id<GuildMarker>,
    user: Id<UserMarker>,
    staff_role: Option<Id<twilight_model::id::marker::RoleMarker>>,
) -> Result<bool, DiscordError> {
    let roles = match app.discord.guild_member_roles(guild, user).await {
        Ok(roles) => roles,
        Err(err) => {
            app.log_error(
                "reading a member's roles for !close",
                &err,
                serde_json::json!({ "user_id": user }),
            )
            .await;
            return Err(err);
        }
    };
    // The staff role settles it without reading the server's roles.
    if staff_role.is_some_and(|role| roles.contains(&role)) {
        return Ok(true);
    }
    match app.discord.guild_roles(guild).await {
        Ok(guild_roles) => Ok(routing::is_staff_by_roles(
            guild,
            &roles,
            &guild_roles,
            staff_role,
        )),
        Err(err) => {
            app.log_error(
                "reading the server's roles for !close",
                &err,
                serde_json::json!({ "guild_id": guild }),
            )
            .await;
            Err(err)
        }
    }
}

/// What closing a ticket came to.
struct Closing {
    /// What to tell whoever asked.
    text: String,
    /// The channel was deleted just now (nothing can be said in it any more).
    channel_removed: bool,
}

impl From<String> for Closing {
    fn from(text: String) -> Self {
        Self {
            text,
            channel_removed: false,
        }
    }
}

/// Close a ticket: check who asks, save the transcript with the close in one
/// transaction, then delete or archive the channel. Returns what to tell them.
///
/// A ticket already closed whose channel is still there (removing it failed,
/// or it was archived) gets its channel removed again: that is what whoever
/// closes it from inside the channel wants.
async fn close<S: Sleep + 'static>(
    app: &App<S>,
    row: &TicketRow,
    guild: Id<GuildMarker>,
    by: Id<UserMarker>,
    interaction: Option<&Interaction>,
    now: OffsetDateTime,
) -> Closing {
    let settings = match app.store.guild_settings(guild).await {
        Ok(s) => s,
        Err(err) => {
            app.log_error(
                "reading guild settings",
                &err,
                serde_json::json!({ "guild_id": guild }),
            )
            .await;
            return INTERNAL_ERROR_MESSAGE.to_owned().into();
        }
    };
    let is_staff = match interaction {
        Some(interaction) => routing::is_staff(interaction, settings.staff_role_id),
        None => match staff_by_roles(app, guild, by, settings.staff_role_id).await {
            Ok(is_staff) => is_staff,
            Err(_) => {
                return "I couldn't check your roles with Discord just now. Try `!close` again in a moment, or use the ticket's Close button or `/close`."
                    .to_owned()
                    .into();
            }
        },
    };
    // `!close` is for staff; the buttons and /close also let the opener close.
    let is_opener = interaction.is_some() && row.opener_id == by;
    let Some(channel) = row.channel_id else {
        return "This ticket has no channel.".to_owned().into();
    };
    if row.status == TicketStatus::Closed && (is_staff || is_opener) {
        return match remove_channel(app, row, guild, &settings, channel).await {
            Ok(removed) => Closing {
                text: format!(
                    "Ticket #{} was already closed; its channel is {} now.",
                    row.id,
                    removed.past_tense()
                ),
                channel_removed: removed == Removal::Deleted,
            },
            Err(text) => text.into(),
        };
    }
    // (A closed ticket is refused as closed, below.)
    if interaction.is_none() && !is_staff && row.status != TicketStatus::Closed {
        return "`!close` is for staff. To close your own ticket, use its Close button or `/close`."
            .to_owned()
            .into();
    }
    let action = TicketAction::Close {
        by,
        at: timestamp(now),
        is_staff,
        is_opener,
    };
    if let Err(refused) = ticket::transition(&as_core_ticket(row), action) {
        return capitalise(&refused.to_string()).into();
    }
    let (transcript, complete, welcome) = match app
        .discord
        .channel_history(channel, TRANSCRIPT_CAP)
        .await
    {
        Ok((messages, complete)) => (
            messages.iter().map(transcript_message).collect::<Vec<_>>(),
            complete,
            welcome_message(&messages, TicketId(row.id)),
        ),
        Err(err) => {
            app.log_error(
                "reading a ticket's messages",
                &err,
                serde_json::json!({ "ticket_id": row.id }),
            )
            .await;
            return format!(
                "I couldn't read the ticket's messages to save the transcript, so it stays open. {}",
                discord_failure_message(&err)
            )
            .into();
        }
    };
    let note = (!complete).then(|| {
        format!(
            "The transcript keeps the newest {TRANSCRIPT_CAP} messages; older ones were not saved."
        )
    });
    let closed = match app
        .store
        .close_ticket(row.id, by, now, &transcript, note.as_deref())
        .await
    {
        Ok(Some(closed)) => closed,
        Ok(None) => {
            return "This ticket was closed just now by someone else."
                .to_owned()
                .into();
        }
        Err(err) => {
            app.log_error(
                "closing a ticket",
                &err,
                serde_json::json!({ "ticket_id": row.id }),
            )
            .await;
            return INTERNAL_ERROR_MESSAGE.to_owned().into();
        }
    };
    app.log(
        community_store::LogLevel::Info,
        "ticket closed",
        serde_json::json!({ "ticket_id": row.id, "closed_by": by, "messages": transcript.len() }),
    )
    .await;
    // As closed: a claim just before the close counts.
    post_to_log(app, &settings, &closed, now, (transcript.len(), complete)).await;
    let saved = if complete {
        format!(
            "Ticket #{} is closed and its transcript ({} message{}) is saved",
            row.id,
            transcript.len(),
            if transcript.len() == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "Ticket #{} is closed and its transcript is saved: the newest {} messages (older ones \
             were not kept)",
            row.id,
            transcript.len()
        )
    };
    match remove_channel(app, row, guild, &settings, channel).await {
        Ok(removed) => {
            if removed == Removal::Archived
                && let Some(welcome) = welcome
            {
                remove_buttons(app, row, channel, welcome).await;
            }
            Closing {
                text: format!("{saved}. Its channel is {}.", removed.past_tense()),
                channel_removed: removed == Removal::Deleted,
            }
        }
        Err(text) => format!("{saved}, but {text}").into(),
    }
}

/// The ticket's welcome message among `messages`: the bot's message with
/// the ticket's Close button (none when the transcript had to leave it out).
fn welcome_message(messages: &[Message], ticket: TicketId) -> Option<Id<MessageMarker>> {
    let close = TicketButton::Close(ticket).custom_id();
    let has_close = |components: &[Component]| {
        components.iter().any(|component| match component {
            Component::ActionRow(row) => row.components.iter().any(|inner| {
                matches!(inner, Component::Button(button) if button.custom_id.as_deref() == Some(close.as_str()))
            }),
            Component::Button(button) => button.custom_id.as_deref() == Some(close.as_str()),
            _ => false,
        })
    };
    messages
        .iter()
        .find(|message| message.author.bot && has_close(&message.components))
        .map(|message| message.id)
}

/// An archived ticket's welcome loses its Claim and Close buttons, which
/// would only say the ticket is closed. Best effort: the close stands
/// either way, and a failure is logged.
async fn remove_buttons<S: Sleep + 'static>(
    app: &App<S>,
    row: &TicketRow,
    channel: Id<ChannelMarker>,
    welcome: Id<MessageMarker>,
) {
    let body = twilight_model::http::interaction::InteractionResponseData {
        components: Some(Vec::new()),
        ..Default::default()
    };
    if let Err(err) = app.discord.edit_message(channel, welcome, &body).await {
        app.log_error(
            "removing an archived ticket's buttons",
            &err,
            serde_json::json!({ "ticket_id": row.id, "message_id": welcome }),
        )
        .await;
    }
}

/// What became of a closed ticket's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removal {
    Deleted,
    Archived,
}

impl Removal {
    fn past_tense(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Archived => "archived",
        }
    }
}

/// Delete or archive a closed ticket's channel, as the guild has it set.
/// On failure: logged, and the sentence to tell whoever closed it (it can
/// be tried again by closing from the channel).
async fn remove_channel<S: Sleep + 'static>(
    app: &App<S>,
    row: &TicketRow,
    guild: Id<GuildMarker>,
    settings: &GuildSettings,
    channel: Id<ChannelMarker>,
) -> Result<Removal, String> {
    let outcome = match settings.ticket_close_action {
        TicketCloseAction::Delete => app
            .discord
            .delete_channel(channel)
            .await
            .map(|()| Removal::Deleted),
        TicketCloseAction::Archive => app
            .discord
            .modify_channel(
                channel,
                &ModifyChannel {
                    name: Some(format!("closed-{}", row.id)),
                    // Out of the ticket category, whose 50 channels would
                    // otherwise fill with archives.
                    parent_id: settings.ticket_archive_category_id,
                    permission_overwrites: Some(archived_overwrites(
                        guild,
                        &staff_roles(app, guild, settings).await,
                        app.bot_user_id().await,
                    )),
                },
            )
            .await
            .map(|_| Removal::Archived),
    };
    match outcome {
        Ok(removed) => Ok(removed),
        // Gone already (deleted by hand, or by a `!close` just before this
        // one): what removing it was for.
        Err(err) if err.failure() == DiscordFailure::NotFound => Ok(Removal::Deleted),
        Err(err) => {
            app.log_error(
                "removing a closed ticket's channel",
                &err,
                serde_json::json!({ "ticket_id": row.id }),
            )
            .await;
            Err(format!(
                "I couldn't remove the channel: {} Close it again from here to retry.",
                discord_failure_message(&err)
            ))
        }
    }
}

/// An archived ticket channel: only staff (and the bot) can still see it.
fn archived_overwrites(
    guild: Id<GuildMarker>,
    staff_roles: &[Id<RoleMarker>],
    bot: Id<UserMarker>,
) -> Vec<PermissionOverwrite> {
    let mut list = private_to_the_bot(guild, bot);
    list.extend(staff_roles.iter().map(|role| PermissionOverwrite {
        id: role.cast(),
        kind: PermissionOverwriteType::Role,
        allow: Some(Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY),
        deny: Some(Permissions::SEND_MESSAGES),
    }));
    list
}

fn transcript_message(message: &Message) -> TranscriptMessage {
    TranscriptMessage {
        message_id: message.id.to_string(),
        author_id: message.author.id.to_string(),
        author_name: Some(
            message
                .author
                .global_name
                .clone()
                .unwrap_or_else(|| message.author.name.clone()),
        ),
        content: message.content.clone(),
        attachments: serde_json::Value::Array(
            message
                .attachments
                .iter()
                .map(|a| serde_json::json!({ "filename": a.filename, "url": a.url }))
                .collect(),
        ),
        sent_at: message.timestamp.iso_8601().to_string(),
    }
}
