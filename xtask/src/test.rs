//! `cargo xtask test`: everything CI checks, in order, with timings. The
//! throwaway cluster is stopped on every exit path (failure, Ctrl-C, SIGTERM).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use local_stack::jwt::LOCAL_JWT_SECRET;
use local_stack::pg::Cluster;
use local_stack::process::{free_port, reap_registered};
use local_stack::{env, postrust};

use crate::build_workers::{Profile, build_workers};
use crate::migrate::migrate;
use crate::setup::setup;
use crate::shell::{check_interrupted, interrupted, progress, run, stdout_of, trap_interrupts};
use crate::workspace::Workspace;

/// The database every test database is cloned from.
const TEMPLATE_DATABASE: &str = "community_template";

/// The workers and every library they link must build for the Workers runtime.
const WASM_PACKAGES: [&str; 6] = [
    "community-core",
    "community-store",
    "community-clients",
    "community-fetch",
    "interactions-worker",
    "dashboard-worker",
];

#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// Skip `cargo fmt --check` and both clippy runs.
    #[arg(long)]
    skip_lint: bool,
    /// Skip building the workers (tests use whatever `build/` holds).
    #[arg(long)]
    no_build: bool,
    /// Passed to `cargo nextest run` (or `cargo test`), e.g. `-- -p local-stack`
    /// or `-- health` (a test name filter).
    #[arg(last = true)]
    test_args: Vec<String>,
}

pub(crate) fn command(workspace: &Workspace, args: &TestArgs) -> Result<()> {
    trap_interrupts(|| eprintln!("\n==> interrupted: stopping"))?;
    let mut steps = Steps::default();
    let result = run_steps(workspace, args, &mut steps);
    steps.print_summary();
    result
}

fn run_steps(workspace: &Workspace, args: &TestArgs, steps: &mut Steps) -> Result<()> {
    steps.run("setup", || setup(workspace))?;
    if args.skip_lint {
        steps.skip("fmt + clippy");
    } else {
        steps.run("fmt", || {
            run(cargo(workspace).args(["fmt", "--all", "--check"]))
        })?;
        steps.run("clippy (native)", || {
            run(cargo(workspace).args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        steps.run("clippy (wasm32)", || {
            let mut command = cargo(workspace);
            command.args(["clippy", "--target", "wasm32-unknown-unknown"]);
            for package in WASM_PACKAGES {
                command.args(["-p", package]);
            }
            run(command.args(["--", "-D", "warnings"]))
        })?;
    }
    if args.no_build {
        steps.skip("build workers");
    } else {
        steps.run("build workers", || {
            build_workers(workspace, Profile::Release)
        })?;
        steps.run("deploy dry-run", || {
            crate::build_workers::deploy_dry_run(workspace)
        })?;
    }

    // Guards live until the end of this function, whatever happens in between.
    let temp = tempfile::Builder::new()
        .prefix("community-os-test-")
        .tempdir()
        .context("creating a temporary directory")?;
    let run_dir = temp.path().join("run");
    let cluster = steps.run("database", || test_database(workspace, temp.path()))?;

    let result = steps.run("tests", || {
        let mut command = test_runner(workspace, &args.test_args);
        command
            .env(env::PG_URL, cluster.url("postgres"))
            .env(env::PG_TEMPLATE, TEMPLATE_DATABASE)
            .env(env::PG_BIN_DIR, cluster.bins().dir())
            .env(env::POSTRUST_BIN, postrust::locate_postrust()?)
            .env(env::JWT_SECRET, LOCAL_JWT_SECRET)
            .env(env::ROOT, workspace.root())
            .env(env::WRANGLER, workspace.node_bin("wrangler"))
            .env(env::RUN_DIR, &run_dir);
        run(&mut command)
    });
    let leftovers = reap_registered(&run_dir);
    if !leftovers.is_empty() {
        eprintln!("    stopped servers left behind by killed tests: {leftovers:?}");
    }
    drop(cluster);
    result
}

/// A throwaway cluster with the template database migrated.
fn test_database(workspace: &Workspace, dir: &std::path::Path) -> Result<Cluster> {
    let port = free_port()?;
    progress(format!(
        "starting a throwaway PostgreSQL on 127.0.0.1:{port}"
    ));
    let cluster = Cluster::start(dir.join("postgres"), port)?;
    cluster.create_database(TEMPLATE_DATABASE, None)?;
    migrate(workspace, &cluster.psql(TEMPLATE_DATABASE), false)?;
    Ok(cluster)
}

fn cargo(workspace: &Workspace) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace.root());
    command
}

/// `cargo nextest run --workspace`, or `cargo test --workspace` without
/// nextest, reporting every failure rather than the first; `--workspace` is left out when the extra arguments pick packages.
fn test_runner(workspace: &Workspace, extra: &[String]) -> Command {
    let has_nextest = stdout_of(cargo(workspace).args(["nextest", "--version"])).is_some();
    let mut command = cargo(workspace);
    if has_nextest {
        command.args(["nextest", "run", "--no-fail-fast"]);
    } else {
        println!("    (cargo-nextest not installed: using cargo test)");
        command.args(["test", "--no-fail-fast"]);
    }
    let picks_packages = extra
        .iter()
        .any(|arg| arg.starts_with("-p") || arg.starts_with("--package"));
    if !picks_packages {
        command.arg("--workspace");
    }
    command.args(extra);
    command
}

/// Step results for the summary.
#[derive(Debug, Default)]
struct Steps {
    done: Vec<(String, Option<Duration>, &'static str)>,
}

impl Steps {
    /// Runs one step; on failure the error names it.
    fn run<T>(&mut self, name: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        check_interrupted()?;
        progress(name);
        let started = Instant::now();
        let result = match step() {
            Ok(value) => check_interrupted().map(|()| value),
            Err(error) if interrupted() => Err(error.context("interrupted")),
            Err(error) => Err(error),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(_) if interrupted() => "INTERRUPTED",
            Err(_) => "FAILED",
        };
        self.done
            .push((name.to_owned(), Some(started.elapsed()), outcome));
        result.with_context(|| format!("step `{name}` failed"))
    }

    fn skip(&mut self, name: &str) {
        self.done.push((name.to_owned(), None, "skipped"));
    }

    fn print_summary(&self) {
        println!("\n==> summary");
        let mut total = Duration::ZERO;
        for (name, took, outcome) in &self.done {
            let took = took.map_or_else(String::new, |took| {
                total += took;
                format!("{:.1} s", took.as_secs_f64())
            });
            println!("    {name:<18} {took:>9}  {outcome}");
        }
        println!(
            "    {:<18} {:>9}",
            "total",
            format!("{:.1} s", total.as_secs_f64())
        );
        if let Some((_, _, outcome)) = self
            .done
            .iter()
            .find(|(_, _, outcome)| *outcome != "ok" && *outcome != "skipped")
        {
            println!("    {outcome}");
        }
    }
}
