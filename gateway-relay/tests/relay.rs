//! The relay against the fake gateway and a local sink standing in for the
//! scoring endpoint, in one runtime with a paused clock: batching, outages,
//! backoff, op 7, op 9, zombies, restarts and fatal close codes, each ending
//! with the sink (deduplicating by key, as the database does) holding exactly
//! the events sent.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Relay, Reply, Sink, WAIT, files, relay_env, saved_sequence, saved_state};
use community_core::relay::{RelayBatch, RelayEventKind};
use fake_gateway::payloads::{Emoji, MessageCreate, MessageDelete, Reaction};
use fake_gateway::{Counts, FakeGateway, Options};
use gateway_relay::RunError;
use tempfile::TempDir;

const GUILD: u64 = 1_000_000_000_000_000_001;
const CHANNEL: u64 = 1_000_000_000_000_000_003;
const AUTHOR: u64 = 1_000_000_000_000_000_002;
const MEMBER: u64 = 1_000_000_000_000_000_009;

struct Setup {
    gateway: FakeGateway,
    sink: Sink,
    dir: TempDir,
    env: HashMap<String, String>,
}

async fn setup_with(options: Options, overrides: &[(&str, &str)]) -> Setup {
    let gateway = FakeGateway::start_with(options)
        .await
        .expect("fake gateway");
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = relay_env(gateway.url(), &sink.url(), dir.path());
    for (name, value) in overrides {
        env.insert((*name).to_owned(), (*value).to_owned());
    }
    Setup {
        gateway,
        sink,
        dir,
        env,
    }
}

async fn setup(overrides: &[(&str, &str)]) -> Setup {
    setup_with(Options::default(), overrides).await
}

async fn gateway_until(
    gateway: &FakeGateway,
    what: &str,
    done: impl Fn(&Counts) -> bool,
) -> Counts {
    tokio::time::timeout(WAIT, gateway.wait_for(done))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for the gateway: {what}"))
}

/// Waits until the relay's shard is identified (or resumed) and attached.
async fn attached(gateway: &FakeGateway) {
    gateway_until(gateway, "a client attached", |c| c.attached == 1).await;
}

/// Sends `count` messages with ids `first..`, returning their keys.
fn messages(gateway: &FakeGateway, first: u64, count: u64) -> Vec<String> {
    (first..first + count)
        .map(|id| {
            gateway.message_create(&MessageCreate::new(id, GUILD, CHANNEL, AUTHOR));
            id.to_string()
        })
        .collect()
}

/// The batches set aside in `rejected/`, once there are any.
async fn set_aside(s: &Setup) -> Vec<String> {
    for _ in 0..500 {
        let rejected = files(s.dir.path(), "rejected");
        if !rejected.is_empty() {
            return rejected;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing was set aside");
}

fn events_in(batches: &[common::Received]) -> Vec<usize> {
    batches
        .iter()
        .map(|r| r.events.len())
        .filter(|n| *n > 0)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_event_is_forwarded_once_and_no_content_leaves_the_relay() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;

    let g = &s.gateway;
    g.message_create(&MessageCreate::new(11, GUILD, CHANNEL, AUTHOR).nick("Ally"));
    g.message_create(&MessageCreate::new(12, GUILD, CHANNEL, AUTHOR).content(" !close "));
    g.message_create(&MessageCreate::new(13, GUILD, CHANNEL, AUTHOR).content("my secret plans"));
    g.message_create(&MessageCreate::new(14, GUILD, CHANNEL, 77).bot());
    // Not in a guild, and not an engagement dispatch: nothing to forward.
    g.message_create(&MessageCreate::new(15, GUILD, CHANNEL, AUTHOR).in_dm());
    g.dispatch(
        "MESSAGE_UPDATE",
        &serde_json::json!({ "id": "11", "channel_id": "3", "guild_id": GUILD.to_string() }),
    );
    let party = Reaction::new(11, GUILD, CHANNEL, MEMBER, AUTHOR).emoji(Emoji::Custom {
        id: 1_200_000_000_000_000_005,
        name: "party".to_owned(),
    });
    let add = g.reaction_add(&party).sequence().expect("sequenced");
    let remove = g.reaction_remove(&party).sequence().expect("sequenced");
    let add_again = g.reaction_add(&party).sequence().expect("sequenced");
    g.message_delete(&MessageDelete::new(13, GUILD, CHANNEL));

    let session = g.session_id(0).expect("a session");
    let reaction_key = |seq: u64| format!("11:{MEMBER}:1200000000000000005:{session}:{seq}");
    let expected = vec![
        "11".to_owned(),
        "12".to_owned(),
        "13".to_owned(),
        "14".to_owned(),
        reaction_key(add),
        reaction_key(remove),
        reaction_key(add_again),
        // A deletion is keyed like its message (ADR 0005): the endpoint
        // stores it under its own kind.
        "13".to_owned(),
    ];
    s.sink
        .wait_until("8 events", |sink| sink.events().len() >= 8)
        .await;
    let events = s.sink.events();
    let keys: Vec<_> = events.iter().map(|e| e.dedupe.clone()).collect();
    assert_eq!(keys, expected);
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            RelayEventKind::MessageCreate,
            RelayEventKind::MessageCreate,
            RelayEventKind::MessageCreate,
            RelayEventKind::MessageCreate,
            RelayEventKind::ReactionAdd,
            RelayEventKind::ReactionRemove,
            RelayEventKind::ReactionAdd,
            RelayEventKind::MessageDelete,
        ]
    );
    let closes: Vec<_> = events.iter().map(|e| e.is_close_command).collect();
    assert_eq!(
        closes,
        [false, true, false, false, false, false, false, false]
    );
    assert!(events[3].is_bot);
    assert_eq!(events[0].member_name.as_deref(), Some("Ally"));
    assert_eq!(events[4].message_author_id.map(|id| id.get()), Some(AUTHOR));
    for received in s.sink.accepted() {
        let body = String::from_utf8_lossy(&received.body);
        assert!(!body.contains("secret plans"), "content leaked: {body}");
        assert!(!body.contains("!close"), "content leaked: {body}");
    }
    assert_eq!(s.sink.bad_requests(), (0, 0));
    let identify = &s.gateway.identify_payloads()[0];
    assert_eq!(identify["intents"], gateway_relay::INTENTS.bits());
    assert_eq!(identify["token"], format!("Bot {}", common::TOKEN));

    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.sink.events().len(), 8);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_batch_leaves_when_it_reaches_n_events() {
    let s = setup(&[
        ("RELAY_BATCH_SIZE", "5"),
        ("RELAY_BATCH_INTERVAL_MS", "300000"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    let keys = messages(&s.gateway, 100, 12);
    s.sink.wait_for_keys(10).await;
    assert_eq!(events_in(&s.sink.accepted()), [5, 5]);
    // The last two wait for the interval (5 min), not for more events.
    tokio::time::sleep(Duration::from_secs(290)).await;
    assert_eq!(events_in(&s.sink.accepted()), [5, 5]);
    s.sink.wait_for_keys(12).await;
    assert_eq!(events_in(&s.sink.accepted()), [5, 5, 2]);
    assert_eq!(s.sink.stored_keys(), keys);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_batch_leaves_after_t_ms_when_it_is_not_full() {
    let s = setup(&[
        ("RELAY_BATCH_SIZE", "1000"),
        ("RELAY_BATCH_INTERVAL_MS", "250"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    let sent_at = tokio::time::Instant::now();
    let keys = messages(&s.gateway, 200, 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.sink.accepted().is_empty(), "left before the interval");
    s.sink.wait_for_keys(3).await;
    let accepted = s.sink.accepted();
    assert_eq!(events_in(&accepted), [3]);
    let waited = accepted[0].at - sent_at;
    assert!(
        (Duration::from_millis(250)..Duration::from_millis(260)).contains(&waited),
        "{waited:?}"
    );
    assert_eq!(s.sink.stored_keys(), keys);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn endpoint_down_mid_stream_then_back_drains_the_spool_in_order() {
    let s = setup(&[("RELAY_MEMORY_BATCHES", "1")]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    let mut keys = messages(&s.gateway, 300, 15);
    s.sink.wait_for_keys(15).await;

    s.sink.set_default(Reply::Status(503));
    keys.extend(messages(&s.gateway, 400, 35));
    // Reactions too: a removal must never overtake its add.
    let reaction = Reaction::new(400, GUILD, CHANNEL, MEMBER, AUTHOR);
    for _ in 0..3 {
        let add = s.gateway.reaction_add(&reaction).sequence().expect("seq");
        let remove = s
            .gateway
            .reaction_remove(&reaction)
            .sequence()
            .expect("seq");
        let session = s.gateway.session_id(0).expect("session");
        keys.push(format!("400:{MEMBER}:👍:{session}:{add}"));
        keys.push(format!("400:{MEMBER}:👍:{session}:{remove}"));
    }
    let dir = s.dir.path().to_owned();
    tokio::time::timeout(WAIT, async {
        while files(&dir, "spool").len() < 4 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("batches spooled during the outage");
    assert_eq!(
        s.sink.stored_keys().len(),
        15,
        "nothing accepted while down"
    );

    s.sink.set_default(Reply::Accept);
    s.sink.wait_for_keys(keys.len()).await;
    assert_eq!(s.sink.stored_keys(), keys, "all of them, in the order sent");
    assert_eq!(s.sink.events().len(), keys.len(), "each once");
    tokio::time::timeout(WAIT, async {
        while !files(&dir, "spool").is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the spool drains");
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially() {
    let s = setup(&[
        ("RELAY_RETRY_MIN_MS", "200"),
        ("RELAY_RETRY_MAX_MS", "2000"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.script(7, Reply::Status(503));
    let keys = messages(&s.gateway, 500, 10);
    s.sink.wait_for_keys(10).await;
    let attempts = s.sink.attempts();
    let gaps: Vec<u128> = attempts
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_millis())
        .collect();
    // No jitter in this test: exactly min · 2^n, capped.
    assert_eq!(gaps, [200, 400, 800, 1600, 2000, 2000, 2000]);
    assert_eq!(s.sink.stored_keys(), keys);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_endpoint_times_out_and_the_batch_is_retried() {
    let s = setup(&[("RELAY_REQUEST_TIMEOUT_MS", "2000")]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.script(1, Reply::Hang);
    let started = tokio::time::Instant::now();
    let keys = messages(&s.gateway, 600, 10);
    s.sink.wait_for_keys(10).await;
    assert!(
        started.elapsed() >= Duration::from_millis(2200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.sink.attempts().len(), 2);
    assert_eq!(s.sink.stored_keys(), keys);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_malformed_batch_is_set_aside_and_the_queue_moves_on() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    // Every event of the first batch is one the endpoint refuses.
    for id in 700..710 {
        s.sink.refuse_event(&id.to_string());
    }
    let refused = messages(&s.gateway, 700, 10);
    let keys = messages(&s.gateway, 800, 10);
    s.sink.wait_for_keys(10).await;
    assert_eq!(s.sink.stored_keys(), keys);
    let rejected = set_aside(&s).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let body = std::fs::read(s.dir.path().join("rejected").join(&rejected[0])).expect("reads");
    let batch = RelayBatch::parse(&body).expect("kept as a valid batch");
    let kept: Vec<_> = batch.events.into_iter().map(|e| e.dedupe).collect();
    assert_eq!(kept, refused);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn set_aside_batches_are_sent_again_after_replay_rejected() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    for id in 700..710 {
        s.sink.refuse_event(&id.to_string());
    }
    let refused = messages(&s.gateway, 700, 10);
    assert_eq!(set_aside(&s).await.len(), 1);
    // Not while a relay runs on the state directory.
    assert!(matches!(
        gateway_relay::replay_rejected(s.dir.path()),
        Err(RunError::AlreadyRunning { .. })
    ));
    relay.stop().await.expect("stops cleanly");

    // The endpoint is fixed; the operator replays what was set aside.
    s.sink.accept_all();
    let replayed = gateway_relay::replay_rejected(s.dir.path()).expect("replays");
    assert_eq!(
        replayed,
        gateway_relay::Replayed {
            batches: 1,
            events: 10
        }
    );
    assert!(files(s.dir.path(), "rejected").is_empty());
    let relay = Relay::start(&s.env);
    s.sink.wait_for_keys(10).await;
    assert_eq!(s.sink.stored_keys(), refused);
    relay.stop().await.expect("stops cleanly");
    // Nothing is left to send again.
    assert_eq!(
        gateway_relay::replay_rejected(s.dir.path()).expect("nothing to do"),
        gateway_relay::Replayed {
            batches: 0,
            events: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn one_bad_event_is_set_aside_alone_and_the_rest_delivered() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    // The endpoint refuses any batch holding the seventh event (its dedupe
    // key is its message id).
    s.sink.refuse_event("1006");
    let keys = messages(&s.gateway, 1000, 10);
    let mut good = keys.clone();
    let bad = good.remove(6);
    s.sink.wait_for_keys(9).await;
    let mut stored = s.sink.stored_keys();
    stored.sort();
    let mut expected = good.clone();
    expected.sort();
    assert_eq!(stored, expected);
    let rejected = set_aside(&s).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let body = std::fs::read(s.dir.path().join("rejected").join(&rejected[0])).expect("reads");
    let kept: Vec<_> = RelayBatch::parse(&body)
        .expect("kept as a valid batch")
        .events
        .into_iter()
        .map(|e| e.dedupe)
        .collect();
    assert_eq!(kept, vec![bad]);
    // Later batches go through as usual.
    let later = messages(&s.gateway, 1100, 3);
    s.sink.wait_for_keys(12).await;
    assert!(later.iter().all(|k| s.sink.stored_keys().contains(k)));
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_batch_refused_once_whose_halves_go_through_is_all_delivered() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.script(1, Reply::Status(400));
    let keys = messages(&s.gateway, 1200, 10);
    s.sink.wait_for_keys(10).await;
    let mut stored = s.sink.stored_keys();
    stored.sort();
    assert_eq!(stored, keys);
    // Nothing is set aside, now or once the relay has taken stock.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(files(s.dir.path(), "rejected").is_empty());
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn unauthorized_is_retried_not_set_aside() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.script(2, Reply::Status(401));
    let keys = messages(&s.gateway, 900, 10);
    s.sink.wait_for_keys(10).await;
    assert_eq!(s.sink.stored_keys(), keys);
    assert_eq!(s.sink.attempts().len(), 3);
    assert!(files(s.dir.path(), "rejected").is_empty());
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_second_relay_on_the_same_state_directory_stops_at_once() {
    let s = setup(&[]).await;
    let first = Relay::start(&s.env);
    attached(&s.gateway).await;
    let second = Relay::start(&s.env);
    let err = second.finished().await.expect_err("refused");
    assert!(
        matches!(err, gateway_relay::RunError::AlreadyRunning { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("exactly one relay"), "{err}");
    // The first goes on forwarding, alone.
    let keys = messages(&s.gateway, 990, 3);
    s.sink.wait_for_keys(3).await;
    assert_eq!(s.sink.stored_keys(), keys);
    first.stop().await.expect("stops cleanly");
    // Once it has stopped, a relay may start there again.
    let again = Relay::start(&s.env);
    attached(&s.gateway).await;
    again.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_wrong_endpoint_is_retried_not_set_aside() {
    // 404 (a wrong SCORING_ENDPOINT_URL), 405, 403 (a proxy in front), a
    // Retry-After far too long: the setup is wrong, not the events.
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.script(1, Reply::Status(404));
    s.sink.script(1, Reply::Status(405));
    s.sink.script(1, Reply::Status(403));
    let keys = messages(&s.gateway, 950, 10);
    s.sink.wait_for_keys(10).await;
    assert_eq!(s.sink.stored_keys(), keys);
    assert_eq!(s.sink.attempts().len(), 4);
    assert!(files(s.dir.path(), "rejected").is_empty());
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn memory_stays_bounded_during_a_long_outage() {
    let s = setup(&[
        ("RELAY_BATCH_SIZE", "5"),
        ("RELAY_MEMORY_BATCHES", "2"),
        ("RELAY_RETRY_MIN_MS", "1000"),
        ("RELAY_RETRY_MAX_MS", "1000"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.set_default(Reply::Status(503));
    let keys = messages(&s.gateway, 1_000, 100);
    let dir = s.dir.path().to_owned();
    // 20 batches, none left in memory once the first delivery failed.
    tokio::time::timeout(WAIT, async {
        while files(&dir, "spool").len() < 20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("batches beyond the memory bound go to disk");
    // Every event is on disk, so the saved session keeps up with the gateway
    // even though nothing was acknowledged.
    let last = s.gateway.sequence(0).expect("a session");
    tokio::time::timeout(WAIT, async {
        while saved_sequence(&dir) != Some(last) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the state follows the spool during the outage");
    assert!(s.sink.stored_keys().is_empty());
    s.sink.set_default(Reply::Accept);
    s.sink.wait_for_keys(100).await;
    assert_eq!(s.sink.stored_keys(), keys);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn op7_reconnect_resumes_and_nothing_is_lost() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    let mut keys = messages(&s.gateway, 1_100, 5);
    s.sink.wait_for_keys(5).await;
    assert_eq!(s.gateway.reconnect(), 1);
    // Sent while the relay reconnects: replayed after its RESUME.
    keys.extend(messages(&s.gateway, 1_200, 5));
    s.sink.wait_for_keys(10).await;
    keys.extend(messages(&s.gateway, 1_300, 5));
    s.sink.wait_for_keys(15).await;
    assert_eq!(s.sink.stored_keys(), keys);
    let counts = s.gateway.counts();
    assert_eq!(
        (counts.identifies, counts.resumes, counts.resumes_refused),
        (1, 1, 0)
    );
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn op9_not_resumable_identifies_again_under_a_new_session() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    let reaction = Reaction::new(11, GUILD, CHANNEL, MEMBER, AUTHOR);
    let first_seq = s.gateway.reaction_add(&reaction).sequence().expect("seq");
    let first_session = s.gateway.session_id(0).expect("session");
    s.sink.wait_for_keys(1).await;

    s.gateway.invalidate_session(false);
    s.gateway.reaction_add(&reaction); // waits for the new READY
    gateway_until(&s.gateway, "a second IDENTIFY", |c| c.identifies == 2).await;
    s.sink.wait_for_keys(2).await;
    let second_session = s.gateway.session_id(0).expect("session");
    assert_ne!(first_session, second_session);
    // READY is 1, so the waiting reaction is 2 in the new session.
    assert_eq!(
        s.sink.stored_keys(),
        [
            format!("11:{MEMBER}:👍:{first_session}:{first_seq}"),
            format!("11:{MEMBER}:👍:{second_session}:2"),
        ]
    );
    assert_eq!(s.gateway.counts().resumes, 0);
    relay.stop().await.expect("stops cleanly");
    let saved = saved_state(s.dir.path()).expect("state saved");
    assert_eq!(saved["shards"][0]["session_id"], second_session);
}

#[tokio::test(start_paused = true)]
async fn a_zombied_connection_is_abandoned_and_resumed() {
    let s = setup_with(
        Options {
            heartbeat_interval: Duration::from_secs(5),
            ..Options::default()
        },
        &[],
    )
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.gateway.zombie();
    let keys = messages(&s.gateway, 1_400, 3);
    s.sink.wait_for_keys(3).await;
    assert_eq!(s.sink.stored_keys(), keys);
    let counts = s.gateway.counts();
    assert_eq!((counts.identifies, counts.resumes), (1, 1));
    relay.stop().await.expect("stops cleanly");
}

/// A relay killed with events acknowledged but its state not yet saved
/// comes back with RESUME; the gateway replays from the saved sequence, so
/// the sink sees some events twice, under identical keys, and stores each
/// once.
#[tokio::test(start_paused = true)]
async fn a_relay_killed_mid_stream_resumes_and_replays_under_identical_keys() {
    let s = setup(&[
        ("RELAY_STATE_INTERVAL_MS", "10000"),
        ("RELAY_BATCH_SIZE", "5"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    let reaction = Reaction::new(1_500, GUILD, CHANNEL, MEMBER, AUTHOR);
    let session = s.gateway.session_id(0).expect("session");
    let mut keys = messages(&s.gateway, 1_500, 5);
    let seq = s.gateway.reaction_add(&reaction).sequence().expect("seq");
    keys.push(format!("1500:{MEMBER}:👍:{session}:{seq}"));
    s.sink.wait_for_keys(6).await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let saved = saved_sequence(s.dir.path()).expect("state saved");
    assert_eq!(saved, seq, "everything so far is acknowledged and saved");

    // Acknowledged but not yet saved when the relay dies.
    keys.extend(messages(&s.gateway, 1_600, 3));
    let seq = s
        .gateway
        .reaction_remove(&reaction)
        .sequence()
        .expect("seq");
    keys.push(format!("1500:{MEMBER}:👍:{session}:{seq}"));
    s.sink.wait_for_keys(10).await;
    relay.kill().await;
    assert_eq!(
        saved_sequence(s.dir.path()),
        Some(saved),
        "not saved before the kill"
    );

    // Sent while it is down: kept for the replay.
    keys.extend(messages(&s.gateway, 1_700, 3));
    let relay = Relay::start(&s.env);
    s.sink.wait_for_keys(13).await;
    assert_eq!(s.sink.stored_keys(), keys, "exactly the events sent");
    let counts = s.gateway.counts();
    assert_eq!(
        (counts.identifies, counts.resumes, counts.resumes_refused),
        (1, 1, 0)
    );

    // The replayed events came twice, with the same keys and contents
    // (a reaction is dated when received, so only its time may differ).
    let events = s.sink.events();
    let mut by_key: HashMap<&str, Vec<_>> = HashMap::new();
    for event in &events {
        by_key.entry(event.dedupe.as_str()).or_default().push(event);
    }
    let replayed: Vec<_> = by_key.values().filter(|copies| copies.len() > 1).collect();
    assert_eq!(
        replayed.len(),
        4,
        "the 3 messages and the removal after the saved sequence"
    );
    for copies in replayed {
        let mut first = copies[0].clone();
        for copy in &copies[1..] {
            if first.kind != RelayEventKind::MessageCreate {
                first.occurred_at = copy.occurred_at;
            }
            assert_eq!(&first, *copy);
        }
    }
    relay.stop().await.expect("stops cleanly");
}

/// Regression: with a slow endpoint, memory filled up and newer batches went
/// to the spool while older ones were still only in memory. A crash then
/// lost the older ones, and the restarted relay sent the spool before the
/// gateway replayed them: a removal could reach the endpoint before its add.
/// Whatever is on disk must always be older than whatever is only in memory.
#[tokio::test(start_paused = true)]
async fn a_crash_while_the_endpoint_is_slow_keeps_batches_in_order() {
    let s = setup(&[
        ("RELAY_BATCH_SIZE", "2"),
        ("RELAY_MEMORY_BATCHES", "2"),
        ("RELAY_REQUEST_TIMEOUT_MS", "60000"),
        ("RELAY_STATE_INTERVAL_MS", "100"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.script(1, Reply::Hang);
    let session = s.gateway.session_id(0).expect("session");
    let mut keys = Vec::new();
    for id in 2_500..2_504 {
        let reaction = Reaction::new(id, GUILD, CHANNEL, MEMBER, AUTHOR);
        let add = s.gateway.reaction_add(&reaction).sequence().expect("seq");
        let remove = s
            .gateway
            .reaction_remove(&reaction)
            .sequence()
            .expect("seq");
        keys.push(format!("{id}:{MEMBER}:👍:{session}:{add}"));
        keys.push(format!("{id}:{MEMBER}:👍:{session}:{remove}"));
    }
    // Four batches: one hangs in flight, one more fits in memory, the rest
    // must not be on disk ahead of them.
    let dir = s.dir.path().to_owned();
    tokio::time::timeout(WAIT, async {
        while files(&dir, "spool").is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("something spooled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.kill().await;

    let relay = Relay::start(&s.env);
    s.sink.wait_for_keys(keys.len()).await;
    assert_eq!(s.sink.stored_keys(), keys, "every removal after its add");
    relay.stop().await.expect("stops cleanly");
}

/// ADR 0005: a sequence is never saved ahead of events that are neither
/// acknowledged nor spooled. Here the only batch hangs in flight while the
/// state is saved many times; the relay dies; the restart must replay it.
#[tokio::test(start_paused = true)]
async fn the_state_is_never_saved_ahead_of_a_batch_in_flight() {
    let s = setup(&[
        ("RELAY_REQUEST_TIMEOUT_MS", "60000"),
        ("RELAY_STATE_INTERVAL_MS", "100"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = saved_sequence(s.dir.path()).expect("READY saved");
    s.sink.script(1, Reply::Hang);
    let keys = messages(&s.gateway, 2_200, 10);
    s.sink
        .wait_until("the batch in flight", |sink| sink.attempts().len() == 1)
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(saved_sequence(s.dir.path()), Some(before));
    relay.kill().await;

    let relay = Relay::start(&s.env);
    s.sink.wait_for_keys(10).await;
    assert_eq!(s.sink.stored_keys(), keys);
    assert_eq!(s.gateway.counts().resumes, 1);
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_graceful_stop_spools_the_open_batch_and_a_restart_resumes() {
    let s = setup(&[
        ("RELAY_BATCH_SIZE", "100"),
        ("RELAY_BATCH_INTERVAL_MS", "100000"),
    ])
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.set_default(Reply::Status(503));
    let mut keys = messages(&s.gateway, 1_800, 7);
    let last = s.gateway.sequence(0).expect("seq");
    // Let the relay read them all, then stop it with the batch still open.
    tokio::time::sleep(Duration::from_millis(10)).await;
    relay.stop().await.expect("stops cleanly");
    let spooled = files(s.dir.path(), "spool");
    assert_eq!(spooled, ["00000000000000000001-7.json"]);
    assert_eq!(
        saved_sequence(s.dir.path()),
        Some(last),
        "everything read is safe"
    );
    assert!(s.sink.events().is_empty());

    s.sink.set_default(Reply::Accept);
    let relay = Relay::start(&s.env);
    s.sink.wait_for_keys(7).await;
    keys.extend(messages(&s.gateway, 1_900, 2));
    s.sink.wait_for_keys(9).await;
    assert_eq!(s.sink.stored_keys(), keys);
    assert_eq!(s.sink.events().len(), 9, "nothing replayed twice");
    let counts = s.gateway.counts();
    assert_eq!((counts.identifies, counts.resumes), (1, 1));
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_status_report_arrives_every_interval_events_or_not() {
    let s = setup_with(
        Options {
            heartbeat_interval: Duration::from_secs(5),
            ..Options::default()
        },
        &[("RELAY_STATUS_INTERVAL_SECS", "30")],
    )
    .await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    let reports: Vec<_> = s
        .sink
        .accepted()
        .into_iter()
        .filter_map(|r| r.status)
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "one report in the first 30 s, with no events"
    );
    let report = &reports[0];
    assert_eq!(report["instance"], "relay-under-test");
    assert_eq!(report["events_forwarded"], 0);
    assert_eq!(report["spool_batches"], 0);
    assert_eq!(report["last_event_at"], serde_json::Value::Null);
    assert_eq!(report["shards"][0]["state"], "active");
    assert!(report["gateway_latency_ms"].is_u64(), "{report}");
    assert!(report["started_at"].is_string());

    messages(&s.gateway, 2_000, 4);
    s.sink.wait_for_keys(4).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let reports: Vec<_> = s
        .sink
        .accepted()
        .into_iter()
        .filter_map(|r| r.status)
        .collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[1]["events_forwarded"], 4);
    assert!(reports[1]["last_event_at"].is_string());
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn fatal_close_codes_stop_the_relay_with_the_reason() {
    let cases = [
        (4004, "DISCORD_BOT_TOKEN"),
        (4010, "RELAY_SHARDS"),
        (4011, "RELAY_SHARDS"),
        (4012, "API version"),
        (4013, "intents"),
        (4014, "Message Content"),
    ];
    for (code, advice) in cases {
        let s = setup(&[]).await;
        let relay = Relay::start(&s.env);
        attached(&s.gateway).await;
        messages(&s.gateway, 2_100, 3);
        s.sink.wait_for_keys(3).await;
        s.gateway.close(code);
        let err = relay.finished().await.expect_err("fatal");
        assert!(err.is_fatal_close(), "{code}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(&code.to_string()) && text.contains(advice),
            "{text}"
        );
    }
    // A close code that is not fatal: twilight reconnects and resumes.
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.gateway.close(4000);
    let keys = messages(&s.gateway, 2_150, 3);
    s.sink.wait_for_keys(3).await;
    assert_eq!(s.sink.stored_keys(), keys);
    assert_eq!(s.gateway.counts().resumes, 1);
    relay.stop().await.expect("stops cleanly");
}

/// The endpoint applied a batch but its answer was lost: the relay sends
/// the very same batch again, and the keys make the repeat harmless.
#[tokio::test(start_paused = true)]
async fn a_batch_applied_but_unacknowledged_is_sent_again_with_the_same_keys() {
    let s = setup(&[]).await;
    let relay = Relay::start(&s.env);
    attached(&s.gateway).await;
    s.sink.script(1, Reply::ApplyThenFail(503));
    let reaction = Reaction::new(2_300, GUILD, CHANNEL, MEMBER, AUTHOR);
    let mut keys = messages(&s.gateway, 2_300, 9);
    let seq = s.gateway.reaction_add(&reaction).sequence().expect("seq");
    let session = s.gateway.session_id(0).expect("session");
    keys.push(format!("2300:{MEMBER}:👍:{session}:{seq}"));
    s.sink
        .wait_until("the batch twice", |sink| sink.accepted().len() == 2)
        .await;
    let accepted = s.sink.accepted();
    assert_eq!(accepted[0].events, accepted[1].events, "the same batch");
    assert_eq!(s.sink.stored_keys(), keys);
    relay.stop().await.expect("stops cleanly");
}

/// ADR 0005: a batch is signed when it is sent, not when it was spooled, so
/// one spooled long ago still passes the endpoint's timestamp window.
#[tokio::test(start_paused = true)]
async fn a_batch_spooled_long_ago_is_signed_when_sent() {
    let s = setup(&[]).await;
    let two_hours_ago = gateway_relay::Hooks {
        wall_clock: std::sync::Arc::new(|| {
            std::time::SystemTime::now() - Duration::from_secs(7_200)
        }),
        ..common::no_jitter()
    };
    let relay = Relay::start_with(&s.env, two_hours_ago);
    attached(&s.gateway).await;
    s.sink.set_default(Reply::Status(503));
    let keys = messages(&s.gateway, 2_400, 10);
    let dir = s.dir.path().to_owned();
    tokio::time::timeout(WAIT, async {
        while files(&dir, "spool").is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("spooled");
    relay.stop().await.expect("stops cleanly");

    // Now, with the right clock: the sink checks a 300 s window.
    s.sink.set_default(Reply::Accept);
    let relay = Relay::start(&s.env);
    s.sink.wait_for_keys(10).await;
    assert_eq!(s.sink.stored_keys(), keys);
    assert_eq!(s.sink.bad_requests(), (0, 0));
    relay.stop().await.expect("stops cleanly");
}

#[tokio::test(start_paused = true)]
async fn shards_each_identify_and_forward_their_guilds() {
    let s = setup_with(
        Options {
            shards: 2,
            ..Options::default()
        },
        &[("RELAY_SHARDS", "2")],
    )
    .await;
    let relay = Relay::start(&s.env);
    gateway_until(&s.gateway, "both shards attached", |c| c.attached == 2).await;
    // Shard = (guild_id >> 22) % 2.
    let (even, odd) = (2_u64 << 22, 1_u64 << 22);
    s.gateway
        .message_create(&MessageCreate::new(31, even, CHANNEL, AUTHOR));
    s.gateway
        .message_create(&MessageCreate::new(32, odd, CHANNEL, AUTHOR));
    s.sink.wait_for_keys(2).await;
    let mut shards: Vec<_> = s
        .gateway
        .identify_payloads()
        .iter()
        .map(|p| p["shard"].clone())
        .collect();
    shards.sort_by_key(|shard| shard[0].as_u64());
    assert_eq!(
        shards,
        [serde_json::json!([0, 2]), serde_json::json!([1, 2])]
    );
    relay.stop().await.expect("stops cleanly");
    let saved = saved_state(s.dir.path()).expect("state saved");
    assert_eq!(saved["shards"].as_array().map(Vec::len), Some(2));
}
