//! `cargo xtask migrate [--database-url URL] [--initial-setup]`: apply pending
//! migrations to any Postgres (production Supabase too), by default to the
//! local dev stack's database.

use anyhow::{Result, bail};
use local_stack::migrations::{self, Migration, Migrator};
use local_stack::pg::{Psql, redact};

use crate::shell::progress;
use crate::stack::{self, DbPort};
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    /// Target database (e.g. the Supabase connection string). Default: the
    /// local dev stack, started for the run if it is not running.
    #[arg(long, env = "COMMUNITY_OS_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
    /// On a database that has never been migrated, apply
    /// database/table_initial_setup.sql first (a fresh Supabase project).
    #[arg(long)]
    initial_setup: bool,
    #[command(flatten)]
    db_port: DbPort,
}

pub(crate) fn command(workspace: &Workspace, args: &MigrateArgs) -> Result<()> {
    match &args.database_url {
        Some(url) => migrate(workspace, &Psql::new(url), args.initial_setup).map(drop),
        None => {
            // Leaves the cluster as it found it: stopped again if we started it.
            let cluster = stack::start_cluster(workspace, args.db_port.db_port, false)?;
            let psql = cluster.psql(stack::DATABASE);
            migrate(workspace, &psql, args.initial_setup).map(drop)
        }
    }
}

/// Applies pending migrations from `database/`, printing each, then asks a
/// listening PostgREST to reload its schema cache.
pub(crate) fn migrate(
    workspace: &Workspace,
    psql: &Psql,
    initial_setup: bool,
) -> Result<Vec<Migration>> {
    let dir = workspace.database_dir();
    progress(format!("migrating {}", redact(psql.url())));
    let migrator = Migrator::new(psql.clone(), &dir)?;
    if migrator.migrations().is_empty() {
        bail!("no migration_NNN_name.sql files in {}", dir.display());
    }
    if initial_setup && migrator.never_migrated()? {
        println!("    applying {}", migrations::INITIAL_SETUP_FILE);
        migrations::apply_initial_setup(psql, &dir)?;
    }
    let applied = migrator.run(|migration, took| {
        println!(
            "    applied {} ({} ms)",
            migration.label(),
            took.as_millis()
        );
    })?;
    if applied.is_empty() {
        println!(
            "    up to date ({} migrations already applied)",
            migrator.migrations().len()
        );
    } else {
        psql.execute("notify pgrst, 'reload schema'")?;
    }
    Ok(applied)
}
