//! The Discord client against the Discord stand-in: what it sends, and how
//! it treats rate limits and errors.

use std::time::Duration;

use community_clients::discord::CreateTextChannel;
use community_clients::{DiscordClient, DiscordFailure, Sleep};
use community_core::config::Secret;
use stand_ins::StandIns;
use stand_ins::discord::faults;
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
    assert_eq!(names, ["ticket-panel", "close", "audit", "Audit message"]);

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
