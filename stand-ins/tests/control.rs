//! The control API over HTTP (what `cargo xtask dev` and non-Rust tests use)
//! and the Rust API from plain synchronous tests.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stand_ins::{Fault, RecordedRequest, StandIns};

/// reqwest without a TLS provider of its own (features unify across the
/// workspace): set ring as the process default first.
fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::new()
}

#[allow(dead_code)]
fn client_builder() -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
}

const GUILD: &str = "900000000000000001";

fn json_of(response: reqwest::blocking::Response) -> Value {
    response.json().expect("JSON body")
}

#[test]
fn works_from_a_plain_synchronous_test() {
    let stand_ins = StandIns::start().expect("start");
    let http = client();
    let created = http
        .post(format!(
            "{}/guilds/{GUILD}/channels",
            stand_ins.discord_api_base()
        ))
        .header("Authorization", "Bot t")
        .json(&json!({"name": "general"}))
        .send()
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    let channels = stand_ins.channels(GUILD);
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].name, "general");
    assert_eq!(
        stand_ins.discord_requests()[0].body,
        json!({"name": "general"})
    );
    assert!(stand_ins.gemini_requests().is_empty());
}

#[test]
fn lists_and_clears_recorded_requests_over_http() {
    let stand_ins = StandIns::start().expect("start");
    let http = client();
    http.get(format!(
        "{}/channels/42?with=query",
        stand_ins.discord_api_base()
    ))
    .header("Authorization", "Bot secret-token")
    .header("User-Agent", "DiscordBot (x, 1)")
    .send()
    .expect("sent");
    http.post(format!("{}/some/path", stand_ins.discord_api_base()))
        .body("not json")
        .send()
        .expect("sent");

    let listed = json_of(
        http.get(format!("{}/_stand_in/requests", stand_ins.discord_url()))
            .send()
            .expect("sent"),
    );
    let requests: Vec<RecordedRequest> = serde_json::from_value(listed).expect("recorded requests");
    assert_eq!(requests.len(), 2, "control requests are not recorded");
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/v10/channels/42");
    assert_eq!(requests[0].query, "with=query");
    assert_eq!(requests[0].headers["authorization"], "Bot secret-token");
    assert_eq!(requests[0].headers["user-agent"], "DiscordBot (x, 1)");
    assert_eq!(requests[0].body, Value::Null);
    assert!(requests[0].received_at.contains('T'));
    assert_eq!(requests[1].body, json!("not json"));
    assert_eq!(requests, stand_ins.discord_requests());

    let cleared = http
        .delete(format!("{}/_stand_in/requests", stand_ins.discord_url()))
        .send()
        .expect("sent");
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(stand_ins.discord_requests().is_empty());
}

#[test]
fn scripts_faults_over_http_with_headers_and_times() {
    let stand_ins = StandIns::start().expect("start");
    let http = client();
    let queued = http
        .post(format!("{}/_stand_in/faults", stand_ins.discord_url()))
        .json(&json!({
            "method": "POST",
            "path_prefix": "/api/v10/guilds/",
            "status": 403,
            "body": {"message": "Missing Permissions", "code": 50013},
            "headers": {"X-Custom": "yes"},
            "times": 2
        }))
        .send()
        .expect("sent");
    assert_eq!(queued.status(), StatusCode::NO_CONTENT);
    let pending = json_of(
        http.get(format!("{}/_stand_in/faults", stand_ins.discord_url()))
            .send()
            .expect("sent"),
    );
    assert_eq!(pending[0]["times"], 2);

    let create = || {
        http.post(format!(
            "{}/guilds/{GUILD}/channels",
            stand_ins.discord_api_base()
        ))
        .header("Authorization", "Bot t")
        .json(&json!({"name": "ticket"}))
        .send()
        .expect("sent")
    };
    for _ in 0..2 {
        let response = create();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response
                .headers()
                .get("x-custom")
                .and_then(|v| v.to_str().ok()),
            Some("yes")
        );
        assert_eq!(json_of(response)["code"], 50013);
    }
    assert_eq!(create().status(), StatusCode::CREATED);

    // Queued then withdrawn: nothing fails.
    http.post(format!("{}/_stand_in/faults", stand_ins.gemini_url()))
        .json(&json!({"status": 503}))
        .send()
        .expect("sent");
    let withdrawn = http
        .delete(format!("{}/_stand_in/faults", stand_ins.gemini_url()))
        .send()
        .expect("sent");
    assert_eq!(withdrawn.status(), StatusCode::NO_CONTENT);
    let answer = http
        .post(format!(
            "{}/models/m:generateContent",
            stand_ins.gemini_api_base()
        ))
        .header("x-goog-api-key", "k")
        .json(&json!({"contents": [{"parts": [{"text": "hello"}]}]}))
        .send()
        .expect("sent");
    assert_eq!(answer.status(), StatusCode::OK);

    let invalid = http
        .post(format!("{}/_stand_in/faults", stand_ins.discord_url()))
        .json(&json!({"status": "nope"}))
        .send()
        .expect("sent");
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn seeds_channels_and_member_messages_over_http() {
    let stand_ins = StandIns::start().expect("start");
    let http = client();
    let channel = json_of(
        http.post(format!(
            "{}/_stand_in/discord/guilds/{GUILD}/channels",
            stand_ins.discord_url()
        ))
        .json(&json!({"name": "ticket-0009"}))
        .send()
        .expect("sent"),
    );
    let channel_id = channel["id"].as_str().expect("id");
    let seeded = http
        .post(format!(
            "{}/_stand_in/discord/channels/{channel_id}/messages",
            stand_ins.discord_url()
        ))
        .json(
            &json!({"author_id": "700000000000000001", "author_name": "ann", "content": "!close"}),
        )
        .send()
        .expect("sent");
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let seeded = json_of(seeded);
    assert_eq!(seeded["author"]["id"], "700000000000000001");
    assert_eq!(seeded["author"]["username"], "ann");
    assert_eq!(seeded["content"], "!close");

    // The worker sees it through the real route.
    let fetched = json_of(
        http.get(format!(
            "{}/channels/{channel_id}/messages",
            stand_ins.discord_api_base()
        ))
        .header("Authorization", "Bot t")
        .send()
        .expect("sent"),
    );
    assert_eq!(fetched[0], seeded);

    let listed = json_of(
        http.get(format!(
            "{}/_stand_in/discord/guilds/{GUILD}/channels",
            stand_ins.discord_url()
        ))
        .send()
        .expect("sent"),
    );
    assert_eq!(listed, json!([channel]));
    let messages = json_of(
        http.get(format!(
            "{}/_stand_in/discord/channels/{channel_id}/messages",
            stand_ins.discord_url()
        ))
        .send()
        .expect("sent"),
    );
    assert_eq!(messages, json!([seeded]));

    let unknown = http
        .post(format!(
            "{}/_stand_in/discord/channels/1/messages",
            stand_ins.discord_url()
        ))
        .json(&json!({"author_id": "7", "author_name": "ann", "content": "hi"}))
        .send()
        .expect("sent");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(stand_ins.seed_message("1", "7", "ann", "hi").is_err());
}

#[test]
fn clear_forgets_requests_and_faults_but_keeps_state() {
    let stand_ins = StandIns::start().expect("start");
    let channel = stand_ins
        .seed_channel(GUILD, "general", 0)
        .expect("channel");
    let http = client();
    http.get(format!(
        "{}/channels/{}",
        stand_ins.discord_api_base(),
        channel.id
    ))
    .header("Authorization", "Bot t")
    .send()
    .expect("sent");
    stand_ins.fail_discord(Fault::respond(500, json!({})));
    stand_ins.fail_gemini(Fault::respond(500, json!({})));
    stand_ins.clear();
    assert!(stand_ins.discord_requests().is_empty());
    let response = http
        .get(format!(
            "{}/channels/{}",
            stand_ins.discord_api_base(),
            channel.id
        ))
        .header("Authorization", "Bot t")
        .send()
        .expect("sent");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "fault withdrawn, channel kept"
    );
}

#[test]
fn dropping_stops_both_servers() {
    let stand_ins = StandIns::start().expect("start");
    let urls = [stand_ins.discord_url(), stand_ins.gemini_url()];
    let http = client_builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    for url in &urls {
        assert!(http.get(format!("{url}/_stand_in/requests")).send().is_ok());
    }
    drop(stand_ins);
    for url in &urls {
        let error = http
            .get(format!("{url}/_stand_in/requests"))
            .send()
            .expect_err("stopped");
        assert!(error.is_connect(), "{error}");
    }
}

#[test]
fn dropping_does_not_wait_for_a_delayed_answer() {
    let stand_ins = StandIns::start().expect("start");
    stand_ins.fail_gemini(Fault::delay_only(Duration::from_secs(30)));
    let url = format!("{}/models/m:generateContent", stand_ins.gemini_api_base());
    let waiting = std::thread::spawn(move || {
        client()
            .post(url)
            .header("x-goog-api-key", "k")
            .json(&json!({"contents": [{"parts": [{"text": "x"}]}]}))
            .send()
    });
    while stand_ins.gemini_requests().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = std::time::Instant::now();
    drop(stand_ins);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        waiting.join().expect("thread").is_err(),
        "connection dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn works_under_a_paused_tokio_clock() {
    // The stand-ins keep real time on their own runtime, so a test that
    // pauses its clock still gets answers.
    let stand_ins = StandIns::start().expect("start");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/models/m:generateContent",
            stand_ins.gemini_api_base()
        ))
        .header("x-goog-api-key", "k")
        .json(&json!({"contents": [{"parts": [{"text": "risk-free!"}]}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let text = body["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .expect("text");
    assert!(text.contains("\"RED\""), "{text}");
}
