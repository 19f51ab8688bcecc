//! The fake Discord over HTTP, the way the worker's client reaches it.

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use stand_ins::StandIns;
use stand_ins::discord::{BOT_USER_ID, faults};

/// reqwest without a TLS provider of its own (features unify across the
/// workspace): set ring as the process default first.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[allow(dead_code)]
fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

const TOKEN: &str = "Bot test-token.abc";
const GUILD: &str = "900000000000000001";
const EVERYONE: &str = GUILD;
const VIEW_CHANNEL: u64 = 1 << 10;

struct Discord {
    stand_ins: StandIns,
    http: Client,
}

impl Discord {
    fn start() -> Self {
        Self {
            stand_ins: StandIns::start().expect("stand-ins start"),
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stand_ins.discord_api_base())
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, self.url(path))
            .header("Authorization", TOKEN)
            .header("User-Agent", "DiscordBot (https://example.invalid, 0.1.0)");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let response = self.send(method, path, body).await;
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    async fn create_channel(&self, body: Value) -> Value {
        let (status, channel) = self
            .json("POST", &format!("/guilds/{GUILD}/channels"), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{channel}");
        channel
    }
}

#[tokio::test]
async fn creates_a_private_ticket_channel_in_a_category() {
    let discord = Discord::start();
    let category = discord
        .create_channel(json!({"name": "Tickets", "type": 4}))
        .await;
    let channel = discord
        .create_channel(json!({
            "name": "ticket-0001",
            "type": 0,
            "parent_id": category["id"],
            "topic": "Refund question",
            "permission_overwrites": [
                {"id": EVERYONE, "type": 0, "deny": VIEW_CHANNEL.to_string()},
                {"id": "700000000000000001", "type": 1, "allow": VIEW_CHANNEL}
            ]
        }))
        .await;

    assert_eq!(channel["name"], "ticket-0001");
    assert_eq!(channel["type"], 0);
    assert_eq!(channel["guild_id"], GUILD);
    assert_eq!(channel["parent_id"], category["id"]);
    assert_eq!(channel["topic"], "Refund question");
    assert_eq!(channel["position"], 1);
    assert_eq!(channel["permission_overwrites"][0]["deny"], "1024");
    assert_eq!(channel["permission_overwrites"][1]["allow"], "1024");
    assert_eq!(channel["permission_overwrites"][1]["deny"], "0");
    let ids = [category["id"].as_str(), channel["id"].as_str()].map(|id| {
        id.expect("string id")
            .parse::<u64>()
            .expect("numeric snowflake")
    });
    assert!(ids[0] < ids[1], "snowflakes increase: {ids:?}");

    // The documented Channel object, as twilight reads it.
    let typed: twilight_model::channel::Channel =
        serde_json::from_value(channel.clone()).expect("twilight Channel");
    assert_eq!(typed.name.as_deref(), Some("ticket-0001"));
    assert_eq!(typed.kind, twilight_model::channel::ChannelType::GuildText);

    // The state tests assert on.
    let channels = discord.stand_ins.channels(GUILD);
    assert_eq!(channels.len(), 2);
    let ticket = &channels[1];
    assert!(ticket.permission_overwrites[0].denies(VIEW_CHANNEL));
    assert!(ticket.permission_overwrites[1].allows(VIEW_CHANNEL));

    // What was sent, as sent.
    let requests = discord.stand_ins.discord_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].method, "POST");
    assert_eq!(
        requests[1].path,
        format!("/api/v10/guilds/{GUILD}/channels")
    );
    assert_eq!(requests[1].header("authorization"), Some(TOKEN));
    assert_eq!(
        requests[1].header("user-agent"),
        Some("DiscordBot (https://example.invalid, 0.1.0)")
    );
    assert_eq!(requests[1].body["permission_overwrites"][1]["allow"], 1024);
}

#[tokio::test]
async fn gets_modifies_and_deletes_a_channel() {
    let discord = Discord::start();
    let archive = discord
        .create_channel(json!({"name": "Archive", "type": 4}))
        .await;
    let channel = discord.create_channel(json!({"name": "ticket-0002"})).await;
    let path = format!("/channels/{}", channel["id"].as_str().expect("id"));

    let (status, fetched) = discord.json("GET", &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, channel);

    let (status, modified) = discord
        .json(
            "PATCH",
            &path,
            Some(json!({
                "name": "closed-0002",
                "parent_id": archive["id"],
                "permission_overwrites": [{"id": EVERYONE, "type": 0, "deny": "1024"}]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(modified["name"], "closed-0002");
    assert_eq!(modified["parent_id"], archive["id"]);
    assert_eq!(
        modified["permission_overwrites"].as_array().map(Vec::len),
        Some(1)
    );

    let (status, deleted) = discord.json("DELETE", &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["id"], channel["id"]);
    assert_eq!(deleted["name"], "closed-0002");
    let names: Vec<String> = discord
        .stand_ins
        .channels(GUILD)
        .into_iter()
        .map(|channel| channel.name)
        .collect();
    assert_eq!(names, ["Archive"]);

    let (status, error) = discord.json("GET", &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error, json!({"message": "Unknown Channel", "code": 10003}));
}

#[tokio::test]
async fn a_parent_must_be_a_category() {
    let discord = Discord::start();
    let text = discord.create_channel(json!({"name": "general"})).await;
    let (status, error) = discord
        .json(
            "POST",
            &format!("/guilds/{GUILD}/channels"),
            Some(json!({"name": "ticket", "parent_id": text["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], 50035);
    assert_eq!(
        error["errors"]["parent_id"]["_errors"][0]["code"],
        "CHANNEL_PARENT_INVALID_TYPE"
    );
}

#[tokio::test]
async fn posts_and_lists_messages_newest_first() {
    let discord = Discord::start();
    let channel = discord.create_channel(json!({"name": "ticket-0003"})).await;
    let channel_id = channel["id"].as_str().expect("id");
    discord
        .stand_ins
        .seed_message(
            channel_id,
            "700000000000000001",
            "ann",
            "my order never came",
        )
        .expect("seeded");

    let (status, sent) = discord
        .json(
            "POST",
            &format!("/channels/{channel_id}/messages"),
            Some(json!({
                "content": "Welcome <@700000000000000001>",
                "embeds": [{"title": "Ticket", "description": "A staff member will be with you."}],
                "components": [{"type": 1, "components": [
                    {"type": 2, "style": 1, "label": "Claim", "custom_id": "ticket:claim"}
                ]}],
                "allowed_mentions": {"users": ["700000000000000001"]}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sent["channel_id"], channel_id);
    assert_eq!(sent["content"], "Welcome <@700000000000000001>");
    assert_eq!(sent["author"]["id"], BOT_USER_ID);
    assert_eq!(sent["author"]["bot"], true);
    assert_eq!(sent["author"]["discriminator"], "0");
    assert_eq!(sent["embeds"][0]["title"], "Ticket");
    assert_eq!(sent["embeds"][0]["type"], "rich");
    assert_eq!(
        sent["components"][0]["components"][0]["custom_id"],
        "ticket:claim"
    );
    assert_eq!(sent["attachments"], json!([]));
    assert_eq!(sent["mentions"], json!([]));
    assert_eq!(sent["pinned"], false);
    assert_eq!(sent["type"], 0);
    assert_eq!(sent["edited_timestamp"], Value::Null);
    let timestamp = sent["timestamp"].as_str().expect("timestamp");
    assert!(timestamp.ends_with("+00:00"), "{timestamp}");
    let typed: twilight_model::channel::Message =
        serde_json::from_value(sent.clone()).expect("twilight Message");
    assert!(typed.author.bot);
    assert_eq!(typed.embeds.len(), 1);

    for n in 0..3 {
        discord
            .stand_ins
            .seed_message(
                channel_id,
                "700000000000000001",
                "ann",
                &format!("later {n}"),
            )
            .expect("seeded");
    }
    let path = format!("/channels/{channel_id}/messages");
    let (status, all) = discord.json("GET", &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let contents: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|message| message["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        [
            "later 2",
            "later 1",
            "later 0",
            "Welcome <@700000000000000001>",
            "my order never came"
        ]
    );
    assert_eq!(all[4]["author"]["username"], "ann");
    assert_eq!(all[4]["author"].get("bot"), None);

    // Paging back from the oldest of a page, as a transcript fetcher does.
    let (_, first) = discord.json("GET", &format!("{path}?limit=2"), None).await;
    let oldest = first[1]["id"].as_str().expect("id");
    let (_, second) = discord
        .json("GET", &format!("{path}?limit=2&before={oldest}"), None)
        .await;
    assert_eq!(second[0]["content"], "later 0");
    assert_eq!(second[1]["content"], "Welcome <@700000000000000001>");

    let (status, error) = discord
        .json("GET", &format!("{path}?limit=101"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], 50035);
}

#[tokio::test]
async fn refuses_empty_and_too_long_messages() {
    let discord = Discord::start();
    let channel = discord.create_channel(json!({"name": "general"})).await;
    let path = format!("/channels/{}/messages", channel["id"].as_str().expect("id"));
    let (status, empty) = discord
        .json("POST", &path, Some(json!({"content": ""})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        empty,
        json!({"message": "Cannot send an empty message", "code": 50006})
    );
    let (status, long) = discord
        .json("POST", &path, Some(json!({"content": "x".repeat(2001)})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        long["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    assert!(
        discord
            .stand_ins
            .messages(channel["id"].as_str().expect("id"))
            .is_empty()
    );
}

#[tokio::test]
async fn bot_routes_need_a_bot_token() {
    let discord = Discord::start();
    for authorization in [None, Some("Bearer abc"), Some("Bot ")] {
        let mut request = discord.http.get(discord.url("/channels/1"));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, json!({"message": "401: Unauthorized", "code": 0}));
    }
    // Recorded all the same, so a test can see what was (not) sent.
    let requests = discord.stand_ins.discord_requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[1].header("authorization"), Some("Bearer abc"));
}

#[tokio::test]
async fn unknown_routes_channels_and_methods_answer_like_discord() {
    let discord = Discord::start();
    let (status, body) = discord.json("GET", "/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"message": "404: Not Found", "code": 0}));

    let (status, body) = discord
        .json(
            "POST",
            "/channels/123/messages",
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"message": "Unknown Channel", "code": 10003}));

    let (status, body) = discord.json("PUT", "/channels/123", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], 0);

    let response = discord
        .http
        .post(discord.url(&format!("/guilds/{GUILD}/channels")))
        .header("Authorization", TOKEN)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 50109);
}

#[tokio::test]
async fn answers_an_interaction_then_edits_and_follows_up() {
    let discord = Discord::start();
    let callback = discord
        .http
        .post(discord.url("/interactions/800000000000000001/tok-1/callback"))
        .json(&json!({"type": 5, "data": {"flags": 64}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(callback.status(), StatusCode::NO_CONTENT);

    let again = discord
        .http
        .post(discord.url("/interactions/800000000000000001/tok-1/callback"))
        .json(&json!({"type": 4, "data": {"content": "twice"}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["code"], 40060);

    let edit = discord
        .http
        .patch(discord.url("/webhooks/123456/tok-1/messages/@original"))
        .json(&json!({"embeds": [{"title": "Verdict: GREEN"}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(edit.status(), StatusCode::OK);
    let edited: Value = edit.json().await.expect("json");
    assert_eq!(edited["embeds"][0]["title"], "Verdict: GREEN");
    assert_eq!(edited["flags"], 64, "ephemeral, no longer loading");
    assert!(edited["edited_timestamp"].is_string());
    serde_json::from_value::<twilight_model::channel::Message>(edited).expect("twilight Message");

    let followup = discord
        .http
        .post(discord.url("/webhooks/123456/tok-1?wait=true"))
        .json(&json!({"content": "Ticket closed.", "flags": 64}))
        .send()
        .await
        .expect("sent");
    assert_eq!(followup.status(), StatusCode::OK);
    let message: Value = followup.json().await.expect("json");
    assert_eq!(message["content"], "Ticket closed.");
    assert_eq!(message["webhook_id"], "123456");
    assert_eq!(message["flags"], 64);

    let no_wait = discord
        .http
        .post(discord.url("/webhooks/123456/tok-1"))
        .json(&json!({"content": "fire and forget"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(no_wait.status(), StatusCode::NO_CONTENT);

    // None of these need the bot token; all were recorded with their bodies.
    let requests = discord.stand_ins.discord_requests();
    assert_eq!(requests.len(), 5);
    assert!(
        requests
            .iter()
            .all(|request| request.header("authorization").is_none())
    );
    assert_eq!(requests[0].body, json!({"type": 5, "data": {"flags": 64}}));
    assert_eq!(requests[3].query_param("wait").as_deref(), Some("true"));
}

#[tokio::test]
async fn an_original_answered_in_the_http_response_can_be_edited_but_not_read_before() {
    // The worker's type-5 answer goes back in its HTTP response, which the
    // stand-in never sees: reading that original is unknown until it is edited.
    let discord = Discord::start();
    let url = discord.url("/webhooks/123456/unseen/messages/@original");
    let before = discord.http.get(&url).send().await.expect("sent");
    assert_eq!(before.status(), StatusCode::NOT_FOUND);
    let body: Value = before.json().await.expect("json");
    assert_eq!(body, json!({"message": "Unknown Message", "code": 10008}));

    let edited = discord
        .http
        .patch(&url)
        .json(&json!({"content": "done"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(edited.status(), StatusCode::OK);
    let after: Value = discord
        .http
        .get(&url)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(after["content"], "done");
    assert_eq!(after["webhook_id"], "123456");
}

#[tokio::test]
async fn bulk_overwrites_commands_keeping_ids_by_name() {
    let discord = Discord::start();
    let path = "/applications/123456/commands";
    let first = json!([
        {"name": "audit", "description": "Audit a text", "type": 1,
         "options": [{"type": 3, "name": "text", "description": "The text", "required": true}]},
        {"name": "Audit message", "type": 3}
    ]);
    let (status, created) = discord.json("PUT", path, Some(first)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created.as_array().map(Vec::len), Some(2));
    assert_eq!(created[0]["application_id"], "123456");
    assert_eq!(created[1]["description"], "");
    let audit_id = created[0]["id"].clone();
    let typed: Vec<twilight_model::application::command::Command> =
        serde_json::from_value(created.clone()).expect("twilight Commands");
    assert_eq!(typed[0].options[0].name, "text");

    let second = json!([
        {"name": "audit", "description": "Audit a text", "type": 1,
         "options": [{"type": 3, "name": "text", "description": "The text", "required": true}]},
        {"name": "ticket-panel", "description": "Post the ticket panel"}
    ]);
    let (_, replaced) = discord.json("PUT", path, Some(second)).await;
    assert_eq!(replaced[0]["id"], audit_id, "same name keeps its id");
    assert_eq!(replaced[0]["version"], created[0]["version"], "unchanged");
    assert_ne!(replaced[1]["id"], created[1]["id"]);
    let (_, listed) = discord.json("GET", path, None).await;
    assert_eq!(listed, replaced, "Audit message is gone");

    let guild_path = format!("/applications/123456/guilds/{GUILD}/commands");
    let (status, guild) = discord
        .json(
            "PUT",
            &guild_path,
            Some(json!([{"name": "close", "description": "Close"}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(guild[0]["guild_id"], GUILD);
    let (_, listed) = discord.json("GET", &guild_path, None).await;
    assert_eq!(listed, guild);
    let (_, global) = discord.json("GET", path, None).await;
    assert_eq!(
        global.as_array().map(Vec::len),
        Some(2),
        "guild commands are apart"
    );

    let (status, error) = discord
        .json("PUT", path, Some(json!([{"name": "audit"}])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["errors"]["0"]["description"]["_errors"][0]["code"],
        "BASE_TYPE_BAD_LENGTH"
    );
}

#[tokio::test]
async fn canned_permission_and_limit_errors() {
    let discord = Discord::start();
    let create = format!("/guilds/{GUILD}/channels");
    let cases = [
        (
            faults::missing_permissions(),
            StatusCode::FORBIDDEN,
            json!({"message": "Missing Permissions", "code": 50013}),
        ),
        (
            faults::missing_access(),
            StatusCode::FORBIDDEN,
            json!({"message": "Missing Access", "code": 50001}),
        ),
        (
            faults::guild_channel_limit(),
            StatusCode::BAD_REQUEST,
            json!({"message": "Maximum number of guild channels reached (500)", "code": 30013}),
        ),
        (
            faults::unknown_channel(),
            StatusCode::NOT_FOUND,
            json!({"message": "Unknown Channel", "code": 10003}),
        ),
    ];
    for (fault, status, body) in cases {
        discord
            .stand_ins
            .fail_discord(fault.on("POST", "/api/v10/guilds/"));
        let (got_status, got_body) = discord
            .json("POST", &create, Some(json!({"name": "ticket"})))
            .await;
        assert_eq!((got_status, &got_body), (status, &body));
    }

    discord.stand_ins.fail_discord(faults::category_full());
    let (status, body) = discord
        .json("POST", &create, Some(json!({"name": "ticket"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 50035);
    assert_eq!(body["message"], "Invalid Form Body");
    assert_eq!(
        body["errors"]["parent_id"]["_errors"][0]["code"],
        "CHANNEL_PARENT_MAX_CHANNELS"
    );

    // Faults are used up: nothing was created until now, and now it works.
    assert!(discord.stand_ins.channels(GUILD).is_empty());
    let (status, _) = discord
        .json("POST", &create, Some(json!({"name": "ticket"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(discord.stand_ins.channels(GUILD).len(), 1);
}

#[tokio::test]
async fn a_fault_only_hits_matching_requests() {
    let discord = Discord::start();
    let channel = discord.create_channel(json!({"name": "general"})).await;
    let messages = format!("/channels/{}/messages", channel["id"].as_str().expect("id"));
    discord.stand_ins.fail_discord(
        faults::missing_permissions()
            .on("POST", "/api/v10/guilds/")
            .times(2),
    );
    let (status, _) = discord
        .json("POST", &messages, Some(json!({"content": "hello"})))
        .await;
    assert_eq!(status, StatusCode::OK, "another path is not affected");
    for _ in 0..2 {
        let (status, _) = discord
            .json(
                "POST",
                &format!("/guilds/{GUILD}/channels"),
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = discord
        .json(
            "POST",
            &format!("/guilds/{GUILD}/channels"),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn rate_limited_with_discord_headers() {
    let discord = Discord::start();
    discord.stand_ins.fail_discord(faults::rate_limited());
    let response = discord
        .send("GET", &format!("/guilds/{GUILD}/channels"), None)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("retry-after").as_deref(), Some("1"));
    assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header("x-ratelimit-reset-after").as_deref(), Some("0.250"));
    assert_eq!(header("x-ratelimit-scope").as_deref(), Some("user"));
    assert!(header("x-ratelimit-bucket").is_some());
    let reset: f64 = header("x-ratelimit-reset")
        .and_then(|reset| reset.parse().ok())
        .expect("epoch seconds");
    assert!(reset > 1_700_000_000.0);
    assert_eq!(header("x-ratelimit-global"), None);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false})
    );

    discord
        .stand_ins
        .fail_discord(faults::rate_limited_for(2.5, true));
    let response = discord
        .send("GET", &format!("/guilds/{GUILD}/channels"), None)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    assert_eq!(
        response
            .headers()
            .get("x-ratelimit-global")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["global"], true);

    // The retry goes through.
    let (status, channels) = discord
        .json("GET", &format!("/guilds/{GUILD}/channels"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(channels, json!([]));
}

#[tokio::test]
async fn enforces_fifty_channels_per_category_as_discord_does() {
    let discord = Discord::start();
    let category = discord
        .stand_ins
        .seed_channel(GUILD, "Tickets", 4)
        .expect("category");
    for n in 0..50 {
        discord
            .create_channel(json!({"name": format!("ticket-{n}"), "parent_id": category.id}))
            .await;
    }
    let (status, body) = discord
        .json(
            "POST",
            &format!("/guilds/{GUILD}/channels"),
            Some(json!({"name": "ticket-50", "parent_id": category.id})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"]["parent_id"]["_errors"][0]["code"],
        "CHANNEL_PARENT_MAX_CHANNELS"
    );
    assert_eq!(discord.stand_ins.channels(GUILD).len(), 51);
}
