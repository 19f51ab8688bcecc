//! `cargo xtask msrv`: check that the workspace still builds with the oldest
//! Rust it declares (`rust-version` in the root `Cargo.toml`), natively and
//! for the workers' wasm32 target.
//!
//! Not part of `cargo xtask test`: it downloads a second toolchain and checks
//! everything again, minutes that every CI run would pay for a question that
//! changes only when a dependency or the code picks up a newer feature. Run it
//! when bumping dependencies or `rust-version`.

use std::process::Command;

use anyhow::{Context as _, Result};

use crate::shell::{progress, run, stdout_of};
use crate::workspace::Workspace;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WORKERS: [&str; 2] = ["interactions-worker", "dashboard-worker"];

pub(crate) fn command(workspace: &Workspace) -> Result<()> {
    let manifest_path = workspace.root().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let version = declared_rust_version(&manifest)
        .with_context(|| format!("no rust-version in {}", manifest_path.display()))?;

    let installed = stdout_of(Command::new("rustup").args(["toolchain", "list"]))
        .is_some_and(|list| has_toolchain(&list, &version));
    if !installed {
        progress(format!(
            "installing Rust {version} (minimal, with {WASM_TARGET})"
        ));
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            &version,
            "--profile",
            "minimal",
            "--target",
            WASM_TARGET,
        ]))?;
    }
    // Its own target directory: artifacts of two compilers do not mix, and
    // the everyday build keeps its cache.
    let target_dir = workspace.root().join("target").join("msrv");
    let cargo = |args: &[&str]| {
        let mut command = Command::new("rustup");
        command
            .args(["run", &version, "cargo"])
            .args(args)
            .current_dir(workspace.root())
            .env("CARGO_TARGET_DIR", &target_dir)
            // Set by the cargo that runs xtask; they would pin the newer one.
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC")
            .env_remove("RUSTDOC");
        command
    };
    progress(format!("checking the workspace with Rust {version}"));
    run(&mut cargo(&[
        "check",
        "--locked",
        "--workspace",
        "--all-targets",
    ]))?;
    progress(format!(
        "checking the workers for {WASM_TARGET} with Rust {version}"
    ));
    let mut wasm = vec!["check", "--locked", "--target", WASM_TARGET];
    for worker in WORKERS {
        wasm.extend(["-p", worker]);
    }
    run(&mut cargo(&wasm))?;
    progress(format!(
        "the workspace builds with Rust {version}, its declared rust-version"
    ));
    Ok(())
}

/// `rust-version` of `[workspace.package]` (or of `[package]`).
fn declared_rust_version(manifest: &str) -> Option<String> {
    let mut section = "";
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if !matches!(section, "[workspace.package]" | "[package]") {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "rust-version" {
            let version = value.trim().trim_matches('"');
            return (!version.is_empty()).then(|| version.to_owned());
        }
    }
    None
}

/// Whether `rustup toolchain list` shows `version` (`1.91` matches
/// `1.91-x86_64-unknown-linux-gnu`, not `1.910…` or `1.91.1-…`).
fn has_toolchain(list: &str, version: &str) -> bool {
    list.lines().any(|line| {
        line.split_whitespace()
            .next()
            .and_then(|name| name.strip_prefix(version))
            .is_some_and(|rest| rest.starts_with('-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_workspace_rust_version() {
        let manifest = "[workspace]\nmembers = [\"core\"]\n\n[workspace.package]\n\
                        version = \"0.1.0\"\nrust-version = \"1.91\"\n\n\
                        [workspace.dependencies]\nrust-version = \"9.9\"\n";
        assert_eq!(declared_rust_version(manifest).as_deref(), Some("1.91"));
        assert_eq!(declared_rust_version("[package]\nname = \"x\"\n"), None);
        assert_eq!(
            declared_rust_version("[dependencies]\nrust-version = \"1.0\"\n"),
            None
        );
    }

    #[test]
    fn finds_the_toolchain_by_version() {
        let list = "stable-x86_64-unknown-linux-gnu (active, default)\n\
                    1.91-x86_64-unknown-linux-gnu\nnightly-x86_64-unknown-linux-gnu\n";
        assert!(has_toolchain(list, "1.91"));
        assert!(!has_toolchain(list, "1.9"));
        assert!(!has_toolchain(list, "1.95"));
    }

    #[test]
    fn the_workspace_declares_a_rust_version() {
        let manifest = include_str!("../../Cargo.toml");
        let version = declared_rust_version(manifest).expect("rust-version in Cargo.toml");
        assert!(version.starts_with("1."), "{version}");
    }
}
