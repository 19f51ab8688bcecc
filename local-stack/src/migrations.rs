//! The migrations runner. `database/` holds `table_initial_setup.sql` (the
//! whole schema, for a fresh project) and `migration_NNN_name.sql` files,
//! applied in NNN order. `community_meta.schema_migrations` records which ran;
//! each file and its record are committed together or not at all. Works
//! against any Postgres URL, production Supabase included.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::pg::{Psql, quote_literal};

/// The whole schema for a fresh project.
pub const INITIAL_SETUP_FILE: &str = "table_initial_setup.sql";

const BOOTSTRAP_SQL: &str = "
create schema if not exists community_meta;
create table if not exists community_meta.schema_migrations (
    version    text primary key,
    name       text not null,
    applied_at timestamptz not null default now()
);
";

/// One `migration_NNN_name.sql` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// `NNN` exactly as written in the file name (e.g. `"001"`).
    pub version: String,
    /// The `name` part of the file name.
    pub name: String,
    pub path: PathBuf,
}

impl Migration {
    /// Parses `migration_NNN_name.sql`; `None` for any other file name.
    pub fn from_file_name(dir: &Path, file_name: &str) -> Option<Self> {
        let stem = file_name.strip_prefix("migration_")?.strip_suffix(".sql")?;
        let (version, name) = stem.split_once('_')?;
        let valid_version = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        (valid_version && valid_name).then(|| Self {
            version: version.to_owned(),
            name: name.to_owned(),
            path: dir.join(file_name),
        })
    }

    fn number(&self) -> u64 {
        self.version.parse().unwrap_or(u64::MAX)
    }

    /// `NNN_name`, for progress lines.
    pub fn label(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// Every migration in `dir`, ordered by number. Fails on a duplicate number or
/// a `migration_*.sql` file whose name does not parse.
pub fn discover(dir: &Path) -> Result<Vec<Migration>> {
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut migrations = Vec::new();
    for entry in entries {
        let file_name = entry?.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if !(file_name.starts_with("migration_") && file_name.ends_with(".sql")) {
            continue;
        }
        match Migration::from_file_name(dir, file_name) {
            Some(migration) => migrations.push(migration),
            None => bail!("{file_name}: migration files are named migration_NNN_name.sql"),
        }
    }
    migrations.sort_by_key(Migration::number);
    for pair in migrations.windows(2) {
        if pair[0].number() == pair[1].number() {
            bail!(
                "two migrations share number {}: {} and {}",
                pair[0].version,
                pair[0].path.display(),
                pair[1].path.display()
            );
        }
    }
    Ok(migrations)
}

/// Applies the migrations of one directory to one database.
#[derive(Debug)]
pub struct Migrator {
    psql: Psql,
    migrations: Vec<Migration>,
}

impl Migrator {
    pub fn new(psql: Psql, dir: &Path) -> Result<Self> {
        Ok(Self {
            psql,
            migrations: discover(dir)?,
        })
    }

    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// Whether the database has no `community_meta.schema_migrations` yet
    /// (checked without creating it).
    pub fn never_migrated(&self) -> Result<bool> {
        let missing = self
            .psql
            .query("select to_regclass('community_meta.schema_migrations') is null")?;
        Ok(missing == "t")
    }

    /// Versions recorded in `community_meta.schema_migrations` (creating the
    /// table first if this database has never been migrated).
    pub fn applied_versions(&self) -> Result<BTreeSet<String>> {
        self.psql
            .execute(BOOTSTRAP_SQL)
            .context("creating community_meta.schema_migrations")?;
        let rows = self
            .psql
            .query("select version from community_meta.schema_migrations")?;
        Ok(rows.lines().map(str::to_owned).collect())
    }

    /// Migrations not yet recorded, in order.
    pub fn pending(&self) -> Result<Vec<&Migration>> {
        let applied = self.applied_versions()?;
        Ok(self
            .migrations
            .iter()
            .filter(|migration| !applied.contains(&migration.version))
            .collect())
    }

    /// Applies one migration and records it, in one transaction.
    pub fn apply(&self, migration: &Migration) -> Result<()> {
        check_no_transaction_control(&migration.path)?;
        let record = format!(
            "insert into community_meta.schema_migrations (version, name) values ({}, {})",
            quote_literal(&migration.version),
            quote_literal(&migration.name)
        );
        self.psql
            .execute_file_atomically(&migration.path, Some(&record))
            .with_context(|| format!("migration {} failed and was rolled back", migration.label()))
    }

    /// Applies every pending migration in order, calling `on_applied` after
    /// each. Stops at the first failure; those before it stay applied.
    pub fn run(&self, mut on_applied: impl FnMut(&Migration, Duration)) -> Result<Vec<Migration>> {
        let mut applied = Vec::new();
        for migration in self.pending()? {
            let started = Instant::now();
            self.apply(migration)?;
            on_applied(migration, started.elapsed());
            applied.push(migration.clone());
        }
        Ok(applied)
    }
}

/// Applies `table_initial_setup.sql` from `dir` to an empty database, in one
/// transaction. The file records the migration versions it contains.
pub fn apply_initial_setup(psql: &Psql, dir: &Path) -> Result<()> {
    let file = dir.join(INITIAL_SETUP_FILE);
    if !file.is_file() {
        bail!("{} does not exist", file.display());
    }
    check_no_transaction_control(&file)?;
    psql.execute_file_atomically(&file, None)
}

const INITIAL_SETUP_HEADER: &str = "\
-- Community OS: the whole schema for a fresh Supabase project.
--
-- Paste into the Supabase SQL editor (or `cargo xtask migrate --initial-setup
-- --database-url ...`) on an empty project. It is every migration_*.sql in
-- order, and records them as applied, so later migrations apply on top.
-- Generated by `cargo xtask bundle-schema`; a test checks that this file is
-- current and that it and the migrations give the same schema.

";

/// What `table_initial_setup.sql` must hold: every migration in order, then
/// the record of each as applied.
pub fn initial_setup_sql(dir: &Path) -> Result<String> {
    let migrations = discover(dir)?;
    let mut out = String::from(INITIAL_SETUP_HEADER);
    for migration in &migrations {
        let sql = fs::read_to_string(&migration.path)
            .with_context(|| format!("reading {}", migration.path.display()))?;
        let file_name = migration
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        out.push_str(&format!("-- >>> {file_name}\n{sql}\n"));
    }
    let rows: Vec<String> = migrations
        .iter()
        .map(|m| {
            format!(
                "    ({}, {})",
                quote_literal(&m.version),
                quote_literal(&m.name)
            )
        })
        .collect();
    out.push_str("insert into community_meta.schema_migrations (version, name) values\n");
    out.push_str(&rows.join(",\n"));
    out.push_str("\non conflict (version) do nothing;\n");
    Ok(out)
}

/// The runner wraps each file in a transaction; a file that commits on its
/// own would break the all-or-nothing guarantee.
fn check_no_transaction_control(file: &Path) -> Result<()> {
    let sql = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if let Some((number, line)) = find_transaction_control(&sql) {
        bail!(
            "{}:{number}: `{line}`: migration files must not begin or end transactions; \
             the runner applies each file in its own transaction",
            file.display(),
            line = line.trim()
        );
    }
    Ok(())
}

/// A top-level `BEGIN;` / `COMMIT;` / `ROLLBACK;` / `START TRANSACTION;` line
/// (PL/pgSQL's `begin` opens a block and has no semicolon).
fn find_transaction_control(sql: &str) -> Option<(usize, &str)> {
    sql.lines().enumerate().find_map(|(index, line)| {
        let statement = line
            .trim()
            .trim_end_matches(';')
            .trim()
            .to_ascii_lowercase();
        let is_control = line.trim().ends_with(';')
            && matches!(
                statement.as_str(),
                "begin" | "begin transaction" | "commit" | "rollback" | "start transaction"
            );
        is_control.then_some((index + 1, line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_migration_file_names() {
        let dir = Path::new("database");
        let table = [
            (
                "migration_001_initial_schema.sql",
                Some(("001", "initial_schema")),
            ),
            ("migration_12_add-index.sql", Some(("12", "add-index"))),
            ("migration_001.sql", None),
            ("migration_x1_name.sql", None),
            ("migration_001_.sql", None),
            ("migration_001_bad name.sql", None),
            ("table_initial_setup.sql", None),
        ];
        for (file_name, expected) in table {
            let parsed = Migration::from_file_name(dir, file_name);
            let parsed = parsed
                .as_ref()
                .map(|m| (m.version.as_str(), m.name.as_str()));
            assert_eq!(parsed, expected, "{file_name}");
        }
    }

    #[test]
    fn orders_numerically_and_ignores_other_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "migration_10_later.sql",
            "migration_002_second.sql",
            "migration_001_first.sql",
            "table_initial_setup.sql",
            "README.md",
        ] {
            fs::write(dir.path().join(name), "select 1;").expect("write");
        }
        let labels: Vec<String> = discover(dir.path())
            .expect("discover")
            .iter()
            .map(Migration::label)
            .collect();
        assert_eq!(labels, ["001_first", "002_second", "10_later"]);
    }

    #[test]
    fn rejects_duplicate_numbers_and_bad_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("migration_001_a.sql"), "").expect("write");
        fs::write(dir.path().join("migration_1_b.sql"), "").expect("write");
        let error = discover(dir.path()).expect_err("duplicate").to_string();
        assert!(error.contains("share number"), "{error}");

        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("migration_first.sql"), "").expect("write");
        assert!(discover(dir.path()).is_err());
    }

    #[test]
    fn finds_top_level_transaction_control_only() {
        // PL/pgSQL's `begin` has no semicolon, and its `end;` closes a block.
        let plpgsql =
            "create function f() returns void language plpgsql as $$\nbegin\n  null;\nend;\n$$;";
        assert_eq!(find_transaction_control(plpgsql), None);
        assert_eq!(
            find_transaction_control("BEGIN;\ncreate table t();\nCOMMIT;"),
            Some((1, "BEGIN;"))
        );
        assert_eq!(
            find_transaction_control("create table t();\n  commit ;"),
            Some((2, "  commit ;"))
        );
    }

    #[test]
    fn the_committed_initial_setup_is_current() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../database");
        let expected = initial_setup_sql(&dir).expect("migrations");
        let committed = fs::read_to_string(dir.join(INITIAL_SETUP_FILE)).expect("initial setup");
        assert!(
            committed == expected,
            "database/{INITIAL_SETUP_FILE} is out of date with the migrations: run `cargo xtask bundle-schema`"
        );
    }
}
