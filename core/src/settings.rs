//! Per-guild settings: what a guild runs with, what `/settings` may change
//! and within which limits, reading a `/settings` command into a
//! [`SettingsChange`], and how each setting reads to staff.
//!
//! One list, [`Setting::ALL`], serves the command's definition
//! ([`crate::commands::settings`]), reading its options, the database
//! columns a change writes, and the summary staff see.

use serde::{Deserialize, Serialize};
use twilight_model::application::command::CommandOptionType;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::channel::ChannelType;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, RoleMarker};

/// How a guild is configured; defaults where it has set nothing.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct GuildSettings {
    pub guild_id: Id<GuildMarker>,
    pub staff_role_id: Option<Id<RoleMarker>>,
    pub ticket_category_id: Option<Id<ChannelMarker>>,
    /// Where archived ticket channels move (migration 010); `None`: they stay.
    #[serde(default)]
    pub ticket_archive_category_id: Option<Id<ChannelMarker>>,
    /// Where a summary of each closed ticket is posted (migration 012);
    /// `None`: nowhere.
    #[serde(default)]
    pub ticket_log_channel_id: Option<Id<ChannelMarker>>,
    pub max_open_tickets: u32,
    pub ticket_close_action: TicketCloseAction,
    pub message_points: f64,
    pub reaction_points: f64,
    pub message_cooldown_secs: u32,
    pub ai_daily_budget_usd: f64,
    pub audit_cache_hours: u32,
}

/// What happens to a ticket's channel when it closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketCloseAction {
    Delete,
    Archive,
}

impl TicketCloseAction {
    pub const ALL: [Self; 2] = [Self::Delete, Self::Archive];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Archive => "archive",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

/// The `/settings` option that returns one setting to its default.
pub const RESET_OPTION: &str = "reset";

/// One setting `/settings` changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    StaffRole,
    TicketCategory,
    ArchiveCategory,
    LogChannel,
    OpenTicketLimit,
    CloseAction,
    AiDailyBudget,
    AuditCacheHours,
    MessagePoints,
    ReactionPoints,
    MessageCooldown,
}

/// The decimal places a dollar amount is kept to: `guild_settings.
/// ai_daily_budget_usd` is `numeric(10, 4)`.
pub const USD_DECIMALS: i32 = 4;

/// A dollar amount as staff read it: cents at least, and up to
/// [`USD_DECIMALS`] places when it has them, so an amount under a cent never
/// reads as $0.00 (`$1.00`, `$2.50`, `$0.001`, `$0.1235`).
pub fn usd(amount: f64) -> String {
    let places = USD_DECIMALS.unsigned_abs() as usize;
    let text = format!("{amount:.places$}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    // Trailing zeros past the cents go.
    format!("${whole}.{:0<2}", fraction.trim_end_matches('0'))
}

/// What kind of value a setting takes, and its limits (inclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Role,
    /// A channel category.
    Category,
    /// A text channel.
    TextChannel,
    Integer {
        min: i64,
        max: i64,
    },
    /// Kept to `decimals` places, as its column stores it.
    Number {
        min: f64,
        max: f64,
        decimals: i32,
    },
    /// `delete` or `archive`.
    CloseAction,
}

impl Kind {
    /// The type of the command option that takes it.
    pub fn option_type(self) -> CommandOptionType {
        match self {
            Self::Role => CommandOptionType::Role,
            Self::Category | Self::TextChannel => CommandOptionType::Channel,
            Self::Integer { .. } => CommandOptionType::Integer,
            Self::Number { .. } => CommandOptionType::Number,
            Self::CloseAction => CommandOptionType::String,
        }
    }

    /// The one kind of channel it takes, for a channel setting.
    pub fn channel_type(self) -> Option<ChannelType> {
        match self {
            Self::Category => Some(ChannelType::GuildCategory),
            Self::TextChannel => Some(ChannelType::GuildText),
            _ => None,
        }
    }
}

impl Setting {
    /// Every setting, in the order the command and the summary list them.
    pub const ALL: [Self; 11] = [
        Self::StaffRole,
        Self::TicketCategory,
        Self::OpenTicketLimit,
        Self::CloseAction,
        Self::ArchiveCategory,
        Self::LogChannel,
        Self::AiDailyBudget,
        Self::AuditCacheHours,
        Self::MessagePoints,
        Self::ReactionPoints,
        Self::MessageCooldown,
    ];

    /// The command option that sets it.
    pub fn option(self) -> &'static str {
        match self {
            Self::StaffRole => "staff-role",
            Self::TicketCategory => "ticket-category",
            Self::ArchiveCategory => "archive-category",
            Self::LogChannel => "ticket-log-channel",
            Self::OpenTicketLimit => "open-ticket-limit",
            Self::CloseAction => "close-action",
            Self::AiDailyBudget => "ai-daily-budget",
            Self::AuditCacheHours => "audit-cache-hours",
            Self::MessagePoints => "message-points",
            Self::ReactionPoints => "reaction-points",
            Self::MessageCooldown => "message-cooldown",
        }
    }

    /// Its column in `guild_settings`.
    pub fn column(self) -> &'static str {
        match self {
            Self::StaffRole => "staff_role_id",
            Self::TicketCategory => "ticket_category_id",
            Self::ArchiveCategory => "ticket_archive_category_id",
            Self::LogChannel => "ticket_log_channel_id",
            Self::OpenTicketLimit => "max_open_tickets",
            Self::CloseAction => "ticket_close_action",
            Self::AiDailyBudget => "ai_daily_budget_usd",
            Self::AuditCacheHours => "audit_cache_hours",
            Self::MessagePoints => "message_points",
            Self::ReactionPoints => "reaction_points",
            Self::MessageCooldown => "message_cooldown_secs",
        }
    }

    /// Its name, as staff read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::StaffRole => "Staff role",
            Self::TicketCategory => "Ticket category",
            Self::ArchiveCategory => "Archive category",
            Self::LogChannel => "Ticket log channel",
            Self::OpenTicketLimit => "Open tickets per member",
            Self::CloseAction => "Closed tickets",
            Self::AiDailyBudget => "AI budget per day",
            Self::AuditCacheHours => "Audit cache",
            Self::MessagePoints => "Points per message",
            Self::ReactionPoints => "Points per reaction",
            Self::MessageCooldown => "Message cooldown",
        }
    }

    /// The option's description in Discord (at most 100 characters).
    pub fn description(self) -> &'static str {
        match self {
            Self::StaffRole => "The role that handles tickets (besides Manage Channels)",
            Self::TicketCategory => "The category ticket channels open in",
            Self::ArchiveCategory => "Where archived ticket channels move",
            Self::LogChannel => "Where a summary of each closed ticket is posted",
            Self::OpenTicketLimit => "How many open tickets one member may hold",
            Self::CloseAction => "What happens to a closed ticket's channel",
            Self::AiDailyBudget => "Most spent on /audit AI calls per UTC day, in US dollars",
            Self::AuditCacheHours => "How long the same text reuses its verdict (0: never)",
            Self::MessagePoints => "Engagement points per message",
            Self::ReactionPoints => "Engagement points per reaction",
            Self::MessageCooldown => {
                "Seconds after a scored message before the same member's next one scores"
            }
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Self::StaffRole => Kind::Role,
            Self::TicketCategory | Self::ArchiveCategory => Kind::Category,
            Self::LogChannel => Kind::TextChannel,
            Self::OpenTicketLimit => Kind::Integer { min: 1, max: 25 },
            Self::CloseAction => Kind::CloseAction,
            Self::AiDailyBudget => Kind::Number {
                min: 0.0,
                max: 1_000.0,
                decimals: USD_DECIMALS,
            },
            Self::AuditCacheHours => Kind::Integer { min: 0, max: 720 },
            Self::MessagePoints | Self::ReactionPoints => Kind::Number {
                min: 0.0,
                max: 100.0,
                decimals: 2,
            },
            Self::MessageCooldown => Kind::Integer { min: 0, max: 3_600 },
        }
    }

    /// Its value in `settings`, for a setting that names no role or channel
    /// (those are picked in Discord, whose pickers offer only the right kind).
    pub fn value(self, settings: &GuildSettings) -> Option<SettingValue> {
        Some(match self {
            Self::OpenTicketLimit => SettingValue::Integer(settings.max_open_tickets.into()),
            Self::CloseAction => SettingValue::CloseAction(settings.ticket_close_action),
            Self::AiDailyBudget => SettingValue::Number(settings.ai_daily_budget_usd),
            Self::AuditCacheHours => SettingValue::Integer(settings.audit_cache_hours.into()),
            Self::MessagePoints => SettingValue::Number(settings.message_points),
            Self::ReactionPoints => SettingValue::Number(settings.reaction_points),
            Self::MessageCooldown => SettingValue::Integer(settings.message_cooldown_secs.into()),
            Self::StaffRole | Self::TicketCategory | Self::ArchiveCategory | Self::LogChannel => {
                return None;
            }
        })
    }

    /// The setting an option name sets.
    pub fn from_option(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.option() == name)
    }

    /// Whether `a` and `b` hold different values for it.
    pub fn differs(self, a: &GuildSettings, b: &GuildSettings) -> bool {
        match self {
            Self::StaffRole => a.staff_role_id != b.staff_role_id,
            Self::TicketCategory => a.ticket_category_id != b.ticket_category_id,
            Self::ArchiveCategory => a.ticket_archive_category_id != b.ticket_archive_category_id,
            Self::LogChannel => a.ticket_log_channel_id != b.ticket_log_channel_id,
            // The rest have a value of their own.
            Self::OpenTicketLimit
            | Self::CloseAction
            | Self::AiDailyBudget
            | Self::AuditCacheHours
            | Self::MessagePoints
            | Self::ReactionPoints
            | Self::MessageCooldown => self.value(a) != self.value(b),
        }
    }

    /// Its value in `settings`, as staff read it in Discord (the role and
    /// categories as mentions, which Discord shows by name).
    pub fn show(self, settings: &GuildSettings) -> String {
        self.describe(settings, |kind, id| match kind {
            Kind::Role => format!("<@&{id}>"),
            _ => format!("<#{id}>"),
        })
    }

    /// Its value in `settings` as plain text (the role and categories by
    /// id), for pages outside Discord.
    pub fn show_plain(self, settings: &GuildSettings) -> String {
        self.describe(settings, |kind, id| match kind {
            Kind::Role => format!("role {id}"),
            Kind::TextChannel => format!("channel {id}"),
            _ => format!("category {id}"),
        })
    }

    fn describe(self, settings: &GuildSettings, id: impl Fn(Kind, u64) -> String) -> String {
        let kind = self.kind();
        let id_or = |set: Option<u64>, unset: &str| {
            set.map_or_else(|| unset.to_owned(), |value| id(kind, value))
        };
        match self {
            Self::StaffRole => id_or(
                settings.staff_role_id.map(Id::get),
                "not set: staff are the members with Manage Channels",
            ),
            Self::TicketCategory => id_or(
                settings.ticket_category_id.map(Id::get),
                "not set: ticket channels open outside any category",
            ),
            Self::ArchiveCategory => id_or(
                settings.ticket_archive_category_id.map(Id::get),
                "not set: archived channels stay in the ticket category",
            ),
            Self::LogChannel => id_or(
                settings.ticket_log_channel_id.map(Id::get),
                "not set: closed tickets are not announced",
            ),
            Self::OpenTicketLimit => settings.max_open_tickets.to_string(),
            Self::CloseAction => match settings.ticket_close_action {
                TicketCloseAction::Delete => "their channel is deleted".to_owned(),
                TicketCloseAction::Archive => {
                    "their channel is archived (kept, read-only for staff)".to_owned()
                }
            },
            Self::AiDailyBudget => usd(settings.ai_daily_budget_usd),
            Self::AuditCacheHours => match settings.audit_cache_hours {
                0 => "off: every audit asks the AI".to_owned(),
                hours => format!("{hours} h"),
            },
            Self::MessagePoints => settings.message_points.to_string(),
            Self::ReactionPoints => settings.reaction_points.to_string(),
            Self::MessageCooldown => match settings.message_cooldown_secs {
                0 => "none".to_owned(),
                secs => format!("{secs} s"),
            },
        }
    }
}

/// A value `/settings` gives a setting.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    Role(Id<RoleMarker>),
    Channel(Id<ChannelMarker>),
    Integer(i64),
    Number(f64),
    CloseAction(TicketCloseAction),
}

impl SettingValue {
    /// As a form field holds it (ids as digits, numbers as shortest text).
    pub fn as_text(&self) -> String {
        match self {
            Self::Role(id) => id.to_string(),
            Self::Channel(id) => id.to_string(),
            Self::Integer(n) => n.to_string(),
            Self::Number(n) => n.to_string(),
            Self::CloseAction(action) => action.as_str().to_owned(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Role(id) => id.to_string().into(),
            Self::Channel(id) => id.to_string().into(),
            Self::Integer(n) => (*n).into(),
            Self::Number(n) => (*n).into(),
            Self::CloseAction(action) => action.as_str().into(),
        }
    }
}

/// What one `/settings` asks: values to set, settings to return to their
/// defaults. Empty: show the settings, change nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettingsChange {
    pub set: Vec<(Setting, SettingValue)>,
    pub reset: Vec<Setting>,
}

impl SettingsChange {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.reset.is_empty()
    }

    /// The settings it changes, in [`Setting::ALL`]'s order.
    pub fn changed(&self) -> Vec<Setting> {
        Setting::ALL
            .into_iter()
            .filter(|s| self.reset.contains(s) || self.set.iter().any(|(t, _)| t == s))
            .collect()
    }

    /// Of the settings it asks to change, those whose value `before` (as
    /// the guild had them) and `after` (as it has them now) differ, in
    /// [`Setting::ALL`]'s order. A reset of a setting already at its
    /// default, or a value it already had, changes nothing.
    pub fn updated(&self, before: &GuildSettings, after: &GuildSettings) -> Vec<Setting> {
        self.changed()
            .into_iter()
            .filter(|setting| setting.differs(before, after))
            .collect()
    }

    /// The values to write, by column (ids as strings, as the database
    /// functions take them).
    pub fn values(&self) -> serde_json::Map<String, serde_json::Value> {
        self.set
            .iter()
            .map(|(setting, value)| (setting.column().to_owned(), value.to_json()))
            .collect()
    }

    /// The columns to return to their defaults.
    pub fn reset_columns(&self) -> Vec<&'static str> {
        self.reset.iter().map(|s| s.column()).collect()
    }
}

/// A `/settings` that cannot be carried out: what the member did, said so
/// that it can be shown to them.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error(
        "I don't know the option `{0}`. The bot's commands may be out of date: please tell whoever runs the bot to register them again."
    )]
    UnknownOption(String),
    #[error(
        "`{option}` must be {expected}. The bot's commands may be out of date: please tell whoever runs the bot to register them again."
    )]
    WrongType {
        option: &'static str,
        expected: &'static str,
    },
    #[error("{label} must be between {min} and {max}.")]
    OutOfRange {
        label: &'static str,
        min: String,
        max: String,
    },
    #[error("{label} must be {expected}.")]
    Unreadable {
        label: &'static str,
        expected: &'static str,
    },
    #[error("@everyone cannot be the staff role: every member would be staff.")]
    EveryoneAsStaff,
    #[error("{label} is both set and reset in one command: choose one.")]
    SetAndReset { label: &'static str },
}

/// Reads a `/settings` command in `guild` into what it changes, checking each
/// value against its setting's limits (Discord checks them too, as the
/// command is registered; a stale registration may not).
pub fn read_command(
    guild: Id<GuildMarker>,
    data: &CommandData,
) -> Result<SettingsChange, SettingsError> {
    let mut change = SettingsChange::default();
    for option in &data.options {
        if option.name == RESET_OPTION {
            let CommandOptionValue::String(name) = &option.value else {
                return Err(SettingsError::WrongType {
                    option: RESET_OPTION,
                    expected: "the name of a setting",
                });
            };
            let setting = Setting::from_option(name)
                .ok_or_else(|| SettingsError::UnknownOption(name.clone()))?;
            change.reset.push(setting);
            continue;
        }
        let setting = Setting::from_option(&option.name)
            .ok_or_else(|| SettingsError::UnknownOption(option.name.clone()))?;
        change
            .set
            .push((setting, read_value(guild, data, setting, option)?));
    }
    if let Some((setting, _)) = change.set.iter().find(|(s, _)| change.reset.contains(s)) {
        return Err(SettingsError::SetAndReset {
            label: setting.label(),
        });
    }
    Ok(change)
}

/// The kind of a channel the command names, as Discord resolved it.
fn resolved_kind(data: &CommandData, channel: Id<ChannelMarker>) -> Option<ChannelType> {
    data.resolved
        .as_ref()
        .and_then(|resolved| resolved.channels.get(&channel))
        .map(|channel| channel.kind)
}

fn read_value(
    guild: Id<GuildMarker>,
    data: &CommandData,
    setting: Setting,
    option: &CommandDataOption,
) -> Result<SettingValue, SettingsError> {
    let wrong = |expected| SettingsError::WrongType {
        option: setting.option(),
        expected,
    };
    match (setting.kind(), &option.value) {
        (Kind::Role, CommandOptionValue::Role(role)) if role.cast() == guild => {
            Err(SettingsError::EveryoneAsStaff)
        }
        (Kind::Role, CommandOptionValue::Role(role)) => Ok(SettingValue::Role(*role)),
        (Kind::Role, _) => Err(wrong("a role")),
        // Discord offers only the setting's kind of channel, as the command
        // is registered; a stale registration may not, and Discord says
        // which kind it is.
        (kind @ (Kind::Category | Kind::TextChannel), CommandOptionValue::Channel(channel))
            if resolved_kind(data, *channel).is_none_or(|got| Some(got) == kind.channel_type()) =>
        {
            Ok(SettingValue::Channel(*channel))
        }
        (Kind::Category, _) => Err(wrong("a category")),
        (Kind::TextChannel, _) => Err(wrong("a text channel")),
        (Kind::Integer { min, max }, CommandOptionValue::Integer(n)) => {
            checked_integer(setting, (min, max), *n)
        }
        (Kind::Integer { .. }, _) => Err(wrong("a whole number")),
        (Kind::Number { min, max, decimals }, CommandOptionValue::Number(n)) => {
            checked_number(setting, (min, max, decimals), *n)
        }
        (Kind::Number { .. }, _) => Err(wrong("a number")),
        (Kind::CloseAction, CommandOptionValue::String(text)) => TicketCloseAction::parse(text)
            .map(SettingValue::CloseAction)
            .ok_or_else(|| wrong("`delete` or `archive`")),
        (Kind::CloseAction, _) => Err(wrong("`delete` or `archive`")),
    }
}

/// `n` for an integer setting, within its kind's limits.
fn checked_integer(
    setting: Setting,
    (min, max): (i64, i64),
    n: i64,
) -> Result<SettingValue, SettingsError> {
    if (min..=max).contains(&n) {
        Ok(SettingValue::Integer(n))
    } else {
        Err(out_of_range(setting, min, max))
    }
}

/// `n` for a number setting, within its kind's limits, kept to its
/// decimals.
fn checked_number(
    setting: Setting,
    (min, max, decimals): (f64, f64, i32),
    n: f64,
) -> Result<SettingValue, SettingsError> {
    if (min..=max).contains(&n) {
        let scale = 10_f64.powi(decimals);
        Ok(SettingValue::Number((n * scale).round() / scale))
    } else {
        Err(out_of_range(setting, min, max))
    }
}

/// The prefix of the form field holding the value a setting's field was
/// shown with ([`read_form`]).
pub const SHOWN_PREFIX: &str = "shown-";

/// Reads the dashboard's settings form: a field per setting that names no
/// Discord object (those are picked in Discord with `/settings`), named
/// after its option, holding its value as typed, and beside it
/// `shown-<option>`, the value the page showed. A field left as it was
/// shown is not a change, whatever the setting holds now (someone may have
/// changed it in Discord meanwhile); of the rest, those whose value differs
/// from `current` are in the change. Fields it does not know are ignored
/// (the form's own, such as its CSRF token).
pub fn read_form<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    current: &GuildSettings,
) -> Result<SettingsChange, SettingsError> {
    let mut change = SettingsChange::default();
    for (name, text) in fields.clone() {
        let Some(setting) = Setting::from_option(name) else {
            continue;
        };
        // Roles and channels have no value here: they are picked in Discord.
        let Some(stored) = setting.value(current) else {
            continue;
        };
        let text = text.trim();
        let shown = fields
            .clone()
            .into_iter()
            .find(|(n, _)| n.strip_prefix(SHOWN_PREFIX) == Some(name))
            .map(|(_, v)| v.trim());
        if shown == Some(text) {
            continue;
        }
        let unreadable = |expected| SettingsError::Unreadable {
            label: setting.label(),
            expected,
        };
        let value = match setting.kind() {
            Kind::Integer { min, max } => checked_integer(
                setting,
                (min, max),
                text.parse().map_err(|_| unreadable("a whole number"))?,
            )?,
            Kind::Number { min, max, decimals } => {
                let n: f64 = text.parse().map_err(|_| unreadable("a number"))?;
                if !n.is_finite() {
                    return Err(unreadable("a number"));
                }
                checked_number(setting, (min, max, decimals), n)?
            }
            // The close action (roles and channels were skipped above).
            _ => TicketCloseAction::parse(text)
                .map(SettingValue::CloseAction)
                .ok_or_else(|| unreadable("delete or archive"))?,
        };
        if stored != value && !change.set.iter().any(|(s, _)| *s == setting) {
            change.set.push((setting, value));
        }
    }
    Ok(change)
}

fn out_of_range(setting: Setting, min: impl ToString, max: impl ToString) -> SettingsError {
    SettingsError::OutOfRange {
        label: setting.label(),
        min: min.to_string(),
        max: max.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GUILD: u64 = 1_000_000_000_000_000_001;

    fn data(options: serde_json::Value) -> CommandData {
        serde_json::from_value(json!({
            "id": "1320000000000000009",
            "name": "settings",
            "type": 1,
            "options": options,
        }))
        .expect("command data")
    }

    fn read(options: serde_json::Value) -> Result<SettingsChange, SettingsError> {
        read_command(Id::new(GUILD), &data(options))
    }

    fn current() -> GuildSettings {
        serde_json::from_value(json!({
            "guild_id": GUILD.to_string(), "staff_role_id": null, "ticket_category_id": null,
            "max_open_tickets": 1, "ticket_close_action": "delete", "message_points": 1,
            "reaction_points": 0.5, "message_cooldown_secs": 0, "ai_daily_budget_usd": 1,
            "audit_cache_hours": 24,
        }))
        .expect("settings")
    }

    #[test]
    fn the_dashboards_form_changes_only_what_differs() {
        let change = read_form(
            [
                ("csrf", "token"),
                ("open-ticket-limit", " 3 "),
                ("close-action", "delete"),
                ("ai-daily-budget", "2.123456"),
                ("audit-cache-hours", "24"),
                ("reaction-points", "0.5"),
                ("message-cooldown", "30"),
                // Named in Discord only: ignored here.
                ("staff-role", "1000000000000000050"),
            ],
            &current(),
        )
        .expect("read");
        assert_eq!(
            change.set,
            [
                (Setting::OpenTicketLimit, SettingValue::Integer(3)),
                (Setting::AiDailyBudget, SettingValue::Number(2.1235)),
                (Setting::MessageCooldown, SettingValue::Integer(30)),
            ]
        );
        assert!(change.reset.is_empty());
        assert!(
            read_form([("open-ticket-limit", "1")], &current())
                .expect("read")
                .is_empty()
        );
        // Left as the page showed it: not a change, though the setting
        // changed meanwhile (in Discord, say) and now differs.
        let later = read_form(
            [
                ("open-ticket-limit", "1"),
                ("shown-open-ticket-limit", "1"),
                ("message-cooldown", "30"),
                ("shown-message-cooldown", "0"),
            ],
            &GuildSettings {
                max_open_tickets: 4,
                ..current()
            },
        )
        .expect("read");
        assert_eq!(
            later.set,
            [(Setting::MessageCooldown, SettingValue::Integer(30))]
        );
    }

    #[test]
    fn the_dashboards_form_refuses_what_discord_would() {
        for (field, value, message) in [
            (
                "open-ticket-limit",
                "26",
                "Open tickets per member must be between 1 and 25.",
            ),
            (
                "open-ticket-limit",
                "two",
                "Open tickets per member must be a whole number.",
            ),
            (
                "ai-daily-budget",
                "NaN",
                "AI budget per day must be a number.",
            ),
            (
                "ai-daily-budget",
                "-1",
                "AI budget per day must be between 0 and 1000.",
            ),
            (
                "close-action",
                "burn",
                "Closed tickets must be delete or archive.",
            ),
        ] {
            let err = read_form([(field, value)], &current()).expect_err(value);
            assert_eq!(err.to_string(), message, "{field}={value}");
        }
    }

    #[test]
    fn options_become_typed_changes_and_database_values() {
        let change = read(json!([
            { "name": "staff-role", "type": 8, "value": "1000000000000000050" },
            { "name": "ticket-category", "type": 7, "value": "1000000000000000008" },
            { "name": "open-ticket-limit", "type": 4, "value": 3 },
            { "name": "close-action", "type": 3, "value": "archive" },
            { "name": "ai-daily-budget", "type": 10, "value": 2.5 },
            { "name": "reaction-points", "type": 10, "value": 1 },
            { "name": "reset", "type": 3, "value": "archive-category" },
        ]))
        .expect("valid");
        assert_eq!(
            serde_json::Value::Object(change.values()),
            json!({
                "staff_role_id": "1000000000000000050",
                "ticket_category_id": "1000000000000000008",
                "max_open_tickets": 3,
                "ticket_close_action": "archive",
                "ai_daily_budget_usd": 2.5,
                "reaction_points": 1.0,
            })
        );
        assert_eq!(change.reset_columns(), ["ticket_archive_category_id"]);
        assert_eq!(
            change.changed(),
            [
                Setting::StaffRole,
                Setting::TicketCategory,
                Setting::OpenTicketLimit,
                Setting::CloseAction,
                Setting::ArchiveCategory,
                Setting::AiDailyBudget,
                Setting::ReactionPoints,
            ]
        );
        assert!(read(json!([])).expect("valid").is_empty());
        // Kept to the places the database stores.
        let rounded = read(json!([
            { "name": "message-points", "type": 10, "value": 0.125 },
            { "name": "ai-daily-budget", "type": 10, "value": 0.123_456 },
        ]))
        .expect("valid");
        assert_eq!(
            serde_json::Value::Object(rounded.values()),
            json!({ "message_points": 0.13, "ai_daily_budget_usd": 0.1235 })
        );
    }

    #[test]
    fn discords_payload_reads_as_its_changes() {
        let body = include_str!("../tests/fixtures/slash_settings.json");
        let Ok(crate::routing::Incoming::Interaction(interaction)) =
            crate::interaction::from_slice(body.as_bytes())
        else {
            panic!("an interaction");
        };
        let Some(twilight_model::application::interaction::InteractionData::ApplicationCommand(
            data,
        )) = &interaction.data
        else {
            panic!("a command");
        };
        let change = read_command(Id::new(GUILD), data).expect("valid");
        assert_eq!(
            change.set,
            [
                (
                    Setting::StaffRole,
                    SettingValue::Role(Id::new(1_000_000_000_000_000_050))
                ),
                (
                    Setting::TicketCategory,
                    SettingValue::Channel(Id::new(1_000_000_000_000_000_008))
                ),
                (Setting::OpenTicketLimit, SettingValue::Integer(2)),
                (Setting::AiDailyBudget, SettingValue::Number(2.5)),
            ]
        );
        assert_eq!(change.reset, [Setting::ArchiveCategory]);
        assert!(crate::routing::can_manage_guild(&interaction));
    }

    #[test]
    fn what_cannot_be_carried_out_says_why() {
        let cases = [
            (
                json!([{ "name": "open-ticket-limit", "type": 4, "value": 0 }]),
                "Open tickets per member must be between 1 and 25.",
            ),
            (
                json!([{ "name": "ai-daily-budget", "type": 10, "value": 5000.0 }]),
                "AI budget per day must be between 0 and 1000.",
            ),
            (
                json!([{ "name": "staff-role", "type": 8, "value": GUILD.to_string() }]),
                "@everyone cannot be the staff role: every member would be staff.",
            ),
            (
                json!([
                    { "name": "open-ticket-limit", "type": 4, "value": 2 },
                    { "name": "reset", "type": 3, "value": "open-ticket-limit" },
                ]),
                "Open tickets per member is both set and reset in one command: choose one.",
            ),
        ];
        for (options, message) in cases {
            assert_eq!(read(options).expect_err("refused").to_string(), message);
        }
        // A text channel where a category belongs (a stale registration).
        let mut text_channel = data(json!([
            { "name": "ticket-category", "type": 7, "value": "1000000000000000003" },
        ]));
        let resolved = serde_json::from_value(json!({ "channels": { "1000000000000000003": {
            "id": "1000000000000000003", "name": "general", "type": 0, "permissions": "0",
        } } }))
        .expect("resolved");
        text_channel.resolved = Some(resolved);
        assert!(matches!(
            read_command(Id::new(GUILD), &text_channel),
            Err(SettingsError::WrongType {
                option: "ticket-category",
                ..
            })
        ));
        // A stale registration: the wrong type, or an option we do not know.
        assert!(matches!(
            read(json!([{ "name": "staff-role", "type": 3, "value": "mods" }])),
            Err(SettingsError::WrongType {
                option: "staff-role",
                ..
            })
        ));
        assert!(matches!(
            read(json!([{ "name": "reset", "type": 3, "value": "colour" }])),
            Err(SettingsError::UnknownOption(name)) if name == "colour"
        ));
        assert!(matches!(
            read(json!([{ "name": "close-action", "type": 3, "value": "burn" }])),
            Err(SettingsError::WrongType { .. })
        ));
    }

    #[test]
    fn dollars_read_to_the_places_the_database_keeps() {
        for (amount, shown) in [
            (1.0, "$1.00"),
            (2.5, "$2.50"),
            (0.0, "$0.00"),
            (0.001, "$0.001"),
            (0.1235, "$0.1235"),
            (0.0001, "$0.0001"),
            (0.000_04, "$0.00"),
            (1000.0, "$1000.00"),
        ] {
            assert_eq!(usd(amount), shown, "{amount}");
        }
    }

    #[test]
    fn each_setting_reads_plainly() {
        let settings: GuildSettings = serde_json::from_value(json!({
            "guild_id": GUILD.to_string(),
            "staff_role_id": null,
            "ticket_category_id": "1000000000000000008",
            "max_open_tickets": 1,
            "ticket_close_action": "delete",
            "message_points": 1,
            "reaction_points": 0.5,
            "message_cooldown_secs": 0,
            "ai_daily_budget_usd": 1,
            "audit_cache_hours": 24,
        }))
        .expect("settings");
        assert_eq!(
            Setting::TicketCategory.show_plain(&settings),
            "category 1000000000000000008"
        );
        let shown: Vec<String> = Setting::ALL.iter().map(|s| s.show(&settings)).collect();
        assert_eq!(
            shown,
            [
                "not set: staff are the members with Manage Channels",
                "<#1000000000000000008>",
                "1",
                "their channel is deleted",
                "not set: archived channels stay in the ticket category",
                "not set: closed tickets are not announced",
                "$1.00",
                "24 h",
                "1",
                "0.5",
                "none",
            ]
        );
    }

    #[test]
    fn names_columns_and_descriptions_fit_discord_and_the_schema() {
        for setting in Setting::ALL {
            assert!(setting.option().len() <= 32);
            assert!(
                setting
                    .option()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-')
            );
            assert!(setting.description().chars().count() <= 100);
            assert_eq!(Setting::from_option(setting.option()), Some(setting));
        }
    }
}
