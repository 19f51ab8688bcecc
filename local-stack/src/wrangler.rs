//! A worker under `wrangler dev` (real workerd), for end-to-end tests and
//! `cargo xtask dev`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tempfile::TempDir;

use crate::process::{ChildProcess, address_in_use, free_port, wait_until};
use crate::{env, http};

const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times [`WranglerDevBuilder::start`] starts wrangler when a port
/// it picked was taken before wrangler could bind it.
const PORT_ATTEMPTS: usize = 3;

/// `$COMMUNITY_OS_WRANGLER`, else `node_modules/.bin/wrangler` under
/// `$COMMUNITY_OS_ROOT` (or this workspace).
pub fn locate_wrangler() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(env::WRANGLER).filter(|bin| !bin.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let root = std::env::var_os(env::ROOT)
        .filter(|root| !root.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
            PathBuf::from,
        );
    let bin = root.join("node_modules").join(".bin").join("wrangler");
    if !bin.is_file() {
        bail!(
            "wrangler not found at {} (run `cargo xtask setup`)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Options for [`WranglerDev`]; start with [`WranglerDev::builder`].
#[derive(Debug, Clone)]
pub struct WranglerDevBuilder {
    config: PathBuf,
    env: Option<String>,
    wrangler: Option<PathBuf>,
    port: Option<u16>,
    vars: Vec<(String, String)>,
    health_path: String,
    ready_on_any_status: bool,
    ready_timeout: Duration,
    log_file: Option<PathBuf>,
    env_file: Option<PathBuf>,
}

impl WranglerDevBuilder {
    /// Count the worker as ready once the health path answers at all (say a
    /// 503 from a worker that is deliberately misconfigured), not only 200.
    pub fn ready_on_any_status(mut self) -> Self {
        self.ready_on_any_status = true;
        self
    }

    /// `--env NAME`: a `[env.NAME]` section of the config.
    pub fn env(mut self, name: impl Into<String>) -> Self {
        self.env = Some(name.into());
        self
    }

    /// The wrangler launcher; default [`locate_wrangler`].
    pub fn wrangler(mut self, bin: impl Into<PathBuf>) -> Self {
        self.wrangler = Some(bin.into());
        self
    }

    /// Listen on this port; default a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// `--var KEY:VALUE`, overriding the config's `[vars]`.
    pub fn var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.push((key.into(), value.into()));
        self
    }

    pub fn vars<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.vars.extend(
            vars.into_iter()
                .map(|(key, value)| (key.into(), value.into())),
        );
        self
    }

    /// The path that answers 200 once the worker is up; default `/health`.
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = path.into();
        self
    }

    /// Default 60 s (a cold start bundles the worker first).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Append wrangler's output here instead of to a temporary file.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Load secrets from this dotenv file (`KEY=VALUE` lines, like
    /// `.dev.vars`); [`Self::var`] still wins. Default: none.
    pub fn env_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.env_file = Some(path.into());
        self
    }

    /// Starts `wrangler dev` in its own process group and waits until
    /// `GET health_path` answers 200.
    ///
    /// Variables come only from the config, [`Self::env_file`] and
    /// [`Self::var`]: wrangler's own `.dev.vars` / `.env` lookup is disabled, so
    /// tests do not depend on a developer's secrets.
    ///
    /// The ports it picks were free a moment before wrangler binds them, and
    /// another process (a parallel test, or an outgoing connection using one
    /// as its ephemeral port) can take one in between. When wrangler exits
    /// because an address is in use, it starts again on new ports, up to
    /// [`PORT_ATTEMPTS`] times (keeping a port given with [`Self::port`]).
    pub fn start(self) -> Result<WranglerDev> {
        let wrangler = match &self.wrangler {
            Some(bin) => bin.clone(),
            None => locate_wrangler()?,
        };
        if !self.config.is_file() {
            bail!("wrangler config {} does not exist", self.config.display());
        }
        let mut attempt = 1;
        loop {
            let port = match self.port {
                Some(port) => port,
                None => free_port()?,
            };
            // wrangler's own inspector default (9229) would collide between
            // parallel tests.
            let inspector_port = free_port()?;
            match self.start_on(&wrangler, port, inspector_port) {
                Err(error) if attempt < PORT_ATTEMPTS && address_in_use(&error) => attempt += 1,
                result => return result,
            }
        }
    }

    fn start_on(&self, wrangler: &Path, port: u16, inspector_port: u16) -> Result<WranglerDev> {
        let state = tempfile::Builder::new()
            .prefix("community-os-wrangler-")
            .tempdir()
            .context("creating wrangler's state directory")?;
        let env_file = match &self.env_file {
            Some(file) => file.clone(),
            None => {
                let empty = state.path().join("empty.env");
                fs::write(&empty, "")?;
                empty
            }
        };
        let log = self
            .log_file
            .clone()
            .unwrap_or_else(|| state.path().join("wrangler.log"));
        let mut command = Command::new(wrangler);
        command
            .arg("dev")
            .arg("--config")
            .arg(&self.config)
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector_port.to_string()])
            .arg("--show-interactive-dev-session=false")
            .arg("--persist-to")
            .arg(state.path().join("persist"))
            .arg("--env-file")
            .arg(&env_file);
        if let Some(name) = &self.env {
            command.args(["--env", name]);
        }
        for (key, value) in &self.vars {
            command.arg("--var").arg(format!("{key}:{value}"));
        }
        command
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .env("WRANGLER_LOG_PATH", state.path().join("wrangler-logs"));
        if let Some(dir) = self
            .config
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
        {
            command.current_dir(dir);
        }

        let mut process = ChildProcess::spawn("wrangler dev", command, &log, true)?;
        let url = format!("http://127.0.0.1:{port}");
        let probe = format!("{url}{}", self.health_path);
        let mut last_response = None;
        let any_status = self.ready_on_any_status;
        wait_until(
            "wrangler dev",
            self.ready_timeout,
            Duration::from_millis(100),
            || {
                process.ensure_running()?;
                match http::get(&probe, &[]) {
                    Ok(response) if response.status == 200 || any_status => Ok(true),
                    Ok(response) => {
                        last_response = Some(response);
                        Ok(false)
                    }
                    Err(_) => Ok(false),
                }
            },
        )
        .with_context(|| {
            format!(
                "wrangler dev --config {}{} on {probe} ({}); last output:\n{}",
                self.config.display(),
                self.env
                    .as_ref()
                    .map(|env| format!(" --env {env}"))
                    .unwrap_or_default(),
                http::describe_last(last_response.as_ref()),
                process.log_tail(40)
            )
        })?;
        Ok(WranglerDev {
            process,
            port,
            url,
            _state: state,
        })
    }
}

/// A worker served by `wrangler dev`. Dropping it stops wrangler and its
/// workerd processes (the whole process group).
#[derive(Debug)]
pub struct WranglerDev {
    process: ChildProcess,
    port: u16,
    url: String,
    _state: TempDir,
}

impl WranglerDev {
    /// Serve the worker described by `config` (a `wrangler.toml`).
    pub fn builder(config: impl Into<PathBuf>) -> WranglerDevBuilder {
        WranglerDevBuilder {
            config: config.into(),
            env: None,
            wrangler: None,
            port: None,
            vars: Vec::new(),
            health_path: "/health".to_owned(),
            ready_on_any_status: false,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            log_file: None,
            env_file: None,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Pid of wrangler, which leads the process group.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Resident memory of wrangler and its workerd processes, in bytes.
    pub fn resident_bytes(&self) -> u64 {
        crate::process::group_resident_bytes(self.pid())
    }

    /// The last lines of wrangler's output (the worker's `console.log` too).
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// Fails with its log tail if wrangler has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        self.process.ensure_running()
    }

    pub fn stop(self) {
        self.process.stop();
    }
}
