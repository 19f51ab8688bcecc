//! `cargo xtask register-commands [--guild ID]`: bulk-overwrite the
//! application's commands from the definitions in `community-core` (the same
//! ones the router matches) and print what changed.
//!
//! Reads `DISCORD_APPLICATION_ID`, `DISCORD_BOT_TOKEN` and `DISCORD_API_BASE`
//! from the environment or `.dev.vars`. `--guild` registers in one server
//! (instant, for testing); without it the commands are global.

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
    let mut read = Reader::new(&lookup);
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
    let desired = community_core::commands::all();
    let where_ = guild.map_or_else(|| "globally".to_owned(), |g| format!("in guild {g}"));
    progress(format!(
        "registering {} commands {where_} via {base}",
        desired.len()
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let changes = runtime.block_on(async {
        DiscordClient::new(&base, token, TokioSleep)
            .register_commands(application, guild, &desired)
            .await
    })?;
    for (label, names) in [
        ("added", &changes.added),
        ("updated", &changes.updated),
        ("removed", &changes.removed),
        ("unchanged", &changes.unchanged),
    ] {
        if !names.is_empty() {
            println!("  {label:>9}: {}", names.join(", "));
        }
    }
    if changes.is_empty() {
        println!("nothing changed");
    }
    Ok(())
}
