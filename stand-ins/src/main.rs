//! `stand-ins`: runs the Discord and Gemini stand-ins until Ctrl-C, for
//! `cargo xtask dev` and for trying the worker by hand.

use std::sync::mpsc;

use anyhow::{Context as _, Result};
use clap::Parser;
use stand_ins::{DEFAULT_DISCORD_PORT, DEFAULT_GEMINI_PORT, StandIns};

/// Local stand-ins for Discord's REST API and Gemini.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port for the Discord stand-in (0: any free port).
    #[arg(long, default_value_t = DEFAULT_DISCORD_PORT)]
    discord_port: u16,
    /// Port for the Gemini stand-in (0: any free port).
    #[arg(long, default_value_t = DEFAULT_GEMINI_PORT)]
    gemini_port: u16,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let (stop, stopped) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .context("installing the Ctrl-C handler")?;

    let stand_ins = StandIns::start_on(args.discord_port, args.gemini_port)?;
    // One `NAME=value` per line, so a supervising process can read them.
    println!("DISCORD_API_BASE={}", stand_ins.discord_api_base());
    println!("GEMINI_API_BASE={}", stand_ins.gemini_api_base());
    eprintln!(
        "stand-ins: control API at {0}/_stand_in/ and {1}/_stand_in/; Ctrl-C to stop",
        stand_ins.discord_url(),
        stand_ins.gemini_url()
    );

    stopped.recv().context("waiting for Ctrl-C")?;
    drop(stand_ins);
    eprintln!("stand-ins: stopped");
    Ok(())
}
