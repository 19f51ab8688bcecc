//! Where things are: the checkout, the tool cache, and the two workers.

use std::path::{Path, PathBuf};

/// The Workers configuration, relative to the repository root.
pub(crate) const WRANGLER_CONFIG: &str = "wrangler.toml";

/// A worker crate and how `cargo xtask dev` serves it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Worker {
    /// Crate directory; worker-build writes `<crate_dir>/build/`.
    pub(crate) crate_dir: &'static str,
    /// `[env.NAME]` in [`WRANGLER_CONFIG`].
    pub(crate) wrangler_env: &'static str,
    /// `cargo xtask dev` port.
    pub(crate) dev_port: u16,
}

pub(crate) const WORKERS: [Worker; 2] = [
    Worker {
        crate_dir: "interactions-worker",
        wrangler_env: "interactions",
        dev_port: 8787,
    },
    Worker {
        crate_dir: "dashboard-worker",
        wrangler_env: "dashboard",
        dev_port: 8788,
    },
];

/// Paths of this checkout and of the shared tool cache.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    root: PathBuf,
    tools: PathBuf,
}

impl Workspace {
    pub(crate) fn locate() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Self {
            root,
            tools: local_stack::env::tools_dir(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `cargo install --root` of the tools (outside the checkout, so a fresh
    /// clone reuses them).
    pub(crate) fn tools_root(&self) -> &Path {
        &self.tools
    }

    /// A binary installed with `cargo install --root`.
    pub(crate) fn tool(&self, name: &str) -> PathBuf {
        self.tools.join("bin").join(name)
    }

    /// A binary from `node_modules/.bin`.
    pub(crate) fn node_bin(&self, name: &str) -> PathBuf {
        self.root.join("node_modules").join(".bin").join(name)
    }

    pub(crate) fn database_dir(&self) -> PathBuf {
        self.root.join("database")
    }

    /// Persistent local state of `cargo xtask dev` / `stack` (gitignored).
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.root.join(".state")
    }

    pub(crate) fn wrangler_config(&self) -> PathBuf {
        self.root.join(WRANGLER_CONFIG)
    }

    /// `PATH` with the tools first.
    pub(crate) fn path_with_tools(&self) -> std::ffi::OsString {
        let mut paths = vec![self.tools.join("bin")];
        if let Some(path) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(paths).unwrap_or_default()
    }
}
