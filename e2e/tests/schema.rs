//! `table_initial_setup.sql` on an empty database and every migration in order
//! on another must give the same schema, and record the same migrations.

use std::path::Path;
use std::process::Command;

use local_stack::migrations::{self, Migrator};
use local_stack::{PgBinaries, Psql, pg};

struct Scratch {
    admin: Psql,
    name: String,
}

impl Scratch {
    fn create(admin: &Psql, label: &str) -> Self {
        let name = format!("schema_{label}_{}", std::process::id());
        admin
            .execute(&format!(
                "drop database if exists {0}; create database {0}",
                pg::quote_ident(&name)
            ))
            .expect("create scratch database");
        Self {
            admin: admin.clone(),
            name,
        }
    }

    fn url(&self) -> String {
        pg::with_database(self.admin.url(), &self.name).expect("database url")
    }

    fn dump(&self) -> String {
        let bins = PgBinaries::locate().expect("postgres binaries");
        let out = Command::new(bins.bin("pg_dump"))
            .args(["--schema-only", "--no-owner", "--no-privileges", "--dbname"])
            .arg(self.url())
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = String::from_utf8_lossy(&out.stdout).into_owned();
        // Grants are compared separately below: --no-privileges hides them here.
        dump.lines()
            .filter(|l| {
                !l.starts_with("-- Dumped")
                    && !l.starts_with("\\restrict")
                    && !l.starts_with("\\unrestrict")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn query(&self, sql: &str) -> String {
        Psql::new(self.url()).query(sql).expect("query")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.admin.execute(&format!(
            "drop database if exists {} with (force)",
            pg::quote_ident(&self.name)
        ));
    }
}

#[test]
fn initial_setup_and_migrations_give_the_same_schema() {
    let admin = Psql::new(std::env::var(local_stack::env::PG_URL).unwrap_or_else(|_| {
        panic!(
            "{} is not set: run through `cargo xtask test`, which starts the local database stack",
            local_stack::env::PG_URL
        )
    }));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../database");

    let fresh = Scratch::create(&admin, "fresh");
    migrations::apply_initial_setup(&Psql::new(fresh.url()), &dir).expect("initial setup applies");

    let migrated = Scratch::create(&admin, "migrated");
    let ran = Migrator::new(Psql::new(migrated.url()), &dir)
        .expect("migrator")
        .run(|_, _| {})
        .expect("migrations apply");
    assert!(!ran.is_empty(), "no migrations found in {}", dir.display());

    let (a, b) = (fresh.dump(), migrated.dump());
    if a != b {
        let first = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        panic!(
            "schemas differ from line {first}:\ninitial setup: {:?}\nmigrations:    {:?}",
            a.lines().nth(first),
            b.lines().nth(first)
        );
    }

    let grants = "select grantee, table_name, privilege_type from information_schema.role_table_grants \
                  where table_schema = 'public' order by 1, 2, 3";
    assert_eq!(fresh.query(grants), migrated.query(grants));
    let rls = "select relname, relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace \
               where nspname = 'public' and relkind = 'r' order by 1";
    assert_eq!(fresh.query(rls), migrated.query(rls));
    assert!(
        !fresh.query(rls).contains("|f"),
        "a table without RLS:\n{}",
        fresh.query(rls)
    );

    let recorded = "select version, name from community_meta.schema_migrations order by version";
    assert_eq!(fresh.query(recorded), migrated.query(recorded));

    // Running the migrator on the freshly set-up database applies nothing more.
    let pending = Migrator::new(Psql::new(fresh.url()), &dir)
        .expect("migrator")
        .run(|_, _| {})
        .expect("no-op run");
    assert!(pending.is_empty(), "initial setup is missing {pending:?}");
}
