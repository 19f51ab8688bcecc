//! `cargo xtask dev`: the whole system on this machine. Builds the workers,
//! brings up the local database + API (persistent, in `.state/`), applies
//! pending migrations, serves both workers under `wrangler dev`, and stops
//! everything it started on Ctrl-C.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, Seek as _, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use local_stack::jwt::{self, LOCAL_JWT_SECRET};
use local_stack::{WranglerDev, http};

use crate::build_workers::{Profile, build_workers};
use crate::dev_secrets::{self, DevSecrets};
use crate::dev_vars;
use crate::shell::{check_interrupted, progress, trap_interrupts};
use crate::simulate::{self, Simulation};
use crate::stack::{DevStack, Ports};
use crate::workspace::{WORKERS, Worker, Workspace};

/// Variables pointing the workers at the local stack (always win over `.dev.vars`).
const REST_URL_VAR: &str = "SUPABASE_REST_URL";
const SERVICE_KEY_VAR: &str = "SUPABASE_SERVICE_ROLE_KEY";

#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    #[command(flatten)]
    ports: Ports,
    /// Wipe the local database first.
    #[arg(long)]
    fresh: bool,
    /// Serve the workers' existing build/ output.
    #[arg(long)]
    no_build: bool,
    /// Restart a worker's `wrangler dev` once it holds more than this many
    /// MB (0: never). wrangler 4.86's dev server grows with every request,
    /// about 12 MB a minute for the interactions worker under the simulated
    /// community; a restart takes a few seconds, and the relay delivers what
    /// it could not send meanwhile.
    #[arg(long, value_name = "MB", default_value_t = 1500)]
    restart_wrangler_above_mb: u64,
}

/// How often `dev` looks at the workers' memory.
const MEMORY_CHECK_EVERY: Duration = Duration::from_secs(60);

pub(crate) fn command(workspace: &Workspace, args: &DevArgs) -> Result<()> {
    let (stop_tx, stop_rx) = mpsc::channel();
    trap_interrupts(move || {
        let _ = stop_tx.send(());
    })?;
    if !args.no_build {
        build_workers(workspace, Profile::Release)?;
    }
    check_interrupted()?;
    let mut stack = DevStack::up(workspace, args.ports, args.fresh)?;
    let secrets = dev_secrets::load_or_create(&workspace.state_dir())?;
    let real = RealServices::detect(workspace)?;
    seed_history_once(&stack)?;
    prepare_guild(&stack)?;

    // Discord's REST API and Gemini: local stand-ins unless real keys are given.
    let stand_ins = Arc::new(
        stand_ins::StandIns::start_on(
            stand_ins::DEFAULT_DISCORD_PORT,
            stand_ins::DEFAULT_GEMINI_PORT,
        )
        .context("starting the Discord and Gemini stand-ins")?,
    );
    let locals = local_values(&secrets, &stand_ins, &real);

    let mut workers = Vec::new();
    for worker in WORKERS {
        check_interrupted()?;
        workers.push(RunningWorker::start(
            workspace, worker, &stack, &locals, false,
        )?);
    }

    // The gateway: a simulated community, unless a real bot token is given.
    let simulation = if real.discord {
        None
    } else {
        Some(Simulation::start(simulate::Wiring {
            gateway_port: SIMULATED_GATEWAY_PORT,
            interactions_url: format!("http://127.0.0.1:{}", WORKERS[0].dev_port),
            signer_seed: secrets.signer_seed,
            stand_ins: Arc::clone(&stand_ins),
        })?)
    };
    let mut relay = Relay::start(
        workspace,
        &secrets,
        simulation.as_ref().map(|s| s.gateway_url.as_str()),
    )?;

    println!();
    stack.print_summary();
    for running in &workers {
        println!(
            "    {:<12} {} (log: {})",
            running.worker.wrangler_env,
            running.dev.url(),
            running.log.display()
        );
    }
    println!(
        "    {:<12} log: {}",
        "relay",
        relay.process.log_path().display()
    );
    real.print();
    println!();
    println!(
        "  Dashboard:      http://127.0.0.1:{}/",
        WORKERS[1].dev_port
    );
    if real.admin_password {
        println!("  Admin password: from ADMIN_PASSWORD");
    } else {
        println!("  Admin password: {}", secrets.admin_password);
    }
    println!(
        "  Try commands:   cargo xtask interact --help   (e.g. cargo xtask interact audit \"Guaranteed returns!\")"
    );
    progress("ready; Ctrl-C stops everything");

    let mut memory_checked = Instant::now();
    loop {
        match stop_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                stack.ensure_running()?;
                for running in &mut workers {
                    running.dev.ensure_running()?;
                }
                relay.process.ensure_running()?;
                if args.restart_wrangler_above_mb > 0
                    && memory_checked.elapsed() >= MEMORY_CHECK_EVERY
                {
                    memory_checked = Instant::now();
                    let limit_mb = args.restart_wrangler_above_mb;
                    restart_oversized(&mut workers, limit_mb, workspace, &stack, &locals)?;
                }
            }
        }
    }
    progress("stopping");
    drop(relay);
    drop(simulation);
    drop(workers);
    drop(stand_ins);
    drop(stack);
    Ok(())
}

/// Serves again each worker whose `wrangler dev` holds more than `limit_mb`.
fn restart_oversized(
    workers: &mut Vec<RunningWorker>,
    limit_mb: u64,
    workspace: &Workspace,
    stack: &DevStack,
    locals: &BTreeMap<&'static str, String>,
) -> Result<()> {
    for at in 0..workers.len() {
        let held_mb = workers[at].dev.resident_bytes() / (1024 * 1024);
        if held_mb <= limit_mb {
            continue;
        }
        let worker = workers[at].worker;
        progress(format!(
            "restarting {}: its wrangler dev holds {held_mb} MB, over the {limit_mb} MB of \
             --restart-wrangler-above-mb (wrangler's dev server grows with every request; \
             see docs/roadmap.md)",
            worker.wrangler_env,
        ));
        // The old one lets go of its port and its log first.
        drop(workers.remove(at));
        workers.insert(
            at,
            RunningWorker::start(workspace, worker, stack, locals, true)?,
        );
    }
    Ok(())
}

/// One worker under wrangler dev, its output echoed with a prefix.
#[derive(Debug)]
struct RunningWorker {
    worker: Worker,
    log: PathBuf,
    // Stop wrangler before the echo thread.
    dev: WranglerDev,
    _echo: Echo,
}

impl RunningWorker {
    /// Serves `worker`; `again` when it ran before in this session, whose
    /// log it then continues rather than starts afresh.
    fn start(
        workspace: &Workspace,
        worker: Worker,
        stack: &DevStack,
        locals: &BTreeMap<&'static str, String>,
        again: bool,
    ) -> Result<Self> {
        progress(format!(
            "starting {} (wrangler dev --env {}) on 127.0.0.1:{}",
            worker.crate_dir, worker.wrangler_env, worker.dev_port
        ));
        let state = workspace.state_dir();
        let log = state.join(format!("{}.log", worker.wrangler_env));
        if !again {
            File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        }

        // Secrets go through a private file, not the command line.
        let config = workspace.wrangler_config();
        let config_dir = config.parent().unwrap_or(workspace.root());
        let mut secrets = dev_vars::load(config_dir, worker.wrangler_env)?;
        // Local values fill in whatever no real value was given for.
        for (name, value) in locals {
            let given =
                secrets.contains_key(*name) || std::env::var(name).is_ok_and(|v| !v.is_empty());
            if !given {
                secrets.insert((*name).to_owned(), value.clone());
            } else if let Ok(from_env) = std::env::var(name) {
                secrets.insert((*name).to_owned(), from_env);
            }
        }
        let secrets_file = state.join(format!("{}.dev.vars", worker.wrangler_env));
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&secrets_file)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, dev_vars::render(&secrets).as_bytes())
            })
            .with_context(|| format!("writing {}", secrets_file.display()))?;

        let api_url = stack.api_url();
        let echo = Echo::start(log.clone(), worker.wrangler_env, again);
        let dev = WranglerDev::builder(config)
            .wrangler(workspace.node_bin("wrangler"))
            .env(worker.wrangler_env)
            .port(worker.dev_port)
            .env_file(&secrets_file)
            .var(REST_URL_VAR, api_url.clone())
            .var(SERVICE_KEY_VAR, jwt::service_role_key(LOCAL_JWT_SECRET))
            .log_file(&log)
            .ready_on_any_status()
            .start()?;
        warn_unless_healthy(&dev, worker);
        Ok(Self {
            worker,
            log,
            dev,
            _echo: echo,
        })
    }
}

/// A worker missing secrets still runs; say what its health check reports.
fn warn_unless_healthy(dev: &WranglerDev, worker: Worker) {
    match http::get(&format!("{}/health", dev.url()), &[]) {
        Ok(response) if response.status == 200 => {}
        Ok(response) => eprintln!(
            "warning: {} /health answers {}: {}\n         \
             (secrets go in .dev.vars.{} or .dev.vars)",
            worker.crate_dir,
            response.status,
            response.text().trim(),
            worker.wrangler_env
        ),
        Err(error) => eprintln!("warning: {} /health: {error:#}", worker.crate_dir),
    }
}

/// Prints lines appended to a log file, prefixed, until dropped.
#[derive(Debug)]
struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    /// Echoes `path` from its start, or with `from_end` only what is
    /// written to it from now on.
    fn start(path: PathBuf, prefix: &'static str, from_end: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let Ok(mut file) = File::open(&path) else {
                return;
            };
            if from_end && file.seek(SeekFrom::End(0)).is_err() {
                return;
            }
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            loop {
                match reader.read_line(&mut line) {
                    Ok(_) if line.ends_with('\n') => {
                        print!("[{prefix}] {line}");
                        line.clear();
                    }
                    // At the end for now (maybe mid-line): wait for more.
                    Ok(_) | Err(_) => {
                        if stopping.load(Ordering::SeqCst) {
                            return;
                        }
                        thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where the simulated community's gateway listens (the relay connects here).
const SIMULATED_GATEWAY_PORT: u16 = 54340;

/// Which outside services have real credentials (in `.dev.vars` or the environment).
#[derive(Debug)]
struct RealServices {
    discord: bool,
    gemini: bool,
    admin_password: bool,
}

impl RealServices {
    fn detect(workspace: &Workspace) -> Result<Self> {
        let file = dev_vars::load(workspace.root(), "interactions")?;
        let dashboard = dev_vars::load(workspace.root(), "dashboard")?;
        let given = |name: &str| {
            std::env::var(name).is_ok_and(|v| !v.is_empty())
                || file.get(name).is_some_and(|v| !v.is_empty())
                || dashboard.get(name).is_some_and(|v| !v.is_empty())
        };
        Ok(Self {
            discord: given("DISCORD_PUBLIC_KEY")
                && given("DISCORD_BOT_TOKEN")
                && given("DISCORD_APPLICATION_ID"),
            gemini: given("GEMINI_API_KEY"),
            admin_password: given("ADMIN_PASSWORD"),
        })
    }

    fn print(&self) {
        let say = |real: bool, what: &str, local: &str| {
            if real {
                println!("    {what:<12} REAL (credentials from .dev.vars / environment)");
            } else {
                println!("    {what:<12} local: {local}");
            }
        };
        say(
            self.discord,
            "Discord",
            "REST stand-in on :54330, simulated community gateway on :54340",
        );
        say(
            self.gemini,
            "Gemini",
            "stand-in on :54331 (rule-based verdicts)",
        );
        println!(
            "    {:<12} local: Postgres + PostgREST-compatible API (.state/)",
            "Supabase"
        );
    }
}

/// The values the workers get when no real ones are given.
fn local_values(
    secrets: &DevSecrets,
    stand_ins: &stand_ins::StandIns,
    real: &RealServices,
) -> BTreeMap<&'static str, String> {
    let signer = e2e::discord::Signer::from_seed(secrets.signer_seed);
    let mut values = BTreeMap::from([
        ("RELAY_SHARED_SECRET", secrets.relay_secret.clone()),
        ("ADMIN_PASSWORD", secrets.admin_password.clone()),
        ("SESSION_SECRET", secrets.session_secret.clone()),
        // The dashboard shows the simulated (and seeded) guild.
        ("DASHBOARD_GUILD_ID", simulate::GUILD.to_string()),
    ]);
    if !real.discord {
        values.insert("DISCORD_PUBLIC_KEY", signer.public_key_hex());
        values.insert(
            "DISCORD_APPLICATION_ID",
            e2e::discord::APPLICATION.to_string(),
        );
        values.insert("DISCORD_BOT_TOKEN", "local-bot-token".to_owned());
        values.insert("DISCORD_API_BASE", stand_ins.discord_api_base());
    }
    if !real.gemini {
        values.insert("GEMINI_API_KEY", "local-gemini-key".to_owned());
        values.insert("GEMINI_API_BASE", stand_ins.gemini_api_base());
    }
    values
}

/// History for the dashboard on a first run (or after `--fresh`): 90 days of
/// a smaller community than `cargo xtask seed`'s default, so it takes seconds.
fn seed_history_once(stack: &DevStack) -> Result<()> {
    let psql = local_stack::Psql::new(stack.db_url());
    let rows = psql
        .query(&format!(
            "select count(*) from guild_daily_activity where guild_id = {}",
            simulate::GUILD
        ))
        .context("checking for seeded history")?;
    if rows.trim() != "0" {
        return Ok(());
    }
    progress(
        "first run: seeding 90 days of community history (cargo xtask seed loads a bigger one)",
    );
    crate::seed::seed(
        &psql,
        &crate::seed::SeedArgs {
            members: 3_000,
            events: 300_000,
            days: 90,
            guild: simulate::GUILD,
            database_url: None,
            no_check: true,
            db_port: crate::stack::DbPort { db_port: 0 },
        },
    )
}

/// The simulated guild's staff role and ticket category (the seed writes the
/// guild's other settings; the simulated staff and `interact --staff` hold this role).
fn prepare_guild(stack: &DevStack) -> Result<()> {
    local_stack::Psql::new(stack.db_url())
        .execute(&format!(
            "insert into guild_settings (guild_id, staff_role_id, ticket_category_id) \
             values ({}, {}, {}) on conflict (guild_id) do update set \
             staff_role_id = excluded.staff_role_id, ticket_category_id = excluded.ticket_category_id",
            simulate::GUILD,
            simulate::STAFF_ROLE,
            simulate::TICKET_CATEGORY
        ))
        .context("writing the local guild's settings")
}

/// gateway-relay as a child process, connected to the simulated gateway (or
/// Discord's, with a real bot token) and forwarding to the local worker.
struct Relay {
    process: local_stack::process::ChildProcess,
}

impl Relay {
    fn start(workspace: &Workspace, secrets: &DevSecrets, gateway: Option<&str>) -> Result<Self> {
        let binary = crate::build_workers::build_relay(workspace)?;
        let state = workspace.state_dir().join("relay");
        fs::create_dir_all(&state)?;
        let log = workspace.state_dir().join("relay.log");
        let file = dev_vars::load(workspace.root(), "relay")?;
        let value = |name: &str, local: String| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| file.get(name).cloned())
                .unwrap_or(local)
        };
        let mut command = std::process::Command::new(&binary);
        command
            .env(
                "DISCORD_BOT_TOKEN",
                value("DISCORD_BOT_TOKEN", "local-bot-token".into()),
            )
            .env(
                "SCORING_ENDPOINT_URL",
                format!("http://127.0.0.1:{}/events", WORKERS[0].dev_port),
            )
            .env(
                "RELAY_SHARED_SECRET",
                value("RELAY_SHARED_SECRET", secrets.relay_secret.clone()),
            )
            .env("RELAY_STATE_DIR", &state);
        if gateway.is_some() {
            // The simulated gateway has no identify rate limit to respect.
            command.env("RELAY_IDENTIFY_UNTHROTTLED", "true");
        }
        if let Some(gateway) = gateway {
            command.env("DISCORD_GATEWAY_URL", gateway);
        }
        progress(format!("starting gateway-relay (log: {})", log.display()));
        let process =
            local_stack::process::ChildProcess::spawn("gateway-relay", command, &log, true)?;
        Ok(Self { process })
    }
}
