//! The fake gateway against an unmodified twilight shard: if twilight accepts
//! it, the relay's tests exercise the real protocol.

use std::time::Duration;

use fake_gateway::payloads::{Emoji, MessageCreate, MessageDelete, Reaction};
use fake_gateway::{Delivery, FakeGateway, Options};
use twilight_gateway::{
    ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
    queue::InMemoryQueue,
};

const WAIT: Duration = Duration::from_secs(120);

fn shard(gateway: &FakeGateway) -> Shard {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ConfigBuilder::new("test-token".to_owned(), Intents::GUILD_MESSAGES)
        .proxy_url(gateway.url().to_owned())
        .queue(InMemoryQueue::new(0, 0, Duration::ZERO, 0))
        .build();
    Shard::with_config(ShardId::ONE, config)
}

/// The next event of the wanted kinds, failing the test on a timeout or when
/// the shard ends.
async fn next(shard: &mut Shard, wanted: EventTypeFlags) -> Event {
    loop {
        let item = tokio::time::timeout(WAIT, shard.next_event(wanted))
            .await
            .expect("an event in time")
            .expect("the shard is still running");
        match item {
            // Close frames always come through; reconnecting is twilight's job.
            Ok(Event::GatewayClose(frame)) => eprintln!("closed: {frame:?}"),
            Ok(event) => return event,
            Err(err) => eprintln!("receive error (twilight keeps going): {err}"),
        }
    }
}

const WANTED: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::RESUMED)
    .union(EventTypeFlags::MESSAGE_CREATE)
    .union(EventTypeFlags::MESSAGE_DELETE)
    .union(EventTypeFlags::REACTION_ADD)
    .union(EventTypeFlags::REACTION_REMOVE);

#[tokio::test(start_paused = true)]
async fn identify_gets_ready_with_the_fake_as_resume_url_and_typed_dispatches() {
    let gateway = FakeGateway::start().await.expect("starts");
    let mut shard = shard(&gateway);
    let Event::Ready(ready) = next(&mut shard, WANTED).await else {
        panic!("READY first");
    };
    assert_eq!(ready.resume_gateway_url, gateway.url());
    assert_eq!(
        Some(ready.session_id.as_str()),
        gateway.session_id(0).as_deref()
    );
    assert_eq!(gateway.counts().identifies, 1);
    let identify = &gateway.identify_payloads()[0];
    assert_eq!(identify["token"], "Bot test-token");
    assert_eq!(identify["intents"], Intents::GUILD_MESSAGES.bits());

    let message = MessageCreate::new(
        1_100_000_000_000_000_001,
        1_000_000_000_000_000_001,
        1_000_000_000_000_000_003,
        1_000_000_000_000_000_002,
    )
    .nick("Ally")
    .content("!close");
    assert!(matches!(
        gateway.message_create(&message),
        Delivery::Sent { sequence: 2, .. }
    ));
    let reaction = Reaction::new(
        message.id,
        1_000_000_000_000_000_001,
        message.channel_id,
        1_000_000_000_000_000_009,
        message.author_id,
    )
    .emoji(Emoji::Custom {
        id: 1_200_000_000_000_000_005,
        name: "party".to_owned(),
    });
    gateway.reaction_add(&reaction);
    gateway.reaction_remove(&reaction);
    gateway.message_delete(&MessageDelete::new(
        message.id,
        1_000_000_000_000_000_001,
        message.channel_id,
    ));

    let Event::MessageCreate(created) = next(&mut shard, WANTED).await else {
        panic!("MESSAGE_CREATE");
    };
    assert_eq!(created.id.get(), message.id);
    assert_eq!(created.content, "!close");
    assert_eq!(
        created.member.as_ref().and_then(|m| m.nick.as_deref()),
        Some("Ally")
    );
    let Event::ReactionAdd(added) = next(&mut shard, WANTED).await else {
        panic!("MESSAGE_REACTION_ADD");
    };
    assert_eq!(
        added.message_author_id.map(|id| id.get()),
        Some(message.author_id)
    );
    assert!(added.member.is_some());
    let Event::ReactionRemove(removed) = next(&mut shard, WANTED).await else {
        panic!("MESSAGE_REACTION_REMOVE");
    };
    assert!(removed.member.is_none());
    let Event::MessageDelete(deleted) = next(&mut shard, WANTED).await else {
        panic!("MESSAGE_DELETE");
    };
    assert_eq!(deleted.id.get(), message.id);
    assert_eq!(shard.session().map(|s| s.sequence()), Some(5));
}

#[tokio::test(start_paused = true)]
async fn op7_makes_the_shard_resume_and_the_kept_dispatches_are_replayed() {
    let gateway = FakeGateway::start().await.expect("starts");
    let mut shard = shard(&gateway);
    next(&mut shard, WANTED).await;
    gateway.message_create(&MessageCreate::new(11, 1, 3, 2));
    next(&mut shard, WANTED).await;

    assert_eq!(gateway.reconnect(), 1);
    // Pushed while the shard is away: kept for the replay.
    let kept = gateway.message_create(&MessageCreate::new(12, 1, 3, 2));
    assert!(
        matches!(kept, Delivery::Kept { sequence: 3, .. }),
        "{kept:?}"
    );

    let Event::MessageCreate(replayed) = next(&mut shard, WANTED).await else {
        panic!("the replayed message");
    };
    assert_eq!(replayed.id.get(), 12);
    assert!(matches!(next(&mut shard, WANTED).await, Event::Resumed));
    let counts = gateway.counts();
    assert_eq!(
        (counts.identifies, counts.resumes, counts.resumes_refused),
        (1, 1, 0)
    );
    assert_eq!(counts.connections, 2);
}

#[tokio::test(start_paused = true)]
async fn op9_not_resumable_makes_the_shard_identify_again() {
    let gateway = FakeGateway::start().await.expect("starts");
    let mut shard = shard(&gateway);
    next(&mut shard, WANTED).await;
    let first = gateway.session_id(0).expect("a session");

    gateway.invalidate_session(false);
    let waiting = gateway.message_create(&MessageCreate::new(13, 1, 3, 2));
    assert!(matches!(waiting, Delivery::Waiting { .. }));

    let Event::Ready(ready) = next(&mut shard, WANTED).await else {
        panic!("a new READY");
    };
    assert_ne!(ready.session_id, first);
    let Event::MessageCreate(message) = next(&mut shard, WANTED).await else {
        panic!("the waiting message");
    };
    assert_eq!(message.id.get(), 13);
    assert_eq!(gateway.counts().identifies, 2);
}

#[tokio::test(start_paused = true)]
async fn a_zombied_connection_is_abandoned_and_resumed() {
    let gateway = FakeGateway::start_with(Options {
        heartbeat_interval: Duration::from_secs(5),
        ..Options::default()
    })
    .await
    .expect("starts");
    let mut shard = shard(&gateway);
    next(&mut shard, WANTED).await;
    gateway.zombie();
    gateway.message_create(&MessageCreate::new(14, 1, 3, 2));
    // No ACK for a heartbeat: twilight gives the connection up and resumes.
    let event = next(&mut shard, WANTED).await;
    let Event::MessageCreate(message) = event else {
        panic!(
            "the message, replayed after RESUME, not {event:?} ({:?})",
            gateway.counts()
        );
    };
    assert_eq!(message.id.get(), 14);
    assert_eq!(gateway.counts().resumes, 1);
}

#[tokio::test(start_paused = true)]
async fn close_4004_is_fatal_to_the_shard() {
    let gateway = FakeGateway::start().await.expect("starts");
    let mut shard = shard(&gateway);
    next(&mut shard, WANTED).await;
    gateway.close(4004);
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(item) = shard.next_event(EventTypeFlags::all()).await {
            if let Ok(Event::GatewayClose(Some(frame))) = item {
                assert_eq!(frame.code, 4004);
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "next_event returns None after 4004");
}

#[tokio::test(start_paused = true)]
async fn a_wrong_token_is_closed_with_4004() {
    let gateway = FakeGateway::start_with(Options {
        token: Some("the-right-token".to_owned()),
        ..Options::default()
    })
    .await
    .expect("starts");
    let mut shard = shard(&gateway);
    let mut code = None;
    while let Some(item) = tokio::time::timeout(WAIT, shard.next_event(EventTypeFlags::all()))
        .await
        .expect("ends in time")
    {
        if let Ok(Event::GatewayClose(Some(frame))) = item {
            code = Some(frame.code);
        }
    }
    assert_eq!(code, Some(4004));
}

#[tokio::test(start_paused = true)]
async fn a_firehose_reaches_the_shard_in_sequence() {
    let gateway = FakeGateway::start().await.expect("starts");
    let mut shard = shard(&gateway);
    next(&mut shard, WANTED).await;
    let done = gateway.firehose(500, 1024).await.expect("attached");
    let mut ids = Vec::new();
    while ids.len() < 500 {
        if let Event::MessageCreate(message) = next(&mut shard, WANTED).await {
            ids.push(message.id.get());
        }
    }
    done.wait().await.expect("all written");
    assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1));
    assert_eq!(shard.session().map(|s| s.sequence()), Some(501));
}
