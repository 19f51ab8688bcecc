//! Both workers, built to wasm and served by real workerd, answer /health:
//! 200 when configured, 503 naming every missing variable when not.

use e2e::Worker;
use e2e::discord::Signer;
use local_stack::http;
use local_stack::testing::TestDatabase;

/// What each worker needs besides the database.
fn interactions_vars(public_key: &str) -> [(&'static str, &str); 4] {
    [
        ("DISCORD_PUBLIC_KEY", public_key),
        ("DISCORD_APPLICATION_ID", "1300000000000000001"),
        ("DISCORD_BOT_TOKEN", "bot-token"),
        (
            "RELAY_SHARED_SECRET",
            "relay-secret-relay-secret-relay-secret!",
        ),
    ]
}

const DASHBOARD_VARS: [(&str, &str); 2] = [
    ("ADMIN_PASSWORD", "a-dashboard-password"),
    (
        "SESSION_SECRET",
        "dashboard-session-secret-at-least-32-bytes",
    ),
];

fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = http::get(url, &[]).expect("answers");
    let body = serde_json::from_slice(&response.body).expect("json");
    (response.status, body)
}

#[test]
fn both_workers_answer_health_when_configured() {
    let db = TestDatabase::create().expect("test database");
    let key = Signer::default().public_key_hex();
    let interactions = interactions_vars(&key);
    for (worker, extra) in [
        (Worker::Interactions, &interactions[..]),
        (Worker::Dashboard, &DASHBOARD_VARS[..]),
    ] {
        let dev = worker
            .start_with_database(&db, extra)
            .expect("worker starts");
        let (status, body) = get_json(&format!("{}/health", dev.url()));
        assert_eq!(status, 200, "{worker:?}: {body}");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["problems"], serde_json::json!([]));
        let unknown = http::get(&format!("{}/no-such-page", dev.url()), &[]).expect("answers");
        assert_eq!(unknown.status, 404, "{worker:?}");
    }
}

#[test]
fn a_misconfigured_worker_names_what_is_missing_without_values() {
    let dev = Worker::Interactions
        .start_misconfigured(&[("RELAY_SHARED_SECRET", "short-secret-value")])
        .expect("worker starts");
    let (status, body) = get_json(&format!("{}/health", dev.url()));
    assert_eq!(status, 503);
    assert_eq!(body["status"], "misconfigured");
    let problems = body["problems"].to_string();
    for name in [
        "DISCORD_PUBLIC_KEY",
        "DISCORD_APPLICATION_ID",
        "SUPABASE_REST_URL",
        "RELAY_SHARED_SECRET",
    ] {
        assert!(problems.contains(name), "{problems}");
    }
    assert!(!problems.contains("short-secret-value"), "{problems}");
    // Interactions are refused the same way, by name, not with a panic.
    let response =
        http::post_json(&format!("{}/interactions", dev.url()), &[], "{}").expect("answers");
    assert_eq!(response.status, 503);
    assert!(response.text().contains("DISCORD_PUBLIC_KEY"));
}

#[test]
fn health_refuses_what_every_request_would_refuse() {
    // Every variable is present and well formed, but a publishable key is
    // not one the database accepts for writes: the application cannot be
    // built from it, so /health must not say "ok" while every request,
    // Discord's endpoint check included, would fail.
    let key = Signer::default().public_key_hex();
    let common = [
        ("SUPABASE_REST_URL", "http://127.0.0.1:9/rest/v1"),
        (
            "SUPABASE_SERVICE_ROLE_KEY",
            "sb_publishable_not-a-secret-key",
        ),
    ];
    let interactions = interactions_vars(&key);
    for (worker, extra) in [
        (Worker::Interactions, &interactions[..]),
        (Worker::Dashboard, &DASHBOARD_VARS[..]),
    ] {
        let vars: Vec<_> = common.iter().chain(extra).copied().collect();
        let dev = worker.start_misconfigured(&vars).expect("worker starts");
        let (status, body) = get_json(&format!("{}/health", dev.url()));
        assert_eq!(status, 503, "{worker:?}: {body}");
        assert_eq!(body["status"], "misconfigured");
        let problems = body["problems"].to_string();
        assert!(
            problems.contains("SUPABASE_SERVICE_ROLE_KEY"),
            "{worker:?}: {problems}"
        );
        assert!(!problems.contains("not-a-secret-key"), "{problems}");
    }
}
