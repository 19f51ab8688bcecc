//! `cargo xtask build-workers [--dev]`: worker-build for both workers, with
//! the locally installed wasm-bindgen, wasm-opt and esbuild (worker-build
//! would otherwise download them from GitHub, which fails here).

use std::process::Command;

use anyhow::{Context as _, Result};

use crate::shell::{progress, run};
use crate::workspace::{WORKERS, Workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Release,
    Dev,
}

pub(crate) fn build_workers(workspace: &Workspace, profile: Profile) -> Result<()> {
    let flag = match profile {
        Profile::Release => "--release",
        Profile::Dev => "--dev",
    };
    for worker in WORKERS {
        progress(format!(
            "building {} (worker-build {flag})",
            worker.crate_dir
        ));
        // CARGO_TARGET_DIR, when set, passes through to cargo.
        run(Command::new(workspace.tool("worker-build"))
            .arg(flag)
            .current_dir(workspace.root().join(worker.crate_dir))
            .env("WASM_BINDGEN_BIN", workspace.tool("wasm-bindgen"))
            .env("WASM_OPT_BIN", workspace.node_bin("wasm-opt"))
            .env("ESBUILD_BIN", workspace.node_bin("esbuild"))
            .env("PATH", workspace.path_with_tools()))?;
    }
    Ok(())
}

/// `wrangler deploy --dry-run` for each worker: wrangler validates and
/// bundles exactly what would ship (offline), so a broken bundle never lands.
/// Prints each bundle's size as wrangler reports it.
pub(crate) fn deploy_dry_run(workspace: &Workspace) -> Result<()> {
    let out = tempfile::Builder::new()
        .prefix("community-os-dry-run-")
        .tempdir()
        .context("creating a temporary directory")?;
    for worker in WORKERS {
        let outdir = out.path().join(worker.wrangler_env);
        let mut command = Command::new(workspace.node_bin("wrangler"));
        command
            .current_dir(workspace.root())
            .args([
                "deploy",
                "--dry-run",
                "--env",
                worker.wrangler_env,
                "--outdir",
            ])
            .arg(&outdir)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .env("NO_COLOR", "1");
        let output = command.output().with_context(|| {
            format!(
                "running wrangler deploy --dry-run --env {}",
                worker.wrangler_env
            )
        })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            anyhow::bail!(
                "wrangler deploy --dry-run --env {} failed:\n{text}",
                worker.wrangler_env
            );
        }
        let size = text
            .lines()
            .find(|line| line.contains("Total Upload"))
            .map_or_else(
                || "size not reported".to_owned(),
                |line| line.trim().to_owned(),
            );
        println!("    {:<12} {size}", worker.wrangler_env);
    }
    Ok(())
}

/// Build gateway-relay with the `relay` profile (opt-level 3 for its
/// dependencies too) and return the binary's path.
pub(crate) fn build_relay(workspace: &Workspace) -> Result<std::path::PathBuf> {
    progress("building gateway-relay (relay profile)");
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace.root())
            .args([
                "build",
                "--quiet",
                "--profile",
                "relay",
                "-p",
                "gateway-relay",
            ]),
    )?;
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| workspace.root().join("target"));
    Ok(target.join("relay/gateway-relay"))
}
