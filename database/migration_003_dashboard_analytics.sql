-- Dashboard analytics: what the Creator Managers' pages read (issue 5).
--
-- Every number on a page comes from a function below, computed over state
-- kept at ingest (ADR 0003), never by summing activity_logs at query time:
--
-- * member_activity_state: one row per member with running totals, first and
--   last active day, and `recent_cum`, the member's cumulative score at the
--   end of each of the 91 days up to their last active day. Any window sum
--   inside those 91 days is two array reads: C(to) - C(from - 1). Rising
--   Stars and Churn Risks read one row per member instead of one row per
--   member-day. `points_7d` / `points_30d` / `points_90d` (the last 7 / 30 /
--   90 days up to the last active day) are upper bounds on any later window
--   of that length, which lets Rising Stars and Churn Risks walk an index,
--   best candidates first, instead of scoring everyone.
-- * guild_activity_gaps: for each day, how many members were active and how
--   long since each one's previous active day. "Distinct members active
--   between A and B" is the number of member-days in [A, B] whose previous
--   active day is before A: a sum over at most a few thousand rows, for any
--   range, which a (guild, day) count of active members cannot give.
-- * member_channel_activity: the (member, day, channel) rollup the member
--   page's activity-by-channel reads.
--
-- A member is active on a day when member_daily_activity has a row for it
-- (the same rule as guild_daily_activity.active_members). Scores are the
-- stored points (guild weights in force when each event was scored), kept in
-- the state as integer hundredths so window sums are integer arithmetic.
-- Days are UTC days.

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

create table public.member_activity_state (
    guild_id         bigint not null,
    member_id        bigint not null,
    messages         bigint not null default 0,
    reactions        bigint not null default 0,
    points           numeric(14, 2) not null default 0,
    first_active_day date not null,
    last_active_day  date not null,
    active_days      integer not null default 0,
    -- recent_cum[k]: cumulative points (hundredths) through day
    -- last_active_day - k + 1, for k = 1..91. Only differences mean anything
    -- (the base is shifted when the values grow large).
    recent_cum       integer[] not null,
    points_7d        integer generated always as (recent_cum[1] - recent_cum[8]) stored,
    points_30d       integer generated always as (recent_cum[1] - recent_cum[31]) stored,
    points_90d       integer generated always as (recent_cum[1] - recent_cum[91]) stored,
    primary key (guild_id, member_id),
    check (array_length(recent_cum, 1) = 91 and array_lower(recent_cum, 1) = 1)
);
create index member_activity_state_last_active on public.member_activity_state (guild_id, last_active_day);
create index member_activity_state_7d on public.member_activity_state (guild_id, points_7d desc);
create index member_activity_state_30d on public.member_activity_state (guild_id, points_30d desc);
create index member_activity_state_90d on public.member_activity_state (guild_id, points_90d desc);

-- Members active on `day` whose previous active day was `gap_days` earlier
-- (capped at 366); gap_days 0: their first active day.
create table public.guild_activity_gaps (
    guild_id bigint not null,
    day      date not null,
    gap_days smallint not null check (gap_days between 0 and 366),
    members  integer not null,
    primary key (guild_id, day, gap_days)
);

create table public.member_channel_activity (
    guild_id   bigint not null,
    member_id  bigint not null,
    day        date not null,
    channel_id bigint not null,
    messages   integer not null default 0,
    reactions  integer not null default 0,
    points     numeric(10, 2) not null default 0,
    primary key (guild_id, member_id, day, channel_id)
);

-- Failed dashboard logins per client, for rate limiting. Workers are
-- stateless, so this lives next to the data.
create table public.login_attempts (
    client            text primary key,
    failures          integer not null default 0,
    window_started_at timestamptz not null,
    blocked_until     timestamptz
);

alter table public.member_activity_state   enable row level security;
alter table public.guild_activity_gaps     enable row level security;
alter table public.member_channel_activity enable row level security;
alter table public.login_attempts          enable row level security;

-- Audits by requester, for the member page.
create index audits_requester on public.audits (guild_id, requested_by, created_at desc);
-- Tickets by any member involved, for the member page.
create index tickets_guild_opened on public.tickets (guild_id, opened_at desc);

-- ---------------------------------------------------------------------------
-- Helpers over the state
-- ---------------------------------------------------------------------------

-- Points (hundredths) of one member's state over [p_from, p_to]; null when
-- the 91 days it holds do not cover the window (the caller then reads
-- member_daily_activity). Plain SQL so the planner inlines it.
create or replace function public.ring_sum(cum integer[], ring_end date, p_from date, p_to date)
returns integer
language sql
immutable
parallel safe
as $$
    select case
        when p_to < p_from then 0
        when p_from - 1 < ring_end - 90 then null
        else (case when p_to >= ring_end then cum[1] else cum[ring_end - p_to + 1] end)
           - (case when p_from - 1 >= ring_end then cum[1] else cum[ring_end - p_from + 2] end)
    end;
$$;

-- The same window read from the (member, day) rollup, in hundredths.
create or replace function public.member_points_between(
    p_guild_id bigint, p_member_id bigint, p_from date, p_to date)
returns integer
language sql
stable
parallel safe
as $$
    select coalesce((sum(d.points) * 100)::integer, 0)
    from public.member_daily_activity d
    where d.guild_id = p_guild_id and d.member_id = p_member_id
      and d.day between p_from and p_to;
$$;

-- Move a member's state to `new_end` (when later than `ring_end`) and add
-- `amount` hundredths on `delta_day`. Days older than the 91 held move every
-- value, which leaves every difference as it was.
create or replace function public.ring_apply(
    cum integer[], ring_end date, new_end date, delta_day date, amount integer)
returns integer[]
language plpgsql
immutable
parallel safe
as $$
declare
    shift integer := new_end - ring_end;
    reach integer;
    base  integer;
begin
    if shift > 0 then
        if shift >= 91 then
            cum := array_fill(cum[1], array[91]);
        else
            cum := array_fill(cum[1], array[shift]) || cum[1:91 - shift];
        end if;
    end if;
    if amount <> 0 then
        reach := least(new_end - delta_day + 1, 91);
        for k in 1..reach loop
            cum[k] := cum[k] + amount;
        end loop;
        -- keep clear of integer overflow: only differences matter
        if cum[1] > 2000000000 or cum[91] < -2000000000 then
            base := cum[91];
            for k in 1..91 loop
                cum[k] := cum[k] - base;
            end loop;
        end if;
    end if;
    return cum;
end;
$$;

-- Distinct members active between two days (inclusive; at most 366 days).
create or replace function public.guild_distinct_active(p_guild_id bigint, p_from date, p_to date)
returns bigint
language sql
stable
parallel safe
as $$
    select coalesce(sum(g.members), 0)::bigint
    from public.guild_activity_gaps g
    where g.guild_id = p_guild_id and g.day between p_from and p_to
      and (g.gap_days = 0 or g.gap_days > g.day - p_from);
$$;

-- ---------------------------------------------------------------------------
-- Ingest: as before, plus the state above, in the same transaction
-- ---------------------------------------------------------------------------

-- Ingest one batch of scored events in one transaction.
--
-- Each event is a ScoredEvent (community-core): idempotency_key, guild_id,
-- member_id, member_name?, channel_id, message_id, kind, emoji?,
-- occurred_at, points. Events whose key is already stored change nothing.
-- A reaction_remove takes back exactly what the latest standing add of the
-- same member, message and emoji scored (nothing when there is none).
-- Malformed input raises, and the whole batch is rolled back.
--
-- Maintains, from the rows actually inserted: guild_members,
-- member_daily_activity, guild_daily_activity (migration 001), and
-- member_channel_activity, guild_activity_gaps, member_activity_state.
create or replace function public.ingest_events(events jsonb)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    received  integer;
    inserted  integer;
    r         record;
    cancelled record;
    new_id    bigint;
    batch_day date;
begin
    if jsonb_typeof(events) is distinct from 'array' then
        raise exception 'ingest_events expects a JSON array of events'
            using errcode = '22023';
    end if;
    received := jsonb_array_length(events);

    create temp table if not exists ingest_batch (
        id bigint, guild_id bigint, member_id bigint, member_name text, channel_id bigint,
        day date, kind text, points numeric, occurred_at timestamptz
    ) on commit drop;
    truncate ingest_batch;

    -- Validate first: a malformed event fails the whole batch with the reason.
    if exists (
        select 1 from jsonb_array_elements(events) as e
        where jsonb_typeof(e) <> 'object'
           or e->>'idempotency_key' is null or e->>'guild_id' is null
           or e->>'member_id' is null or e->>'channel_id' is null
           or e->>'message_id' is null or e->>'occurred_at' is null
           or jsonb_typeof(e->'points') is distinct from 'number'
           or coalesce(e->>'kind', '') not in ('message', 'reaction_add', 'reaction_remove')
           or (e->>'kind' <> 'message' and e->>'emoji' is null)
    ) then
        raise exception 'ingest_events: malformed event in batch (every event needs idempotency_key, guild_id, member_id, channel_id, message_id, kind, occurred_at and a numeric points; reactions need emoji)'
            using errcode = '22023';
    end if;

    with input as (
        -- a key repeated inside one batch counts once
        select distinct on (e.idempotency_key)
               e.idempotency_key, e.guild_id::bigint as guild_id,
               e.member_id::bigint as member_id, e.member_name,
               e.channel_id::bigint as channel_id, e.message_id::bigint as message_id,
               e.kind, e.emoji, e.occurred_at, e.points
        from jsonb_to_recordset(events) as e(
            idempotency_key text, guild_id text, member_id text, member_name text,
            channel_id text, message_id text, kind text, emoji text,
            occurred_at timestamptz, points numeric)
        order by e.idempotency_key, e.occurred_at
    ), ins as (
        insert into activity_logs as a
            (idempotency_key, guild_id, member_id, channel_id, message_id, kind,
             emoji, occurred_at, points_value)
        select i.idempotency_key, i.guild_id, i.member_id, i.channel_id, i.message_id,
               i.kind, i.emoji, i.occurred_at, i.points
        from input i
        where i.kind <> 'reaction_remove'
        order by i.occurred_at, i.idempotency_key
        on conflict (idempotency_key) do nothing
        returning a.id, a.idempotency_key
    )
    insert into ingest_batch
    select ins.id, i.guild_id, i.member_id, i.member_name, i.channel_id,
           (i.occurred_at at time zone 'UTC')::date, i.kind, i.points, i.occurred_at
    from ins join input i using (idempotency_key);

    -- Removals, in order: each takes back the latest standing add before it.
    for r in
        select e.idempotency_key, (e.guild_id)::bigint as guild_id,
               (e.member_id)::bigint as member_id, e.member_name,
               (e.channel_id)::bigint as channel_id, (e.message_id)::bigint as message_id,
               e.emoji, e.occurred_at
        from jsonb_to_recordset(events) as e(
            idempotency_key text, guild_id text, member_id text, member_name text,
            channel_id text, message_id text, kind text, emoji text,
            occurred_at timestamptz)
        where e.kind = 'reaction_remove'
        order by e.occurred_at, e.idempotency_key
    loop
        continue when exists (
            select 1 from activity_logs where idempotency_key = r.idempotency_key);

        select a.id, a.points_value, a.occurred_at into cancelled
        from activity_logs a
        where a.kind = 'reaction_add'
          and a.message_id = r.message_id and a.member_id = r.member_id
          and a.emoji = r.emoji and a.guild_id = r.guild_id
          and a.occurred_at <= r.occurred_at
          and not exists (select 1 from activity_logs c where c.cancels_id = a.id)
        order by a.occurred_at desc, a.id desc
        limit 1
        for update;

        insert into activity_logs
            (idempotency_key, guild_id, member_id, channel_id, message_id, kind,
             emoji, occurred_at, points_value, cancels_id)
        values (r.idempotency_key, r.guild_id, r.member_id, r.channel_id, r.message_id,
                'reaction_remove', r.emoji, r.occurred_at,
                coalesce(-cancelled.points_value, 0), cancelled.id)
        on conflict (idempotency_key) do nothing
        returning id into new_id;

        if new_id is not null then
            insert into ingest_batch values (
                new_id, r.guild_id, r.member_id, r.member_name, r.channel_id,
                -- the rollup change lands on the day of the add it cancels
                (coalesce(cancelled.occurred_at, r.occurred_at) at time zone 'UTC')::date,
                case when cancelled.id is null then 'reaction_remove_unmatched' else 'reaction_remove' end,
                coalesce(-cancelled.points_value, 0), r.occurred_at);
        end if;
        new_id := null;
        cancelled := null;
    end loop;

    select count(*) into inserted from ingest_batch;
    if inserted = 0 then
        return jsonb_build_object('received', received, 'inserted', 0, 'duplicates', received);
    end if;

    -- Members: name and last seen. Removals are activity too.
    insert into guild_members as m (guild_id, member_id, display_name, first_seen_at, last_seen_at)
    select guild_id, member_id,
           (array_agg(member_name order by occurred_at desc) filter (where member_name is not null))[1],
           min(occurred_at), max(occurred_at)
    from ingest_batch
    group by guild_id, member_id
    order by guild_id, member_id
    on conflict (guild_id, member_id) do update set
        display_name  = coalesce(excluded.display_name, m.display_name),
        first_seen_at = least(m.first_seen_at, excluded.first_seen_at),
        last_seen_at  = greatest(m.last_seen_at, excluded.last_seen_at);

    -- What changed per member and day.
    create temp table if not exists ingest_deltas (
        guild_id bigint, day date, member_id bigint,
        messages integer, reactions integer, points numeric, is_new boolean
    ) on commit drop;
    truncate ingest_deltas;
    insert into ingest_deltas
    select guild_id, day, member_id,
           count(*) filter (where kind = 'message'),
           count(*) filter (where kind = 'reaction_add')
             - count(*) filter (where kind = 'reaction_remove'),
           sum(points), false
    from ingest_batch
    group by guild_id, day, member_id;

    -- Member-day rollup; remember which member-days are new.
    with upserted as (
        insert into member_daily_activity as d (guild_id, day, member_id, messages, reactions, points)
        select guild_id, day, member_id, messages, reactions, points
        from ingest_deltas
        order by guild_id, day, member_id
        on conflict (guild_id, day, member_id) do update set
            messages  = d.messages + excluded.messages,
            reactions = d.reactions + excluded.reactions,
            points    = d.points + excluded.points
        returning d.guild_id, d.day, d.member_id, (xmax = 0) as is_new
    )
    update ingest_deltas x set is_new = true
    from upserted u
    where u.is_new and x.guild_id = u.guild_id and x.day = u.day and x.member_id = u.member_id;

    insert into guild_daily_activity as gd (guild_id, day, messages, reactions, points, active_members)
    select guild_id, day, sum(messages), sum(reactions), sum(points), count(*) filter (where is_new)
    from ingest_deltas
    group by guild_id, day
    order by guild_id, day
    on conflict (guild_id, day) do update set
        messages       = gd.messages + excluded.messages,
        reactions      = gd.reactions + excluded.reactions,
        points         = gd.points + excluded.points,
        active_members = gd.active_members + excluded.active_members;

    -- Activity by channel.
    insert into member_channel_activity as c (guild_id, member_id, day, channel_id, messages, reactions, points)
    select guild_id, member_id, day, channel_id,
           count(*) filter (where kind = 'message'),
           count(*) filter (where kind = 'reaction_add')
             - count(*) filter (where kind = 'reaction_remove'),
           sum(points)
    from ingest_batch
    group by guild_id, member_id, day, channel_id
    order by guild_id, member_id, day, channel_id
    on conflict (guild_id, member_id, day, channel_id) do update set
        messages  = c.messages + excluded.messages,
        reactions = c.reactions + excluded.reactions,
        points    = c.points + excluded.points;

    -- Gaps between active days. A new member-day d counts with the gap to the
    -- member's previous active day; when a later active day e already existed
    -- (an event arriving late), e's gap shrinks from "since the previous
    -- day before d" to "since d".
    if exists (select 1 from ingest_deltas where is_new) then
        with new_days as (
            select x.guild_id, x.member_id, x.day,
                   (select max(a.day) from member_daily_activity a
                     where a.guild_id = x.guild_id and a.member_id = x.member_id
                       and a.day < x.day) as prev_day,
                   (select min(a.day) from member_daily_activity a
                     where a.guild_id = x.guild_id and a.member_id = x.member_id
                       and a.day > x.day) as next_day
            from ingest_deltas x
            where x.is_new
        ), later as (
            -- existing days whose previous day changed
            select n.guild_id, n.member_id, n.day, n.next_day,
                   (select max(a.day) from member_daily_activity a
                     where a.guild_id = n.guild_id and a.member_id = n.member_id
                       and a.day < n.day
                       and not exists (select 1 from ingest_deltas y
                                        where y.is_new and y.guild_id = a.guild_id
                                          and y.member_id = a.member_id and y.day = a.day)
                   ) as old_prev_day
            from new_days n
            where n.next_day is not null
              and not exists (select 1 from ingest_deltas y
                               where y.is_new and y.guild_id = n.guild_id
                                 and y.member_id = n.member_id and y.day = n.next_day)
        ), changes as (
            select guild_id, day,
                   case when prev_day is null then 0 else least(day - prev_day, 366) end as gap_days,
                   1 as members
            from new_days
            union all
            select guild_id, next_day, least(next_day - day, 366), 1
            from later
            union all
            select guild_id, next_day,
                   case when old_prev_day is null then 0 else least(next_day - old_prev_day, 366) end,
                   -1
            from later
        )
        insert into guild_activity_gaps as g (guild_id, day, gap_days, members)
        select guild_id, day, gap_days::smallint, sum(members)::integer
        from changes
        group by guild_id, day, gap_days
        order by guild_id, day, gap_days
        on conflict (guild_id, day, gap_days) do update set members = g.members + excluded.members;
    end if;

    -- Per-member state, one day of the batch at a time (almost always one).
    for batch_day in select distinct day from ingest_deltas order by day loop
        insert into member_activity_state as s
            (guild_id, member_id, messages, reactions, points, first_active_day,
             last_active_day, active_days, recent_cum)
        select x.guild_id, x.member_id, x.messages, x.reactions, x.points, x.day, x.day,
               case when x.is_new then 1 else 0 end,
               -- for a member seen before, [1] is this day's delta (see below)
               ring_apply(array_fill(0, array[91]), x.day, x.day, x.day, (x.points * 100)::integer)
        from ingest_deltas x
        where x.day = batch_day
        order by x.guild_id, x.member_id
        on conflict (guild_id, member_id) do update set
            messages         = s.messages + excluded.messages,
            reactions        = s.reactions + excluded.reactions,
            points           = s.points + excluded.points,
            first_active_day = least(s.first_active_day, excluded.first_active_day),
            last_active_day  = greatest(s.last_active_day, excluded.last_active_day),
            active_days      = s.active_days + excluded.active_days,
            recent_cum       = ring_apply(s.recent_cum, s.last_active_day,
                                          greatest(s.last_active_day, excluded.last_active_day),
                                          excluded.last_active_day, excluded.recent_cum[1]);
    end loop;

    return jsonb_build_object(
        'received', received,
        'inserted', inserted,
        'duplicates', received - inserted);
end;
$$;

-- ---------------------------------------------------------------------------
-- Dashboard RPCs
-- ---------------------------------------------------------------------------

-- Guilds with activity, the busiest first: the dashboard's guild picker.
create or replace function public.dashboard_guilds()
returns table (guild_id text, last_active_day date, messages bigint, points numeric)
language sql
stable
set search_path = public, pg_temp
as $$
    select g.guild_id::text, max(g.day), sum(g.messages)::bigint, sum(g.points)
    from guild_daily_activity g
    group by g.guild_id
    order by sum(g.points) desc, g.guild_id;
$$;

-- Overview of [p_from, p_to] (at most 366 days): one row per day, totals,
-- distinct active members, and the same for the previous period of the same
-- length (with its daily score, for a comparison line); members active in
-- the 1, 7 and 30 days up to p_to and up to the day before p_from.
create or replace function public.dashboard_overview(p_guild_id text, p_from date, p_to date)
returns jsonb
language plpgsql
stable
set search_path = public, pg_temp
as $$
declare
    g         bigint := p_guild_id::bigint;
    len       integer := p_to - p_from + 1;
    prev_from date := p_from - (p_to - p_from + 1);
    prev_to   date := p_from - 1;
    days      jsonb;
    totals    jsonb;
    previous  jsonb;
begin
    if p_to < p_from or len > 366 then
        raise exception 'dashboard_overview: the range must be 1 to 366 days' using errcode = '22023';
    end if;

    select coalesce(jsonb_agg(jsonb_build_object(
               'day', d.day::date, 'messages', coalesce(a.messages, 0),
               'reactions', coalesce(a.reactions, 0), 'points', coalesce(a.points, 0),
               'active_members', coalesce(a.active_members, 0)) order by d.day), '[]'::jsonb)
      into days
    from generate_series(p_from, p_to, interval '1 day') as d(day)
    left join guild_daily_activity a on a.guild_id = g and a.day = d.day::date;

    select jsonb_build_object(
               'messages', coalesce(sum(a.messages) filter (where a.day >= p_from), 0),
               'reactions', coalesce(sum(a.reactions) filter (where a.day >= p_from), 0),
               'points', coalesce(sum(a.points) filter (where a.day >= p_from), 0),
               'active_members', guild_distinct_active(g, p_from, p_to)),
           jsonb_build_object(
               'messages', coalesce(sum(a.messages) filter (where a.day < p_from), 0),
               'reactions', coalesce(sum(a.reactions) filter (where a.day < p_from), 0),
               'points', coalesce(sum(a.points) filter (where a.day < p_from), 0),
               'active_members', guild_distinct_active(g, prev_from, prev_to))
      into totals, previous
    from guild_daily_activity a
    where a.guild_id = g and a.day between prev_from and p_to;

    return jsonb_build_object(
        'guild_id', p_guild_id,
        'from', p_from, 'to', p_to,
        'previous_from', prev_from, 'previous_to', prev_to,
        'days', days,
        'previous_points', (
            select coalesce(jsonb_agg(coalesce(a.points, 0) order by d.day), '[]'::jsonb)
            from generate_series(prev_from, prev_to, interval '1 day') as d(day)
            left join guild_daily_activity a on a.guild_id = g and a.day = d.day::date),
        'totals', totals,
        'previous', previous,
        'active', jsonb_build_object(
            'd1', guild_distinct_active(g, p_to, p_to),
            'd7', guild_distinct_active(g, p_to - 6, p_to),
            'd30', guild_distinct_active(g, p_to - 29, p_to),
            'd1_before', guild_distinct_active(g, prev_to, prev_to),
            'd7_before', guild_distinct_active(g, prev_to - 6, prev_to),
            'd30_before', guild_distinct_active(g, prev_to - 29, prev_to)));
end;
$$;

-- Rising Stars: the members with the highest score in the window of
-- p_window_days days ending p_as_of (1 to 45), with the previous window of
-- the same length, the growth between them, and the daily scores of the
-- window (the sparkline). Ties rank by member id. Members with no score in
-- the window are not listed.
--
-- Fast path (as of the newest active day or later, windows up to 30 days):
-- walk members by points_7d / points_30d, an upper bound on their score in
-- any later window of that length, scoring each from its state row, and stop
-- once the limit-th score beats the next bound. Otherwise every member's
-- state row is scored (rows whose 91 days miss the window read the rollup).
create or replace function public.rising_stars(
    p_guild_id text, p_as_of date, p_window_days integer default 7, p_limit integer default 25)
returns table (
    rank integer, member_id text, display_name text, score numeric, previous_score numeric,
    growth numeric, growth_pct numeric, last_active_day date, sparkline numeric[])
language plpgsql
stable
set search_path = public, pg_temp
as $$
declare
    g          bigint := p_guild_id::bigint;
    w          integer := p_window_days;
    cur_from   date := p_as_of - p_window_days + 1;
    prev_from  date := p_as_of - 2 * p_window_days + 1;
    newest     date;
    bound_col  text;
    depth      integer;
    kth        integer;
    next_bound integer;
    picked     bigint[];
begin
    if w is null or w < 1 or w > 45 then
        raise exception 'rising_stars: window_days must be 1 to 45' using errcode = '22023';
    end if;
    if p_limit is null or p_limit < 1 or p_limit > 10000 then
        raise exception 'rising_stars: limit must be 1 to 10000' using errcode = '22023';
    end if;

    select max(s.last_active_day) into newest
    from member_activity_state s where s.guild_id = g;
    if newest is null then
        return;
    end if;

    if newest <= p_as_of and w <= 30 then
        bound_col := case when w <= 7 then 'points_7d' else 'points_30d' end;
        depth := greatest(p_limit * 2, 64);
        loop
            execute format($q$
                select (array_agg(c.member_id order by c.cur desc, c.member_id) filter (where c.rn <= $3)),
                       (array_agg(c.cur order by c.cur desc, c.member_id) filter (where c.rn <= $3))[$4],
                       max(c.bound) filter (where c.rn = $3 + 1)
                from (
                    select s.member_id, s.%1$I as bound,
                           ring_sum(s.recent_cum, s.last_active_day, $2, $5) as cur,
                           row_number() over (order by s.%1$I desc) as rn
                    from member_activity_state s
                    where s.guild_id = $1
                    order by s.%1$I desc
                    limit $3 + 1) c
                $q$, bound_col)
              into picked, kth, next_bound
              using g, cur_from, depth, p_limit, p_as_of;
            exit when next_bound is null or next_bound <= 0 or kth > next_bound;
            depth := depth * 4;
        end loop;
        picked := picked[1:p_limit];
    else
        select array_agg(c.member_id order by c.cur desc, c.member_id)
          into picked
        from (
            select s.member_id,
                   coalesce(ring_sum(s.recent_cum, s.last_active_day, cur_from, p_as_of),
                            member_points_between(g, s.member_id, cur_from, p_as_of)) as cur
            from member_activity_state s
            where s.guild_id = g and s.last_active_day >= cur_from
              and s.first_active_day <= p_as_of
            order by 2 desc, 1
            limit p_limit) c;
    end if;

    return query
    with chosen as (
        select p.member_id, p.ord, s.recent_cum, s.last_active_day as ring_end
        from unnest(picked) with ordinality as p(member_id, ord)
        join member_activity_state s on s.guild_id = g and s.member_id = p.member_id
    ), scored as (
        select c.*,
               coalesce(ring_sum(c.recent_cum, c.ring_end, cur_from, p_as_of),
                        member_points_between(g, c.member_id, cur_from, p_as_of)) as cur,
               coalesce(ring_sum(c.recent_cum, c.ring_end, prev_from, cur_from - 1),
                        member_points_between(g, c.member_id, prev_from, cur_from - 1)) as prev
        from chosen c
    )
    select row_number() over (order by sc.cur desc, sc.member_id)::integer,
           sc.member_id::text, m.display_name,
           round(sc.cur / 100.0, 2), round(sc.prev / 100.0, 2), round((sc.cur - sc.prev) / 100.0, 2),
           case when sc.prev > 0 then round(100.0 * (sc.cur - sc.prev) / sc.prev, 1) end,
           (select max(d.day) from member_daily_activity d
             where d.guild_id = g and d.member_id = sc.member_id and d.day <= p_as_of),
           array(select round(coalesce(ring_sum(sc.recent_cum, sc.ring_end, day::date, day::date),
                                       member_points_between(g, sc.member_id, day::date, day::date)) / 100.0, 2)
                 from generate_series(cur_from, p_as_of, interval '1 day') as day
                 order by day)
    from scored sc
    left join guild_members m on m.guild_id = g and m.member_id = sc.member_id
    where sc.cur > 0
    order by sc.cur desc, sc.member_id;
end;
$$;

-- Churn Risks. The rule: over the baseline (p_baseline_days days ending the
-- day before the recent period) the member scored at least
-- p_min_baseline_score; over the recent period (the p_silent_days days
-- ending p_as_of) they scored at most (100 - p_min_drop_pct)% of what the
-- baseline rate predicts, or nothing at all ("silent"). Ranked by the score
-- they lost: expected - recent, where expected = baseline score scaled to
-- the length of the recent period. Ties rank by member id.
--
-- Fast path (as of the newest active day or later, baseline + recent <= 90
-- days): what a member can lose is at most their last 90 days' score scaled
-- to the recent period, so walk members by points_90d, best first, and stop
-- once the limit-th loss found beats what the next one could lose. Otherwise
-- (or when the walk would cover most members) score every member's state
-- row; rows whose 91 days miss the windows read the rollup.
create or replace function public.churn_risks(
    p_guild_id text, p_as_of date, p_baseline_days integer default 30,
    p_silent_days integer default 14, p_min_baseline_score numeric default 20,
    p_min_drop_pct numeric default 75, p_limit integer default 100)
returns table (
    rank integer, member_id text, display_name text, baseline_score numeric,
    recent_score numeric, expected_score numeric, score_lost numeric, drop_pct numeric,
    status text, last_active_day date, last_seen_at timestamptz, days_silent integer)
language plpgsql
stable
set search_path = public, pg_temp
as $$
declare
    g          bigint := p_guild_id::bigint;
    base_from  date := p_as_of - p_silent_days - p_baseline_days + 1;
    base_to    date := p_as_of - p_silent_days;
    min_base   integer := ceil(p_min_baseline_score * 100);
    -- expected = base * scale; at risk when recent <= expected * keep
    scale      float8 := p_silent_days::float8 / p_baseline_days;
    keep       float8 := (100 - p_min_drop_pct)::float8 / 100;
    newest     date;
    depth      integer;
    kth        float8;
    next_bound integer;
    picked     bigint[];
begin
    if p_baseline_days is null or p_baseline_days < 1 or p_baseline_days > 180 then
        raise exception 'churn_risks: baseline_days must be 1 to 180' using errcode = '22023';
    end if;
    if p_silent_days is null or p_silent_days < 1 or p_silent_days > 180 then
        raise exception 'churn_risks: silent_days must be 1 to 180' using errcode = '22023';
    end if;
    if p_min_drop_pct is null or p_min_drop_pct < 0 or p_min_drop_pct > 100 then
        raise exception 'churn_risks: min_drop_pct must be 0 to 100' using errcode = '22023';
    end if;
    if p_limit is null or p_limit < 1 or p_limit > 100000 then
        raise exception 'churn_risks: limit must be 1 to 100000' using errcode = '22023';
    end if;

    select max(s.last_active_day) into newest
    from member_activity_state s where s.guild_id = g;
    if newest is null then
        return;
    end if;

    if newest <= p_as_of and p_silent_days + p_baseline_days <= 90 and p_limit <= 1000 then
        -- Enough for the usual case in one round: heavy tails put the big
        -- losses among the most active members.
        depth := greatest(p_limit * 40, 2048);
        loop
            select (array_agg(c.member_id order by c.lost desc, c.member_id)
                        filter (where c.rn <= depth and c.at_risk)),
                   (array_agg(c.lost order by c.lost desc, c.member_id)
                        filter (where c.rn <= depth and c.at_risk))[p_limit],
                   max(c.bound) filter (where c.rn = depth + 1)
              into picked, kth, next_bound
            from (
                select w.member_id, w.bound, w.rn, w.base * scale - w.recent as lost,
                       w.base >= min_base and (w.recent = 0 or w.recent <= w.base * scale * keep) as at_risk
                from (
                    select s.member_id, s.points_90d as bound,
                           row_number() over (order by s.points_90d desc) as rn,
                           ring_sum(s.recent_cum, s.last_active_day, base_from, base_to) as base,
                           ring_sum(s.recent_cum, s.last_active_day, base_to + 1, p_as_of) as recent
                    from member_activity_state s
                    where s.guild_id = g
                    order by s.points_90d desc
                    limit depth + 1) w) c;
            exit when next_bound is null or next_bound * scale < min_base * scale
                   or kth > next_bound * scale or depth > 20000;
            depth := depth * 2;
        end loop;
        if depth <= 20000 then
            picked := picked[1:p_limit];
        else
            picked := null;
        end if;
    end if;

    if picked is null then
        -- Every member's state row, in integer and float arithmetic: numeric
        -- would cost more than reading the rows.
        select array_agg(r.member_id order by r.lost desc, r.member_id)
          into picked
        from (
            select sc.member_id, sc.base * scale - sc.recent as lost
            from (
                select s.member_id,
                       coalesce(ring_sum(s.recent_cum, s.last_active_day, base_from, base_to),
                                member_points_between(g, s.member_id, base_from, base_to)) as base,
                       coalesce(ring_sum(s.recent_cum, s.last_active_day, base_to + 1, p_as_of),
                                member_points_between(g, s.member_id, base_to + 1, p_as_of)) as recent
                from member_activity_state s
                where s.guild_id = g
                  and s.last_active_day >= base_from and s.first_active_day <= base_to
                  and s.points >= p_min_baseline_score) sc
            where sc.base >= min_base
              and (sc.recent = 0 or sc.recent <= sc.base * scale * keep)
            order by 2 desc, 1
            limit p_limit) r;
    end if;

    return query
    with chosen as (
        select p.member_id, p.ord,
               coalesce(ring_sum(s.recent_cum, s.last_active_day, base_from, base_to),
                        member_points_between(g, p.member_id, base_from, base_to)) as base,
               coalesce(ring_sum(s.recent_cum, s.last_active_day, base_to + 1, p_as_of),
                        member_points_between(g, p.member_id, base_to + 1, p_as_of)) as recent
        from unnest(picked) with ordinality as p(member_id, ord)
        join member_activity_state s on s.guild_id = g and s.member_id = p.member_id
    )
    select c.ord::integer, c.member_id::text, m.display_name,
           round(c.base / 100.0, 2), round(c.recent / 100.0, 2),
           round((c.base * scale / 100)::numeric, 2),
           round(((c.base * scale - c.recent) / 100)::numeric, 2),
           round((100 * (1 - c.recent / (c.base * scale)))::numeric, 1),
           case when c.recent = 0 then 'silent' else 'dropped' end,
           l.day, m.last_seen_at,
           p_as_of - l.day
    from chosen c
    left join guild_members m on m.guild_id = g and m.member_id = c.member_id
    left join lateral (
        select max(d.day) as day from member_daily_activity d
        where d.guild_id = g and d.member_id = c.member_id and d.day <= p_as_of) l on true
    order by c.ord;
end;
$$;

-- One member: who they are, their daily scores and activity by channel over
-- [p_from, p_to], and the tickets and audits involving them. Null when the
-- guild has never seen them.
create or replace function public.member_profile(
    p_guild_id text, p_member_id text, p_from date, p_to date)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    with who as (
        select p_guild_id::bigint as g, p_member_id::bigint as m
    )
    select case when m.member_id is null and s.member_id is null then null else jsonb_build_object(
        'member_id', p_member_id,
        'display_name', m.display_name,
        'is_bot', coalesce(m.is_bot, false),
        'first_seen_at', m.first_seen_at,
        'last_seen_at', m.last_seen_at,
        'totals', jsonb_build_object(
            'messages', coalesce(s.messages, 0), 'reactions', coalesce(s.reactions, 0),
            'points', coalesce(s.points, 0), 'active_days', coalesce(s.active_days, 0),
            'first_active_day', s.first_active_day, 'last_active_day', s.last_active_day),
        'days', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'day', d.day::date, 'messages', coalesce(a.messages, 0),
                       'reactions', coalesce(a.reactions, 0), 'points', coalesce(a.points, 0))
                       order by d.day), '[]'::jsonb)
            from generate_series(p_from, p_to, interval '1 day') as d(day)
            left join member_daily_activity a
              on a.guild_id = who.g and a.member_id = who.m and a.day = d.day::date),
        'channels', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'channel_id', c.channel_id::text, 'messages', c.messages,
                       'reactions', c.reactions, 'points', c.points, 'last_day', c.last_day)
                       order by c.points desc, c.channel_id), '[]'::jsonb)
            from (
                select channel_id, sum(messages) as messages, sum(reactions) as reactions,
                       sum(points) as points, max(day) as last_day
                from member_channel_activity
                where guild_id = who.g and member_id = who.m and day between p_from and p_to
                group by channel_id) c),
        'tickets', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'id', t.id, 'status', t.status, 'reason', t.reason,
                       'opened_at', t.opened_at, 'closed_at', t.closed_at,
                       'role', case when t.opener_id = who.m then 'opener'
                                    when t.claimed_by = who.m then 'claimed'
                                    else 'closed' end)
                       order by t.opened_at desc), '[]'::jsonb)
            from tickets t
            where t.guild_id = who.g
              and (t.opener_id = who.m or t.claimed_by = who.m or t.closed_by = who.m)),
        'audits', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'id', a.id, 'created_at', a.created_at, 'verdict', a.verdict,
                       'status', a.status, 'source', a.source, 'reasons', a.reasons)
                       order by a.created_at desc), '[]'::jsonb)
            from (select * from audits
                  where guild_id = who.g and requested_by = who.m
                  order by created_at desc limit 100) a))
    end
    from who
    left join guild_members m on m.guild_id = who.g and m.member_id = who.m
    left join member_activity_state s on s.guild_id = who.g and s.member_id = who.m;
$$;

-- Ticket figures for tickets opened in [p_from, p_to] (days, inclusive):
-- how many in each status; first-response and resolution times, overall and
-- per staff member (the one who claimed, else the one who closed when not
-- the opener); and the age of every ticket still open as of p_now.
create or replace function public.ticket_stats(
    p_guild_id text, p_from date, p_to date, p_now timestamptz)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    with t as (
        select *, coalesce(claimed_by, case when closed_by <> opener_id then closed_by end) as handler
        from tickets
        where guild_id = p_guild_id::bigint
          and opened_at >= p_from::timestamp at time zone 'UTC'
          and opened_at < (p_to + 1)::timestamp at time zone 'UTC'
    ), open_now as (
        select * from tickets
        where guild_id = p_guild_id::bigint and status in ('open', 'claimed')
    )
    select jsonb_build_object(
        'from', p_from, 'to', p_to,
        'counts', jsonb_build_object(
            'opening', count(*) filter (where status = 'opening'),
            'open', count(*) filter (where status = 'open'),
            'claimed', count(*) filter (where status = 'claimed'),
            'closed', count(*) filter (where status = 'closed'),
            'failed', count(*) filter (where status = 'failed'),
            'total', count(*)),
        'first_response', jsonb_build_object(
            'count', count(first_response_at),
            'avg_minutes', round((extract(epoch from avg(first_response_at - opened_at)) / 60)::numeric, 1)),
        'resolution', jsonb_build_object(
            'count', count(closed_at) filter (where status = 'closed'),
            'avg_hours', round((extract(epoch from avg(closed_at - opened_at) filter (where status = 'closed')) / 3600)::numeric, 2)),
        'open_now', (
            select jsonb_build_object(
                'count', count(*),
                'avg_age_hours', round((extract(epoch from avg(p_now - opened_at)) / 3600)::numeric, 2),
                'max_age_hours', round((extract(epoch from max(p_now - opened_at)) / 3600)::numeric, 2))
            from open_now),
        'staff', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'staff_id', s.handler::text, 'display_name', gm.display_name,
                       'handled', s.handled, 'closed', s.closed,
                       'avg_first_response_minutes', s.frt, 'avg_resolution_hours', s.res)
                       order by s.handled desc, s.handler), '[]'::jsonb)
            from (
                select handler, count(*) as handled,
                       count(*) filter (where status = 'closed') as closed,
                       round((extract(epoch from avg(first_response_at - opened_at)) / 60)::numeric, 1) as frt,
                       round((extract(epoch from avg(closed_at - opened_at) filter (where status = 'closed')) / 3600)::numeric, 2) as res
                from t where handler is not null
                group by handler) s
            left join guild_members gm on gm.guild_id = p_guild_id::bigint and gm.member_id = s.handler))
    from t;
$$;

-- Tickets, newest first, optionally in one status.
create or replace function public.tickets_list(
    p_guild_id text, p_status text default null, p_limit integer default 100, p_offset integer default 0)
returns table (
    id bigint, status text, opener_id text, opener_name text, reason text, opened_at timestamptz,
    claimed_by text, claimed_by_name text, claimed_at timestamptz, first_response_at timestamptz,
    closed_by text, closed_at timestamptz, messages bigint)
language sql
stable
set search_path = public, pg_temp
as $$
    select t.id, t.status, t.opener_id::text, coalesce(t.opener_name, o.display_name), t.reason,
           t.opened_at, t.claimed_by::text, c.display_name, t.claimed_at, t.first_response_at,
           t.closed_by::text, t.closed_at,
           (select count(*) from ticket_messages tm where tm.ticket_id = t.id)
    from tickets t
    left join guild_members o on o.guild_id = t.guild_id and o.member_id = t.opener_id
    left join guild_members c on c.guild_id = t.guild_id and c.member_id = t.claimed_by
    where t.guild_id = p_guild_id::bigint
      and (p_status is null or t.status = p_status)
    order by t.opened_at desc, t.id desc
    limit least(greatest(p_limit, 1), 10000) offset greatest(p_offset, 0);
$$;

-- One ticket of the guild and its transcript, oldest message first; null
-- when the guild has no such ticket.
create or replace function public.ticket_transcript(p_guild_id text, p_ticket_id bigint)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'ticket', ticket_view(t) || jsonb_build_object(
            'first_response_at', t.first_response_at, 'close_note', t.close_note,
            'failure', t.failure,
            'opener_display_name', coalesce(t.opener_name, o.display_name)),
        'messages', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'message_id', m.message_id::text, 'author_id', m.author_id::text,
                       'author_name', m.author_name, 'content', m.content,
                       'attachments', m.attachments, 'sent_at', m.sent_at)
                       order by m.sent_at, m.message_id), '[]'::jsonb)
            from ticket_messages m where m.ticket_id = t.id))
    from tickets t
    left join guild_members o on o.guild_id = t.guild_id and o.member_id = t.opener_id
    where t.id = p_ticket_id and t.guild_id = p_guild_id::bigint;
$$;

-- Audits, newest first. p_verdict: green, yellow, red, or none (failed or
-- refused for budget); null for all. Counts per verdict for the filter.
create or replace function public.audits_history(
    p_guild_id text, p_verdict text default null, p_limit integer default 100,
    p_before_id bigint default null)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'counts', (
            select jsonb_build_object(
                'all', count(*),
                'green', count(*) filter (where verdict = 'green'),
                'yellow', count(*) filter (where verdict = 'yellow'),
                'red', count(*) filter (where verdict = 'red'),
                'none', count(*) filter (where verdict is null))
            from audits where guild_id = p_guild_id::bigint),
        'audits', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'id', a.id, 'created_at', a.created_at,
                       'requested_by', a.requested_by::text, 'requester_name', m.display_name,
                       'channel_id', a.channel_id::text, 'source', a.source, 'verdict', a.verdict,
                       'reasons', a.reasons, 'suggested_fixes', a.suggested_fixes,
                       'model', a.model, 'status', a.status, 'error', a.error,
                       'cost_usd', a.cost_usd, 'text_length', a.text_length)
                       order by a.id desc), '[]'::jsonb)
            from (
                select * from audits
                where guild_id = p_guild_id::bigint
                  and (p_verdict is null
                       or (p_verdict = 'none' and verdict is null)
                       or verdict = p_verdict)
                  and (p_before_id is null or id < p_before_id)
                order by id desc
                limit least(greatest(p_limit, 1), 1000)) a
            left join guild_members m on m.guild_id = a.guild_id and m.member_id = a.requested_by));
$$;

-- The AI cost ledger per day and model over [p_from, p_to], against the
-- guild's daily budget.
create or replace function public.ai_ledger_daily(p_guild_id text, p_from date, p_to date)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    with rows as (
        select (l.created_at at time zone 'UTC')::date as day, l.model,
               count(*) as calls,
               count(*) filter (where not l.succeeded) as failures,
               sum(l.input_tokens) as input_tokens, sum(l.output_tokens) as output_tokens,
               sum(l.cost_usd) as cost_usd
        from ai_usage_ledger l
        where l.guild_id = p_guild_id::bigint
          and l.created_at >= p_from::timestamp at time zone 'UTC'
          and l.created_at < (p_to + 1)::timestamp at time zone 'UTC'
        group by 1, 2
    ), budget as (
        select coalesce((select ai_daily_budget_usd from guild_settings
                          where guild_id = p_guild_id::bigint), 1) as usd
    )
    select jsonb_build_object(
        'daily_budget_usd', (select usd from budget),
        'days', coalesce((
            select jsonb_agg(jsonb_build_object(
                       'day', d.day, 'calls', d.calls, 'failures', d.failures,
                       'input_tokens', d.input_tokens, 'output_tokens', d.output_tokens,
                       'cost_usd', d.cost_usd,
                       'over_budget', d.cost_usd > (select usd from budget),
                       'models', d.models)
                       order by d.day desc)
            from (
                select day, sum(calls) as calls, sum(failures) as failures,
                       sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
                       sum(cost_usd) as cost_usd,
                       jsonb_agg(jsonb_build_object(
                           'model', model, 'calls', calls, 'failures', failures,
                           'input_tokens', input_tokens, 'output_tokens', output_tokens,
                           'cost_usd', cost_usd) order by cost_usd desc, model) as models
                from rows group by day) d), '[]'::jsonb));
$$;

-- Log lines, newest first: at one of p_levels (all when null), from one
-- source (all when null), newer than p_after_id (live updates) or older than
-- p_before_id (paging).
create or replace function public.app_logs_page(
    p_levels text[] default null, p_source text default null, p_after_id bigint default null,
    p_before_id bigint default null, p_limit integer default 100)
returns table (id bigint, at timestamptz, level text, source text, message text, fields jsonb)
language sql
stable
set search_path = public, pg_temp
as $$
    select l.id, l.at, l.level, l.source, l.message, l.fields
    from app_logs l
    where (p_levels is null or l.level = any (p_levels))
      and (p_source is null or l.source = p_source)
      and (p_after_id is null or l.id > p_after_id)
      and (p_before_id is null or l.id < p_before_id)
    order by l.id desc
    limit least(greatest(p_limit, 1), 1000);
$$;

-- The sources that have written to the log (a skip scan of its index).
create or replace function public.app_log_sources()
returns text[]
language sql
stable
set search_path = public, pg_temp
as $$
    with recursive s(source) as (
        (select source from app_logs order by source limit 1)
        union all
        select (select l.source from app_logs l where l.source > s.source order by l.source limit 1)
        from s where s.source is not null)
    select coalesce(array_agg(source order by source) filter (where source is not null), '{}')
    from s;
$$;

-- What the admin health page reads from the database in one call.
create or replace function public.dashboard_health_inputs()
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'database', database_health(),
        'heartbeats', coalesce((
            select jsonb_agg(jsonb_build_object(
                       'service', h.service, 'instance', h.instance, 'started_at', h.started_at,
                       'beat_at', h.beat_at, 'status', h.status) order by h.service)
            from service_heartbeats h), '[]'::jsonb));
$$;

-- ---------------------------------------------------------------------------
-- Dashboard logins: rate limit per client, logged
-- ---------------------------------------------------------------------------

-- May this client try to log in now?
create or replace function public.login_gate(p_client text, p_now timestamptz)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'allowed', coalesce(a.blocked_until <= p_now, true),
        'retry_after_secs', greatest(ceil(extract(epoch from a.blocked_until - p_now)), 0)::integer)
    from (select p_client as client) c
    left join login_attempts a on a.client = c.client;
$$;

-- A failed login: counted in a window of p_window_secs; p_max_failures in
-- one window block the client for p_block_secs. Logged to app_logs.
create or replace function public.login_failed(
    p_client text, p_now timestamptz, p_max_failures integer default 5,
    p_window_secs integer default 900, p_block_secs integer default 900)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    attempt login_attempts;
begin
    -- forget clients quiet for a day
    delete from login_attempts
    where window_started_at < p_now - interval '1 day'
      and (blocked_until is null or blocked_until < p_now);

    insert into login_attempts as a (client, failures, window_started_at)
    values (p_client, 1, p_now)
    on conflict (client) do update set
        failures = case when a.window_started_at < p_now - make_interval(secs => p_window_secs)
                        then 1 else a.failures + 1 end,
        window_started_at = case when a.window_started_at < p_now - make_interval(secs => p_window_secs)
                                 then p_now else a.window_started_at end
    returning * into attempt;

    if attempt.failures >= p_max_failures then
        update login_attempts set blocked_until = p_now + make_interval(secs => p_block_secs),
                                  failures = 0, window_started_at = p_now
        where client = p_client
        returning * into attempt;
    end if;

    insert into app_logs (level, source, message, fields)
    values ('warn', 'dashboard-worker',
            case when attempt.blocked_until > p_now then 'failed dashboard login; client blocked'
                 else 'failed dashboard login' end,
            jsonb_build_object('client', p_client, 'blocked_until', attempt.blocked_until));

    return jsonb_build_object(
        'blocked', coalesce(attempt.blocked_until > p_now, false),
        'retry_after_secs', greatest(ceil(extract(epoch from attempt.blocked_until - p_now)), 0)::integer);
end;
$$;

-- A successful login clears the client's failures. Logged to app_logs.
create or replace function public.login_succeeded(p_client text, p_now timestamptz)
returns void
language sql
set search_path = public, pg_temp
as $$
    delete from login_attempts where client = p_client;
    insert into app_logs (level, source, message, fields)
    values ('info', 'dashboard-worker', 'dashboard login', jsonb_build_object('client', p_client));
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
revoke all on all tables in schema public from anon, authenticated;
grant all on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;
