//! `cargo xtask seed`: a realistic synthetic community in the local database,
//! for the dashboard and its benchmark.
//!
//! Events go straight into `activity_logs` with SQL (`generate_series`), then
//! every rollup and the per-member state are built with `INSERT … SELECT …
//! GROUP BY`, the way `ingest_events` would have left them. A sample of
//! members is then replayed through `ingest_events` itself and the results
//! compared, so a seed that drifts from ingest fails loudly.
//!
//! The community: members with heavy-tailed activity (log-normal rates), a
//! weekly rhythm, slow growth, some members joining late, some churning
//! (silent or sharply down for their last weeks), some rising; channels of
//! uneven popularity; a few reaction removals. Plus tickets with
//! transcripts, audits with their AI ledger rows, log lines and a relay
//! heartbeat. One member is named `<script>alert(1)</script>` and rises.

use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};
use local_stack::pg::{Psql, redact};

use crate::migrate::migrate;
use crate::shell::{check_interrupted, progress};
use crate::stack::{self, DbPort};
use crate::workspace::Workspace;

/// The guild the seed fills unless told otherwise.
pub(crate) const DEFAULT_GUILD: u64 = 1_100_000_000_000_000_001;
/// Member ids are this plus 1..=members.
const MEMBER_BASE: u64 = 1_200_000_000_000_000_000;
const CHANNEL_BASE: u64 = 1_300_000_000_000_000_000;
const MESSAGE_BASE: u64 = 1_400_000_000_000_000_000;
/// How many members the consistency check replays through `ingest_events`.
const CHECK_SAMPLE: u32 = 300;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SeedArgs {
    /// Members in the community.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) members: u32,
    /// Scored events (messages, reactions) in total, about.
    #[arg(long, default_value_t = 10_000_000)]
    pub(crate) events: u64,
    /// Days of history, ending today (UTC).
    #[arg(long, default_value_t = 90)]
    pub(crate) days: u32,
    /// The guild to (re)fill; its previous rows are deleted first.
    #[arg(long, default_value_t = DEFAULT_GUILD)]
    pub(crate) guild: u64,
    /// Target database. Default: the local dev stack's (`cargo xtask dev`),
    /// started and migrated if needed.
    #[arg(long, env = "COMMUNITY_OS_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
    /// Skip replaying a sample through ingest_events.
    #[arg(long)]
    pub(crate) no_check: bool,
    #[command(flatten)]
    pub(crate) db_port: DbPort,
}

pub(crate) fn command(workspace: &Workspace, args: &SeedArgs) -> Result<()> {
    ensure!(args.members >= 50, "--members must be at least 50");
    ensure!(
        (28..=365).contains(&args.days),
        "--days must be 28 to 365 (the dashboard's windows need a few weeks)"
    );
    ensure!(args.events >= 1_000, "--events must be at least 1000");
    match &args.database_url {
        Some(url) => {
            let psql = Psql::new(url);
            migrate(workspace, &psql, false)?;
            seed(&psql, args)
        }
        None => {
            let mut cluster = stack::start_cluster(workspace, args.db_port.db_port, false)?;
            // The data is for `cargo xtask dev` and `bench`: leave it serving.
            cluster.keep_running();
            let psql = cluster.psql(stack::DATABASE);
            migrate(workspace, &psql, false)?;
            seed(&psql, args)
        }
    }
}

/// Fills `args.guild` in the database behind `psql`.
pub(crate) fn seed(psql: &Psql, args: &SeedArgs) -> Result<()> {
    progress(format!(
        "seeding guild {} in {}: {} members, ~{} events over {} days",
        args.guild,
        redact(psql.url()),
        args.members,
        args.events,
        args.days
    ));
    let started = Instant::now();
    let params = Params::from(args);
    for (what, sql) in steps(&params) {
        check_interrupted()?;
        let step = Instant::now();
        psql.execute(&format!("{SESSION}\n{sql}"))
            .with_context(|| format!("seed step: {what}"))?;
        println!("    {what} ({:.1} s)", step.elapsed().as_secs_f64());
    }
    let summary = psql.query(&params.fill(SUMMARY))?;
    println!("    {summary}");
    if !args.no_check {
        check_interrupted()?;
        let step = Instant::now();
        check(psql, &params)?;
        println!(
            "    check: {CHECK_SAMPLE} members replayed through ingest_events match the seed ({:.1} s)",
            step.elapsed().as_secs_f64()
        );
    }
    progress(format!(
        "seeded in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Settings for each seed session: bulk work, no need to wait for the disk.
const SESSION: &str = "set synchronous_commit = off; set work_mem = '256MB'; \
                       set maintenance_work_mem = '512MB'; set client_min_messages = warning;";

#[derive(Debug, Clone)]
struct Params {
    pairs: Vec<(&'static str, String)>,
    guild: u64,
}

impl Params {
    fn from(args: &SeedArgs) -> Self {
        Self {
            pairs: vec![
                ("{guild}", args.guild.to_string()),
                ("{check_guild}", (args.guild + 1).to_string()),
                ("{members}", args.members.to_string()),
                ("{events}", args.events.to_string()),
                ("{days}", args.days.to_string()),
                ("{member_base}", MEMBER_BASE.to_string()),
                ("{channel_base}", CHANNEL_BASE.to_string()),
                ("{message_base}", MESSAGE_BASE.to_string()),
                ("{check_sample}", CHECK_SAMPLE.to_string()),
            ],
            guild: args.guild,
        }
    }

    fn fill(&self, sql: &str) -> String {
        self.pairs
            .iter()
            .fold(sql.to_owned(), |sql, (key, value)| sql.replace(key, value))
    }
}

fn steps(params: &Params) -> Vec<(&'static str, String)> {
    [
        ("cleared the guild", CLEAR),
        ("members and days", MEMBERS),
        ("events into activity_logs", EVENTS),
        ("reaction removals", REMOVALS),
        ("guild_members", GUILD_MEMBERS),
        ("member_daily_activity", MEMBER_DAILY),
        ("member_channel_activity", MEMBER_CHANNEL),
        ("guild_daily_activity and guild_activity_gaps", GUILD_DAILY),
        ("member_activity_state", MEMBER_STATE),
        ("tickets and transcripts", TICKETS),
        ("audits and the AI ledger", AUDITS),
        ("log lines, heartbeat, settings", LOGS),
        ("analyze", ANALYZE),
    ]
    .into_iter()
    .map(|(what, sql)| (what, params.fill(sql)))
    .collect()
}

/// Replays a sample of members' events through `ingest_events` into a
/// scratch guild and compares every derived row with the seed's.
fn check(psql: &Psql, params: &Params) -> Result<()> {
    psql.execute(&params.fill(CHECK_REPLAY))
        .context("replaying a sample through ingest_events")?;
    let differences = psql.query(&params.fill(CHECK_COMPARE));
    psql.execute(&params.fill(CHECK_CLEANUP))
        .context("removing the check's scratch guild")?;
    let differences = differences?;
    let bad: Vec<&str> = differences
        .lines()
        .filter(|line| !line.ends_with("|0"))
        .collect();
    if !bad.is_empty() {
        bail!(
            "the seed of guild {} disagrees with ingest_events (table|differing rows):\n{}",
            params.guild,
            bad.join("\n")
        );
    }
    Ok(())
}

const CLEAR: &str = r#"
do $$
begin
    delete from ticket_messages where ticket_id in (select id from tickets where guild_id in ({guild}, {check_guild}));
    delete from tickets where guild_id in ({guild}, {check_guild});
    delete from ai_usage_ledger where guild_id in ({guild}, {check_guild});
    delete from audits where guild_id in ({guild}, {check_guild});
    delete from member_channel_activity where guild_id in ({guild}, {check_guild});
    delete from member_daily_activity where guild_id in ({guild}, {check_guild});
    delete from guild_daily_activity where guild_id in ({guild}, {check_guild});
    delete from guild_activity_gaps where guild_id in ({guild}, {check_guild});
    delete from member_activity_state where guild_id in ({guild}, {check_guild});
    delete from guild_members where guild_id in ({guild}, {check_guild});
    delete from guild_settings where guild_id in ({guild}, {check_guild});
    delete from app_logs where fields ? 'seeded';
    if exists (select 1 from activity_logs where guild_id not in ({guild}, {check_guild}) limit 1) then
        delete from activity_logs where guild_id in ({guild}, {check_guild}) and cancels_id is not null;
        delete from activity_logs where guild_id in ({guild}, {check_guild});
    else
        truncate activity_logs;
    end if;
end $$;
drop schema if exists community_seed cascade;
create schema community_seed;
"#;

/// Members (profile, heavy-tailed rate) and days (weekly rhythm, growth),
/// and the scale that makes the expected total the requested event count.
const MEMBERS: &str = r#"
-- How active a member of this profile is on day k, relative to their rate.
create function community_seed.factor(
    profile text, k integer, start_k integer, churn_k integer, goes_silent boolean, rise_k integer)
returns float8 language sql immutable as $f$
    select case profile
        when 'joiner' then case when k >= start_k then 1.0 else 0.0 end
        when 'churning' then case when k < churn_k then 1.0 when goes_silent then 0.0 else 0.12 end
        when 'rising' then case when k < rise_k then 0.2 else 0.2 + 2.8 * least(1.0, (k - rise_k + 1) / 7.0) end
        else 1.0 end;
$f$;

create unlogged table community_seed.members as
with r as (
    select i, random() as kind_r, random() as u1, random() as u2,
           random() as a, random() as b, random() as c
    from generate_series(1, {members}) as i
), typed as (
    select i, a, b, c,
           case when i = 1 then 'rising'
                when i <= 8 then 'staff'
                when kind_r < 0.08 then 'churning'
                when kind_r < 0.12 then 'rising'
                when kind_r < 0.27 then 'joiner'
                else 'steady' end as profile,
           -- log-normal: most members post now and then, a few all day
           exp(1.6 * sqrt(-2 * ln(greatest(u1, 1e-12))) * cos(2 * pi() * u2)) as rate
    from r
)
select i as idx,
       {member_base}::bigint + i as member_id,
       profile,
       case when i = 1 then 40
            when profile = 'staff' then 15
            when profile = 'churning' then rate * 3
            when profile = 'rising' then rate * 2
            else rate end as rate,
       floor(a * {days})::integer as start_k,
       greatest({days} - 10 - floor(b * 35)::integer, 1) as churn_k,
       c < 0.6 as goes_silent,
       greatest({days} - 8 - floor(b * 20)::integer, 1) as rise_k,
       case when i = 1 then '<script>alert(1)</script>'
            when i = 2 then 'Zoë 🌟 (mod)'
            when profile = 'staff' then 'mod-' || (array['ash', 'birch', 'cedar', 'elm', 'fir', 'oak'])[i - 2]
            else (array['quiet', 'brave', 'lucky', 'sunny', 'witty', 'calm', 'swift', 'bold', 'keen', 'merry'])[1 + i % 10]
                 || '_' || (array['fox', 'owl', 'otter', 'lynx', 'heron', 'wolf', 'panda', 'koala', 'raven', 'moth', 'newt'])[1 + (i / 10) % 11]
                 || '_' || i end as display_name
from typed;
alter table community_seed.members add primary key (idx);

create unlogged table community_seed.days as
select k, ((now() at time zone 'UTC')::date - ({days} - 1) + k) as day,
       (array[1.25, 0.85, 0.9, 0.95, 1.0, 1.1, 1.3])[extract(dow from ((now() at time zone 'UTC')::date - ({days} - 1) + k))::integer + 1] as weekly,
       0.85 + 0.3 * k / {days}::float8 as trend,
       -- today only up to now
       case when k = {days} - 1
            then greatest(extract(epoch from (now() at time zone 'UTC') - (now() at time zone 'UTC')::date), 60)
            else 86399 end as day_secs
from generate_series(0, {days} - 1) as k;

create unlogged table community_seed.scale as
select {events} / sum(m.rate * community_seed.factor(m.profile, d.k, m.start_k, m.churn_k, m.goes_silent, m.rise_k)
                      * d.weekly * d.trend) as factor
from community_seed.members m cross join community_seed.days d;
"#;

/// ~N events: per member-day a count drawn around its expectation, each a
/// message (72%) or a reaction, in a channel of uneven popularity.
const EVENTS: &str = r#"
insert into activity_logs
    (idempotency_key, guild_id, member_id, channel_id, message_id, kind, emoji, occurred_at, points_value)
select case when e.is_message then 'message:' || e.id
            else 'reaction_add:' || e.target || ':' || e.member_id || ':' || e.emoji || ':seed:' || e.id end,
       {guild}, e.member_id, e.channel_id,
       case when e.is_message then e.id else e.target end,
       case when e.is_message then 'message' else 'reaction_add' end,
       case when e.is_message then null else e.emoji end,
       e.occurred_at,
       case when e.is_message then 1.00 else 0.50 end
from (
    select m.member_id,
           {message_base}::bigint + (m.idx::bigint * {days} + d.k) * 10000 + j as id,
           {message_base}::bigint + (floor(random() * {members})::bigint * {days} + d.k) * 10000 + 1 as target,
           random() < 0.72 as is_message,
           (array['👍', '❤️', '😂', '🎉', '🔥'])[1 + floor(random() * 5)::integer] as emoji,
           {channel_base}::bigint + floor(12 * power(random(), 2.2))::bigint as channel_id,
           (d.day + make_interval(secs => d.day_secs * sqrt(random())))::timestamp at time zone 'UTC' as occurred_at
    from community_seed.members m
    cross join community_seed.days d
    cross join community_seed.scale s
    cross join lateral generate_series(1, least(9999, floor(
        s.factor * m.rate * community_seed.factor(m.profile, d.k, m.start_k, m.churn_k, m.goes_silent, m.rise_k)
        * d.weekly * d.trend + random())::integer)) as j
) e;
"#;

/// About 2% of reactions are taken back a few minutes later, as ingest
/// would record them: the removal names the add and takes back its points.
const REMOVALS: &str = r#"
insert into activity_logs
    (idempotency_key, guild_id, member_id, channel_id, message_id, kind, emoji, occurred_at, points_value, cancels_id)
select 'reaction_remove:' || a.message_id || ':' || a.member_id || ':' || a.emoji || ':seed:' || a.id,
       a.guild_id, a.member_id, a.channel_id, a.message_id, 'reaction_remove', a.emoji,
       least(a.occurred_at + make_interval(secs => 30 + random() * 600), now()),
       -a.points_value, a.id
from activity_logs a
where a.guild_id = {guild} and a.kind = 'reaction_add' and random() < 0.02;
"#;

const GUILD_MEMBERS: &str = r#"
insert into guild_members (guild_id, member_id, display_name, first_seen_at, last_seen_at)
select {guild}, a.member_id, m.display_name, a.first_seen, a.last_seen
from (select member_id, min(occurred_at) as first_seen, max(occurred_at) as last_seen
      from activity_logs where guild_id = {guild} group by member_id) a
join community_seed.members m using (member_id);
"#;

/// What ingest's rollups hold: a removal counts on the day of the add it
/// cancels, and one that cancelled nothing counts nowhere (migration 013).
const MEMBER_DAILY: &str = r#"
create unlogged table community_seed.scored as
select a.member_id, a.channel_id, (a.occurred_at at time zone 'UTC')::date as day, a.kind, a.points_value
from activity_logs a
where a.guild_id = {guild} and a.kind <> 'reaction_remove'
union all
select a.member_id, a.channel_id,
       (coalesce(c.occurred_at, a.occurred_at) at time zone 'UTC')::date,
       case when c.id is null then 'reaction_remove_unmatched' else 'reaction_remove' end,
       a.points_value
from activity_logs a
left join activity_logs c on c.id = a.cancels_id
where a.guild_id = {guild} and a.kind = 'reaction_remove';

insert into member_daily_activity (guild_id, day, member_id, messages, reactions, points)
select {guild}, day, member_id,
       count(*) filter (where kind = 'message'),
       count(*) filter (where kind = 'reaction_add') - count(*) filter (where kind = 'reaction_remove'),
       sum(points_value)
from community_seed.scored
where kind <> 'reaction_remove_unmatched'
group by day, member_id;
"#;

const MEMBER_CHANNEL: &str = r#"
insert into member_channel_activity (guild_id, member_id, day, channel_id, messages, reactions, points)
select {guild}, member_id, day, channel_id,
       count(*) filter (where kind = 'message'),
       count(*) filter (where kind = 'reaction_add') - count(*) filter (where kind = 'reaction_remove'),
       sum(points_value)
from community_seed.scored
where kind <> 'reaction_remove_unmatched'
group by member_id, day, channel_id;
drop table community_seed.scored;
"#;

const GUILD_DAILY: &str = r#"
insert into guild_daily_activity (guild_id, day, messages, reactions, points, active_members)
select guild_id, day, sum(messages), sum(reactions), sum(points), count(*)
from member_daily_activity
where guild_id = {guild}
group by guild_id, day;

insert into guild_activity_gaps (guild_id, day, gap_days, members)
select guild_id, day, gap_days, count(*)
from (select guild_id, day,
             (case when lag(day) over (partition by member_id order by day) is null then 0
                   else least(day - lag(day) over (partition by member_id order by day), 366) end)::smallint as gap_days
      from member_daily_activity
      where guild_id = {guild}) g
group by guild_id, day, gap_days;
"#;

/// Running totals and the 91-day cumulative window, from the rollup.
const MEMBER_STATE: &str = r#"
create unlogged table community_seed.totals as
select member_id, sum(messages) as messages, sum(reactions) as reactions, sum(points) as points,
       min(day) as first_day, max(day) as last_day, count(*) as active_days
from member_daily_activity where guild_id = {guild}
group by member_id;

create unlogged table community_seed.rings as
with base as (
    select d.member_id, sum(d.points) as base
    from member_daily_activity d join community_seed.totals t using (member_id)
    where d.guild_id = {guild} and d.day < t.last_day - 90
    group by d.member_id
), grid as (
    select t.member_id, g.day::date as day
    from community_seed.totals t
    cross join lateral generate_series(t.last_day - 90, t.last_day, interval '1 day') as g(day)
), cum as (
    select g.member_id, g.day,
           sum(coalesce(d.points, 0)) over (partition by g.member_id order by g.day) as c
    from grid g
    left join member_daily_activity d on d.guild_id = {guild} and d.member_id = g.member_id and d.day = g.day
)
select c.member_id, array_agg(round(100 * (coalesce(b.base, 0) + c.c))::integer order by c.day desc) as recent_cum
from cum c left join base b using (member_id)
group by c.member_id;

insert into member_activity_state
    (guild_id, member_id, messages, reactions, points, first_active_day, last_active_day, active_days, recent_cum)
select {guild}, t.member_id, t.messages, t.reactions, t.points, t.first_day, t.last_day, t.active_days, r.recent_cum
from community_seed.totals t join community_seed.rings r using (member_id);
"#;

/// Tickets over the period: older ones mostly closed by one of the staff,
/// recent ones open or claimed; closed ones have a transcript.
const TICKETS: &str = r#"
with staff as (
    select array_agg(member_id order by idx) as ids from community_seed.members where profile = 'staff'
), raw as (
    select i,
           {member_base}::bigint + 1 + floor(random() * {members})::bigint as opener,
           (now() - make_interval(secs => power(random(), 1.3) * {days} * 86400)) as opened_at,
           random() as claim_r, random() as speed, random() as staff_r, random() as fate
    from generate_series(1, greatest({members} / 60, 20)) as i
), shaped as (
    select r.*, (select ids from staff) as staff_ids,
           r.opened_at + make_interval(secs => 60 + power(r.speed, 2) * 6 * 3600) as claimed_at,
           r.opened_at + make_interval(secs => 1800 + power(r.speed, 1.5) * 72 * 3600) as closed_at
    from raw r
)
insert into tickets (guild_id, channel_id, opener_id, opener_name, reason, status, opened_at,
                     claimed_by, claimed_at, first_response_at, closed_by, closed_at, close_note)
select {guild}, {channel_base}::bigint + 1000 + i, opener, m.display_name,
       (array['Cannot see the announcements channel', 'Report a member', 'Question about roles',
              'Giveaway prize not received', 'Bug in the bot', 'Appeal a mute', ''])[1 + i % 7],
       status, opened_at,
       case when status in ('claimed', 'closed') and claim_r < 0.9
            then staff_ids[1 + floor(staff_r * array_length(staff_ids, 1))::integer] end,
       case when status in ('claimed', 'closed') and claim_r < 0.9 then least(claimed_at, now()) end,
       case when status in ('claimed', 'closed') and claim_r < 0.9 then least(claimed_at, now())
            when status = 'closed' then least(closed_at, now()) end,
       case when status = 'closed'
            then staff_ids[1 + floor(staff_r * array_length(staff_ids, 1))::integer] end,
       case when status = 'closed' then least(closed_at, now()) end,
       case when status = 'closed' then 'resolved' end
from (select s.*,
             case when s.fate < 0.02 then 'failed'
                  when s.closed_at < now() and s.fate < 0.93 then 'closed'
                  when s.claimed_at < now() and s.claim_r < 0.9 then 'claimed'
                  else 'open' end as status
      from shaped s) t
left join community_seed.members m on m.member_id = t.opener
-- Oldest first, so ticket numbers follow time as they do in Discord.
order by t.opened_at;

update tickets set channel_id = null where guild_id = {guild} and status = 'failed';
update tickets set failure = 'Discord refused to create the channel' where guild_id = {guild} and status = 'failed';

insert into ticket_messages (ticket_id, message_id, author_id, author_name, content, attachments, sent_at)
select t.id, {message_base}::bigint + 900000000000000 + t.id * 100 + n,
       case when n % 2 = 1 then t.opener_id else t.closed_by end,
       case when n % 2 = 1 then t.opener_name else sm.display_name end,
       (array['Hi, I need help with this.', 'Thanks for opening a ticket, looking now.',
              'It started yesterday evening.', 'Can you share a screenshot?',
              'Here it is <b>not bold</b> & "quoted".', 'Fixed, can you check again?',
              'Works now, thank you!', 'Closing this, ping us any time.'])[1 + (n - 1) % 8],
       case when n = 5 then '[{"filename":"screenshot.png","url":"https://cdn.example.invalid/s.png"}]'::jsonb
            else '[]'::jsonb end,
       t.opened_at + make_interval(secs => n * greatest(extract(epoch from t.closed_at - t.opened_at), 60) / 12)
from tickets t
left join community_seed.members sm on sm.member_id = t.closed_by
cross join lateral generate_series(1, 3 + (t.id % 8)::integer) as n
where t.guild_id = {guild} and t.status = 'closed';
"#;

/// Audits with verdicts, reasons and fixes; each AI call in the ledger.
const AUDITS: &str = r#"
insert into audits (guild_id, requested_by, channel_id, source, text_hash, text_length, verdict, reasons,
                    suggested_fixes, model, input_tokens, output_tokens, cost_usd, status, error, created_at)
select {guild}, requester, {channel_base}::bigint + floor(random() * 12)::bigint,
       case when random() < 0.7 then 'command' else 'message' end,
       md5(i::text), 40 + floor(random() * 1500)::integer,
       case when status in ('ok', 'cached') then verdict end,
       case when status not in ('ok', 'cached') then '[]'::jsonb
            when verdict = 'green' then '[]'::jsonb
            when verdict = 'yellow' then '[{"category": "misleading_claims", "explanation": "Mentions a giveaway without its rules."},
                                          {"category": "other", "explanation": "Links to an external site."}]'::jsonb
            else '[{"category": "personal_data", "explanation": "Asks members for their password."},
                   {"category": "misleading_claims", "explanation": "Impersonates staff."}]'::jsonb end,
       case when status in ('ok', 'cached') and verdict <> 'green'
            then '["State the rules and end date", "Remove the link"]'::jsonb else '[]'::jsonb end,
       model,
       case when status in ('ok', 'failed') then 300 + floor(random() * 1200)::integer else 0 end,
       case when status = 'ok' then 80 + floor(random() * 400)::integer else 0 end,
       0, status,
       case when status = 'failed' then 'Gemini answered HTTP 503'
            when status = 'budget_exhausted' then 'daily AI budget spent' end,
       created_at
from (
    select i,
           {member_base}::bigint + case when random() < 0.5 then 2 + floor(random() * 7)::bigint
                                         else 1 + floor(random() * {members})::bigint end as requester,
           now() - make_interval(secs => power(random(), 1.2) * {days} * 86400) as created_at,
           case when r < 0.04 then 'failed' when r < 0.05 then 'budget_exhausted'
                when r < 0.15 then 'cached' else 'ok' end as status,
           case when v < 0.62 then 'green' when v < 0.88 then 'yellow' else 'red' end as verdict,
           case when random() < 0.85 then 'gemini-2.5-flash' else 'gemini-2.5-pro' end as model
    from (select i, random() as r, random() as v from generate_series(1, greatest({members} / 40, 30)) as i) x
) a
-- Oldest first, so ids follow time as they do when audits are recorded.
order by created_at;

-- prices as the interactions worker charges them (USD per million tokens)
update audits set cost_usd = round((input_tokens * case when model = 'gemini-2.5-pro' then 1.25 else 0.30 end
                                   + output_tokens * case when model = 'gemini-2.5-pro' then 10.0 else 2.50 end) / 1e6, 6)
where guild_id = {guild};

insert into ai_usage_ledger (guild_id, audit_id, model, input_tokens, output_tokens, cost_usd, succeeded, error_kind, created_at)
select guild_id, id, model, input_tokens, output_tokens, cost_usd, status = 'ok',
       case when status = 'failed' then 'unavailable' end, created_at
from audits
where guild_id = {guild} and status in ('ok', 'failed');
"#;

const LOGS: &str = r#"
insert into app_logs (at, level, source, message, fields)
select now() - make_interval(secs => (3000 - i) * 200 + random() * 150),
       case when r < 0.03 then 'error' when r < 0.12 then 'warn' when r < 0.85 then 'info' else 'debug' end,
       (array['interactions-worker', 'gateway-relay', 'dashboard-worker'])[1 + i % 3],
       case when r < 0.03 then 'Gemini call failed: HTTP 503'
            when r < 0.12 then 'relay batch retried after a timeout'
            when r < 0.85 then (array['relay batch ingested', 'ticket opened', 'audit recorded', 'ticket closed'])[1 + i % 4]
            else 'heartbeat recorded' end,
       jsonb_build_object('seeded', true, 'events', floor(random() * 500)::integer)
from (select i, random() as r from generate_series(1, 3000) as i) x
order by 1;

select record_heartbeat('gateway-relay', 'relay-seed', now() - interval '3 hours',
    jsonb_build_object('instance', 'relay-seed', 'spool_batches', 0, 'spool_events', 0,
                       'memory_batches', 1, 'memory_events', 12, 'events_forwarded', {events},
                       'gateway_latency_ms', 41, 'shards', jsonb_build_array(
                           jsonb_build_object('id', 0, 'state', 'active', 'latency_ms', 41))));

insert into guild_settings (guild_id, staff_role_id, ai_daily_budget_usd)
values ({guild}, {channel_base}::bigint + 999, 0.05);
"#;

const ANALYZE: &str = r#"
analyze activity_logs;
analyze guild_members;
analyze member_daily_activity;
analyze member_channel_activity;
analyze guild_daily_activity;
analyze guild_activity_gaps;
analyze member_activity_state;
analyze tickets;
analyze ticket_messages;
analyze audits;
analyze ai_usage_ledger;
analyze app_logs;
drop schema community_seed cascade;
"#;

const SUMMARY: &str = r#"
select format('%s events, %s member-days, %s members with state, %s tickets, %s audits',
    (select count(*) from activity_logs where guild_id = {guild}),
    (select count(*) from member_daily_activity where guild_id = {guild}),
    (select count(*) from member_activity_state where guild_id = {guild}),
    (select count(*) from tickets where guild_id = {guild}),
    (select count(*) from audits where guild_id = {guild}));
"#;

/// The sample's events, in the order they happened, through ingest_events in
/// batches of 1,000 into the scratch guild {check_guild}.
const CHECK_REPLAY: &str = r#"
create temp table check_members as
select member_id from member_activity_state where guild_id = {guild}
order by hashint8(member_id) limit {check_sample};

do $$
declare
    batch jsonb;
begin
    for batch in
        select jsonb_agg(jsonb_build_object(
                   'idempotency_key', 'check:' || a.idempotency_key,
                   'guild_id', '{check_guild}', 'member_id', a.member_id::text,
                   'member_name', m.display_name, 'channel_id', a.channel_id::text,
                   'message_id', a.message_id::text, 'kind', a.kind, 'emoji', a.emoji,
                   'occurred_at', a.occurred_at, 'points', a.points_value)
                   order by a.occurred_at, a.id)
        from (select a.*, (row_number() over (order by a.occurred_at, a.id) - 1) / 1000 as batch_no
              from activity_logs a
              where a.guild_id = {guild} and a.member_id in (select member_id from check_members)) a
        left join guild_members m on m.guild_id = {guild} and m.member_id = a.member_id
        group by a.batch_no
        order by a.batch_no
    loop
        perform ingest_events(batch);
    end loop;
end $$;
"#;

/// One line per table: name|rows that differ between the seed (restricted to
/// the sample) and what ingest built. The gaps are compared with the seed's
/// formula applied to what ingest built, since the seed's histogram covers
/// every member.
const CHECK_COMPARE: &str = r#"
create temp table check_members as
select member_id from member_activity_state where guild_id = {guild}
order by hashint8(member_id) limit {check_sample};

with seeded as (
    select day, member_id, messages, reactions, points from member_daily_activity
    where guild_id = {guild} and member_id in (select member_id from check_members)
), ingested as (
    select day, member_id, messages, reactions, points from member_daily_activity where guild_id = {check_guild}
)
select 'member_daily_activity', count(*) from ((table seeded except table ingested) union all (table ingested except table seeded)) x
union all
select 'member_channel_activity', count(*) from (
    (select member_id, day, channel_id, messages, reactions, points from member_channel_activity
      where guild_id = {guild} and member_id in (select member_id from check_members)
     except
     select member_id, day, channel_id, messages, reactions, points from member_channel_activity where guild_id = {check_guild})
    union all
    (select member_id, day, channel_id, messages, reactions, points from member_channel_activity where guild_id = {check_guild}
     except
     select member_id, day, channel_id, messages, reactions, points from member_channel_activity
      where guild_id = {guild} and member_id in (select member_id from check_members))) x
union all
select 'member_activity_state', count(*) from (
    (select member_id, messages, reactions, points, first_active_day, last_active_day, active_days,
            array(select v - s.recent_cum[91] from unnest(s.recent_cum) with ordinality u(v, k) order by k) as ring
     from member_activity_state s where guild_id = {guild} and member_id in (select member_id from check_members)
     except
     select member_id, messages, reactions, points, first_active_day, last_active_day, active_days,
            array(select v - s.recent_cum[91] from unnest(s.recent_cum) with ordinality u(v, k) order by k)
     from member_activity_state s where guild_id = {check_guild})
    union all
    (select member_id, messages, reactions, points, first_active_day, last_active_day, active_days,
            array(select v - s.recent_cum[91] from unnest(s.recent_cum) with ordinality u(v, k) order by k)
     from member_activity_state s where guild_id = {check_guild}
     except
     select member_id, messages, reactions, points, first_active_day, last_active_day, active_days,
            array(select v - s.recent_cum[91] from unnest(s.recent_cum) with ordinality u(v, k) order by k)
     from member_activity_state s where guild_id = {guild} and member_id in (select member_id from check_members))) x
union all
select 'guild_members', count(*) from (
    (select member_id, display_name, first_seen_at, last_seen_at from guild_members
      where guild_id = {guild} and member_id in (select member_id from check_members)
     except
     select member_id, display_name, first_seen_at, last_seen_at from guild_members where guild_id = {check_guild})
    union all
    (select member_id, display_name, first_seen_at, last_seen_at from guild_members where guild_id = {check_guild}
     except
     select member_id, display_name, first_seen_at, last_seen_at from guild_members
      where guild_id = {guild} and member_id in (select member_id from check_members))) x
union all
select 'guild_activity_gaps', count(*) from (
    (select day, gap_days, members from guild_activity_gaps where guild_id = {check_guild} and members <> 0
     except
     select day, gap_days, count(*)::integer from (
         select day, (case when lag(day) over (partition by member_id order by day) is null then 0
                   else least(day - lag(day) over (partition by member_id order by day), 366) end)::smallint as gap_days
         from member_daily_activity where guild_id = {check_guild}) g
     group by day, gap_days)
    union all
    (select day, gap_days, count(*)::integer from (
         select day, (case when lag(day) over (partition by member_id order by day) is null then 0
                   else least(day - lag(day) over (partition by member_id order by day), 366) end)::smallint as gap_days
         from member_daily_activity where guild_id = {check_guild}) g
     group by day, gap_days
     except
     select day, gap_days, members from guild_activity_gaps where guild_id = {check_guild} and members <> 0)) x;
"#;

const CHECK_CLEANUP: &str = r#"
delete from member_channel_activity where guild_id = {check_guild};
delete from member_daily_activity where guild_id = {check_guild};
delete from guild_daily_activity where guild_id = {check_guild};
delete from guild_activity_gaps where guild_id = {check_guild};
delete from member_activity_state where guild_id = {check_guild};
delete from guild_members where guild_id = {check_guild};
delete from activity_logs where guild_id = {check_guild} and cancels_id is not null;
delete from activity_logs where guild_id = {check_guild};
"#;
