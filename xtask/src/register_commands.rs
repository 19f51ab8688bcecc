//! `cargo xtask register-commands [--guild ID]`: bulk-overwrite the
//! application's commands from the definitions in `community-core` (the same
//! ones the router matches) and print what changed.
//!
//! Reads `DISCORD_APPLICATION_ID`, `DISCORD_BOT_TOKEN` and `DISCORD_API_BASE`
//! from the environment or `.dev.vars`. `--guild` registers in one server
//! (instant, for testing); without it the commands are global. `--clear`
//! removes them instead.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use community_clients::{DiscordClient, Sleep};
use community_core::config::Reader;
use twilight_model::id::Id;

use crate::dev_vars;
use crate::shell::progress;
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub(crate) struct RegisterArgs {
    /// Register in this guild only (takes effect at once) instead of globally.
    #[arg(long)]
    guild: Option<u64>,
    /// Remove the commands instead (with --guild: that guild's, say after
    /// testing there, since a guild's commands show beside the global ones).
    #[arg(long)]
    clear: bool,
}

#[derive(Clone, Copy)]
struct TokioSleep;

impl Sleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> {
        tokio::time::sleep(duration)
    }
}

pub(crate) fn command(workspace: &Workspace, args: &RegisterArgs) -> Result<()> {
    let file = dev_vars::load(workspace.root(), "interactions")?;
    let lookup = |name: &str| std::env::var(name).ok().or_else(|| file.get(name).cloned());
    let report = register(&lookup, args)?;
    print!("{report}");
    Ok(())
}

/// Registers (or with `--clear` removes) the commands as `args` say, with
/// the configuration `lookup` gives, and returns what changed, a line per
/// kind of change.
fn register(lookup: &dyn Fn(&str) -> Option<String>, args: &RegisterArgs) -> Result<String> {
    let mut read = Reader::new(lookup);
    let application = read.parse_with("DISCORD_APPLICATION_ID", |v| {
        v.parse::<u64>()
            .ok()
            .and_then(Id::new_checked)
            .ok_or_else(|| "not a Discord id".to_owned())
    });
    let token = read.secret("DISCORD_BOT_TOKEN", 1);
    let base = read.url("DISCORD_API_BASE", Some("https://discord.com/api/v10"));
    read.finish()?;
    let application = application.ok_or_else(|| anyhow!("DISCORD_APPLICATION_ID is missing"))?;
    let guild = match args.guild {
        Some(id) => Some(Id::new_checked(id).context("--guild must be a Discord id")?),
        None => None,
    };

    // Exactly one TLS provider, as the relay does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let desired = if args.clear {
        Vec::new()
    } else {
        community_core::commands::all()
    };
    let where_ = guild.map_or_else(|| "globally".to_owned(), |g| format!("in guild {g}"));
    progress(if args.clear {
        format!("removing the commands registered {where_} via {base}")
    } else {
        format!("registering {} commands {where_} via {base}", desired.len())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let changes = runtime.block_on(async {
        DiscordClient::new(&base, token, TokioSleep)
            .register_commands(application, guild, &desired)
            .await
    })?;
    let mut report = String::new();
    for (label, names) in [
        ("added", &changes.added),
        ("updated", &changes.updated),
        ("removed", &changes.removed),
        ("unchanged", &changes.unchanged),
    ] {
        if !names.is_empty() {
            report.push_str(&format!("  {label:>9}: {}\n", names.join(", ")));
        }
    }
    if changes.is_empty() {
        report.push_str("nothing changed\n");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use stand_ins::StandIns;

    use super::*;

    const APP: u64 = 1_300_000_000_000_000_001;
    const GUILD: u64 = 1_000_000_000_000_000_001;

    fn args(guild: Option<u64>, clear: bool) -> RegisterArgs {
        RegisterArgs { guild, clear }
    }

    #[test]
    fn registers_in_a_guild_reports_changes_and_clears_them() {
        let stand_ins = StandIns::start().expect("stand-ins");
        let vars = HashMap::from([
            ("DISCORD_APPLICATION_ID", APP.to_string()),
            ("DISCORD_BOT_TOKEN", "bot-token".to_owned()),
            ("DISCORD_API_BASE", stand_ins.discord_api_base()),
        ]);
        let lookup = |name: &str| vars.get(name).cloned();

        let first = register(&lookup, &args(Some(GUILD), false)).expect("registered");
        assert_eq!(
            first,
            "      added: ticket-panel, close, audit, Audit message, settings\n"
        );
        let again = register(&lookup, &args(Some(GUILD), false)).expect("registered again");
        assert_eq!(
            again,
            "  unchanged: ticket-panel, close, audit, Audit message, settings\nnothing changed\n"
        );
        let puts: Vec<_> = stand_ins
            .discord_requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .collect();
        assert_eq!(puts.len(), 2);
        assert_eq!(
            puts[0].path,
            format!("/api/v10/applications/{APP}/guilds/{GUILD}/commands")
        );
        assert_eq!(puts[0].header("authorization"), Some("Bot bot-token"));
        assert_eq!(puts[0].body.as_array().map(Vec::len), Some(5));

        let cleared = register(&lookup, &args(Some(GUILD), true)).expect("cleared");
        assert_eq!(
            cleared,
            "    removed: ticket-panel, close, audit, Audit message, settings\n"
        );
        let last = stand_ins
            .discord_requests()
            .into_iter()
            .rfind(|r| r.method == "PUT")
            .expect("a PUT");
        assert_eq!(last.body, serde_json::json!([]));
        // The global commands were never touched.
        assert!(
            stand_ins
                .discord_requests()
                .iter()
                .all(|r| r.path.contains("/guilds/"))
        );
    }

    #[test]
    fn a_missing_or_malformed_variable_is_named_before_any_call() {
        let stand_ins = StandIns::start().expect("stand-ins");
        let vars = HashMap::from([
            ("DISCORD_APPLICATION_ID", "not-an-id".to_owned()),
            ("DISCORD_API_BASE", stand_ins.discord_api_base()),
        ]);
        let lookup = |name: &str| vars.get(name).cloned();
        let err = register(&lookup, &args(None, false))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("DISCORD_APPLICATION_ID"), "{err}");
        assert!(err.contains("DISCORD_BOT_TOKEN"), "{err}");
        assert!(stand_ins.discord_requests().is_empty());
    }
}
