//! The environment contract between `cargo xtask` and the tests it runs, and
//! the cache paths both sides agree on.
//!
//! `cargo xtask test` starts a throwaway cluster, builds a template database
//! with every migration applied, then exports these variables to the test
//! processes. [`crate::testing`] reads them.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

/// Admin URL of the running cluster, e.g. `postgres://postgres@127.0.0.1:PORT/postgres`.
pub const PG_URL: &str = "COMMUNITY_OS_PG_URL";
/// Name of a database in that cluster with every migration applied.
pub const PG_TEMPLATE: &str = "COMMUNITY_OS_PG_TEMPLATE";
/// Path of the `postrust` binary (the PostgREST-compatible API server).
pub const POSTRUST_BIN: &str = "COMMUNITY_OS_POSTRUST_BIN";
/// Secret the API keys are signed with and postrust verifies them with.
pub const JWT_SECRET: &str = "COMMUNITY_OS_JWT_SECRET";
/// Repository root.
pub const ROOT: &str = "COMMUNITY_OS_ROOT";
/// Path of the `wrangler` launcher (`node_modules/.bin/wrangler`).
pub const WRANGLER: &str = "COMMUNITY_OS_WRANGLER";
/// Directory holding PostgreSQL's binaries (`initdb`, `pg_ctl`, `psql`).
pub const PG_BIN_DIR: &str = "COMMUNITY_OS_PG_BIN";
/// Directory where test processes register the servers they spawn, so that
/// `cargo xtask test` can stop any a killed test left behind. Optional.
pub const RUN_DIR: &str = "COMMUNITY_OS_RUN_DIR";
/// Overrides the cache directory (`$HOME/.cache/community-os`).
pub const CACHE: &str = "COMMUNITY_OS_CACHE";

/// Cache outside any checkout, so a fresh clone (CI) reuses installed tools.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("community-os")
}

/// `cargo install --root` directory for worker-build, wasm-bindgen and postrust.
pub fn tools_dir() -> PathBuf {
    cache_dir().join("tools")
}

/// A variable `cargo xtask test` must have set.
pub(crate) fn required(name: &str) -> Result<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .with_context(|| {
            format!(
                "{name} is not set: run the tests through `cargo xtask test`, \
             which starts the local database stack"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variable_names_the_command_to_run() {
        let error = required("COMMUNITY_OS_SURELY_NOT_SET").expect_err("variable is unset");
        let message = error.to_string();
        assert!(message.contains("COMMUNITY_OS_SURELY_NOT_SET"), "{message}");
        assert!(message.contains("cargo xtask test"), "{message}");
    }
}
