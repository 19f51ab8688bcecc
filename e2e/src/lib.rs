//! Shared pieces of the end-to-end tests: where the workspace is, and how to
//! start each worker under `wrangler dev` the way production configures it.

pub mod discord;

use std::path::PathBuf;

use anyhow::{Context as _, Result, ensure};
use local_stack::WranglerDev;
use local_stack::testing::TestDatabase;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A worker of this project, as named in `wrangler.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worker {
    Interactions,
    Dashboard,
}

impl Worker {
    /// The `[env.*]` section in `wrangler.toml`.
    pub fn env(self) -> &'static str {
        match self {
            Self::Interactions => "interactions",
            Self::Dashboard => "dashboard",
        }
    }

    /// The crate whose bundle wrangler serves.
    pub fn crate_dir(self) -> PathBuf {
        root().join(match self {
            Self::Interactions => "interactions-worker",
            Self::Dashboard => "dashboard-worker",
        })
    }

    /// Starts the prebuilt bundle under `wrangler dev` with `vars`.
    pub fn start(self, vars: &[(&str, &str)]) -> Result<WranglerDev> {
        self.start_with(vars, false)
    }

    /// Starts it even though `/health` will answer 503 (misconfigured on purpose).
    pub fn start_misconfigured(self, vars: &[(&str, &str)]) -> Result<WranglerDev> {
        self.start_with(vars, true)
    }

    fn start_with(self, vars: &[(&str, &str)], any_status: bool) -> Result<WranglerDev> {
        let bundle = self.crate_dir().join("build/index.js");
        ensure!(
            bundle.is_file(),
            "{} is not built: run `cargo xtask build-workers` (cargo xtask test does)",
            bundle.display()
        );
        let mut builder = WranglerDev::builder(root().join("wrangler.toml"))
            .env(self.env())
            .vars(vars.iter().copied());
        if any_status {
            builder = builder.ready_on_any_status();
        }
        builder
            .start()
            .with_context(|| format!("starting the {} worker", self.env()))
    }

    /// Starts the worker wired to a test database, as `cargo xtask dev` does.
    pub fn start_with_database(
        self,
        db: &TestDatabase,
        extra: &[(&str, &str)],
    ) -> Result<WranglerDev> {
        let mut vars = vec![
            ("SUPABASE_REST_URL", db.api_url()),
            ("SUPABASE_SERVICE_ROLE_KEY", db.service_key()),
        ];
        vars.extend_from_slice(extra);
        self.start(&vars)
    }
}
