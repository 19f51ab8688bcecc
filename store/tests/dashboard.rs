//! The dashboard's analytics rules against the real SQL functions, on small
//! hand-built communities whose answers are worked out by hand. Events go in
//! through `ingest_events`, so the state the rules read is the state ingest
//! keeps.

use community_store::{
    ChurnRule, ChurnStatus, EventKind, GuildId, LogLevel, LogQuery, LoginLimits, MemberId,
    RisingQuery, ScoredEvent, Store, VerdictFilter,
};
use local_stack::testing::TestDatabase;
use time::macros::{date, datetime};
use time::{Date, Duration};
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

const GUILD: u64 = 1_000_000_000_000_000_001;
const CHANNEL: u64 = 3_000_000_000_000_000_001;
const OTHER_CHANNEL: u64 = 3_000_000_000_000_000_002;

// Member ids in the order ties are broken.
const ANN: u64 = 2_000_000_000_000_000_001;
const BOB: u64 = 2_000_000_000_000_000_002;
const CY: u64 = 2_000_000_000_000_000_003;
const DEE: u64 = 2_000_000_000_000_000_004;
const EVE: u64 = 2_000_000_000_000_000_005;
const FAY: u64 = 2_000_000_000_000_000_006;
const GUS: u64 = 2_000_000_000_000_000_007;
const HAL: u64 = 2_000_000_000_000_000_008;
const IVY: u64 = 2_000_000_000_000_000_009;
const JO: u64 = 2_000_000_000_000_000_010;

fn store(db: &TestDatabase) -> Store {
    Store::new(db.api_url(), db.service_key()).expect("valid store config")
}

fn guild() -> GuildId {
    Id::new(GUILD)
}

fn member(id: u64) -> MemberId {
    Id::new(id)
}

/// Builds events with unique ids.
#[derive(Default)]
struct Events {
    events: Vec<ScoredEvent>,
    next_id: u64,
}

impl Events {
    fn at(day: Date, hour: u8) -> Timestamp {
        let when = day.with_hms(hour, 0, 0).expect("valid hour").assume_utc();
        Timestamp::from_secs(when.unix_timestamp()).expect("valid timestamp")
    }

    /// `count` messages by `who` on `day`.
    fn messages(&mut self, who: u64, day: Date, count: u32) -> &mut Self {
        self.messages_in(who, day, count, CHANNEL)
    }

    fn messages_in(&mut self, who: u64, day: Date, count: u32, channel: u64) -> &mut Self {
        for i in 0..count {
            self.next_id += 1;
            let id = 9_000_000_000_000_000_000 + self.next_id;
            self.events.push(ScoredEvent {
                idempotency_key: format!("message:{id}"),
                guild_id: guild(),
                member_id: member(who),
                member_name: Some(format!("member-{}", who % 100)),
                channel_id: Id::new(channel),
                message_id: Id::new(id),
                kind: EventKind::Message,
                emoji: None,
                occurred_at: Self::at(day, 8 + u8::try_from(i % 12).unwrap_or(0)),
                points: 1.0,
            });
        }
        self
    }

    /// `count` reactions by `who` on `day` (0.5 each).
    fn reactions(&mut self, who: u64, day: Date, count: u32) -> &mut Self {
        for _ in 0..count {
            self.next_id += 1;
            let target = 8_000_000_000_000_000_000 + self.next_id;
            self.events.push(ScoredEvent {
                idempotency_key: format!("reaction_add:{target}:{who}:👍:s:{}", self.next_id),
                guild_id: guild(),
                member_id: member(who),
                member_name: None,
                channel_id: Id::new(CHANNEL),
                message_id: Id::new(target),
                kind: EventKind::ReactionAdd,
                emoji: Some("👍".to_owned()),
                occurred_at: Self::at(day, 20),
                points: 0.5,
            });
        }
        self
    }

    /// `per_day` messages every day from `from` to `to` inclusive.
    fn daily(&mut self, who: u64, from: Date, to: Date, per_day: u32) -> &mut Self {
        let mut day = from;
        while day <= to {
            self.messages(who, day, per_day);
            day += Duration::days(1);
        }
        self
    }

    async fn ingest(&self, store: &Store) {
        for batch in self.events.chunks(500) {
            store.ingest_events(batch).await.expect("ingest");
        }
    }
}

fn names(rows: &[(u64, f64)]) -> Vec<(u64, f64)> {
    rows.to_vec()
}

// ---------------------------------------------------------------------------
// Rising Stars
// ---------------------------------------------------------------------------

/// As of 2026-11-30, 7-day window 11-24..11-30, previous 11-17..11-23.
async fn rising_community(store: &Store) {
    let mut e = Events::default();
    // Ann: 1 a day before, 3 a day in the window: 21, previous 7.
    e.daily(ANN, date!(2026 - 11 - 17), date!(2026 - 11 - 23), 1)
        .daily(ANN, date!(2026 - 11 - 24), date!(2026 - 11 - 30), 3);
    // Bob: 5 a day in the previous window only.
    e.daily(BOB, date!(2026 - 11 - 17), date!(2026 - 11 - 23), 5);
    // Cy: 10 messages and 2 reactions on the last day: 11.
    e.messages(CY, date!(2026 - 11 - 30), 10)
        .reactions(CY, date!(2026 - 11 - 30), 2);
    // Dee: 21 in one burst on 11-25, tying Ann.
    e.messages(DEE, date!(2026 - 11 - 25), 21);
    // Eve: a huge day long ago, a stale upper bound the fast path must see through.
    e.messages(EVE, date!(2026 - 10 - 20), 100);
    e.ingest(store).await;
}

fn scores(rows: &[community_store::RisingStar]) -> Vec<(u64, f64)> {
    rows.iter().map(|r| (r.member_id.get(), r.score)).collect()
}

#[tokio::test]
async fn rising_stars_rank_window_scores_with_ties_by_member() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    rising_community(&store).await;

    let rows = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of: date!(2026 - 11 - 30),
                window_days: 7,
                limit: 25,
            },
        )
        .await
        .expect("rising stars");
    assert_eq!(
        scores(&rows),
        names(&[(ANN, 21.0), (DEE, 21.0), (CY, 11.0)])
    );
    let ann = &rows[0];
    assert_eq!((ann.rank, ann.previous_score, ann.growth), (1, 7.0, 14.0));
    assert_eq!(ann.growth_pct, Some(200.0));
    assert_eq!(ann.sparkline, vec![3.0; 7]);
    assert_eq!(ann.display_name.as_deref(), Some("member-1"));
    assert_eq!(ann.last_active_day, Some(date!(2026 - 11 - 30)));
    assert_eq!(rows[1].sparkline, vec![0.0, 21.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let cy = &rows[2];
    assert_eq!((cy.previous_score, cy.growth_pct), (0.0, None));
    assert_eq!(cy.sparkline.last(), Some(&11.0));

    // The limit keeps the tie-break.
    let first = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of: date!(2026 - 11 - 30),
                window_days: 7,
                limit: 1,
            },
        )
        .await
        .expect("top one");
    assert_eq!(scores(&first), names(&[(ANN, 21.0)]));
}

#[tokio::test]
async fn rising_stars_as_of_a_past_day_and_over_longer_windows() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    rising_community(&store).await;

    // As of 11-29 (before the newest activity: the general path): window
    // 11-23..11-29. Ann 1 + 6×3 = 19, Dee 21, Bob 5 (11-23), Cy nothing yet.
    let rows = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of: date!(2026 - 11 - 29),
                window_days: 7,
                limit: 25,
            },
        )
        .await
        .expect("rising stars");
    assert_eq!(
        scores(&rows),
        names(&[(DEE, 21.0), (ANN, 19.0), (BOB, 5.0)])
    );
    // Bob's previous window 11-16..11-22 holds six of his days.
    assert_eq!(rows[2].previous_score, 30.0);

    // 14 days as of 11-30 (bounded by the 30-day figure): 11-17..11-30.
    let rows = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of: date!(2026 - 11 - 30),
                window_days: 14,
                limit: 25,
            },
        )
        .await
        .expect("rising stars");
    assert_eq!(
        scores(&rows),
        names(&[(BOB, 35.0), (ANN, 28.0), (DEE, 21.0), (CY, 11.0)])
    );

    // A window reaching Eve's old burst counts it.
    let rows = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of: date!(2026 - 11 - 30),
                window_days: 45,
                limit: 2,
            },
        )
        .await
        .expect("rising stars");
    assert_eq!(scores(&rows), names(&[(EVE, 100.0), (BOB, 35.0)]));
}

#[tokio::test]
async fn rising_stars_refuse_windows_they_cannot_answer() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let err = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of: date!(2026 - 11 - 30),
                window_days: 46,
                limit: 25,
            },
        )
        .await
        .expect_err("too long");
    assert_eq!(err.code(), Some("22023"), "{err}");
    let empty = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of: date!(2026 - 11 - 30),
                window_days: 7,
                limit: 25,
            },
        )
        .await
        .expect("an empty guild");
    assert!(empty.is_empty());
}

/// Members with pseudo-random activity over 100 days: both paths of
/// rising_stars and churn_risks agree with sums over the raw events.
#[tokio::test]
async fn rules_agree_with_sums_over_raw_events() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let mut e = Events::default();
    let start = date!(2026 - 08 - 23);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for m in 0..40_u64 {
        let who = 2_100_000_000_000_000_000 + m;
        let rate = next() % 4;
        let stops = 40 + next() % 70;
        for d in 0..100_u64 {
            if d > stops && m % 3 == 0 {
                continue; // a third of them go quiet
            }
            let count = u32::try_from((next() % 5) * rate / 2).unwrap_or(0);
            let day = start + Duration::days(i64::try_from(d).unwrap_or(0));
            if count > 0 {
                e.messages(who, day, count);
            }
            if next() % 4 == 0 {
                e.reactions(who, day, 1);
            }
        }
    }
    e.ingest(&store).await;
    let newest = date!(2026 - 11 - 30);

    for (as_of, window) in [(newest, 7), (newest, 30), (newest - Duration::days(20), 7)] {
        let rows = store
            .rising_stars(
                guild(),
                RisingQuery {
                    as_of,
                    window_days: window,
                    limit: 10,
                },
            )
            .await
            .expect("rising stars");
        let from = as_of - Duration::days(i64::from(window) - 1);
        let expected = db.sql(&format!(
            "select member_id, sum(points_value)::float8 from activity_logs
             where guild_id = {GUILD} and occurred_at >= '{from}'::timestamp at time zone 'UTC'
               and occurred_at < ('{as_of}'::date + 1)::timestamp at time zone 'UTC'
             group by member_id having sum(points_value) > 0
             order by 2 desc, 1 limit 10"
        ));
        let got: Vec<String> = rows
            .iter()
            .map(|r| format!("{}|{}", r.member_id, r.score))
            .collect();
        assert_eq!(got.join("\n"), expected, "as of {as_of}, {window} days");
    }

    for as_of in [newest, newest - Duration::days(30)] {
        let rule = ChurnRule {
            as_of,
            baseline_days: 28,
            silent_days: 14,
            min_baseline_score: 15.0,
            min_drop_pct: 60.0,
            limit: 100,
        };
        let rows = store.churn_risks(guild(), rule).await.expect("churn");
        let base_from = as_of - Duration::days(41);
        let recent_from = as_of - Duration::days(13);
        let expected = db.sql(&format!(
            "with s as (
                 select member_id,
                        coalesce(sum(points_value) filter (where occurred_at < '{recent_from}'::timestamp at time zone 'UTC'), 0) as base,
                        coalesce(sum(points_value) filter (where occurred_at >= '{recent_from}'::timestamp at time zone 'UTC'), 0) as recent
                 from activity_logs
                 where guild_id = {GUILD} and occurred_at >= '{base_from}'::timestamp at time zone 'UTC'
                   and occurred_at < ('{as_of}'::date + 1)::timestamp at time zone 'UTC'
                 group by member_id)
             select member_id, (base * 14 / 28 - recent)::numeric(10, 2)::float8
             from s where base >= 15 and (recent = 0 or recent <= base * 14 / 28 * 0.4)
             order by base * 14 / 28 - recent desc, member_id"
        ));
        let got: Vec<String> = rows
            .iter()
            .map(|r| format!("{}|{}", r.member_id, r.score_lost))
            .collect();
        assert_eq!(got.join("\n"), expected, "churn as of {as_of}");
        assert!(!rows.is_empty(), "the data has members going quiet");
    }
}

/// Enough members (2,500, heavy-tailed, some quitting, some slowing down)
/// that the bounded walks of Rising Stars and Churn Risks stop early: their
/// answers must still be the exact top of sums over the raw events.
#[tokio::test]
async fn bounded_walks_stop_early_with_exact_answers() {
    let db = TestDatabase::create().expect("test database");
    db.sql(&format!(
        "do $$
         declare first integer;
         begin
             for first in select generate_series(1, 2500, 250) loop
                 perform ingest_events(jsonb_agg(e)) from (
                     select jsonb_build_object(
                         'idempotency_key', 'message:' || m || ':' || d || ':' || n,
                         'guild_id', '{GUILD}', 'member_id', (2200000000000000000 + m)::text,
                         'channel_id', '{CHANNEL}', 'message_id', (m * 100000 + d * 100 + n)::text,
                         'kind', 'message', 'points', 1,
                         'occurred_at', ('2026-11-30'::date - d)::timestamp + interval '10 hours' + n * interval '1 second') as e
                     from generate_series(first, first + 249) as m,
                          generate_series(0, 59) as d,
                          lateral generate_series(1,
                              -- heavy-tailed rate; every 5th quits 18 days ago, every 7th slows down
                              case when m % 5 = 0 and d < 18 then 0
                                   when m % 7 = 0 and d < 14 then (hashint4(m * 61 + d) & 1)
                                   else floor(power((hashint4(m) & 1023) / 1024.0, 6) * 12
                                              + (hashint4(m * 31 + d) & 3) / 3.0)::integer end) as n) x;
             end loop;
         end $$"
    ));
    let store = store(&db);
    let as_of = date!(2026 - 11 - 30);
    let rows = store
        .rising_stars(
            guild(),
            RisingQuery {
                as_of,
                window_days: 7,
                limit: 10,
            },
        )
        .await
        .expect("rising stars");
    let expected = db.sql(&format!(
        "select member_id, sum(points_value)::float8 from activity_logs
         where guild_id = {GUILD} and occurred_at >= '2026-11-24'::timestamp at time zone 'UTC'
         group by member_id order by 2 desc, 1 limit 10"
    ));
    let got: Vec<String> = rows
        .iter()
        .map(|r| format!("{}|{}", r.member_id, r.score))
        .collect();
    assert_eq!(got.join("\n"), expected);

    let rule = ChurnRule {
        as_of,
        baseline_days: 30,
        silent_days: 14,
        min_baseline_score: 10.0,
        min_drop_pct: 75.0,
        limit: 20,
    };
    let rows = store.churn_risks(guild(), rule).await.expect("churn");
    let expected = db.sql(&format!(
        "with s as (
             select member_id,
                    coalesce(sum(points_value) filter (where occurred_at < '2026-11-17'::timestamp at time zone 'UTC'), 0) as base,
                    coalesce(sum(points_value) filter (where occurred_at >= '2026-11-17'::timestamp at time zone 'UTC'), 0) as recent
             from activity_logs
             where guild_id = {GUILD} and occurred_at >= '2026-10-18'::timestamp at time zone 'UTC'
             group by member_id)
         select member_id, round(base * 14 / 30 - recent, 2)::float8
         from s where base >= 10 and (recent = 0 or recent <= base * 14 / 30 * 0.25)
         order by base * 14 / 30 - recent desc, member_id limit 20"
    ));
    let got: Vec<String> = rows
        .iter()
        .map(|r| format!("{}|{}", r.member_id, r.score_lost))
        .collect();
    assert_eq!(got.join("\n"), expected);
    assert_eq!(rows.len(), 20);
    // The walk did stop early: fewer members could have lost as much as the 20th.
    let could: u64 = db
        .sql(&format!(
            "select count(*) from member_activity_state
             where guild_id = {GUILD} and points_90d * 14 / 30.0 >= {}",
            rows[19].score_lost * 100.0
        ))
        .parse()
        .expect("count");
    assert!(could < 2048, "{could} members could have lost as much");
    let members: u64 = db
        .sql("select count(*) from member_activity_state")
        .parse()
        .expect("count");
    assert!(members > 2048, "{members} members");
}

// ---------------------------------------------------------------------------
// Churn Risks
// ---------------------------------------------------------------------------

/// As of 2026-11-30, baseline 28 days (10-20..11-16), recent 14 (11-17..11-30).
async fn churn_community(store: &Store) {
    let mut e = Events::default();
    let (base_from, base_to) = (date!(2026 - 10 - 20), date!(2026 - 11 - 16));
    // Fay: 1 a day over the baseline (28), silent since: expected 14, lost 14.
    e.daily(FAY, base_from, base_to, 1);
    // Gus: 2 a day (56), then 3 in the recent period: expected 28, lost 25.
    e.daily(GUS, base_from, base_to, 2)
        .messages(GUS, date!(2026 - 11 - 20), 3);
    // Hal: 2 a day, then 10: above 25% of the 28 expected, not at risk.
    e.daily(HAL, base_from, base_to, 2)
        .messages(HAL, date!(2026 - 11 - 25), 10);
    // Ivy: 14 over the baseline, below the 20 that counts as clearly active.
    let mut day = base_from;
    while day <= base_to {
        e.messages(IVY, day, 1);
        day += Duration::days(2);
    }
    // Jo: exactly 20 over the baseline, then silent: lost 10.
    e.messages(JO, date!(2026 - 10 - 25), 20);
    e.ingest(store).await;
}

fn rule(as_of: Date) -> ChurnRule {
    ChurnRule {
        as_of,
        baseline_days: 28,
        silent_days: 14,
        min_baseline_score: 20.0,
        min_drop_pct: 75.0,
        limit: 100,
    }
}

#[tokio::test]
async fn churn_risks_rank_by_score_lost() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    churn_community(&store).await;

    let rows = store
        .churn_risks(guild(), rule(date!(2026 - 11 - 30)))
        .await
        .expect("churn risks");
    let lost: Vec<(u64, f64)> = rows
        .iter()
        .map(|r| (r.member_id.get(), r.score_lost))
        .collect();
    assert_eq!(lost, vec![(GUS, 25.0), (FAY, 14.0), (JO, 10.0)]);

    let gus = &rows[0];
    assert_eq!(
        (
            gus.baseline_score,
            gus.recent_score,
            gus.expected_score,
            gus.status
        ),
        (56.0, 3.0, 28.0, ChurnStatus::Dropped)
    );
    assert_eq!(gus.drop_pct, 89.3);
    assert_eq!(gus.last_active_day, Some(date!(2026 - 11 - 20)));
    let fay = &rows[1];
    assert_eq!((fay.status, fay.drop_pct), (ChurnStatus::Silent, 100.0));
    assert_eq!(fay.last_active_day, Some(date!(2026 - 11 - 16)));
    assert_eq!(fay.days_silent, Some(14));
    assert!(fay.last_seen_at.is_some());
}

#[tokio::test]
async fn churn_rule_parameters_change_who_is_at_risk() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    churn_community(&store).await;

    // A milder drop threshold (50%) also catches Hal (10 of 28 expected: 64% down).
    let mut milder = rule(date!(2026 - 11 - 30));
    milder.min_drop_pct = 50.0;
    let rows = store.churn_risks(guild(), milder).await.expect("churn");
    let who: Vec<u64> = rows.iter().map(|r| r.member_id.get()).collect();
    assert_eq!(who, vec![GUS, HAL, FAY, JO]);

    // Clearly active means 30 now: only Gus and Hal qualify, and only Gus dropped.
    let mut stricter = rule(date!(2026 - 11 - 30));
    stricter.min_baseline_score = 30.0;
    let rows = store.churn_risks(guild(), stricter).await.expect("churn");
    let who: Vec<u64> = rows.iter().map(|r| r.member_id.get()).collect();
    assert_eq!(who, vec![GUS]);

    // As of 11-16 (baseline 10-06..11-02, recent 11-03..11-16) the others
    // are still active and Fay's 14 baseline days are too few: only Jo.
    let rows = store
        .churn_risks(guild(), rule(date!(2026 - 11 - 16)))
        .await
        .expect("churn");
    let who: Vec<u64> = rows.iter().map(|r| r.member_id.get()).collect();
    assert_eq!(who, vec![JO]);

    let mut bad = rule(date!(2026 - 11 - 30));
    bad.min_drop_pct = 120.0;
    let err = store.churn_risks(guild(), bad).await.expect_err("invalid");
    assert_eq!(err.code(), Some("22023"));
}

// ---------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------

#[tokio::test]
async fn overview_counts_distinct_members_and_compares_periods() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let mut e = Events::default();
    // Previous period 11-21..11-23: Ann twice, Bob once.
    e.messages(ANN, date!(2026 - 11 - 21), 2)
        .messages(ANN, date!(2026 - 11 - 23), 1)
        .messages(BOB, date!(2026 - 11 - 22), 4);
    // Period 11-24..11-26: Ann every day, Cy once with reactions.
    e.daily(ANN, date!(2026 - 11 - 24), date!(2026 - 11 - 26), 2)
        .reactions(CY, date!(2026 - 11 - 25), 3)
        .messages(CY, date!(2026 - 11 - 25), 1);
    e.ingest(&store).await;
    // A late event for an earlier day (Ann on 11-22) still counts once.
    let mut late = Events {
        next_id: 10_000,
        ..Events::default()
    };
    late.messages(ANN, date!(2026 - 11 - 22), 1);
    late.ingest(&store).await;

    let o = store
        .dashboard_overview(guild(), date!(2026 - 11 - 24), date!(2026 - 11 - 26))
        .await
        .expect("overview");
    assert_eq!(
        (o.previous_from, o.previous_to),
        (date!(2026 - 11 - 21), date!(2026 - 11 - 23))
    );
    let days: Vec<(i64, i64, f64, i64)> = o
        .days
        .iter()
        .map(|d| (d.messages, d.reactions, d.points, d.active_members))
        .collect();
    assert_eq!(days, vec![(2, 0, 2.0, 1), (3, 3, 4.5, 2), (2, 0, 2.0, 1)]);
    assert_eq!(
        (o.totals.messages, o.totals.reactions, o.totals.points),
        (7, 3, 8.5)
    );
    assert_eq!(o.totals.active_members, 2);
    assert_eq!(
        (
            o.previous.messages,
            o.previous.points,
            o.previous.active_members
        ),
        (8, 8.0, 2)
    );
    // As of 11-26: today Ann; 7 days Ann, Bob, Cy; before the period (11-23): Ann.
    assert_eq!((o.active.d1, o.active.d7, o.active.d30), (1, 3, 3));
    assert_eq!(
        (o.active.d1_before, o.active.d7_before, o.active.d30_before),
        (1, 2, 2)
    );

    let err = store
        .dashboard_overview(guild(), date!(2025 - 01 - 01), date!(2026 - 11 - 26))
        .await
        .expect_err("too long");
    assert_eq!(err.code(), Some("22023"));
}

// ---------------------------------------------------------------------------
// Member, tickets, audits, ledger, logs, logins
// ---------------------------------------------------------------------------

#[tokio::test]
async fn member_profile_shows_days_channels_tickets_and_audits() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let mut e = Events::default();
    e.messages_in(ANN, date!(2026 - 11 - 20), 3, CHANNEL)
        .messages_in(ANN, date!(2026 - 11 - 21), 1, OTHER_CHANNEL)
        .reactions(ANN, date!(2026 - 11 - 21), 2);
    e.ingest(&store).await;
    db.sql(&format!(
        "insert into tickets (guild_id, channel_id, opener_id, opener_name, reason, status, opened_at)
         values ({GUILD}, 77, {ANN}, 'member-1', 'help', 'open', '2026-11-21T10:00:00Z');
         insert into tickets (guild_id, channel_id, opener_id, reason, status, opened_at, claimed_by, claimed_at, first_response_at)
         values ({GUILD}, 78, {BOB}, 'other', 'claimed', '2026-11-22T10:00:00Z', {ANN}, '2026-11-22T10:05:00Z', '2026-11-22T10:05:00Z');
         insert into tickets (guild_id, channel_id, opener_id, reason, status, opened_at)
         values ({GUILD}, 79, {BOB}, 'not hers', 'open', '2026-11-22T11:00:00Z');
         insert into audits (guild_id, requested_by, source, text_hash, text_length, verdict, reasons, status)
         values ({GUILD}, {ANN}, 'command', 'h', 10, 'red', '[\"scam link\"]', 'ok');"
    ));

    let profile = store
        .member_profile(
            guild(),
            member(ANN),
            date!(2026 - 11 - 19),
            date!(2026 - 11 - 21),
        )
        .await
        .expect("profile")
        .expect("a known member");
    assert_eq!(profile.display_name.as_deref(), Some("member-1"));
    assert_eq!(
        (
            profile.totals.messages,
            profile.totals.reactions,
            profile.totals.points,
            profile.totals.active_days
        ),
        (4, 2, 5.0, 2)
    );
    let points: Vec<f64> = profile.days.iter().map(|d| d.points).collect();
    assert_eq!(points, vec![0.0, 3.0, 2.0]);
    let channels: Vec<(u64, i64, f64)> = profile
        .channels
        .iter()
        .map(|c| (c.channel_id.get(), c.messages, c.points))
        .collect();
    assert_eq!(channels, vec![(CHANNEL, 3, 4.0), (OTHER_CHANNEL, 1, 1.0)]);
    let roles: Vec<&str> = profile.tickets.iter().map(|t| t.role.as_str()).collect();
    assert_eq!(roles, vec!["claimed", "opener"]);
    assert_eq!(profile.audits.len(), 1);
    assert_eq!(profile.audits[0].verdict.as_deref(), Some("red"));

    let nobody = store
        .member_profile(
            guild(),
            member(JO),
            date!(2026 - 11 - 19),
            date!(2026 - 11 - 21),
        )
        .await
        .expect("profile");
    assert!(nobody.is_none());
}

#[tokio::test]
async fn members_known_only_from_tickets_and_audits_have_a_profile_and_names() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    // Jo opened a ticket and Cy asked for an audit; neither ever posted, so
    // neither has a member row. Hal (no row either) claimed and closed Jo's
    // ticket, and wrote in it.
    db.sql(&format!(
        "insert into tickets (guild_id, channel_id, opener_id, opener_name, reason, status, opened_at,
                              claimed_by, claimed_at, closed_by, closed_at)
         values ({GUILD}, 5, {JO}, 'jo', 'help', 'closed', '2026-11-21T10:00:00Z',
                 {HAL}, '2026-11-21T10:05:00Z', {HAL}, '2026-11-21T11:00:00Z');
         insert into ticket_messages (ticket_id, message_id, author_id, author_name, content, sent_at)
         select id, 1, {HAL}, 'hal the helper', 'done', closed_at from tickets where channel_id = 5;
         insert into audits (guild_id, requested_by, source, text_hash, text_length, verdict, reasons, status)
         values ({GUILD}, {CY}, 'command', 'h', 10, 'green', '[]', 'ok');"
    ));
    let (from, to) = (date!(2026 - 11 - 19), date!(2026 - 11 - 21));
    let profile = |id| store.member_profile(guild(), member(id), from, to);

    let jo = profile(JO).await.expect("profile").expect("jo has a page");
    assert_eq!(jo.display_name.as_deref(), Some("jo"));
    assert_eq!(jo.tickets.len(), 1);
    assert_eq!(jo.totals.messages, 0);
    let hal = profile(HAL)
        .await
        .expect("profile")
        .expect("hal has a page");
    assert_eq!(hal.display_name.as_deref(), Some("hal the helper"));
    assert_eq!(hal.tickets[0].role, "claimed");
    let cy = profile(CY).await.expect("profile").expect("cy has a page");
    assert_eq!(cy.audits.len(), 1);
    assert!(profile(DEE).await.expect("profile").is_none());

    let ticket = store
        .tickets_list(guild(), None, 10, 0)
        .await
        .expect("list")
        .remove(0);
    let transcript = store
        .ticket_transcript(guild(), ticket.id)
        .await
        .expect("transcript")
        .expect("exists");
    assert_eq!(transcript.ticket.opener_display_name.as_deref(), Some("jo"));
    assert_eq!(
        transcript.ticket.claimed_by_name.as_deref(),
        Some("hal the helper")
    );
    assert_eq!(
        transcript.ticket.closed_by_name.as_deref(),
        Some("hal the helper")
    );
}

#[tokio::test]
async fn ticket_stats_average_response_and_resolution_per_staff_member() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    // Staff Hal claims two tickets after 10 and 20 minutes and closes one
    // after 2 h; Ivy closes an unclaimed one after 4 h; one is still open.
    db.sql(&format!(
        "insert into guild_members (guild_id, member_id, display_name) values ({GUILD}, {HAL}, 'hal');
         insert into tickets (guild_id, channel_id, opener_id, reason, status, opened_at, claimed_by, claimed_at,
                              first_response_at, closed_by, closed_at)
         values
         ({GUILD}, 1, {ANN}, 'a', 'closed', '2026-11-20T10:00:00Z', {HAL}, '2026-11-20T10:10:00Z',
          '2026-11-20T10:10:00Z', {HAL}, '2026-11-20T12:00:00Z'),
         ({GUILD}, 2, {BOB}, 'b', 'claimed', '2026-11-21T10:00:00Z', {HAL}, '2026-11-21T10:20:00Z',
          '2026-11-21T10:20:00Z', null, null),
         ({GUILD}, 3, {CY}, 'c', 'closed', '2026-11-22T10:00:00Z', null, null,
          '2026-11-22T14:00:00Z', {IVY}, '2026-11-22T14:00:00Z'),
         ({GUILD}, 4, {DEE}, 'd', 'open', '2026-11-23T10:00:00Z', null, null, null, null, null);
         insert into ticket_messages (ticket_id, message_id, author_id, author_name, content, sent_at)
         select id, 1, opener_id, '<i>opener</i>', 'hello & welcome', opened_at from tickets where channel_id = 1;
         insert into ticket_messages (ticket_id, message_id, author_id, author_name, content, sent_at)
         select id, 2, {HAL}, 'hal', 'fixed', closed_at from tickets where channel_id = 1;"
    ));
    let now = datetime!(2026-11-24 10:00 UTC);
    let stats = store
        .ticket_stats(guild(), date!(2026 - 11 - 20), date!(2026 - 11 - 23), now)
        .await
        .expect("stats");
    assert_eq!(
        (
            stats.counts.open,
            stats.counts.claimed,
            stats.counts.closed,
            stats.counts.total
        ),
        (1, 1, 2, 4)
    );
    // (10 + 20 + 240) / 3 minutes; (2 + 4) / 2 hours.
    assert_eq!(stats.first_response.avg_minutes, Some(90.0));
    assert_eq!(stats.resolution.avg_hours, Some(3.0));
    // Open now: 72 h (claimed since 11-21) and 24 h.
    assert_eq!(stats.open_now.count, 2);
    assert_eq!(stats.open_now.avg_age_hours, Some(48.0));
    assert_eq!(stats.open_now.max_age_hours, Some(72.0));
    type StaffFigures = (u64, u64, u64, Option<f64>, Option<f64>);
    let staff: Vec<StaffFigures> = stats
        .staff
        .iter()
        .map(|s| {
            (
                s.staff_id.get(),
                s.handled,
                s.closed,
                s.avg_first_response_minutes,
                s.avg_resolution_hours,
            )
        })
        .collect();
    assert_eq!(
        staff,
        vec![
            (HAL, 2, 1, Some(15.0), Some(2.0)),
            (IVY, 1, 1, Some(240.0), Some(4.0))
        ]
    );
    assert_eq!(stats.staff[0].display_name.as_deref(), Some("hal"));

    let closed = store
        .tickets_list(guild(), Some(community_store::TicketStatus::Closed), 10, 0)
        .await
        .expect("list");
    let ids: Vec<String> = closed.iter().map(|t| t.reason.clone()).collect();
    assert_eq!(ids, vec!["c", "a"]);
    assert_eq!(closed[1].messages, 2);
    let transcript = store
        .ticket_transcript(guild(), closed[1].id)
        .await
        .expect("transcript")
        .expect("exists");
    let lines: Vec<&str> = transcript
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(lines, vec!["hello & welcome", "fixed"]);
    // Another guild's ticket is not reachable by id.
    let elsewhere = store
        .ticket_transcript(Id::new(GUILD + 1), closed[1].id)
        .await
        .expect("transcript");
    assert!(elsewhere.is_none());
}

#[tokio::test]
async fn audits_filter_by_verdict_and_the_ledger_sums_per_day_and_model() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    const OTHER_GUILD: u64 = GUILD + 1;
    db.sql(&format!(
        "insert into guild_settings (guild_id, ai_daily_budget_usd) values ({GUILD}, 0.01);
         insert into audits (guild_id, requested_by, source, text_hash, text_length, verdict, reasons, status, error, model, created_at)
         values ({GUILD}, {ANN}, 'command', 'a', 10, 'green', '[]', 'ok', null, 'flash', '2026-11-20T10:00:00Z'),
                ({GUILD}, {ANN}, 'command', 'b', 10, 'red', '[\"scam\"]', 'ok', null, 'flash', '2026-11-20T11:00:00Z'),
                ({GUILD}, {BOB}, 'message', 'c', 10, null, '[]', 'failed', 'HTTP 503', 'pro', '2026-11-21T10:00:00Z'),
                ({OTHER_GUILD}, {BOB}, 'message', 'd', 10, 'red', '[]', 'ok', null, 'pro', '2026-11-21T10:00:00Z');
         insert into ai_usage_ledger (guild_id, model, input_tokens, output_tokens, cost_usd, succeeded, created_at)
         values ({GUILD}, 'flash', 100, 10, 0.004, true, '2026-11-20T10:00:00Z'),
                ({GUILD}, 'flash', 200, 20, 0.008, true, '2026-11-20T11:00:00Z'),
                ({GUILD}, 'pro', 300, 0, 0.002, false, '2026-11-21T10:00:00Z'),
                ({OTHER_GUILD}, 'pro', 999, 0, 9, true, '2026-11-21T10:00:00Z');"
    ));
    let all = store
        .audits_history(guild(), None, 100, None)
        .await
        .expect("audits");
    assert_eq!(
        (
            all.counts.all,
            all.counts.green,
            all.counts.red,
            all.counts.none
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(all.audits.len(), 3);
    let red = store
        .audits_history(guild(), Some(VerdictFilter::Red), 100, None)
        .await
        .expect("red audits");
    assert_eq!(red.audits.len(), 1);
    assert_eq!(red.audits[0].reasons, serde_json::json!(["scam"]));
    let none = store
        .audits_history(guild(), Some(VerdictFilter::None), 100, None)
        .await
        .expect("failed audits");
    assert_eq!(none.audits[0].error.as_deref(), Some("HTTP 503"));

    let ledger = store
        .ai_ledger(guild(), date!(2026 - 11 - 19), date!(2026 - 11 - 21))
        .await
        .expect("ledger");
    assert_eq!(ledger.daily_budget_usd, 0.01);
    let days: Vec<(Date, u64, u64, u64, f64, bool)> = ledger
        .days
        .iter()
        .map(|d| {
            (
                d.day,
                d.calls,
                d.failures,
                d.input_tokens,
                d.cost_usd,
                d.over_budget,
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            (date!(2026 - 11 - 21), 1, 1, 300, 0.002, false),
            (date!(2026 - 11 - 20), 2, 0, 300, 0.012, true)
        ]
    );
    assert_eq!(ledger.days[1].models[0].model, "flash");
}

#[tokio::test]
async fn logs_page_filters_and_follows_new_lines() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    db.sql(
        "insert into app_logs (level, source, message) values
         ('info', 'relay', 'one'), ('error', 'relay', 'two'), ('warn', 'worker', 'three'), ('debug', 'worker', 'four')",
    );
    let all = store
        .logs(&LogQuery {
            limit: 10,
            ..LogQuery::default()
        })
        .await
        .expect("logs");
    let messages: Vec<&str> = all.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, vec!["four", "three", "two", "one"]);

    let serious = store
        .logs(&LogQuery {
            levels: vec![LogLevel::Warn, LogLevel::Error],
            source: Some("relay".to_owned()),
            limit: 10,
            ..LogQuery::default()
        })
        .await
        .expect("logs");
    assert_eq!(serious.len(), 1);
    assert_eq!(serious[0].message, "two");

    let newer = store
        .logs(&LogQuery {
            after_id: Some(all[1].id),
            limit: 10,
            ..LogQuery::default()
        })
        .await
        .expect("logs");
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0].message, "four");
    assert_eq!(
        store.log_sources().await.expect("sources"),
        vec!["relay", "worker"]
    );
}

#[tokio::test]
async fn the_live_log_reads_every_line_of_a_burst_oldest_first() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    db.sql("insert into app_logs (level, source, message) values ('info', 'x', 'before')");
    let after = store
        .logs(&LogQuery {
            limit: 1,
            ..LogQuery::default()
        })
        .await
        .expect("logs")[0]
        .id;
    db.sql(
        "insert into app_logs (level, source, message)
         select case when n % 2 = 0 then 'warn' else 'info' end, 'x', 'line ' || n
         from generate_series(1, 250) n",
    );
    let query = LogQuery {
        limit: 100,
        ..LogQuery::default()
    };
    let (lines, left_out) = store.logs_after(&query, after, 1000).await.expect("logs");
    let messages: Vec<String> = lines.iter().map(|l| l.message.clone()).collect();
    let expected: Vec<String> = (1..=250).map(|n| format!("line {n}")).collect();
    assert_eq!((messages, left_out), (expected, false));

    // Filtered, and capped: the newest lines, and a word that some were left out.
    let warnings = LogQuery {
        levels: vec![LogLevel::Warn],
        limit: 50,
        ..LogQuery::default()
    };
    let (lines, left_out) = store.logs_after(&warnings, after, 100).await.expect("logs");
    assert!(left_out);
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[0].message, "line 52");
    assert_eq!(lines[99].message, "line 250");
    let (none, left_out) = store
        .logs_after(&query, lines[99].id + 1, 1000)
        .await
        .expect("logs");
    assert!(none.is_empty() && !left_out);
}

#[tokio::test]
async fn failed_logins_block_a_client_for_a_while_and_are_logged() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let limits = LoginLimits {
        max_failures: 3,
        window_secs: 600,
        block_secs: 300,
    };
    let t0 = datetime!(2026-11-24 10:00 UTC);
    let begin = |client: &'static str, secs: i64| {
        let store = store.clone();
        async move {
            store
                .login_begin(client, t0 + Duration::seconds(secs), limits)
                .await
                .expect("begin")
        }
    };
    // Three attempts with a wrong password: the third blocks the client for
    // the block time, and says so at once...
    for i in 0..3 {
        assert!(begin("203.0.113.7", i).await.allowed, "attempt {i}");
        let failure = store
            .login_refused("203.0.113.7", t0 + Duration::seconds(i), limits)
            .await
            .expect("refused");
        assert_eq!(failure.blocked, i == 2, "attempt {i}");
        if i == 2 {
            assert_eq!(failure.retry_after_secs, 300);
        }
    }
    // ...and the next attempt is refused whatever its password, the block
    // counting down.
    let later = begin("203.0.113.7", 62).await;
    assert_eq!((later.allowed, later.retry_after_secs), (false, 240));
    // Another client is not affected; the blocked one may try again later.
    assert!(begin("198.51.100.1", 0).await.allowed);
    assert!(begin("203.0.113.7", 304).await.allowed);
    store
        .login_succeeded("203.0.113.7", t0 + Duration::seconds(305))
        .await
        .expect("success");
    assert_eq!(
        db.sql("select count(*) from login_attempts where client = '203.0.113.7'"),
        "0"
    );
    assert_eq!(
        db.sql("select count(*) from app_logs where message like 'failed dashboard login%'"),
        "3"
    );
    assert_eq!(
        db.sql(
            "select count(*) from app_logs where message = 'failed dashboard login; client blocked'"
        ),
        "1"
    );
    assert_eq!(
        db.sql("select count(*) from app_logs where message = 'dashboard login'"),
        "1"
    );
}

#[tokio::test]
async fn a_burst_of_sign_in_attempts_at_once_is_counted_one_by_one() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let limits = LoginLimits {
        max_failures: 5,
        window_secs: 900,
        block_secs: 900,
    };
    let now = datetime!(2026-11-24 10:00 UTC);
    let attempts = (0..20).map(|_| {
        let store = store.clone();
        async move {
            store
                .login_begin("203.0.113.7", now, limits)
                .await
                .expect("begin")
                .allowed
        }
    });
    let allowed = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|allowed| *allowed)
        .count();
    assert_eq!(allowed, 5);
}

#[tokio::test]
async fn health_inputs_and_guilds_come_in_one_call_each() {
    let db = TestDatabase::create().expect("test database");
    let store = store(&db);
    let mut e = Events::default();
    e.messages(ANN, date!(2026 - 11 - 20), 2);
    e.ingest(&store).await;
    db.sql("select record_heartbeat('gateway-relay', 'r1', now(), '{\"spool_events\": 3}')");
    let inputs = store.health_inputs().await.expect("health inputs");
    let newest = db.sql("select max(version) from community_meta.schema_migrations");
    assert!(newest.len() == 3, "{newest}");
    assert_eq!(inputs.database.schema_version, Some(newest));
    assert_eq!(inputs.heartbeats.len(), 1);
    assert_eq!(inputs.heartbeats[0].status["spool_events"], 3);
    let guilds = store.dashboard_guilds().await.expect("guilds");
    assert_eq!(guilds.len(), 1);
    assert_eq!(guilds[0].guild_id, guild());
    assert_eq!(guilds[0].last_active_day, date!(2026 - 11 - 20));
}
