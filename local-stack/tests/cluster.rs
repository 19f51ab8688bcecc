//! A real PostgreSQL 15 cluster in a temporary directory: Supabase's baseline
//! and the migrations runner. Needs only the PG 15 binaries (`cargo xtask setup`).

use std::fs;

use local_stack::migrations::{self, Migrator};
use local_stack::process::free_port;
use local_stack::{Cluster, Psql};

fn cluster() -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port().expect("free port");
    let cluster = Cluster::start(dir.path().join("pg"), port).expect("cluster starts");
    (dir, cluster)
}

#[test]
fn fresh_cluster_has_supabase_roles_and_grants() {
    let (_dir, cluster) = cluster();
    let roles = cluster
        .psql("postgres")
        .query(
            "select rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles \
             where rolname in ('anon', 'authenticated', 'service_role', 'authenticator') \
             order by rolname",
        )
        .expect("query roles");
    assert_eq!(
        roles,
        "anon|f|f|f\nauthenticated|f|f|f\nauthenticator|t|f|f\nservice_role|f|f|t"
    );
    let members = cluster
        .psql("postgres")
        .query(
            "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid \
             join pg_roles u on u.oid = m.member where u.rolname = 'authenticator' order by 1",
        )
        .expect("query memberships");
    assert_eq!(members, "anon\nauthenticated\nservice_role");

    // A database created afterwards inherits template1's default privileges.
    cluster
        .create_database("app", None)
        .expect("create database");
    let app = cluster.psql("app");
    app.execute(
        "create table t (id int); create function f() returns int language sql as 'select 1';",
    )
    .expect("create objects");
    let grants = app
        .query(
            "select has_table_privilege('anon', 't', 'select'), \
                    has_table_privilege('service_role', 't', 'insert'), \
                    has_function_privilege('authenticated', 'f()', 'execute'), \
                    has_schema_privilege('anon', 'public', 'usage')",
        )
        .expect("query grants");
    assert_eq!(grants, "t|t|t|t");
}

#[test]
fn restarting_a_running_cluster_reuses_it() {
    let (dir, cluster) = cluster();
    assert_eq!(
        Cluster::running_port(&dir.path().join("pg")),
        Some(cluster.port())
    );
    let again = Cluster::start(dir.path().join("pg"), cluster.port()).expect("attach");
    drop(again); // Did not start it: must not stop it.
    assert_eq!(
        cluster
            .psql("postgres")
            .query("select 1")
            .expect("still up"),
        "1"
    );
    let other_port = free_port().expect("free port");
    let error = Cluster::start(dir.path().join("pg"), other_port).expect_err("port mismatch");
    assert!(error.to_string().contains("already running"), "{error}");
    cluster.stop().expect("stop");
    assert_eq!(Cluster::running_port(&dir.path().join("pg")), None);
}

#[test]
fn migrations_apply_in_order_once_and_roll_back_on_failure() {
    let (_dir, cluster) = cluster();
    cluster
        .create_database("app", None)
        .expect("create database");
    let psql = cluster.psql("app");
    let sql_dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, sql: &str| fs::write(sql_dir.path().join(name), sql).expect("write");
    write("migration_001_first.sql", "create table a (id int);");
    write("migration_002_second.sql", "insert into a values (2);");

    let migrator = Migrator::new(psql.clone(), sql_dir.path()).expect("discover");
    let mut ran = Vec::new();
    let applied = migrator.run(|m, _| ran.push(m.label())).expect("migrate");
    assert_eq!(ran, ["001_first", "002_second"]);
    assert_eq!(applied.len(), 2);
    let recorded = psql
        .query("select version, name from community_meta.schema_migrations order by version")
        .expect("recorded");
    assert_eq!(recorded, "001|first\n002|second");

    // Second run: nothing pending.
    assert!(migrator.run(|_, _| {}).expect("no-op").is_empty());

    // A failing migration leaves neither its changes nor its record.
    write(
        "migration_003_broken.sql",
        "insert into a values (3);\nselect * from missing_table;",
    );
    let migrator = Migrator::new(psql.clone(), sql_dir.path()).expect("discover");
    let error = migrator.run(|_, _| {}).expect_err("fails");
    let message = format!("{error:#}");
    assert!(message.contains("003_broken"), "{message}");
    assert!(message.contains("missing_table"), "{message}");
    assert_eq!(
        psql.query("select array_agg(id order by id) from a")
            .expect("rows"),
        "{2}"
    );
    assert!(
        migrator
            .pending()
            .expect("pending")
            .iter()
            .any(|m| m.version == "003")
    );

    // Files must not manage transactions themselves.
    write(
        "migration_003_broken.sql",
        "begin;\ninsert into a values (3);\ncommit;",
    );
    let migrator = Migrator::new(psql, sql_dir.path()).expect("discover");
    let message = format!("{:#}", migrator.run(|_, _| {}).expect_err("refused"));
    assert!(
        message.contains("must not begin or end transactions"),
        "{message}"
    );
}

#[test]
fn initial_setup_applies_to_an_empty_database() {
    let (_dir, cluster) = cluster();
    cluster
        .create_database("app", None)
        .expect("create database");
    let sql_dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        sql_dir.path().join(migrations::INITIAL_SETUP_FILE),
        "create schema community_meta;
         create table community_meta.schema_migrations (
             version text primary key, name text not null,
             applied_at timestamptz not null default now());
         create table a (id int);
         insert into community_meta.schema_migrations (version, name) values ('001', 'first');",
    )
    .expect("write");
    fs::write(
        sql_dir.path().join("migration_001_first.sql"),
        "create table a (id int);",
    )
    .expect("write");
    fs::write(
        sql_dir.path().join("migration_002_second.sql"),
        "alter table a add b int;",
    )
    .expect("write");

    let psql: Psql = cluster.psql("app");
    let migrator = Migrator::new(psql.clone(), sql_dir.path()).expect("discover");
    assert!(migrator.never_migrated().expect("check"));
    migrations::apply_initial_setup(&psql, sql_dir.path()).expect("initial setup");
    assert!(!migrator.never_migrated().expect("check"));
    let pending: Vec<String> = migrator
        .pending()
        .expect("pending")
        .iter()
        .map(|m| m.label())
        .collect();
    assert_eq!(pending, ["002_second"]);
}

#[test]
fn large_scripts_and_large_results_do_not_deadlock() {
    let (_dir, cluster) = cluster();
    // Well over a pipe buffer (64 KiB) both ways.
    let script = "select repeat('x', 100) from generate_series(1, 10);\n".repeat(2000);
    assert!(script.len() > 100_000);
    let rows = cluster.psql("postgres").query(&script).expect("query");
    assert_eq!(rows.lines().count(), 20_000);
}
