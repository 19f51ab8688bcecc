//! The persistent local stack of `cargo xtask dev` and `cargo xtask stack`:
//! a cluster in `.state/postgres` (database `postgres`, as on Supabase) and
//! postrust in front of it. `stack up` leaves both running; `dev` stops what
//! it started.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use local_stack::jwt::{self, LOCAL_JWT_SECRET};
use local_stack::pg::Cluster;
use local_stack::postrust::{self, Postrust, PostrustOptions};
use local_stack::process::{is_alive, terminate_pid};
use local_stack::supabase::{AUTHENTICATOR, AUTHENTICATOR_PASSWORD};
use local_stack::{Migrator, http};

use crate::migrate::migrate;
use crate::shell::progress;
use crate::workspace::Workspace;

/// The database the stack serves (Supabase's is called `postgres` too).
pub(crate) const DATABASE: &str = "postgres";

#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct DbPort {
    /// PostgreSQL port of the local stack.
    #[arg(long, env = "COMMUNITY_OS_DB_PORT", default_value_t = 54322)]
    pub(crate) db_port: u16,
}

#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct Ports {
    #[command(flatten)]
    pub(crate) db: DbPort,
    /// Port of the local REST API (what SUPABASE_REST_URL points at).
    #[arg(long, env = "COMMUNITY_OS_API_PORT", default_value_t = 54321)]
    pub(crate) api_port: u16,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum StackCommand {
    /// Start the database and API (applying pending migrations); leave them running.
    Up {
        #[command(flatten)]
        ports: Ports,
        /// Wipe .state/postgres first.
        #[arg(long)]
        fresh: bool,
    },
    /// Stop the database and API.
    Down,
    /// Show what is running, where, and the local API keys.
    Status,
}

pub(crate) fn command(workspace: &Workspace, command: &StackCommand) -> Result<()> {
    match command {
        StackCommand::Up { ports, fresh } => {
            let stack = DevStack::up(workspace, *ports, *fresh)?;
            stack.print_summary();
            stack.leave_running();
            println!("    stop with `cargo xtask stack down`");
            Ok(())
        }
        StackCommand::Down => down(workspace),
        StackCommand::Status => status(workspace),
    }
}

fn cluster_dir(workspace: &Workspace) -> PathBuf {
    workspace.state_dir().join("postgres")
}

fn api_pid_file(workspace: &Workspace) -> PathBuf {
    workspace.state_dir().join("postrust.pid")
}

/// Starts (or attaches to) the stack's cluster; `fresh` wipes it first.
pub(crate) fn start_cluster(workspace: &Workspace, port: u16, fresh: bool) -> Result<Cluster> {
    let dir = cluster_dir(workspace);
    if fresh {
        down(workspace)?;
        if dir.exists() {
            progress(format!("wiping {}", dir.display()));
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    let initialised = dir.join("data").join("PG_VERSION").is_file();
    if Cluster::running_port(&dir).is_none() {
        let verb = if initialised { "starting" } else { "creating" };
        progress(format!(
            "{verb} PostgreSQL in {} on 127.0.0.1:{port}",
            dir.display()
        ));
    }
    Cluster::start(&dir, port)
        .map_err(|error| when_taken(error, port, "--db-port", "COMMUNITY_OS_DB_PORT"))
}

/// Adds what to do when `error` says the port is taken: the stack's ports
/// (54321, 54322) lie in Linux's ephemeral range, so besides another server
/// an outgoing connection can hold one for a while.
fn when_taken(error: anyhow::Error, port: u16, flag: &str, env: &str) -> anyhow::Error {
    if !local_stack::process::address_in_use(&error) {
        return error;
    }
    error.context(format!(
        "port {port} is taken by another process (`ss -tanp | grep :{port}` shows which): \
         stop it, or use another port with {flag} or {env}"
    ))
}

/// The API, whether this process started it or found it running.
#[derive(Debug)]
enum Api {
    Started(Postrust),
    Running { pid: u32, port: u16 },
}

/// A running local stack. Dropping it stops the parts this process started.
#[derive(Debug)]
pub(crate) struct DevStack {
    // Field order is drop order: the API before the database under it.
    api: Option<Api>,
    cluster: Cluster,
    pid_file: PathBuf,
}

impl DevStack {
    /// Database up, migrations applied, API up.
    pub(crate) fn up(workspace: &Workspace, ports: Ports, fresh: bool) -> Result<Self> {
        let cluster = start_cluster(workspace, ports.db.db_port, fresh)?;
        migrate(workspace, &cluster.psql(DATABASE), false)?;
        let pid_file = api_pid_file(workspace);
        let mut stack = Self {
            api: None,
            cluster,
            pid_file,
        };
        stack.api = Some(match running_api(&stack.pid_file) {
            Some((pid, port)) if port == ports.api_port => Api::Running { pid, port },
            Some((pid, port)) => bail!(
                "the local API (pid {pid}) already runs on port {port}, not {}; \
                 `cargo xtask stack down` first",
                ports.api_port
            ),
            None => Api::Started(start_api(
                workspace,
                &stack.cluster,
                ports.api_port,
                &stack.pid_file,
            )?),
        });
        Ok(stack)
    }

    /// `http://127.0.0.1:PORT`: the REST endpoint.
    pub(crate) fn api_url(&self) -> String {
        let port = match &self.api {
            Some(Api::Started(api)) => api.port(),
            Some(Api::Running { port, .. }) => *port,
            None => 0,
        };
        format!("http://127.0.0.1:{port}")
    }

    pub(crate) fn db_url(&self) -> String {
        self.cluster.url(DATABASE)
    }

    pub(crate) fn print_summary(&self) {
        println!("    database     {}", self.db_url());
        println!("    REST API     {}", self.api_url());
        println!(
            "    service key  {}",
            jwt::service_role_key(LOCAL_JWT_SECRET)
        );
        println!("    anon key     {}", jwt::anon_key(LOCAL_JWT_SECRET));
    }

    /// Fails if the API this process started has exited.
    pub(crate) fn ensure_running(&mut self) -> Result<()> {
        match &self.api {
            Some(Api::Running { pid, .. }) if !is_alive(*pid) => {
                bail!("the local API (pid {pid}) stopped")
            }
            _ => Ok(()),
        }
    }

    /// Leaves everything running (`stack up`).
    fn leave_running(mut self) {
        if let Some(Api::Started(api)) = self.api.take() {
            api.detach();
        }
        self.cluster.keep_running();
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        if let Some(Api::Started(api)) = self.api.take() {
            api.stop();
            let _ = fs::remove_file(&self.pid_file);
        }
    }
}

fn start_api(
    workspace: &Workspace,
    cluster: &Cluster,
    port: u16,
    pid_file: &Path,
) -> Result<Postrust> {
    progress(format!(
        "starting the REST API (postrust) on 127.0.0.1:{port}"
    ));
    let api = Postrust::start(&PostrustOptions {
        bin: postrust::locate_postrust()?,
        db_url: format!(
            "postgres://{AUTHENTICATOR}:{AUTHENTICATOR_PASSWORD}@127.0.0.1:{}/{DATABASE}",
            cluster.port()
        ),
        jwt_secret: LOCAL_JWT_SECRET.to_owned(),
        port: Some(port),
        log_file: workspace.state_dir().join("postrust.log"),
        own_process_group: true,
    })
    .map_err(|error| when_taken(error, port, "--api-port", "COMMUNITY_OS_API_PORT"))?;
    fs::write(pid_file, format!("{} {port}\n", api.pid()))
        .with_context(|| format!("writing {}", pid_file.display()))?;
    Ok(api)
}

/// `(pid, port)` of an API left running by `stack up`.
fn running_api(pid_file: &Path) -> Option<(u32, u16)> {
    let contents = fs::read_to_string(pid_file).ok()?;
    let mut parts = contents.split_whitespace();
    let pid: u32 = parts.next()?.parse().ok()?;
    let port: u16 = parts.next()?.parse().ok()?;
    let is_postrust = fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("postrust"));
    (is_alive(pid) && is_postrust).then_some((pid, port))
}

fn down(workspace: &Workspace) -> Result<()> {
    let pid_file = api_pid_file(workspace);
    if let Some((pid, port)) = running_api(&pid_file) {
        progress(format!("stopping the REST API on port {port} (pid {pid})"));
        terminate_pid(pid, true);
    }
    let _ = fs::remove_file(&pid_file);
    let dir = cluster_dir(workspace);
    if let Some(port) = Cluster::running_port(&dir) {
        progress(format!("stopping PostgreSQL on port {port}"));
        Cluster::start(&dir, port)?.stop()?;
    }
    Ok(())
}

fn status(workspace: &Workspace) -> Result<()> {
    let dir = cluster_dir(workspace);
    match Cluster::running_port(&dir) {
        Some(port) => {
            let cluster = Cluster::start(&dir, port)?;
            println!("database     running: {}", cluster.url(DATABASE));
            let migrator = Migrator::new(cluster.psql(DATABASE), &workspace.database_dir())?;
            let pending = migrator.pending()?;
            println!(
                "migrations   {} applied, {} pending{}",
                migrator.migrations().len() - pending.len(),
                pending.len(),
                if pending.is_empty() {
                    ""
                } else {
                    " (`cargo xtask migrate`)"
                }
            );
        }
        None if dir.join("data").is_dir() => println!("database     stopped ({})", dir.display()),
        None => println!("database     not created yet"),
    }
    match running_api(&api_pid_file(workspace)) {
        Some((pid, port)) => {
            let url = format!("http://127.0.0.1:{port}");
            let key = jwt::service_role_key(LOCAL_JWT_SECRET);
            let answers = http::get(
                &format!("{url}/"),
                &[("Authorization", &format!("Bearer {key}"))],
            )
            .is_ok_and(|response| response.status == 200);
            let health = if answers {
                "answering"
            } else {
                "NOT answering"
            };
            println!("REST API     running (pid {pid}, {health}): {url}");
            println!("service key  {key}");
            println!("anon key     {}", jwt::anon_key(LOCAL_JWT_SECRET));
        }
        None => println!("REST API     stopped"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_says_what_to_do() {
        let taken = anyhow::anyhow!("could not bind: Address already in use (os error 98)")
            .context("PostgreSQL did not start on port 54322");
        let message = format!(
            "{:#}",
            when_taken(taken, 54322, "--db-port", "COMMUNITY_OS_DB_PORT")
        );
        assert!(
            message.starts_with("port 54322 is taken by another process"),
            "{message}"
        );
        assert!(
            message.contains("--db-port or COMMUNITY_OS_DB_PORT"),
            "{message}"
        );

        let other = anyhow::anyhow!("initdb failed");
        let message = format!(
            "{:#}",
            when_taken(other, 54322, "--db-port", "COMMUNITY_OS_DB_PORT")
        );
        assert_eq!(message, "initdb failed");
    }
}
