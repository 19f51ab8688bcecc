//! `WranglerDev` against a tiny JavaScript worker (real wrangler + workerd).

use std::fs;

use local_stack::{WranglerDev, http, process};

#[test]
fn serves_a_worker_with_vars_and_stops_its_process_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("index.js"),
        r#"export default {
  fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    return new Response(`${env.GREETING} ${env.BASE_URL}`);
  },
};
"#,
    )
    .expect("write worker");
    fs::write(
        dir.path().join("wrangler.toml"),
        "name = \"local-stack-test\"\nmain = \"index.js\"\ncompatibility_date = \"2025-01-01\"\n\
         [vars]\nGREETING = \"from-config\"\n\
         [env.other]\nname = \"local-stack-test-other\"\n[env.other.vars]\nGREETING = \"from-env\"\n",
    )
    .expect("write config");
    // A developer's secrets file must not leak into tests.
    fs::write(dir.path().join(".dev.vars"), "GREETING=from-dev-vars\n").expect("write .dev.vars");

    let worker = WranglerDev::builder(dir.path().join("wrangler.toml"))
        .env("other")
        .var("BASE_URL", "http://127.0.0.1:1234/rest/v1")
        .start()
        .expect("wrangler dev starts");
    let response = http::get(&format!("{}/", worker.url()), &[]).expect("request");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "from-env http://127.0.0.1:1234/rest/v1");

    let port = worker.port();
    let group = worker.pid();
    assert!(
        process::group_members(group).len() > 1,
        "workerd runs in wrangler's process group"
    );
    drop(worker);
    assert!(
        http::get(&format!("http://127.0.0.1:{port}/health"), &[]).is_err(),
        "wrangler still answers after drop"
    );
    assert_eq!(process::group_members(group), Vec::<u32>::new());
}

#[test]
fn reports_a_worker_that_never_becomes_healthy() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("index.js"),
        "export default { fetch() { return new Response('nope', { status: 503 }); } };\n",
    )
    .expect("write worker");
    fs::write(
        dir.path().join("wrangler.toml"),
        "name = \"unhealthy\"\nmain = \"index.js\"\ncompatibility_date = \"2025-01-01\"\n",
    )
    .expect("write config");
    let error = WranglerDev::builder(dir.path().join("wrangler.toml"))
        .ready_timeout(std::time::Duration::from_secs(8))
        .start()
        .expect_err("never healthy");
    let message = format!("{error:#}");
    assert!(message.contains("last answer: 503 nope"), "{message}");
}
