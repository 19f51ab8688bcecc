//! The Discord client against the Discord stand-in: what it sends, and how
//! it treats rate limits and errors.

use std::time::Duration;

use community_clients::discord::CreateTextChannel;
use community_clients::{DiscordClient, DiscordFailure, Sleep};
use community_core::config::Secret;
use stand_ins::StandIns;
use stand_ins::discord::faults;
use twilight_model::http::interaction::InteractionResponseData;
use twilight_model::id::Id;

#[derive(Clone, Copy)]
struct TokioSleep;

impl Sleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> {
        tokio::time::sleep(duration)
    }
}

const APP: u64 = 1_300_000_000_000_000_001;
const GUILD: u64 = 1_000_000_000_000_000_001;

fn client(stand_ins: &StandIns) -> DiscordClient<TokioSleep> {
    DiscordClient::new(
        &stand_ins.discord_api_base(),
        Secret::new("bot-token"),
        TokioSleep,
    )
}

#[tokio::test]
async fn registration_overwrites_and_reports_what_changed() {
    let stand_ins = StandIns::start().expect("stand-ins");
    let discord = client(&stand_ins);
    let desired = community_core::commands::all();

    let first = discord
        .register_commands(Id::new(APP), Some(Id::new(GUILD)), &desired)
        .await
        .expect("first registration");
    assert_eq!(first.added.len(), desired.len());
    assert!(first.updated.is_empty() && first.removed.is_empty());

    let again = discord
        .register_commands(Id::new(APP), Some(Id::new(GUILD)), &desired)
        .await
        .expect("second registration");
    assert!(again.is_empty(), "nothing changed: {again:?}");
    assert_eq!(again.unchanged.len(), desired.len());

    let put = stand_ins
        .discord_requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a bulk overwrite");
    assert_eq!(
        put.path,
        format!("/api/v10/applications/{APP}/guilds/{GUILD}/commands")
    );
    assert_eq!(put.header("authorization"), Some("Bot bot-token"));
    let names: Vec<_> = put
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            "ticket-panel",
            "close",
            "audit",
            "Audit message",
            "settings"
        ]
    );

    // Global registration goes to the global route.
    discord
        .register_commands(Id::new(APP), None, &desired)
        .await
        .expect("global registration");
    assert!(
        stand_ins
            .discord_requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path == format!("/api/v10/applications/{APP}/commands"))
    );
}

#[tokio::test]
async fn a_long_rate_limit_is_reported_not_waited_forever() {
    let stand_ins = StandIns::start().expect("stand-ins");
    stand_ins.fail_discord(faults::rate_limited_for(60.0, false).times(3));
    let err = client(&stand_ins)
        .create_text_channel(
            Id::new(GUILD),
            &CreateTextChannel {
                name: "x".into(),
                kind: 0,
                parent_id: None,
                topic: None,
                permission_overwrites: vec![],
            },
        )
        .await
        .expect_err("rate limited");
    assert_eq!(err.failure(), DiscordFailure::RateLimited);
    assert_eq!(
        stand_ins.discord_requests().len(),
        1,
        "no retry when the wait is too long"
    );
}

#[tokio::test]
async fn a_dead_api_is_unreachable_not_a_panic() {
    let discord = DiscordClient::new("http://127.0.0.1:9", Secret::new("t"), TokioSleep);
    let err = discord
        .delete_channel(Id::new(1))
        .await
        .expect_err("nobody listens");
    assert_eq!(err.failure(), DiscordFailure::Other);
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test]
async fn calls_that_skip_their_answer_still_read_its_errors() {
    let stand_ins = StandIns::start().expect("stand-ins");
    let discord = client(&stand_ins);

    // A delete of a channel that is gone: the error's code is read.
    let err = discord
        .delete_channel(Id::new(42))
        .await
        .expect_err("no such channel");
    assert_eq!(err.failure(), DiscordFailure::NotFound);
    assert!(err.to_string().contains("Unknown Channel"), "{err}");

    // An edit rate limited once: the 429's retry_after (0.25 s, in its
    // body) is waited out, then the edit goes through and its (unread)
    // answer counts as done.
    stand_ins.fail_discord(faults::rate_limited().on("PATCH", "/api/v10/webhooks/"));
    let started = std::time::Instant::now();
    let edit = InteractionResponseData {
        content: Some("done".to_owned()),
        ..InteractionResponseData::default()
    };
    discord
        .edit_original(Id::new(APP), "tok-1", &edit)
        .await
        .expect("edited after the wait");
    assert!(started.elapsed() >= Duration::from_millis(250));
    let edits: Vec<_> = stand_ins
        .discord_requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(edits.len(), 2, "one 429, one edit");
    assert_eq!(edits[1].body["content"], "done");

    // The same edit refused: the refusal is read and reported.
    stand_ins.fail_discord(faults::missing_access().on("PATCH", "/api/v10/webhooks/"));
    let err = discord
        .edit_original(Id::new(APP), "tok-1", &edit)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("50001"), "{err}");
}
