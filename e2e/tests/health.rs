//! Both workers, built to wasm and served by real workerd, answer /health.

use e2e::Worker;
use local_stack::http;
use local_stack::testing::TestDatabase;

#[test]
fn both_workers_answer_health_when_configured() {
    let db = TestDatabase::create().expect("test database");
    for worker in [Worker::Interactions, Worker::Dashboard] {
        let dev = worker.start_with_database(&db, &[]).expect("worker starts");
        let response = http::get(&format!("{}/health", dev.url()), &[]).expect("health answers");
        assert_eq!(response.status, 200, "{worker:?}: {}", response.text());
        let body: serde_json::Value = serde_json::from_str(&response.text()).expect("json");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["problems"], serde_json::json!([]));
        let unknown = http::get(&format!("{}/no-such-page", dev.url()), &[]).expect("answers");
        assert_eq!(unknown.status, 404, "{worker:?}");
    }
}
