//! `cargo xtask build-workers [--dev]`: worker-build for both workers, with
//! the locally installed wasm-bindgen, wasm-opt and esbuild (worker-build
//! would otherwise download them from GitHub, which fails here).

use std::process::Command;

use anyhow::Result;

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
