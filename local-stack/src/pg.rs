//! PostgreSQL 15: locating its binaries, running SQL through `psql`, and a
//! local cluster with Supabase's roles.

use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, Result, bail};
use url::Url;

use crate::process::{Registration, is_alive};
use crate::{env, supabase};

/// Where Debian's `postgresql-15` puts the server binaries.
pub const DEFAULT_PG_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

/// The unprivileged account PostgreSQL runs as when we are root.
const SERVICE_ACCOUNT: &str = "postgres";

/// The superuser of clusters created here (Supabase's admin user too).
pub const SUPERUSER: &str = "postgres";

/// PostgreSQL's binaries: `$COMMUNITY_OS_PG_BIN`, else Debian's PG 15 directory.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    dir: PathBuf,
}

impl PgBinaries {
    pub fn locate() -> Result<Self> {
        let dir = std::env::var_os(env::PG_BIN_DIR)
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_PG_BIN_DIR), PathBuf::from);
        if !dir.join("initdb").is_file() {
            bail!(
                "PostgreSQL 15 server binaries not found in {} (set {} or run `cargo xtask setup`)",
                dir.display(),
                env::PG_BIN_DIR
            );
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `psql` from this installation.
    pub fn psql(&self) -> PathBuf {
        self.bin("psql")
    }
}

/// `psql` for a client-only use (migrations against any server): PG 15's if
/// installed, else the one on `PATH`.
pub fn psql_bin() -> PathBuf {
    PgBinaries::locate().map_or_else(|_| PathBuf::from("psql"), |bins| bins.psql())
}

/// Runs SQL against one database through `psql -X -v ON_ERROR_STOP=1`.
#[derive(Debug, Clone)]
pub struct Psql {
    bin: PathBuf,
    url: String,
}

impl Psql {
    /// For any Postgres URL (`postgres://user:pw@host:port/db?sslmode=...`).
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_bin(psql_bin(), url)
    }

    pub fn with_bin(bin: impl Into<PathBuf>, url: impl Into<String>) -> Self {
        Self {
            bin: bin.into(),
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs statements, discarding their output.
    pub fn execute(&self, sql: &str) -> Result<()> {
        self.run(&["-q"], Some(sql)).map(drop)
    }

    /// Runs a query and returns its rows unaligned (`-At`: `|`-separated
    /// columns, one row per line) without the trailing newline.
    pub fn query(&self, sql: &str) -> Result<String> {
        let stdout = self.run(&["-q", "-A", "-t"], Some(sql))?;
        Ok(stdout.trim_end_matches('\n').to_owned())
    }

    /// Runs `file` and then `then` (if any) in one transaction: all or nothing.
    pub fn execute_file_atomically(&self, file: &Path, then: Option<&str>) -> Result<()> {
        let mut args: Vec<&OsStr> = ["-q", "--single-transaction", "-f"]
            .map(OsStr::new)
            .to_vec();
        args.push(file.as_os_str());
        if let Some(sql) = then {
            args.extend([OsStr::new("-c"), OsStr::new(sql)]);
        }
        self.run(&args, None)
            .map(drop)
            .with_context(|| format!("applying {}", file.display()))
    }

    fn run(&self, args: &[impl AsRef<OsStr>], stdin: Option<&str>) -> Result<String> {
        let mut command = Command::new(&self.bin);
        command
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", &self.url])
            .args(args)
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGAPPNAME", "community-os-local-stack")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("running {}", self.bin.display()))?;
        // Fed from another thread: psql may fill its stdout pipe before it
        // has read all of a large script.
        let feeder = match (stdin, child.stdin.take()) {
            (Some(sql), Some(mut pipe)) => {
                let sql = sql.to_owned();
                Some(std::thread::spawn(move || pipe.write_all(sql.as_bytes())))
            }
            _ => None,
        };
        let output = child.wait_with_output()?;
        if let Some(feeder) = feeder {
            // A write error means psql exited early; its stderr says why.
            let _ = feeder.join();
        }
        check_output(&output, &format!("psql against {}", redact(&self.url)))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// A URL with its password replaced, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// `url` pointing at another database (and optionally another user).
pub fn with_database(url: &str, database: &str) -> Result<String> {
    let mut parsed =
        Url::parse(url).with_context(|| format!("invalid Postgres URL {}", redact(url)))?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A local cluster: data in `DIR/data`, log in `DIR/postgres.log`, unix socket
/// in `DIR`, TCP on 127.0.0.1. Each start (re)applies Supabase's roles and
/// grants ([`supabase`]). Stopped on drop if this handle started it.
#[derive(Debug)]
pub struct Cluster {
    bins: PgBinaries,
    dir: PathBuf,
    port: u16,
    stop_on_drop: bool,
    /// While this handle owns the server (see [`crate::process::reap_registered`]).
    registration: Option<Registration>,
}

impl Cluster {
    /// Initialises the cluster in `dir` if needed and starts it on `port`
    /// unless it is already running there.
    pub fn start(dir: impl Into<PathBuf>, port: u16) -> Result<Self> {
        let bins = PgBinaries::locate()?;
        let dir = dir.into();
        if let Some(running) = Self::running_port(&dir) {
            if running != port {
                bail!(
                    "the cluster in {} is already running on port {running}, not {port}; \
                     stop it first (`cargo xtask stack down`)",
                    dir.display()
                );
            }
            return Ok(Self {
                bins,
                dir,
                port,
                stop_on_drop: false,
                registration: None,
            });
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let mut cluster = Self {
            bins,
            dir,
            port,
            stop_on_drop: false,
            registration: None,
        };
        cluster.give_to_service_account()?;
        if !cluster.data_dir().join("PG_VERSION").is_file() {
            cluster.initdb()?;
        }
        cluster.pg_ctl_start()?;
        cluster.stop_on_drop = true;
        cluster.registration = cluster
            .postmaster_pid()
            .and_then(|pid| Registration::new(pid, false));
        // Idempotent, and cheap: also repairs a cluster whose first start failed.
        supabase::install_baseline(&cluster)?;
        Ok(cluster)
    }

    /// The port of the cluster running in `dir`, if one is.
    pub fn running_port(dir: &Path) -> Option<u16> {
        let (pid, port) = read_postmaster_pid(dir)?;
        is_alive(pid).then_some(port)
    }

    fn postmaster_pid(&self) -> Option<u32> {
        read_postmaster_pid(&self.dir).map(|(pid, _)| pid)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bins(&self) -> &PgBinaries {
        &self.bins
    }

    /// Superuser URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// `psql` as the superuser on `database`.
    pub fn psql(&self, database: &str) -> Psql {
        Psql::with_bin(self.bins.psql(), self.url(database))
    }

    /// `CREATE DATABASE name [TEMPLATE template]`.
    pub fn create_database(&self, name: &str, template: Option<&str>) -> Result<()> {
        let mut sql = format!("create database {}", quote_ident(name));
        if let Some(template) = template {
            sql.push_str(&format!(" template {}", quote_ident(template)));
        }
        self.psql("postgres").execute(&sql)
    }

    /// Drops a database, disconnecting its sessions first.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.psql("postgres").execute(&format!(
            "drop database if exists {} with (force)",
            quote_ident(name)
        ))
    }

    /// Whether a database exists.
    pub fn has_database(&self, name: &str) -> Result<bool> {
        let sql = format!(
            "select count(*) from pg_database where datname = {}",
            quote_literal(name)
        );
        Ok(self.psql("postgres").query(&sql)? == "1")
    }

    /// Stops it now (fast shutdown), whoever started it.
    pub fn stop(mut self) -> Result<()> {
        self.stop_on_drop = false;
        self.pg_ctl_stop()
    }

    /// Leaves it running when this handle is dropped (`stack up`).
    pub fn keep_running(&mut self) {
        self.stop_on_drop = false;
        self.registration = None;
    }

    fn give_to_service_account(&self) -> Result<()> {
        if !running_as_root() {
            return Ok(());
        }
        let status = Command::new("chown")
            .args(["-R", &format!("{SERVICE_ACCOUNT}:"), "--"])
            .arg(&self.dir)
            .status()
            .context("running chown")?;
        if !status.success() {
            bail!("chown -R {SERVICE_ACCOUNT} {} failed", self.dir.display());
        }
        Ok(())
    }

    fn initdb(&self) -> Result<()> {
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .output()
            .context("running initdb")?;
        check_output(&output, "initdb")
    }

    /// Starts the server, retrying while the port is briefly taken: ports
    /// like 54322 lie in Linux's ephemeral range, so a client socket can hold
    /// one for a moment.
    fn pg_ctl_start(&self) -> Result<()> {
        const ATTEMPTS: usize = 5;
        let mut attempt = 1;
        loop {
            match self.pg_ctl_start_once() {
                Err(error) if attempt < ATTEMPTS && crate::process::address_in_use(&error) => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                result => return result,
            }
        }
    }

    fn pg_ctl_start_once(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log");
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-o", &options, "start"])
            .stdin(Stdio::null())
            .output()
            .context("running pg_ctl start")?;
        check_output(&output, "pg_ctl start").with_context(|| {
            format!(
                "PostgreSQL did not start on port {}; last log lines:\n{}",
                self.port,
                crate::process::log_tail(&log, 8)
            )
        })
    }

    fn pg_ctl_stop(&self) -> Result<()> {
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-w", "-m", "fast", "stop"])
            .output()
            .context("running pg_ctl stop")?;
        check_output(&output, "pg_ctl stop")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// PostgreSQL refuses to run as root: as root, run it as `postgres`.
    fn server_command(&self, name: &str) -> Command {
        let bin = self.bins.bin(name);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVICE_ACCOUNT, "--"]).arg(bin);
            command
        } else {
            Command::new(bin)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stop_on_drop {
            self.stop_on_drop = false;
            if let Err(error) = self.pg_ctl_stop() {
                eprintln!(
                    "warning: stopping PostgreSQL in {}: {error:#}",
                    self.dir.display()
                );
            }
        }
    }
}

/// `(pid, port)` from `DIR/data/postmaster.pid` (pid, data dir, start time, port, ...).
fn read_postmaster_pid(dir: &Path) -> Option<(u32, u16)> {
    let pid_file = fs::read_to_string(dir.join("data").join("postmaster.pid")).ok()?;
    let mut lines = pid_file.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2)?.trim().parse().ok()?;
    Some((pid, port))
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn check_output(output: &Output, what: &str) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    bail!(
        "{what} failed ({}):\n{}{}",
        output.status,
        stderr.trim_end(),
        if stdout.trim().is_empty() {
            String::new()
        } else {
            format!("\n{}", stdout.trim_end())
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgres://authenticator:secret@127.0.0.1:5432/db"),
            "postgres://authenticator:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact("postgres://postgres@h:1/db"),
            "postgres://postgres@h:1/db"
        );
    }

    #[test]
    fn switches_database_and_keeps_parameters() {
        let url = with_database(
            "postgres://u:p@db.example:6543/postgres?sslmode=require",
            "other",
        )
        .expect("valid");
        assert_eq!(url, "postgres://u:p@db.example:6543/other?sslmode=require");
    }

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
