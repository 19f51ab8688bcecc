//! `cargo xtask dev`: the whole system on this machine. Builds the workers,
//! brings up the local database + API (persistent, in `.state/`), applies
//! pending migrations, serves both workers under `wrangler dev`, and stops
//! everything it started on Ctrl-C.

use std::fs::{self, File};
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context as _, Result};
use local_stack::jwt::{self, LOCAL_JWT_SECRET};
use local_stack::{WranglerDev, http};

use crate::build_workers::{Profile, build_workers};
use crate::dev_vars;
use crate::shell::{check_interrupted, progress, trap_interrupts};
use crate::stack::{DevStack, Ports};
use crate::workspace::{WORKERS, Worker, Workspace};

/// Variables pointing the workers at the local stack (always win over `.dev.vars`).
const REST_URL_VARS: [&str; 2] = ["SUPABASE_REST_URL", "SUPABASE_URL"];
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
}

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

    let mut workers = Vec::new();
    for worker in WORKERS {
        check_interrupted()?;
        workers.push(RunningWorker::start(workspace, worker, &stack)?);
    }

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
    progress("ready; Ctrl-C stops everything");

    loop {
        match stop_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                stack.ensure_running()?;
                for running in &mut workers {
                    running.dev.ensure_running()?;
                }
            }
        }
    }
    progress("stopping");
    drop(workers);
    drop(stack);
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
    fn start(workspace: &Workspace, worker: Worker, stack: &DevStack) -> Result<Self> {
        progress(format!(
            "starting {} (wrangler dev --env {}) on 127.0.0.1:{}",
            worker.crate_dir, worker.wrangler_env, worker.dev_port
        ));
        let state = workspace.state_dir();
        let log = state.join(format!("{}.log", worker.wrangler_env));
        File::create(&log).with_context(|| format!("creating {}", log.display()))?;

        // Secrets go through a private file, not the command line.
        let config = workspace.wrangler_config();
        let config_dir = config.parent().unwrap_or(workspace.root());
        let secrets = dev_vars::load(config_dir, worker.wrangler_env)?;
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
        let echo = Echo::start(log.clone(), worker.wrangler_env);
        let dev = WranglerDev::builder(config)
            .wrangler(workspace.node_bin("wrangler"))
            .env(worker.wrangler_env)
            .port(worker.dev_port)
            .env_file(&secrets_file)
            .vars(REST_URL_VARS.map(|name| (name, api_url.clone())))
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
    fn start(path: PathBuf, prefix: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let Ok(file) = File::open(&path) else { return };
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
