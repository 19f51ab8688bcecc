//! `cargo xtask setup`: install what is missing, skip what is present at the
//! right version. Every other command runs the part of it that it needs
//! first ([`Needs`]; a fast no-op when warm): an operator who only deploys
//! (`build-workers`, `migrate --database-url`, `register-commands`) needs no
//! PostgreSQL server, Chromium or postrust.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use local_stack::pg::PgBinaries;

use crate::shell::{progress, run, stdout_of};
use crate::workspace::Workspace;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WORKER_BUILD_VERSION: &str = "0.8.7";
const POSTRUST_VERSION: &str = "3.1.0";

/// What a command needs installed before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The wasm target, worker-build, wasm-bindgen and the npm packages
    /// (wrangler, esbuild, binaryen's wasm-opt): building and serving workers.
    pub(crate) workers: bool,
    /// PostgreSQL 15's server binaries: the local database.
    pub(crate) postgres: bool,
    /// A `psql` (any recent version): migrations to a remote database.
    pub(crate) psql: bool,
    /// postrust, the PostgREST-compatible API over the local database.
    pub(crate) api: bool,
    /// Chromium, for the dashboard's browser test.
    pub(crate) browser: bool,
}

impl Needs {
    pub(crate) const EVERYTHING: Self = Self {
        workers: true,
        postgres: true,
        psql: true,
        api: true,
        browser: true,
    };
    pub(crate) const NOTHING: Self = Self {
        workers: false,
        postgres: false,
        psql: false,
        api: false,
        browser: false,
    };
    /// Workers served over the local database and its API.
    pub(crate) const LOCAL_SYSTEM: Self = Self {
        browser: false,
        ..Self::EVERYTHING
    };
    pub(crate) const WORKERS: Self = Self {
        workers: true,
        ..Self::NOTHING
    };
    pub(crate) const POSTGRES: Self = Self {
        postgres: true,
        ..Self::NOTHING
    };
    pub(crate) const PSQL: Self = Self {
        psql: true,
        ..Self::NOTHING
    };
    pub(crate) const DATABASE_AND_API: Self = Self {
        postgres: true,
        api: true,
        ..Self::NOTHING
    };
}

pub(crate) fn setup(workspace: &Workspace) -> Result<()> {
    setup_for(workspace, Needs::EVERYTHING)
}

pub(crate) fn setup_for(workspace: &Workspace, needs: Needs) -> Result<()> {
    crate::disk::keep_room(&crate::disk::target_dir(workspace.root()))?;
    if needs.workers {
        ensure_wasm_target()?;
    }
    if needs.postgres {
        ensure_postgres()?;
    } else if needs.psql {
        ensure_psql()?;
    }
    if needs.browser {
        ensure_chromium()?;
    }
    for tool in cargo_tools(workspace)? {
        let needed = match tool.bin {
            "postrust" => needs.api,
            _ => needs.workers,
        };
        if needed {
            tool.ensure(workspace)?;
        }
    }
    if needs.workers {
        ensure_node_modules(workspace)?;
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let installed = stdout_of(Command::new("rustup").args(["target", "list", "--installed"]))
        .is_some_and(|targets| targets.lines().any(|target| target.trim() == WASM_TARGET));
    if !installed {
        progress(format!("adding the {WASM_TARGET} target"));
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    Ok(())
}

fn ensure_postgres() -> Result<()> {
    if PgBinaries::locate().is_ok_and(|bins| bins.psql().is_file()) {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "PostgreSQL 15 is missing: run `sudo apt-get install -y postgresql-15` \
             (or point {} at its bin directory)",
            local_stack::env::PG_BIN_DIR
        );
    }
    progress("installing PostgreSQL 15 (apt-get, first time only)");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "postgresql-15",
            "postgresql-client-15",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    PgBinaries::locate().map(drop)
}

/// A `psql` to reach a remote database: PostgreSQL 15's, else any on
/// `PATH`; the client package alone when neither is there.
fn ensure_psql() -> Result<()> {
    let psql = local_stack::pg::psql_bin();
    if stdout_of(Command::new(&psql).arg("--version")).is_some() {
        return Ok(());
    }
    if !is_root() {
        bail!("psql is missing: run `sudo apt-get install -y postgresql-client`");
    }
    progress("installing the PostgreSQL client (apt-get, first time only)");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "postgresql-client",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Debian's Chromium, for the dashboard's browser test (playwright-core
/// drives it; Playwright's own browser download does not work here).
fn ensure_chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").is_file() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "Chromium is missing: run `sudo apt-get install -y chromium` (the dashboard's browser test uses it)"
        );
    }
    progress("installing Chromium (apt-get, first time only)");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn is_root() -> bool {
    stdout_of(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

/// How to tell which version of a tool is installed.
#[derive(Debug, Clone, Copy)]
enum VersionCheck {
    /// `BIN --version` prints it.
    Flag,
    /// The binary has no `--version`: ask cargo's install manifest.
    Manifest,
}

#[derive(Debug)]
struct CargoTool {
    package: &'static str,
    version: String,
    bin: &'static str,
    locked: bool,
    check: VersionCheck,
    build_time: &'static str,
}

fn cargo_tools(workspace: &Workspace) -> Result<[CargoTool; 3]> {
    Ok([
        CargoTool {
            package: "worker-build",
            version: WORKER_BUILD_VERSION.to_owned(),
            bin: "worker-build",
            locked: true,
            check: VersionCheck::Flag,
            build_time: "~10 min",
        },
        CargoTool {
            package: "wasm-bindgen-cli",
            // Must equal the library's version or the generated glue breaks.
            version: locked_version(&workspace.root().join("Cargo.lock"), "wasm-bindgen")?,
            bin: "wasm-bindgen",
            // `--locked` fails to build here.
            locked: false,
            check: VersionCheck::Flag,
            build_time: "~10 min",
        },
        CargoTool {
            package: "postrust-server",
            version: POSTRUST_VERSION.to_owned(),
            bin: "postrust",
            locked: false,
            check: VersionCheck::Manifest,
            build_time: "~10 min",
        },
    ])
}

impl CargoTool {
    fn ensure(&self, workspace: &Workspace) -> Result<()> {
        let installed = self.installed_version(workspace);
        if installed.as_deref() == Some(self.version.as_str()) {
            return Ok(());
        }
        let why = installed.map_or_else(
            || "first time only".to_owned(),
            |old| format!("replacing {old}"),
        );
        progress(format!(
            "installing {} {} ({why}, {})",
            self.package, self.version, self.build_time
        ));
        let mut command = Command::new("cargo");
        command
            .args([
                "install",
                self.package,
                "--version",
                &self.version,
                "--root",
            ])
            .arg(workspace.tools_root());
        if self.locked {
            command.arg("--locked");
        }
        // Our CARGO_TARGET_DIR holds the workspace's artifacts, not tools'.
        command.env_remove("CARGO_TARGET_DIR");
        run(&mut command)?;
        match self.installed_version(workspace) {
            Some(version) if version == self.version => Ok(()),
            other => bail!(
                "{} reports version {other:?} after installing {}",
                self.bin,
                self.version
            ),
        }
    }

    fn installed_version(&self, workspace: &Workspace) -> Option<String> {
        let bin = workspace.tool(self.bin);
        if !bin.is_file() {
            return None;
        }
        match self.check {
            VersionCheck::Flag => {
                let output = stdout_of(Command::new(&bin).arg("--version"))?;
                version_in(&output)
            }
            VersionCheck::Manifest => {
                let manifest =
                    fs::read_to_string(workspace.tools_root().join(".crates2.json")).ok()?;
                manifest_version(&manifest, self.package)
            }
        }
    }
}

/// The version in `--version` output such as `wasm-bindgen 0.2.130` or `0.8.7`.
fn version_in(output: &str) -> Option<String> {
    output
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
}

/// The installed version of `package` in cargo's `.crates2.json`, whose keys
/// read `"NAME VERSION (SOURCE)"`.
fn manifest_version(manifest: &str, package: &str) -> Option<String> {
    let manifest: serde_json::Value = serde_json::from_str(manifest).ok()?;
    manifest["installs"].as_object()?.keys().find_map(|key| {
        let mut parts = key.split(' ');
        (parts.next() == Some(package))
            .then(|| parts.next().map(str::to_owned))
            .flatten()
    })
}

/// The version of `package` in a Cargo.lock.
fn locked_version(lock_file: &Path, package: &str) -> Result<String> {
    let lock = fs::read_to_string(lock_file)
        .with_context(|| format!("reading {}", lock_file.display()))?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == name_line {
            let version = lines
                .next()
                .and_then(|line| line.trim().strip_prefix("version = \""))
                .and_then(|rest| rest.strip_suffix('"'));
            if let Some(version) = version {
                return Ok(version.to_owned());
            }
        }
    }
    bail!("{package} is not in {}", lock_file.display())
}

/// `npm ci` when node_modules is missing or older than package-lock.json.
fn ensure_node_modules(workspace: &Workspace) -> Result<()> {
    let lock = workspace.root().join("package-lock.json");
    let installed = workspace
        .root()
        .join("node_modules")
        .join(".package-lock.json");
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let stale = match (modified(&lock), modified(&installed)) {
        (_, None) => true,
        (Some(lock), Some(installed)) => lock > installed,
        (None, Some(_)) => false,
    };
    if stale {
        progress("installing npm packages (npm ci: wrangler, esbuild, binaryen)");
        run(Command::new("npm").arg("ci").current_dir(workspace.root()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_from_version_output() {
        assert_eq!(
            version_in("wasm-bindgen 0.2.130\n").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(version_in("0.8.7").as_deref(), Some("0.8.7"));
        assert_eq!(version_in("no version here"), None);
    }

    #[test]
    fn reads_versions_from_cargos_install_manifest() {
        let manifest = r#"{"installs":{
            "postrust-server 3.1.0 (registry+https://github.com/rust-lang/crates.io-index)":{"bins":["postrust"]},
            "worker-build 0.8.7 (registry+https://github.com/rust-lang/crates.io-index)":{"bins":["worker-build"]}}}"#;
        assert_eq!(
            manifest_version(manifest, "postrust-server").as_deref(),
            Some("3.1.0")
        );
        assert_eq!(manifest_version(manifest, "postrust"), None);
        assert_eq!(manifest_version("not json", "postrust-server"), None);
    }

    #[test]
    fn reads_the_locked_wasm_bindgen_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lock = dir.path().join("Cargo.lock");
        fs::write(
            &lock,
            "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"0.2.1\"\n\n\
             [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n",
        )
        .expect("write");
        assert_eq!(
            locked_version(&lock, "wasm-bindgen").expect("found"),
            "0.2.130"
        );
        assert!(locked_version(&lock, "worker").is_err());
    }
}
