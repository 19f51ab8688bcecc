//! The application commands: one definition shared by registration
//! (`cargo xtask register-commands`) and the router.

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoice, CommandOptionChoiceValue, CommandOptionType,
    CommandOptionValue, CommandType,
};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::oauth::ApplicationIntegrationType;

use crate::settings::{self, Kind, Setting, TicketCloseAction};

/// `/ticket-panel`: posts the "Open ticket" panel (staff).
pub const TICKET_PANEL: &str = "ticket-panel";
/// `/close`: closes the ticket whose channel it is used in.
pub const CLOSE: &str = "close";
/// `/audit text:<...>`: checks a text against the compliance policy.
pub const AUDIT: &str = "audit";
/// The `/audit` option holding the text.
pub const AUDIT_TEXT_OPTION: &str = "text";
/// The `/audit` option that shows the verdict to the whole channel.
pub const AUDIT_PUBLIC_OPTION: &str = "public";
/// The longest `/audit` text Discord accepts.
pub const AUDIT_TEXT_MAX: u16 = 4000;
/// The message context-menu command.
pub const AUDIT_MESSAGE: &str = "Audit message";
/// `/settings`: shows or changes the server's settings (Manage Server).
pub const SETTINGS: &str = "settings";

fn guild_command(kind: CommandType, name: &str, description: &str) -> Command {
    #[allow(deprecated)] // `dm_permission` must be named to build the struct
    Command {
        application_id: None,
        contexts: Some(vec![InteractionContextType::Guild]),
        default_member_permissions: None,
        description: description.to_owned(),
        description_localizations: None,
        dm_permission: None,
        guild_id: None,
        id: None,
        integration_types: Some(vec![ApplicationIntegrationType::GuildInstall]),
        kind,
        name: name.to_owned(),
        name_localizations: None,
        nsfw: None,
        options: Vec::new(),
        // Assigned by Discord; required by the model, ignored on registration.
        version: Id::new(1),
    }
}

pub fn ticket_panel() -> Command {
    Command {
        default_member_permissions: Some(Permissions::MANAGE_CHANNELS),
        ..guild_command(
            CommandType::ChatInput,
            TICKET_PANEL,
            "Post the panel members use to open a support ticket",
        )
    }
}

pub fn close() -> Command {
    guild_command(
        CommandType::ChatInput,
        CLOSE,
        "Close the ticket this channel belongs to",
    )
}

pub fn audit() -> Command {
    Command {
        options: vec![
            CommandOption {
                max_length: Some(AUDIT_TEXT_MAX),
                min_length: Some(1),
                required: Some(true),
                ..option(
                    CommandOptionType::String,
                    AUDIT_TEXT_OPTION,
                    "The text to check (a post, an ad, a caption)",
                )
            },
            option(
                CommandOptionType::Boolean,
                AUDIT_PUBLIC_OPTION,
                "Show the verdict to everyone in the channel (default: only to you)",
            ),
        ],
        ..guild_command(
            CommandType::ChatInput,
            AUDIT,
            "Check a text for compliance issues: Green, Yellow or Red",
        )
    }
}

fn option(kind: CommandOptionType, name: &str, description: &str) -> CommandOption {
    CommandOption {
        autocomplete: None,
        channel_types: None,
        choices: None,
        description: description.to_owned(),
        description_localizations: None,
        kind,
        max_length: None,
        max_value: None,
        min_length: None,
        min_value: None,
        name: name.to_owned(),
        name_localizations: None,
        options: None,
        file_types: None,
        required: Some(false),
    }
}

fn choices(names: impl IntoIterator<Item = &'static str>) -> Option<Vec<CommandOptionChoice>> {
    Some(
        names
            .into_iter()
            .map(|name| CommandOptionChoice {
                name: name.to_owned(),
                name_localizations: None,
                value: CommandOptionChoiceValue::String(name.to_owned()),
            })
            .collect(),
    )
}

/// `/settings`: one optional option per setting ([`Setting::ALL`], with the
/// limits the worker checks), and `reset` to return one to its default.
/// With no option it shows the settings. Only Manage Server sees it.
pub fn settings() -> Command {
    let mut options: Vec<CommandOption> = Setting::ALL
        .into_iter()
        .map(|setting| {
            let kind = setting.kind();
            let base = option(kind.option_type(), setting.option(), setting.description());
            match kind {
                Kind::Role => base,
                Kind::Category | Kind::TextChannel => CommandOption {
                    channel_types: kind.channel_type().map(|channel| vec![channel]),
                    ..base
                },
                Kind::Integer { min, max } => CommandOption {
                    min_value: Some(CommandOptionValue::Integer(min)),
                    max_value: Some(CommandOptionValue::Integer(max)),
                    ..base
                },
                Kind::Number { min, max, .. } => CommandOption {
                    min_value: Some(CommandOptionValue::Number(min)),
                    max_value: Some(CommandOptionValue::Number(max)),
                    ..base
                },
                Kind::CloseAction => CommandOption {
                    choices: choices(TicketCloseAction::ALL.map(TicketCloseAction::as_str)),
                    ..base
                },
            }
        })
        .collect();
    options.push(CommandOption {
        choices: choices(Setting::ALL.map(Setting::option)),
        ..option(
            CommandOptionType::String,
            settings::RESET_OPTION,
            "Return one setting to its default",
        )
    });
    Command {
        default_member_permissions: Some(Permissions::MANAGE_GUILD),
        options,
        ..guild_command(
            CommandType::ChatInput,
            SETTINGS,
            "Show or change this server's Community OS settings",
        )
    }
}

/// Context-menu commands have no description.
pub fn audit_message() -> Command {
    guild_command(CommandType::Message, AUDIT_MESSAGE, "")
}

/// Every command, as registration overwrites them.
pub fn all() -> Vec<Command> {
    vec![
        ticket_panel(),
        close(),
        audit(),
        audit_message(),
        settings(),
    ]
}

/// What a bulk overwrite changes, by command name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandChanges {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}

impl CommandChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// Where commands are registered: for all servers, or in one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Guild,
}

/// The parts of a command a registration sets (ids, versions and
/// Discord-filled defaults left out), for comparing. In a guild, the fields
/// Discord documents as global-only (`contexts`, `integration_types`) are
/// left out too: whatever it answers for them there, they change nothing.
fn registered_shape(command: &Command, scope: Scope) -> serde_json::Value {
    let mut value = serde_json::to_value(command).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for key in [
            "id",
            "application_id",
            "guild_id",
            "version",
            "dm_permission",
            "nsfw",
        ] {
            map.remove(key);
        }
        if scope == Scope::Guild {
            map.remove("contexts");
            map.remove("integration_types");
        }
        map.retain(|_, v| !v.is_null() && v != &serde_json::json!([]));
    }
    value
}

/// Compare the registered commands with the desired ones (same name and
/// type = same command), registered in `scope`.
pub fn diff(existing: &[Command], desired: &[Command], scope: Scope) -> CommandChanges {
    let key = |c: &Command| (c.name.clone(), c.kind);
    let mut changes = CommandChanges::default();
    for want in desired {
        match existing.iter().find(|have| key(have) == key(want)) {
            None => changes.added.push(want.name.clone()),
            Some(have) if registered_shape(have, scope) != registered_shape(want, scope) => {
                changes.updated.push(want.name.clone())
            }
            Some(_) => changes.unchanged.push(want.name.clone()),
        }
    }
    for have in existing {
        if !desired.iter().any(|want| key(want) == key(have)) {
            changes.removed.push(have.name.clone());
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_added_updated_removed_and_unchanged() {
        let mut old_audit = audit();
        old_audit.description = "an older description".to_owned();
        let mut registered_close = close();
        registered_close.id = Some(Id::new(99));
        registered_close.version = Id::new(7);
        let mut stale = close();
        stale.name = "ticket-stats".to_owned();
        let existing = vec![old_audit, registered_close, stale];
        let changes = diff(&existing, &all(), Scope::Global);
        assert_eq!(changes.added, ["ticket-panel", "Audit message", "settings"]);
        assert_eq!(changes.updated, ["audit"]);
        assert_eq!(changes.removed, ["ticket-stats"]);
        assert_eq!(
            changes.unchanged,
            ["close"],
            "ids and versions are Discord's, not a change"
        );
        assert!(diff(&all(), &all(), Scope::Global).is_empty());
        // In a guild, Discord may leave out the global-only fields: still
        // the same commands there, though not globally.
        let answered: Vec<Command> = all()
            .into_iter()
            .map(|mut c| {
                c.contexts = None;
                c.integration_types = None;
                c
            })
            .collect();
        assert!(diff(&answered, &all(), Scope::Guild).is_empty());
        assert_eq!(
            diff(&answered, &all(), Scope::Global).updated.len(),
            all().len()
        );
    }

    #[test]
    fn definitions_serialize_as_discord_expects() {
        let commands = serde_json::to_value(all()).expect("serializes");
        let cases = [
            (0, TICKET_PANEL, 1, json!("16")),
            (1, CLOSE, 1, json!(null)),
            (2, AUDIT, 1, json!(null)),
            (3, AUDIT_MESSAGE, 3, json!(null)),
            (4, SETTINGS, 1, json!("32")),
        ];
        for (index, name, kind, permissions) in cases {
            let command = &commands[index];
            assert_eq!(command["name"], name);
            assert_eq!(command["type"], kind, "{name}");
            assert_eq!(command["default_member_permissions"], permissions, "{name}");
            assert_eq!(command["contexts"], json!([0]), "{name}: guild only");
            assert_eq!(command["integration_types"], json!([0]), "{name}");
        }
        let text = &commands[2]["options"][0];
        assert_eq!(text["name"], AUDIT_TEXT_OPTION);
        assert_eq!(text["type"], 3);
        assert_eq!(text["required"], true);
        assert_eq!(text["max_length"], 4000);
        let public = &commands[2]["options"][1];
        assert_eq!(
            (&public["name"], &public["type"], &public["required"]),
            (&json!("public"), &json!(5), &json!(false))
        );
        assert_eq!(commands[3]["description"], "");
        // /settings: every option optional, typed, and within its limits.
        let options = commands[4]["options"].as_array().expect("options");
        assert_eq!(options.len(), 12);
        assert!(options.iter().all(|o| o["required"] == false));
        let by_name = |name: &str| {
            options
                .iter()
                .find(|o| o["name"] == name)
                .unwrap_or_else(|| panic!("{name}"))
                .clone()
        };
        assert_eq!(by_name("staff-role")["type"], 8);
        assert_eq!(by_name("ticket-category")["channel_types"], json!([4]));
        assert_eq!(by_name("archive-category")["channel_types"], json!([4]));
        for (name, kind, min, max) in [
            ("ai-daily-budget", 10, json!(0.0), json!(1000.0)),
            ("message-points", 10, json!(0.0), json!(100.0)),
            ("reaction-points", 10, json!(0.0), json!(100.0)),
            ("audit-cache-hours", 4, json!(0), json!(720)),
            ("message-cooldown", 4, json!(0), json!(3600)),
        ] {
            let option = by_name(name);
            assert_eq!(
                (&option["type"], &option["min_value"], &option["max_value"]),
                (&json!(kind), &min, &max),
                "{name}"
            );
        }
        let limit = by_name("open-ticket-limit");
        assert_eq!(
            (&limit["type"], &limit["min_value"], &limit["max_value"]),
            (&json!(4), &json!(1), &json!(25))
        );
        assert_eq!(by_name("ai-daily-budget")["type"], 10);
        assert_eq!(
            by_name("close-action")["choices"],
            json!([{ "name": "delete", "value": "delete" }, { "name": "archive", "value": "archive" }])
        );
        assert_eq!(
            by_name("reset")["choices"].as_array().map(Vec::len),
            Some(11)
        );
        assert_eq!(by_name("ticket-log-channel")["channel_types"], json!([0]));
    }

    #[test]
    fn names_follow_discord_rules() {
        for command in all() {
            let name = &command.name;
            assert!((1..=32).contains(&name.chars().count()), "{name}");
            if command.kind == CommandType::ChatInput {
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                    "{name}"
                );
                assert!(
                    (1..=100).contains(&command.description.chars().count()),
                    "{name}"
                );
            }
        }
    }
}
