//! `cargo xtask bundle-schema`: regenerate `database/table_initial_setup.sql`
//! from the migrations (every one in order, then their records).

use std::fs;

use anyhow::{Context as _, Result};
use local_stack::migrations::{INITIAL_SETUP_FILE, initial_setup_sql};

use crate::shell::progress;
use crate::workspace::Workspace;

pub(crate) fn command(workspace: &Workspace) -> Result<()> {
    let dir = workspace.database_dir();
    let sql = initial_setup_sql(&dir)?;
    let file = dir.join(INITIAL_SETUP_FILE);
    let before = fs::read_to_string(&file).unwrap_or_default();
    if before == sql {
        progress(format!("{} is up to date", file.display()));
        return Ok(());
    }
    fs::write(&file, sql).with_context(|| format!("writing {}", file.display()))?;
    progress(format!("wrote {}", file.display()));
    Ok(())
}
