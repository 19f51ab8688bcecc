//! The data layer against the real local stack: Postgres 15 with the project's
//! migrations, behind a PostgREST-compatible API. Each test has its own database.

use community_store::{
    Error, EventKind, GuildId, Heartbeat, LogEntry, LogLevel, MemberId, ScoredEvent, Store,
    TicketCloseAction,
};
use local_stack::testing::TestDatabase;
use stand_ins::{Fault, StandIns};
use time::macros::{date, datetime};
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

const GUILD: u64 = 1_000_000_000_000_000_001;
const ANN: u64 = 2_000_000_000_000_000_001;
const BOB: u64 = 2_000_000_000_000_000_002;
const CHANNEL: u64 = 3_000_000_000_000_000_001;

fn store(db: &TestDatabase) -> Store {
    Store::new(db.api_url(), db.service_key()).expect("valid store config")
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse(rfc3339).expect("valid timestamp")
}

fn message(id: u64, member: u64, when: &str) -> ScoredEvent {
    ScoredEvent {
        idempotency_key: format!("message:{id}"),
        guild_id: Id::new(GUILD),
        member_id: Id::new(member),
        member_name: Some(format!("member-{member}")),
        channel_id: Id::new(CHANNEL),
        message_id: Id::new(id),
        kind: EventKind::Message,
        emoji: None,
        occurred_at: at(when),
        points: 1.0,
    }
}

fn reaction(kind: EventKind, message_id: u64, member: u64, seq: u32, when: &str) -> ScoredEvent {
    ScoredEvent {
        idempotency_key: format!("{}:{message_id}:{member}:👍:s1:{seq}", kind.as_str()),
        guild_id: Id::new(GUILD),
        member_id: Id::new(member),
        member_name: None,
        channel_id: Id::new(CHANNEL),
        message_id: Id::new(message_id),
        kind,
        emoji: Some("👍".to_owned()),
        occurred_at: at(when),
        points: if kind == EventKind::ReactionAdd {
            0.5
        } else {
            -0.5
        },
    }
}

fn guild() -> GuildId {
    Id::new(GUILD)
}

fn member(id: u64) -> MemberId {
    Id::new(id)
}

#[tokio::test]
async fn a_replayed_batch_changes_nothing() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let batch = vec![
        message(11, ANN, "2026-11-20T10:00:00+00:00"),
        message(12, ANN, "2026-11-20T11:00:00+00:00"),
        reaction(
            EventKind::ReactionAdd,
            11,
            BOB,
            1,
            "2026-11-20T10:05:00+00:00",
        ),
    ];

    let first = store.ingest_events(&batch).await.expect("first ingest");
    assert_eq!(
        (first.received, first.inserted, first.duplicates),
        (3, 3, 0)
    );
    let before = db.sql("select guild_id, day, member_id, messages, reactions, points from member_daily_activity order by 1, 2, 3");

    let again = store.ingest_events(&batch).await.expect("replayed ingest");
    assert_eq!(
        (again.received, again.inserted, again.duplicates),
        (3, 0, 3)
    );
    assert_eq!(db.sql("select count(*) from activity_logs"), "3");
    assert_eq!(
        db.sql("select guild_id, day, member_id, messages, reactions, points from member_daily_activity order by 1, 2, 3"),
        before
    );
}

#[tokio::test]
async fn a_key_repeated_inside_one_batch_counts_once() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let event = message(21, ANN, "2026-11-20T10:00:00+00:00");
    let report = store
        .ingest_events(&[event.clone(), event])
        .await
        .expect("ingest");
    assert_eq!((report.inserted, report.duplicates), (1, 1));
    assert_eq!(db.sql("select messages from member_daily_activity"), "1");
}

#[tokio::test]
async fn rollups_are_right_after_mixed_batches() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    // Day 1: Ann posts twice; Bob reacts to her first message, removes it the
    // next day, then adds it again. Day 2: Bob posts once.
    store
        .ingest_events(&[
            message(31, ANN, "2026-11-20T10:00:00+00:00"),
            message(32, ANN, "2026-11-20T23:59:59+00:00"),
            reaction(
                EventKind::ReactionAdd,
                31,
                BOB,
                1,
                "2026-11-20T10:05:00+00:00",
            ),
        ])
        .await
        .expect("batch 1");
    store
        .ingest_events(&[
            reaction(
                EventKind::ReactionRemove,
                31,
                BOB,
                2,
                "2026-11-21T09:00:00+00:00",
            ),
            message(33, BOB, "2026-11-21T09:30:00+00:00"),
            reaction(
                EventKind::ReactionAdd,
                31,
                BOB,
                3,
                "2026-11-21T10:00:00+00:00",
            ),
        ])
        .await
        .expect("batch 2");

    // The removal cancels the add on its own day; the re-add stands on day 2.
    assert_eq!(
        db.sql("select day, member_id, messages, reactions, points::float8 from member_daily_activity order by day, member_id"),
        format!(
            "2026-11-20|{ANN}|2|0|2\n2026-11-20|{BOB}|0|0|0\n2026-11-21|{BOB}|1|1|1.5"
        )
    );
    assert_eq!(
        db.sql("select day, messages, reactions, points::float8, active_members from guild_daily_activity order by day"),
        "2026-11-20|2|0|2|2\n2026-11-21|1|1|1.5|1"
    );
    // A removal with no standing add takes back nothing.
    store
        .ingest_events(&[reaction(
            EventKind::ReactionRemove,
            32,
            ANN,
            4,
            "2026-11-21T11:00:00+00:00",
        )])
        .await
        .expect("unmatched removal");
    assert_eq!(
        db.sql("select sum(points)::float8 from member_daily_activity"),
        "3.5"
    );

    let scores = store
        .member_daily_scores(
            guild(),
            member(BOB),
            date!(2026 - 11 - 01),
            date!(2026 - 11 - 30),
        )
        .await
        .expect("member scores");
    let summary: Vec<_> = scores
        .iter()
        .map(|d| (d.day, d.messages, d.reactions, d.points))
        .collect();
    assert_eq!(
        summary,
        vec![
            (date!(2026 - 11 - 20), 0, 0, 0.0),
            (date!(2026 - 11 - 21), 1, 1, 1.5)
        ]
    );
    assert_eq!(
        db.sql(&format!(
            "select display_name, last_seen_at from guild_members where member_id = {ANN}"
        )),
        format!("member-{ANN}|2026-11-21 11:00:00+00")
    );
}

#[tokio::test]
async fn a_malformed_batch_is_refused_whole_with_the_reason() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let mut bad = reaction(
        EventKind::ReactionAdd,
        41,
        BOB,
        1,
        "2026-11-20T10:00:00+00:00",
    );
    bad.emoji = None;
    let err = store
        .ingest_events(&[message(40, ANN, "2026-11-20T09:00:00+00:00"), bad])
        .await
        .expect_err("a reaction without emoji is malformed");
    match &err {
        Error::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("22023"));
            assert!(message.contains("reactions need emoji"), "{message}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(db.sql("select count(*) from activity_logs"), "0");
}

#[tokio::test]
async fn settings_fall_back_to_defaults_and_read_a_guilds_row() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let defaults = store.guild_settings(guild()).await.expect("defaults");
    assert_eq!(defaults.max_open_tickets, 1);
    assert_eq!(defaults.message_points, 1.0);
    assert_eq!(defaults.reaction_points, 0.5);
    assert_eq!(defaults.ticket_close_action, TicketCloseAction::Delete);
    assert_eq!(defaults.staff_role_id, None);

    db.sql(&format!(
        "insert into guild_settings (guild_id, staff_role_id, max_open_tickets, ticket_close_action, reaction_points) \
         values ({GUILD}, 4000000000000000001, 3, 'archive', 0.25)"
    ));
    let custom = store.guild_settings(guild()).await.expect("custom");
    assert_eq!(
        custom.staff_role_id,
        Some(Id::new(4_000_000_000_000_000_001))
    );
    assert_eq!(custom.max_open_tickets, 3);
    assert_eq!(custom.ticket_close_action, TicketCloseAction::Archive);
    assert_eq!(custom.reaction_points, 0.25);
}

/// A removal stored before its add (a replay of set-aside batches) takes it
/// back once the add arrives, on the add's day, as in order; a removal that
/// takes nothing back makes no day active.
#[tokio::test]
async fn reactions_count_the_same_whatever_order_they_arrive_in() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let removed = reaction(
        EventKind::ReactionRemove,
        41,
        BOB,
        2,
        "2026-11-21T09:00:00+00:00",
    );
    let report = store
        .ingest_events(std::slice::from_ref(&removed))
        .await
        .expect("removal first");
    assert_eq!((report.inserted, report.duplicates), (1, 0));
    assert_eq!(
        db.sql("select count(*) from member_daily_activity"),
        "0",
        "nothing taken back, no active day"
    );
    assert_eq!(
        db.sql(&format!(
            "select last_seen_at is not null from guild_members where member_id = {BOB}"
        )),
        "t",
        "but the member was seen"
    );

    // The add it removed, replayed late, with a message of the same day.
    let added = reaction(
        EventKind::ReactionAdd,
        41,
        BOB,
        1,
        "2026-11-20T18:00:00+00:00",
    );
    let report = store
        .ingest_events(&[added.clone(), message(42, BOB, "2026-11-20T18:30:00+00:00")])
        .await
        .expect("the add, late");
    assert_eq!(
        (report.received, report.inserted, report.duplicates),
        (2, 2, 0)
    );
    assert_eq!(
        db.sql("select day, messages, reactions, points::float8 from member_daily_activity"),
        "2026-11-20|1|0|1",
        "the add and its removal cancel out on the add's day"
    );
    assert_eq!(
        db.sql("select points_value::float8, cancels_id is not null from activity_logs where kind = 'reaction_remove'"),
        "-0.5|t"
    );
    assert_eq!(
        db.sql("select reactions, points::float8 from member_activity_state"),
        "0|1"
    );

    // Both again: nothing changes.
    let report = store
        .ingest_events(&[removed, added])
        .await
        .expect("replayed");
    assert_eq!((report.inserted, report.duplicates), (0, 2));
    assert_eq!(
        db.sql("select day, messages, reactions, points::float8 from member_daily_activity"),
        "2026-11-20|1|0|1"
    );
    // A later add of the same reaction stands: the removal is spent.
    store
        .ingest_events(&[reaction(
            EventKind::ReactionAdd,
            41,
            BOB,
            3,
            "2026-11-22T08:00:00+00:00",
        )])
        .await
        .expect("a new add");
    assert_eq!(
        db.sql("select sum(reactions), sum(points)::float8 from member_daily_activity"),
        "1|1.5"
    );
}

/// A replayed batch holding add, remove, add whose last removal came first:
/// each removal takes back the latest add before it, as in order.
#[tokio::test]
async fn a_replay_pairs_each_removal_with_the_latest_add_before_it() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let t = |hour: u32| format!("2026-11-20T{hour:02}:00:00+00:00");
    // The removal of the second add got through first.
    store
        .ingest_events(&[reaction(EventKind::ReactionRemove, 51, BOB, 4, &t(14))])
        .await
        .expect("removal first");
    store
        .ingest_events(&[
            reaction(EventKind::ReactionAdd, 51, BOB, 1, &t(10)),
            reaction(EventKind::ReactionRemove, 51, BOB, 2, &t(11)),
            reaction(EventKind::ReactionAdd, 51, BOB, 3, &t(12)),
        ])
        .await
        .expect("the replay");
    assert_eq!(
        db.sql(
            "select r.idempotency_key || ' takes ' || a.idempotency_key from activity_logs r \
             join activity_logs a on a.id = r.cancels_id order by r.occurred_at"
        ),
        format!(
            "reaction_remove:51:{BOB}:👍:s1:2 takes reaction_add:51:{BOB}:👍:s1:1\n\
             reaction_remove:51:{BOB}:👍:s1:4 takes reaction_add:51:{BOB}:👍:s1:3"
        )
    );
    assert_eq!(
        db.sql("select reactions, points::float8 from member_daily_activity"),
        "0|0"
    );

    // Two adds before one stored removal: the newer one is taken back.
    store
        .ingest_events(&[reaction(EventKind::ReactionRemove, 52, BOB, 7, &t(18))])
        .await
        .expect("removal first");
    store
        .ingest_events(&[
            reaction(EventKind::ReactionAdd, 52, BOB, 5, &t(15)),
            reaction(EventKind::ReactionAdd, 52, BOB, 6, &t(16)),
        ])
        .await
        .expect("two adds");
    assert_eq!(
        db.sql(
            "select a.idempotency_key from activity_logs r join activity_logs a on a.id = r.cancels_id \
             where r.message_id = 52"
        ),
        format!("reaction_add:52:{BOB}:👍:s1:6")
    );
    assert_eq!(
        db.sql("select reactions, points::float8 from member_daily_activity"),
        "1|0.5"
    );
}

/// `/settings` writes only what it asks, resets to the table's defaults, and
/// refuses what is not a setting or not allowed, changing nothing.
#[tokio::test]
async fn set_guild_settings_changes_only_what_it_is_asked() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let values = |v: serde_json::Value| v.as_object().cloned().expect("an object");
    // A guild without a row gets one.
    let set = store
        .set_guild_settings(
            guild(),
            &values(serde_json::json!({
                "staff_role_id": "4000000000000000001",
                "ticket_archive_category_id": "4000000000000000002",
                "ticket_log_channel_id": "4000000000000000003",
                "max_open_tickets": 3,
                "ticket_close_action": "archive",
                "ai_daily_budget_usd": 2.5,
            })),
            &[],
        )
        .await
        .expect("set");
    assert_eq!(set.staff_role_id, Some(Id::new(4_000_000_000_000_000_001)));
    assert_eq!(
        set.ticket_archive_category_id,
        Some(Id::new(4_000_000_000_000_000_002))
    );
    assert_eq!(
        set.ticket_log_channel_id,
        Some(Id::new(4_000_000_000_000_000_003))
    );
    assert_eq!(set.max_open_tickets, 3);
    assert_eq!(set.ticket_close_action, TicketCloseAction::Archive);
    assert_eq!(set.ai_daily_budget_usd, 2.5);
    assert_eq!(set.reaction_points, 0.5, "untouched: its default");
    assert_eq!(store.guild_settings(guild()).await.expect("read"), set);

    // Another change leaves the first one's values alone; a reset returns
    // a nullable setting to null and a counted one to its default.
    let again = store
        .set_guild_settings(
            guild(),
            &values(serde_json::json!({ "reaction_points": 0.25 })),
            &["ticket_archive_category_id", "max_open_tickets"],
        )
        .await
        .expect("set again");
    assert_eq!(again.reaction_points, 0.25);
    assert_eq!(again.staff_role_id, set.staff_role_id);
    assert_eq!(again.ai_daily_budget_usd, 2.5);
    assert_eq!(again.ticket_archive_category_id, None);
    assert_eq!(again.max_open_tickets, 1);
    assert_eq!(
        db.sql(&format!(
            "select count(*) from guild_settings where guild_id = {GUILD}"
        )),
        "1"
    );

    // Not a setting, or out of the table's bounds: refused, nothing changes.
    for (bad, reset, code) in [
        (serde_json::json!({ "guild_id": "5" }), &[][..], "22023"),
        (serde_json::json!({}), &["updated_at"][..], "22023"),
        (
            serde_json::json!({ "max_open_tickets": 99 }),
            &[][..],
            "23514",
        ),
        (
            serde_json::json!({ "ai_daily_budget_usd": -1 }),
            &[][..],
            "23514",
        ),
    ] {
        let err = store
            .set_guild_settings(guild(), &values(bad.clone()), reset)
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Some(code), "{bad} {reset:?}: {err}");
        assert!(!err.is_transient());
    }
    assert_eq!(store.guild_settings(guild()).await.expect("read"), again);
}

/// The budget check reads a running total per guild and UTC day, kept by
/// triggers on the ledger: every insert, correction and deletion counts, and
/// only the day's own calls.
#[tokio::test]
async fn todays_spend_follows_every_change_to_the_ledger() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let noon = datetime!(2026-11-26 12:00 UTC);
    let spent = || async {
        store
            .audit_begin(guild(), "no such text", noon)
            .await
            .expect("audit_begin")
            .spent_today_usd
    };
    assert_eq!(spent().await, 0.0);

    let ledger = |cost: &str, at: &str| {
        format!(
            "insert into ai_usage_ledger (guild_id, model, cost_usd, succeeded, created_at) \
             values ({GUILD}, 'gemini-2.5-flash', {cost}, true, '{at}')"
        )
    };
    // Two calls today (one a second before midnight), one the day before,
    // one just after, and one in another guild: only today's two count.
    db.sql(&ledger("0.25", "2026-11-26 00:00:00+00"));
    db.sql(&ledger("0.50", "2026-11-26 23:59:59+00"));
    db.sql(&ledger("4", "2026-11-25 23:59:59+00"));
    db.sql(&ledger("8", "2026-11-27 00:00:00+00"));
    db.sql(
        "insert into ai_usage_ledger (guild_id, model, cost_usd, succeeded) \
         values (1000000000000000009, 'gemini-2.5-flash', 16, true)",
    );
    assert_eq!(spent().await, 0.75);

    // Several rows in one statement, as the seed writes them.
    db.sql(&format!(
        "insert into ai_usage_ledger (guild_id, model, cost_usd, succeeded, created_at) \
         select {GUILD}, 'gemini-2.5-flash', 0.125, false, '2026-11-26 08:00:00+00' \
         from generate_series(1, 4)"
    ));
    assert_eq!(spent().await, 1.25);

    // A correction moves cost between days; a deletion takes it away.
    db.sql("update ai_usage_ledger set cost_usd = 1 where cost_usd = 0.25");
    assert_eq!(spent().await, 2.0);
    db.sql("update ai_usage_ledger set created_at = '2026-11-25 09:00:00+00' where cost_usd = 1");
    assert_eq!(spent().await, 1.0);
    db.sql("delete from ai_usage_ledger where cost_usd = 0.125");
    assert_eq!(spent().await, 0.5);
    assert_eq!(
        db.sql(&format!(
            "select cost_usd from ai_spend_daily where guild_id = {GUILD} and day = '2026-11-25'"
        )),
        "5.000000"
    );

    // Emptying the ledger empties the totals.
    db.sql("truncate ai_usage_ledger");
    assert_eq!(spent().await, 0.0);
    assert_eq!(db.sql("select count(*) from ai_spend_daily"), "0");
}

#[tokio::test]
async fn heartbeats_and_logs_round_trip() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    store
        .record_heartbeat(&Heartbeat {
            service: "gateway-relay".into(),
            instance: "host-a".into(),
            started_at: datetime!(2026-11-25 08:00 UTC),
            status: serde_json::json!({ "spool_depth": 3 }),
        })
        .await
        .expect("heartbeat");
    let beats = store.heartbeats().await.expect("heartbeats");
    assert_eq!(beats.len(), 1);
    assert_eq!(beats[0].service, "gateway-relay");
    assert_eq!(beats[0].status["spool_depth"], 3);
    assert_eq!(beats[0].started_at, Some(datetime!(2026-11-25 08:00 UTC)));

    for (level, message) in [
        (LogLevel::Info, "one"),
        (LogLevel::Error, "two"),
        (LogLevel::Info, "three"),
    ] {
        store
            .append_log(&LogEntry {
                level,
                source: "test",
                message,
                fields: serde_json::json!({}),
            })
            .await
            .expect("append");
    }
    let all = store.recent_logs(None, 10).await.expect("logs");
    let messages: Vec<_> = all.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["three", "two", "one"]);
    let errors = store
        .recent_logs(Some(LogLevel::Error), 10)
        .await
        .expect("errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "two");
}

#[tokio::test]
async fn health_reports_the_schema_version() {
    let db = TestDatabase::create().expect("test database");
    let health = store(&db).database_health().await.expect("health");
    let latest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../database"))
        .expect("database dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| {
            n.strip_prefix("migration_")?
                .split('_')
                .next()
                .map(str::to_owned)
        })
        .max();
    assert_eq!(health.schema_version, latest);
}

#[tokio::test]
async fn anon_key_sees_nothing() {
    let db = TestDatabase::create().expect("test database");
    store(&db)
        .ingest_events(&[message(51, ANN, "2026-11-20T10:00:00+00:00")])
        .await
        .expect("ingest");
    let anon = Store::new(db.api_url(), db.anon_key()).expect("anon store");
    let err = anon
        .ingest_events(&[message(52, ANN, "2026-11-20T10:00:00+00:00")])
        .await
        .expect_err("anon cannot call ingest");
    assert!(
        matches!(
            err,
            Error::Api {
                status: 401 | 403,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        anon.recent_logs(None, 10)
            .await
            .map_or(true, |l| l.is_empty())
    );
    assert_eq!(db.sql("select count(*) from activity_logs"), "1");
}

#[tokio::test]
async fn api_down_is_an_unreachable_error() {
    let db = TestDatabase::create().expect("test database");
    let url = db.api_url().to_owned();
    drop(db); // stops the API server and drops the database
    let err = Store::new(&url, "key")
        .expect("valid config")
        .database_health()
        .await
        .expect_err("nobody is listening");
    assert!(
        matches!(
            err,
            Error::Unreachable {
                call: "database_health",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_server_error_is_transient_and_keeps_the_message() {
    let db = TestDatabase::create().expect("test database");
    db.sql(
        "create or replace function public.database_health() returns jsonb language plpgsql as $$ \
         begin raise exception 'disk on fire' using errcode = 'XX000'; end $$; notify pgrst, 'reload schema';",
    );
    let err = store(&db)
        .database_health()
        .await
        .expect_err("internal error");
    match &err {
        Error::Api {
            status, message, ..
        } => {
            assert!(*status >= 500, "status {status}");
            assert!(message.contains("disk on fire"), "{message}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_unexpected_body_is_a_malformed_error() {
    let db = TestDatabase::create().expect("test database");
    db.sql(
        "create or replace function public.database_health() returns jsonb language sql as $$ \
         select '\"not an object\"'::jsonb $$; notify pgrst, 'reload schema';",
    );
    let err = store(&db).database_health().await.expect_err("wrong shape");
    assert!(
        matches!(
            err,
            Error::Malformed {
                call: "database_health",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_configuration_is_refused_by_name() {
    let err = Store::new("localhost:54321", "key").expect_err("no scheme");
    assert!(err.to_string().contains("SUPABASE_REST_URL"), "{err}");
    let err = Store::new("http://127.0.0.1:54321", " ").expect_err("no key");
    assert!(
        err.to_string().contains("SUPABASE_SERVICE_ROLE_KEY"),
        "{err}"
    );
}

#[test]
fn the_service_key_never_shows_in_debug_output() {
    let store = Store::new("http://127.0.0.1:54321", "super-secret-key").expect("valid");
    assert!(!format!("{store:?}").contains("super-secret"));
}

#[tokio::test]
async fn a_secret_key_goes_in_apikey_only_and_a_legacy_jwt_in_both() {
    let beat = Heartbeat {
        service: "test".into(),
        instance: "1".into(),
        started_at: time::OffsetDateTime::UNIX_EPOCH,
        status: serde_json::json!({}),
    };
    let legacy = "eyJhbGciOiJIUzI1NiJ9.e30.sig";
    let legacy_bearer = format!("Bearer {legacy}");
    for (key, bearer) in [
        ("sb_secret_abc123", None),
        (legacy, Some(legacy_bearer.as_str())),
    ] {
        // The Gemini stand-in only records here: its scripted answers stand
        // in for the API's.
        let api = StandIns::start().expect("stand-ins");
        api.fail_gemini(Fault::respond(200, serde_json::Value::Null).on_path("/rest/v1/rpc/"));
        api.fail_gemini(
            Fault::respond(200, serde_json::json!([])).on_path("/rest/v1/service_heartbeats"),
        );
        let store = Store::new(&format!("{}/rest/v1", api.gemini_url()), key).expect("valid");
        store
            .record_heartbeat(&beat)
            .await
            .expect("a function call");
        store.heartbeats().await.expect("a table query");
        let seen = api.gemini_requests();
        assert_eq!(seen.len(), 2);
        for request in seen {
            assert_eq!(request.header("apikey"), Some(key), "{}", request.path);
            assert_eq!(
                request.header("authorization"),
                bearer,
                "{key}: {}",
                request.path
            );
        }
    }
}

#[test]
fn a_publishable_key_is_refused_by_name() {
    let err = Store::new("http://127.0.0.1:54321", "sb_publishable_abc").expect_err("publishable");
    assert!(
        err.to_string().contains("SUPABASE_SERVICE_ROLE_KEY"),
        "{err}"
    );
    assert!(err.to_string().contains("sb_secret_"), "{err}");
}
