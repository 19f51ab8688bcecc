//! The API stack the workers talk to: a cloned database served by postrust,
//! with Supabase's key semantics. Run through `cargo xtask test`.
//!
//! Uses a throwaway table and function, not our schema, so it checks the
//! stack itself.

use std::time::Duration;

use local_stack::http;
use local_stack::testing::TestDatabase;

const FIXTURE: &str = "
create table notes (id int generated always as identity primary key, body text not null);
alter table notes enable row level security;
insert into notes (body) values ('seeded');
create function add_note(body text) returns int language sql
    as $$ insert into notes (body) values (body) returning id $$;
notify pgrst, 'reload schema';
";

/// Creates the fixture and waits for postrust to reload its schema cache.
fn with_fixture() -> TestDatabase {
    let db = TestDatabase::create().expect("test database");
    db.sql(FIXTURE);
    let url = format!("{}/notes", db.api_url());
    let bearer = format!("Bearer {}", db.service_key());
    wait_for(|| {
        http::get(&url, &[("Authorization", &bearer)]).is_ok_and(|response| response.status == 200)
    });
    db
}

fn wait_for(mut ready: impl FnMut() -> bool) {
    for _ in 0..100 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition not met within 5 s");
}

fn headers(key: &str) -> [(&'static str, String); 2] {
    [
        ("apikey", key.to_owned()),
        ("Authorization", format!("Bearer {key}")),
    ]
}

fn call(db: &TestDatabase, key: &str, path: &str, body: Option<&str>) -> http::Response {
    let owned = headers(key);
    let headers: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("{}{path}", db.api_url());
    match body {
        Some(body) => http::post_json(&url, &headers, body),
        None => http::get(&url, &headers),
    }
    .expect("request")
}

#[test]
fn service_role_calls_rpc_and_bypasses_rls() {
    let db = with_fixture();
    let response = call(
        &db,
        db.service_key(),
        "/rpc/add_note",
        Some(r#"{"body":"via rpc"}"#),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "2");

    let response = call(&db, db.service_key(), "/notes?select=body&order=id", None);
    assert_eq!(response.status, 200, "{}", response.text());
    let rows: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(
        rows,
        serde_json::json!([{"body": "seeded"}, {"body": "via rpc"}])
    );
    assert_eq!(db.sql("select count(*) from notes"), "2");
}

#[test]
fn anon_is_denied_by_rls() {
    let db = with_fixture();
    let response = call(&db, db.anon_key(), "/notes", None);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "[]", "RLS hides every row from anon");

    let response = call(
        &db,
        db.anon_key(),
        "/rpc/add_note",
        Some(r#"{"body":"sneaky"}"#),
    );
    assert!(
        matches!(response.status, 401 | 403),
        "{} {}",
        response.status,
        response.text()
    );
    assert!(
        response.text().contains("row-level security"),
        "{}",
        response.text()
    );
    assert_eq!(db.sql("select count(*) from notes"), "1");
}

#[test]
fn forged_keys_are_rejected() {
    let db = with_fixture();
    let forged = local_stack::jwt::sign(
        "not-the-secret-not-the-secret-not-the-secret",
        local_stack::jwt::Role::ServiceRole,
        0,
    );
    let response = call(&db, &forged, "/notes", None);
    assert_eq!(response.status, 401, "{}", response.text());
}

#[test]
fn test_databases_are_isolated_and_cleaned_up() {
    let first = with_fixture();
    let second = TestDatabase::create().expect("second database");
    assert_ne!(first.name(), second.name());
    assert_ne!(first.api_url(), second.api_url());
    assert_eq!(
        second.sql("select to_regclass('public.notes') is null"),
        "t"
    );

    let name = second.name().to_owned();
    let api = second.api_url().to_owned();
    drop(second);
    assert_eq!(
        first.sql(&format!(
            "select count(*) from pg_database where datname = '{name}'"
        )),
        "0"
    );
    assert!(http::get(&api, &[]).is_err(), "its API stopped");
}
