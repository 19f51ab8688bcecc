//! `rebuild_rollups` (migration 016) against the rollups ingest keeps: over
//! a varied event stream (late events, reactions removed before their add
//! arrives, removals that take nothing back, replays), rebuilding from
//! activity_logs gives exactly what ingest built; and it repairs rollups
//! that went wrong.

use community_store::{EventKind, ScoredEvent, Store};
use local_stack::testing::TestDatabase;
use time::macros::date;
use time::{Date, Duration};
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

const GUILD: u64 = 1_000_000_000_000_000_001;
const OTHER_GUILD: u64 = 1_000_000_000_000_000_077;
const CHANNELS: [u64; 3] = [
    3_000_000_000_000_000_001,
    3_000_000_000_000_000_002,
    3_000_000_000_000_000_003,
];

fn event(
    guild: u64,
    key: String,
    who: u64,
    channel: u64,
    message: u64,
    kind: EventKind,
    at: Timestamp,
) -> ScoredEvent {
    let (emoji, points) = match kind {
        EventKind::Message => (None, 1.0),
        EventKind::ReactionAdd => (Some("👍".to_owned()), 0.5),
        EventKind::ReactionRemove => (Some("👍".to_owned()), -0.5),
    };
    ScoredEvent {
        idempotency_key: key,
        guild_id: Id::new(guild),
        member_id: Id::new(who),
        member_name: Some(format!("member-{}", who % 1000)),
        channel_id: Id::new(channel),
        message_id: Id::new(message),
        kind,
        emoji,
        occurred_at: at,
        points,
    }
}

fn at(day: Date, minute: u64) -> Timestamp {
    let when = day
        .with_hms(0, 0, 0)
        .expect("midnight")
        .assume_utc()
        .unix_timestamp()
        + i64::try_from(minute * 60).unwrap_or(0);
    Timestamp::from_secs(when).expect("valid timestamp")
}

/// 150 days of a small community: messages in three channels, reactions
/// added and removed (some removals delivered before their add, some with
/// no add at all), in batches out of order, some delivered twice.
fn stream(guild: u64) -> Vec<Vec<ScoredEvent>> {
    let start = date!(2026 - 06 - 01);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ guild;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut events = Vec::new();
    let mut n = 0_u64;
    for m in 0..25_u64 {
        let who = 2_000_000_000_000_000_000 + m;
        let quits = 60 + next() % 90;
        for d in 0..150_u64 {
            if d > quits && m % 2 == 0 {
                continue;
            }
            let day = start + Duration::days(i64::try_from(d).unwrap_or(0));
            for _ in 0..next() % 4 {
                n += 1;
                let channel = CHANNELS[usize::try_from(next() % 3).unwrap_or(0)];
                events.push(event(
                    guild,
                    format!("message:{guild}:{n}"),
                    who,
                    channel,
                    9_000_000_000_000_000_000 + n,
                    EventKind::Message,
                    at(day, next() % 1440),
                ));
            }
            if next() % 3 == 0 {
                n += 1;
                let target = 8_000_000_000_000_000_000 + n;
                let channel = CHANNELS[usize::try_from(next() % 3).unwrap_or(0)];
                // Some just before midnight, so their removal falls on
                // the next day.
                let added = if next() % 4 == 0 {
                    1_430 + next() % 8
                } else {
                    next() % 1_000
                };
                let add = |k: u64| {
                    event(
                        guild,
                        format!("reaction_add:{guild}:{target}:{who}:{k}"),
                        who,
                        channel,
                        target,
                        EventKind::ReactionAdd,
                        at(day, added + k),
                    )
                };
                let remove = |k: u64| {
                    event(
                        guild,
                        format!("reaction_remove:{guild}:{target}:{who}:{k}"),
                        who,
                        channel,
                        target,
                        EventKind::ReactionRemove,
                        at(day, added + k),
                    )
                };
                match next() % 5 {
                    0 => events.push(add(0)),
                    1 => events.extend([add(0), remove(5)]),
                    2 => events.extend([add(0), remove(5), add(9)]),
                    // The removal is ingested first: the add, arriving
                    // later, is taken back by it (migration 013).
                    3 => events.extend([remove(5), add(0)]),
                    // A removal with nothing to take back.
                    _ => events.push(remove(5)),
                }
            }
        }
    }
    // Batches in order of the events' positions, then shuffled a little
    // (late batches), and some sent twice.
    let mut batches: Vec<Vec<ScoredEvent>> = events.chunks(97).map(<[_]>::to_vec).collect();
    for i in (1..batches.len()).rev() {
        if next() % 4 == 0 {
            let j = usize::try_from(next()).unwrap_or(0) % (i + 1);
            batches.swap(i, j);
        }
    }
    let again: Vec<_> = batches.iter().step_by(7).cloned().collect();
    batches.extend(again);
    batches
}

/// Every rollup of `guild`, as text.
fn rollups(db: &TestDatabase, guild: u64) -> String {
    let tables = [
        format!(
            "select string_agg(concat_ws('|', day, member_id, messages, reactions, points), ';' order by day, member_id)
             from member_daily_activity where guild_id = {guild}"
        ),
        format!(
            "select string_agg(concat_ws('|', day, messages, reactions, points, active_members), ';' order by day)
             from guild_daily_activity where guild_id = {guild}"
        ),
        format!(
            "select string_agg(concat_ws('|', member_id, day, channel_id, messages, reactions, points), ';'
                               order by member_id, day, channel_id)
             from member_channel_activity where guild_id = {guild}"
        ),
        format!(
            "select string_agg(concat_ws('|', day, gap_days, members), ';' order by day, gap_days)
             from guild_activity_gaps where guild_id = {guild} and members <> 0"
        ),
        // The ring's differences: its base is arbitrary.
        format!(
            "select string_agg(concat_ws('|', member_id, messages, reactions, points, first_active_day,
                                         last_active_day, active_days, points_7d, points_30d, points_90d,
                                         (select array_agg(recent_cum[k] - recent_cum[91] order by k)
                                          from generate_series(1, 91) k)), ';' order by member_id)
             from member_activity_state where guild_id = {guild}"
        ),
    ];
    tables
        .iter()
        .map(|sql| db.sql(sql))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `got` equals `want`, or the first rows where they differ.
fn assert_same(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    for (table, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        if let Some((g, w)) = g.split(';').zip(w.split(';')).find(|(g, w)| g != w) {
            panic!("{what}: rollup {table} differs: got {g}, want {w}");
        }
        assert_eq!(
            g.split(';').count(),
            w.split(';').count(),
            "{what}: rollup {table} has another number of rows"
        );
    }
    panic!("{what}: differs");
}

async fn ingest(db: &TestDatabase, guild: u64) {
    let store = Store::new(db.api_url(), db.service_key()).expect("store");
    for batch in stream(guild) {
        store.ingest_events(&batch).await.expect("ingest");
    }
}

#[tokio::test]
async fn rebuilding_gives_what_ingest_kept() {
    let db = TestDatabase::create().expect("test database");
    ingest(&db, GUILD).await;
    ingest(&db, OTHER_GUILD).await;
    let kept = rollups(&db, GUILD);
    let other = rollups(&db, OTHER_GUILD);
    // The stream exercised what it is meant to.
    assert_eq!(
        db.sql(&format!(
            "select count(*) filter (where kind = 'reaction_remove' and cancels_id is not null) > 0,
                    count(*) filter (where kind = 'reaction_remove' and cancels_id is null) > 0,
                    count(*) filter (where kind = 'reaction_remove' and cancels_id > id) > 0
             from activity_logs where guild_id = {GUILD}"
        )),
        "t|t|t",
        "matched, unmatched and late-matched removals"
    );
    assert_eq!(
        db.sql(&format!(
            "select count(*) > 0 from activity_logs r join activity_logs a on a.id = r.cancels_id
             where r.guild_id = {GUILD}
               and (r.occurred_at at time zone 'UTC')::date <> (a.occurred_at at time zone 'UTC')::date"
        )),
        "t",
        "removals on another day than the add they take back"
    );
    for guild in [GUILD, OTHER_GUILD] {
        let keys: std::collections::HashSet<String> = stream(guild)
            .into_iter()
            .flatten()
            .map(|e| e.idempotency_key)
            .collect();
        assert_eq!(
            db.sql(&format!(
                "select count(*) from activity_logs where guild_id = {guild}"
            )),
            keys.len().to_string(),
            "guild {guild}'s stream stored whole"
        );
    }
    assert!(
        db.sql(&format!(
            "select max(last_active_day) - min(first_active_day) from member_activity_state where guild_id = {GUILD}"
        ))
        .parse::<i64>()
        .is_ok_and(|days| days > 91),
        "longer than the ring"
    );

    let report = db.sql(&format!("select rebuild_rollups('{GUILD}')"));
    assert!(report.contains("\"members\": 25"), "{report}");
    assert_same(&rollups(&db, GUILD), &kept, "rebuilt");
    assert_same(&rollups(&db, OTHER_GUILD), &other, "other guilds untouched");
}

#[tokio::test]
async fn rebuilding_repairs_rollups_that_went_wrong() {
    let db = TestDatabase::create().expect("test database");
    ingest(&db, GUILD).await;
    let kept = rollups(&db, GUILD);
    // A day made active by a removal that took nothing back (stored before
    // migration 013), and figures knocked off.
    db.sql(&format!(
        "insert into member_daily_activity (guild_id, day, member_id, messages, reactions, points)
         values ({GUILD}, '2026-05-01', 2000000000000000003, 0, 0, 0);
         update guild_daily_activity set points = points + 7 where guild_id = {GUILD} and day = '2026-07-01';
         update member_activity_state set recent_cum[1] = recent_cum[1] + 500, active_days = active_days + 1
         where guild_id = {GUILD} and member_id = 2000000000000000001;
         delete from member_channel_activity where guild_id = {GUILD} and day = '2026-06-15';"
    ));
    assert_ne!(rollups(&db, GUILD), kept);
    db.sql(&format!("select rebuild_rollups('{GUILD}')"));
    assert_same(&rollups(&db, GUILD), &kept, "repaired");
}
