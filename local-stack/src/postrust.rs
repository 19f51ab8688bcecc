//! The PostgREST-compatible API over a database: `postrust` (crates.io
//! `postrust-server`), configured with PostgREST's own variables, standing in
//! for Supabase's REST API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::process::{ChildProcess, free_port, wait_until};
use crate::{env, http, jwt};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often an automatically chosen port is retried when another process
/// grabs it between our probe and postrust's bind.
const PORT_ATTEMPTS: usize = 3;

/// `$COMMUNITY_OS_POSTRUST_BIN`, else `postrust` in the tools cache.
pub fn locate_postrust() -> Result<PathBuf> {
    let bin = std::env::var_os(env::POSTRUST_BIN)
        .filter(|bin| !bin.is_empty())
        .map_or_else(
            || env::tools_dir().join("bin").join("postrust"),
            PathBuf::from,
        );
    if !bin.is_file() {
        bail!(
            "postrust not found at {} (run `cargo xtask setup`, or set {})",
            bin.display(),
            env::POSTRUST_BIN
        );
    }
    Ok(bin)
}

/// How to start the API.
#[derive(Debug, Clone)]
pub struct PostrustOptions {
    pub bin: PathBuf,
    /// Connection URL of the `authenticator` role.
    pub db_url: String,
    pub jwt_secret: String,
    /// `None`: pick a free port.
    pub port: Option<u16>,
    /// Its output is appended here.
    pub log_file: PathBuf,
    /// Run in its own process group, so a terminal's Ctrl-C reaches only us
    /// and we stop it in order.
    pub own_process_group: bool,
}

/// A running API server, stopped on drop.
#[derive(Debug)]
pub struct Postrust {
    process: ChildProcess,
    port: u16,
    url: String,
}

impl Postrust {
    /// Starts it and waits until it answers `GET /` for a service-role key.
    pub fn start(options: &PostrustOptions) -> Result<Self> {
        let attempts = if options.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = match options.port {
                Some(port) => port,
                None => free_port()?,
            };
            match Self::start_on(options, port) {
                Ok(server) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("postrust was not started")))
    }

    fn start_on(options: &PostrustOptions, port: u16) -> Result<Self> {
        let mut command = Command::new(&options.bin);
        command
            .env("PGRST_DB_URI", &options.db_url)
            .env("PGRST_DB_SCHEMAS", "public")
            .env("PGRST_DB_ANON_ROLE", "anon")
            .env("PGRST_JWT_SECRET", &options.jwt_secret)
            .env("PGRST_SERVER_HOST", "127.0.0.1")
            .env("PGRST_SERVER_PORT", port.to_string())
            .env("PGRST_COMPAT_MODE", "true")
            .env("PGRST_DB_CHANNEL_ENABLED", "true")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            // Its startup errors (a taken port, a refused database) in one
            // line: with RUST_BACKTRACE=1 in a developer's environment, the
            // backtrace anyhow captures would fill the log tail we report.
            // Panics still get theirs from RUST_BACKTRACE.
            .env("RUST_LIB_BACKTRACE", "0");
        let mut process = ChildProcess::spawn(
            "postrust",
            command,
            &options.log_file,
            options.own_process_group,
        )?;
        let url = format!("http://127.0.0.1:{port}");
        let key = jwt::service_role_key(&options.jwt_secret);
        let bearer = format!("Bearer {key}");
        let probe = format!("{url}/");
        let mut last_response = None;
        wait_until("postrust", READY_TIMEOUT, Duration::from_millis(50), || {
            process.ensure_running()?;
            match http::get(&probe, &[("Authorization", &bearer), ("apikey", &key)]) {
                Ok(response) if response.status == 200 => Ok(true),
                Ok(response) => {
                    last_response = Some(response);
                    Ok(false)
                }
                Err(_) => Ok(false),
            }
        })
        .with_context(|| {
            format!(
                "postrust on {url} ({}); last output ({}):\n{}",
                http::describe_last(last_response.as_ref()),
                process.log_path().display(),
                process.log_tail(30)
            )
        })?;
        Ok(Self { process, port, url })
    }

    /// `http://127.0.0.1:PORT`, the equivalent of `SUPABASE_URL` minus `/rest/v1`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    pub fn stop(self) {
        self.process.stop();
    }

    /// Leaves it running (`stack up`); returns its pid.
    pub fn detach(self) -> u32 {
        self.process.detach()
    }
}
