//! `/settings`: members with Manage Server show or change the server's
//! settings from Discord. What the options mean, their limits and how each
//! setting reads are the core's (`community_core::settings`); this is the
//! database call and the answer.

use std::rc::Rc;

use community_clients::Sleep;
use community_core::settings::{self, Setting};
use community_core::{responses, routing};
use community_store::LogLevel;
use twilight_model::application::interaction::{Interaction, InteractionData};

use crate::app::{App, INTERNAL_ERROR_MESSAGE, Reply};

/// Shows the settings (no option given), or changes what the options ask
/// and shows the result. Answered at once: a database call to read the
/// settings, and one to change them.
pub async fn settings<S: Sleep + 'static>(app: &Rc<App<S>>, interaction: &Interaction) -> Reply {
    let (Some(guild), Some(member)) = (
        routing::guild_id(interaction),
        routing::member_id(interaction),
    ) else {
        return Reply::ephemeral("Settings belong to a server: use `/settings` inside one.");
    };
    // Discord shows the command to Manage Server only, but a server's admins
    // can grant it to anyone under Integrations; who may change how tickets,
    // scores and the AI budget work stays with Manage Server.
    if !routing::can_manage_guild(interaction) {
        return Reply::ephemeral(
            "Only members with Manage Server can see or change these settings.",
        );
    }
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        return Reply::ephemeral(INTERNAL_ERROR_MESSAGE);
    };
    let change = match settings::read_command(guild, data) {
        Ok(change) => change,
        Err(refused) => return Reply::ephemeral(&refused.to_string()),
    };
    let changed = change.changed();
    let (values, reset) = (change.values(), change.reset_columns());
    // The settings as they were, to tell what the change did: a reset of a
    // setting already at its default changes nothing, and the answer says so.
    let before = app.store.guild_settings(guild).await;
    let result = match before {
        Ok(before) if change.is_empty() => Ok((before.clone(), before)),
        Ok(before) => app
            .store
            .set_guild_settings(guild, &values, &reset)
            .await
            .map(|after| (before, after)),
        Err(err) => Err(err),
    };
    match result {
        Ok((before, after)) => {
            let updated = change.updated(&before, &after);
            let later = (!updated.is_empty()).then(|| {
                let app = Rc::clone(app);
                let fields = serde_json::json!({
                    "guild_id": guild,
                    "by": member,
                    "set": values,
                    "reset": reset,
                });
                Box::pin(async move { app.log(LogLevel::Info, "settings changed", fields).await })
                    as crate::app::Later
            });
            Reply::interaction(
                &responses::settings_message(&before, &after, &change),
                later,
            )
        }
        Err(err) => {
            app.log_error(
                if changed.is_empty() {
                    "reading guild settings"
                } else {
                    "changing guild settings"
                },
                &err,
                serde_json::json!({
                    "guild_id": guild,
                    "changed": changed.iter().copied().map(Setting::option).collect::<Vec<_>>(),
                }),
            )
            .await;
            Reply::ephemeral(INTERNAL_ERROR_MESSAGE)
        }
    }
}
