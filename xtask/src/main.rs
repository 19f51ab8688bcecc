//! `cargo xtask`: set up, build, test and run Community OS locally.
//! One module per command; shared pieces in `workspace` (paths), `shell`
//! (processes, progress) and `stack` (the local database + API).

mod bench;
mod bench_interactions;
mod bench_pipeline;
mod build_workers;
mod bundle_schema;
mod dev;
mod dev_secrets;
mod dev_vars;
mod disk;
mod interact;
mod migrate;
mod msrv;
mod register_commands;
mod seed;
mod setup;
mod shell;
mod simulate;
mod stack;
mod test;
mod workspace;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::setup::Needs;
use crate::workspace::Workspace;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Community OS development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what is missing: wasm32 target, PostgreSQL 15, Chromium,
    /// worker-build, wasm-bindgen, postrust, npm packages. Other commands
    /// install the part they need.
    Setup,
    /// Build both workers with worker-build (into <crate>/build/).
    BuildWorkers {
        /// Unoptimised build with debug info.
        #[arg(long)]
        dev: bool,
    },
    /// Manage the persistent local database + API.
    Stack {
        #[command(subcommand)]
        command: stack::StackCommand,
    },
    /// Apply pending database migrations.
    Migrate(migrate::MigrateArgs),
    /// Regenerate database/table_initial_setup.sql from the migrations.
    BundleSchema,
    /// Bulk-overwrite the Discord application's commands and print what changed.
    RegisterCommands(register_commands::RegisterArgs),
    /// Events/s ingested end to end: fake gateway → relay → worker → Postgres.
    BenchPipeline(bench_pipeline::PipelineArgs),
    /// Send signed interactions to the local worker, as Discord would, and print the answers.
    Interact(interact::InteractArgs),
    /// Benchmark the interactions worker against the tutorial-shaped reference worker (bench/README.md).
    BenchInteractions,
    /// Everything CI runs: fmt, clippy (native + wasm32), worker builds, tests.
    Test(test::TestArgs),
    /// Run the workers locally against a local database until Ctrl-C.
    Dev(dev::DevArgs),
    /// Load a synthetic community (default 100k members, 10M events) into the local database.
    Seed(seed::SeedArgs),
    /// Benchmarks with ratios against a baseline from the same run (--dashboard; all when none given).
    Bench(bench::BenchArgs),
    /// Check the workspace with the oldest Rust it declares (rust-version), natively and wasm32.
    Msrv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(code) = optimized_benchmark(&cli.command) {
        return code;
    }
    match run(&cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Benchmarks run their harness optimized: the load generator, the request
/// signing and the Discord/Gemini stand-ins live in this process and share
/// the machine with what is measured, so a debug build of them would take
/// CPU from the workers and add noise. A debug `cargo xtask bench…` runs
/// itself again from an optimized build, `[profile.harness]` (`None`: carry
/// on here).
fn optimized_benchmark(command: &Command) -> Option<ExitCode> {
    let bench = matches!(
        command,
        Command::Bench(_) | Command::BenchPipeline(_) | Command::BenchInteractions
    );
    if !bench || !cfg!(debug_assertions) {
        return None;
    }
    shell::progress("benchmarks run their harness optimized: cargo run --profile harness -p xtask");
    let status =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "run",
                "--quiet",
                "--profile",
                "harness",
                "--package",
                "xtask",
                "--",
            ])
            .args(std::env::args_os().skip(1))
            .status();
    Some(match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: running the release build of xtask: {error}");
            ExitCode::FAILURE
        }
    })
}

/// What each command needs installed first: only what it uses, so an
/// operator who deploys does not need the local stack's PostgreSQL server,
/// postrust or Chromium.
fn needs(command: &Command) -> Needs {
    match command {
        Command::Setup => Needs::EVERYTHING,
        // `test` runs setup itself, as a timed step; `msrv` needs only
        // rustup; the rest talk to Discord or read files.
        Command::Test(_)
        | Command::Msrv
        | Command::RegisterCommands(_)
        | Command::Interact(_)
        | Command::BundleSchema => Needs::NOTHING,
        Command::BuildWorkers { .. } => Needs::WORKERS,
        // `psql` for a remote database; the local cluster otherwise.
        Command::Migrate(args) if args.database_url.is_some() => Needs::PSQL,
        Command::Seed(args) if args.database_url.is_some() => Needs::PSQL,
        Command::Migrate(_) | Command::Seed(_) => Needs::POSTGRES,
        Command::Stack { .. } => Needs::DATABASE_AND_API,
        Command::Dev(_)
        | Command::Bench(_)
        | Command::BenchInteractions
        | Command::BenchPipeline(_) => Needs::LOCAL_SYSTEM,
    }
}

fn run(command: &Command) -> Result<()> {
    let workspace = Workspace::locate();
    setup::setup_for(&workspace, needs(command))?;
    match command {
        Command::Setup => Ok(()),
        Command::BuildWorkers { dev } => {
            let profile = if *dev {
                build_workers::Profile::Dev
            } else {
                build_workers::Profile::Release
            };
            build_workers::build_workers(&workspace, profile)
        }
        Command::Stack { command } => stack::command(&workspace, command),
        Command::Migrate(args) => migrate::command(&workspace, args),
        Command::BundleSchema => bundle_schema::command(&workspace),
        Command::RegisterCommands(args) => register_commands::command(&workspace, args),
        Command::Interact(args) => interact::command(&workspace, args),
        Command::BenchPipeline(args) => bench_pipeline::command(&workspace, args),
        Command::BenchInteractions => bench_interactions::run(&workspace, false),
        Command::Test(args) => test::command(&workspace, args),
        Command::Dev(args) => dev::command(&workspace, args),
        Command::Seed(args) => seed::command(&workspace, args),
        Command::Bench(args) => bench::command(&workspace, args),
        Command::Msrv => msrv::command(&workspace),
    }
}
