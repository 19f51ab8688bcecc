-- Community OS: the whole schema for a fresh Supabase project.
--
-- Paste into the Supabase SQL editor (or `cargo xtask migrate --initial
-- --database-url ...`) on an empty project. It is every migration_*.sql in
-- order, and records them as applied, so later migrations apply on top.
-- A test checks that this file and the migrations give the same schema.

-- >>> migration_001_initial_schema.sql
-- Community OS: the initial schema.
--
-- Conventions:
-- * Discord snowflakes are bigint; RPCs return them as text so no client
--   loses precision.
-- * Every table has Row Level Security enabled and no policy: the anon and
--   authenticated roles see nothing. The workers use the service role.
-- * Writes and heavy reads are functions called as RPC, so each write is one
--   transaction next to the data.
-- * Scores are rolled up per (member, day) and per (guild, day) in the same
--   transaction as the insert; the dashboard reads rollups, never raw events.

create schema if not exists community_meta;

create table if not exists community_meta.schema_migrations (
    version    text primary key,
    name       text not null,
    applied_at timestamptz not null default now()
);

-- Per-guild configuration. A guild without a row uses the defaults below.
create table public.guild_settings (
    guild_id               bigint primary key,
    staff_role_id          bigint,
    ticket_category_id     bigint,
    max_open_tickets       integer not null default 1 check (max_open_tickets between 1 and 25),
    ticket_close_action    text not null default 'delete' check (ticket_close_action in ('delete', 'archive')),
    message_points         numeric(6, 2) not null default 1 check (message_points >= 0),
    reaction_points        numeric(6, 2) not null default 0.5 check (reaction_points >= 0),
    message_cooldown_secs  integer not null default 0 check (message_cooldown_secs >= 0),
    ai_daily_budget_usd    numeric(10, 4) not null default 1 check (ai_daily_budget_usd >= 0),
    audit_cache_hours      integer not null default 24 check (audit_cache_hours >= 0),
    updated_at             timestamptz not null default now()
);

create table public.guild_members (
    guild_id      bigint not null,
    member_id     bigint not null,
    display_name  text,
    is_bot        boolean not null default false,
    joined_at     timestamptz,
    first_seen_at timestamptz,
    last_seen_at  timestamptz,
    primary key (guild_id, member_id)
);
create index guild_members_last_seen on public.guild_members (guild_id, last_seen_at);

-- One row per scored Discord event. The idempotency key makes a replayed
-- event a no-op: message:<id> for messages, reaction_add:/reaction_remove:
-- plus the gateway dispatch identity for reactions.
create table public.activity_logs (
    id              bigint generated always as identity primary key,
    idempotency_key text not null,
    guild_id        bigint not null,
    member_id       bigint not null,
    channel_id      bigint not null,
    message_id      bigint not null,
    kind            text not null check (kind in ('message', 'reaction_add', 'reaction_remove')),
    emoji           text,
    occurred_at     timestamptz not null,
    points_value    numeric(8, 2) not null,
    -- A reaction removal names the add it takes back; one removal per add.
    cancels_id      bigint references public.activity_logs (id),
    ingested_at     timestamptz not null default now(),
    constraint activity_logs_idempotency_key unique (idempotency_key),
    constraint activity_logs_cancels_once unique (cancels_id),
    constraint activity_logs_reaction_has_emoji check (kind = 'message' or emoji is not null)
);
create index activity_logs_reaction_lookup
    on public.activity_logs (message_id, member_id, emoji)
    where kind = 'reaction_add';
create index activity_logs_member_time on public.activity_logs (guild_id, member_id, occurred_at);

-- Daily rollup per member: what every score on the dashboard is computed from.
-- A reaction removal is applied to the day of the add it cancels, so a day's
-- figures are the reactions that still stand.
create table public.member_daily_activity (
    guild_id  bigint not null,
    day       date not null,
    member_id bigint not null,
    messages  integer not null default 0,
    reactions integer not null default 0,
    points    numeric(10, 2) not null default 0,
    primary key (guild_id, day, member_id)
);
create index member_daily_activity_member on public.member_daily_activity (guild_id, member_id, day);

-- Daily rollup per guild, including how many members were active that day.
create table public.guild_daily_activity (
    guild_id       bigint not null,
    day            date not null,
    messages       integer not null default 0,
    reactions      integer not null default 0,
    points         numeric(12, 2) not null default 0,
    active_members integer not null default 0,
    primary key (guild_id, day)
);

create table public.tickets (
    id                bigint generated always as identity primary key,
    guild_id          bigint not null,
    channel_id        bigint unique,
    opener_id         bigint not null,
    opener_name       text,
    reason            text not null default '',
    -- opening: row reserved, channel being created; failed: creation failed
    -- and nothing was left behind.
    status            text not null default 'opening'
                      check (status in ('opening', 'open', 'claimed', 'closed', 'failed')),
    opened_at         timestamptz not null default now(),
    claimed_by        bigint,
    claimed_at        timestamptz,
    first_response_at timestamptz,
    closed_by         bigint,
    closed_at         timestamptz,
    close_note        text,
    failure           text,
    -- no ticket is open without its channel
    check (status not in ('open', 'claimed') or channel_id is not null)
);
create index tickets_open_per_member on public.tickets (guild_id, opener_id)
    where status in ('opening', 'open', 'claimed');
create index tickets_guild_status on public.tickets (guild_id, status, opened_at desc);

create table public.ticket_messages (
    ticket_id   bigint not null references public.tickets (id) on delete cascade,
    message_id  bigint not null,
    author_id   bigint not null,
    author_name text,
    content     text not null default '',
    attachments jsonb not null default '[]'::jsonb,
    sent_at     timestamptz not null,
    primary key (ticket_id, message_id)
);

create table public.audits (
    id              bigint generated always as identity primary key,
    guild_id        bigint not null,
    requested_by    bigint not null,
    channel_id      bigint,
    source          text not null check (source in ('command', 'message')),
    text_hash       text not null,
    text_length     integer not null check (text_length >= 0),
    verdict         text check (verdict in ('green', 'yellow', 'red')),
    reasons         jsonb not null default '[]'::jsonb,
    suggested_fixes jsonb not null default '[]'::jsonb,
    model           text,
    input_tokens    integer not null default 0,
    output_tokens   integer not null default 0,
    cost_usd        numeric(12, 6) not null default 0,
    status          text not null check (status in ('ok', 'cached', 'failed', 'budget_exhausted')),
    error           text,
    created_at      timestamptz not null default now(),
    check ((status in ('ok', 'cached')) = (verdict is not null))
);
create index audits_cache_lookup on public.audits (guild_id, text_hash, created_at desc) where status = 'ok';
create index audits_guild_time on public.audits (guild_id, created_at desc);

-- Every AI call, successful or not: what the cost ledger and budget read.
create table public.ai_usage_ledger (
    id            bigint generated always as identity primary key,
    guild_id      bigint not null,
    audit_id      bigint references public.audits (id) on delete set null,
    model         text not null,
    input_tokens  integer not null default 0,
    output_tokens integer not null default 0,
    cost_usd      numeric(12, 6) not null default 0,
    succeeded     boolean not null,
    error_kind    text,
    created_at    timestamptz not null default now()
);
create index ai_usage_ledger_guild_time on public.ai_usage_ledger (guild_id, created_at);

-- The application log the admin live log reads.
create table public.app_logs (
    id      bigint generated always as identity primary key,
    at      timestamptz not null default now(),
    level   text not null check (level in ('debug', 'info', 'warn', 'error')),
    source  text not null,
    message text not null,
    fields  jsonb not null default '{}'::jsonb
);
create index app_logs_level on public.app_logs (level, id desc);
create index app_logs_source on public.app_logs (source, id desc);

-- Liveness of each service (relay, workers), with what it last reported.
create table public.service_heartbeats (
    service    text primary key,
    instance   text,
    started_at timestamptz,
    beat_at    timestamptz not null,
    status     jsonb not null default '{}'::jsonb
);

-- Row Level Security on every table, no policies: anon and authenticated see
-- nothing; the service role bypasses RLS.
alter table public.guild_settings        enable row level security;
alter table public.guild_members         enable row level security;
alter table public.activity_logs         enable row level security;
alter table public.member_daily_activity enable row level security;
alter table public.guild_daily_activity  enable row level security;
alter table public.tickets               enable row level security;
alter table public.ticket_messages       enable row level security;
alter table public.audits                enable row level security;
alter table public.ai_usage_ledger       enable row level security;
alter table public.app_logs              enable row level security;
alter table public.service_heartbeats    enable row level security;

-- ---------------------------------------------------------------------------
-- Functions (RPC)
-- ---------------------------------------------------------------------------

-- Ingest one batch of scored events in one transaction.
--
-- Each event is a ScoredEvent (community-core): idempotency_key, guild_id,
-- member_id, member_name?, channel_id, message_id, kind, emoji?,
-- occurred_at, points. Events whose key is already stored change nothing.
-- A reaction_remove takes back exactly what the latest standing add of the
-- same member, message and emoji scored (nothing when there is none).
-- Malformed input raises, and the whole batch is rolled back.
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
begin
    if jsonb_typeof(events) is distinct from 'array' then
        raise exception 'ingest_events expects a JSON array of events'
            using errcode = '22023';
    end if;
    received := jsonb_array_length(events);

    create temp table if not exists ingest_new (
        id bigint, guild_id bigint, member_id bigint, member_name text,
        day date, kind text, points numeric, occurred_at timestamptz
    ) on commit drop;
    truncate ingest_new;

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
    insert into ingest_new
    select ins.id, i.guild_id, i.member_id, i.member_name,
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
            insert into ingest_new values (
                new_id, r.guild_id, r.member_id, r.member_name,
                -- the rollup change lands on the day of the add it cancels
                (coalesce(cancelled.occurred_at, r.occurred_at) at time zone 'UTC')::date,
                case when cancelled.id is null then 'reaction_remove_unmatched' else 'reaction_remove' end,
                coalesce(-cancelled.points_value, 0), r.occurred_at);
        end if;
        new_id := null;
        cancelled := null;
    end loop;

    select count(*) into inserted from ingest_new;

    -- Members: name and last seen. Removals are activity too.
    insert into guild_members as m (guild_id, member_id, display_name, first_seen_at, last_seen_at)
    select guild_id, member_id,
           (array_agg(member_name order by occurred_at desc) filter (where member_name is not null))[1],
           min(occurred_at), max(occurred_at)
    from ingest_new
    group by guild_id, member_id
    order by guild_id, member_id
    on conflict (guild_id, member_id) do update set
        display_name  = coalesce(excluded.display_name, m.display_name),
        first_seen_at = least(m.first_seen_at, excluded.first_seen_at),
        last_seen_at  = greatest(m.last_seen_at, excluded.last_seen_at);

    -- Member-day rollup; remember which member-days are new for the guild rollup.
    with deltas as (
        select guild_id, day, member_id,
               count(*) filter (where kind = 'message') as messages,
               count(*) filter (where kind = 'reaction_add')
                 - count(*) filter (where kind = 'reaction_remove') as reactions,
               sum(points) as points
        from ingest_new
        group by guild_id, day, member_id
    ), upserted as (
        insert into member_daily_activity as d (guild_id, day, member_id, messages, reactions, points)
        select guild_id, day, member_id, messages, reactions, points
        from deltas
        order by guild_id, day, member_id
        on conflict (guild_id, day, member_id) do update set
            messages  = d.messages + excluded.messages,
            reactions = d.reactions + excluded.reactions,
            points    = d.points + excluded.points
        returning d.guild_id, d.day, (xmax = 0) as is_new
    ), guild_deltas as (
        select g.guild_id, g.day,
               sum(g.messages) as messages, sum(g.reactions) as reactions,
               sum(g.points) as points,
               (select count(*) from upserted u
                 where u.guild_id = g.guild_id and u.day = g.day and u.is_new) as new_members
        from deltas g
        group by g.guild_id, g.day
    )
    insert into guild_daily_activity as gd (guild_id, day, messages, reactions, points, active_members)
    select guild_id, day, messages, reactions, points, new_members
    from guild_deltas
    order by guild_id, day
    on conflict (guild_id, day) do update set
        messages       = gd.messages + excluded.messages,
        reactions      = gd.reactions + excluded.reactions,
        points         = gd.points + excluded.points,
        active_members = gd.active_members + excluded.active_members;

    return jsonb_build_object(
        'received', received,
        'inserted', inserted,
        'duplicates', received - inserted);
end;
$$;

-- The settings a guild runs with: its row, or the defaults.
create or replace function public.guild_settings_for(p_guild_id text)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'guild_id', p_guild_id,
        'staff_role_id', s.staff_role_id::text,
        'ticket_category_id', s.ticket_category_id::text,
        'max_open_tickets', coalesce(s.max_open_tickets, 1),
        'ticket_close_action', coalesce(s.ticket_close_action, 'delete'),
        'message_points', coalesce(s.message_points, 1),
        'reaction_points', coalesce(s.reaction_points, 0.5),
        'message_cooldown_secs', coalesce(s.message_cooldown_secs, 0),
        'ai_daily_budget_usd', coalesce(s.ai_daily_budget_usd, 1),
        'audit_cache_hours', coalesce(s.audit_cache_hours, 24))
    from (select p_guild_id::bigint as guild_id) g
    left join guild_settings s on s.guild_id = g.guild_id;
$$;

-- A member's daily activity between two days (inclusive), oldest first.
create or replace function public.member_daily_scores(
    p_guild_id text, p_member_id text, p_from date, p_to date)
returns table (day date, messages integer, reactions integer, points numeric)
language sql
stable
set search_path = public, pg_temp
as $$
    select d.day, d.messages, d.reactions, d.points
    from member_daily_activity d
    where d.guild_id = p_guild_id::bigint and d.member_id = p_member_id::bigint
      and d.day between p_from and p_to
    order by d.day;
$$;

-- A service reports that it is alive and how it is doing.
create or replace function public.record_heartbeat(
    p_service text, p_instance text, p_started_at timestamptz, p_status jsonb)
returns void
language sql
set search_path = public, pg_temp
as $$
    insert into service_heartbeats (service, instance, started_at, beat_at, status)
    values (p_service, p_instance, p_started_at, now(), coalesce(p_status, '{}'::jsonb))
    on conflict (service) do update set
        instance = excluded.instance, started_at = excluded.started_at,
        beat_at = excluded.beat_at, status = excluded.status;
$$;

-- Append to the application log the admin live log reads.
create or replace function public.append_log(
    p_level text, p_source text, p_message text, p_fields jsonb default '{}'::jsonb)
returns bigint
language sql
set search_path = public, pg_temp
as $$
    insert into app_logs (level, source, message, fields)
    values (p_level, p_source, p_message, coalesce(p_fields, '{}'::jsonb))
    returning id;
$$;

-- What the health check reads: the database answers, and at which schema version.
-- Security definer: the API roles have no access to community_meta itself.
create or replace function public.database_health()
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select jsonb_build_object(
        'now', now(),
        'schema_version', (select max(version) from community_meta.schema_migrations));
$$;

-- Only the service role may call these; Supabase grants execute to anon and
-- authenticated by default, so take it back explicitly.
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
revoke all on all tables in schema public from anon, authenticated;
grant all on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;

-- >>> migration_002_tickets_and_audits.sql
-- Tickets and audits: the RPCs the interactions worker calls.
--
-- Opening a ticket is two steps around Discord's channel creation:
-- open_ticket reserves a row (status 'opening') under a per-member lock, so
-- two clicks at once can never both pass the open-ticket limit; then either
-- attach_ticket_channel (status 'open') or abandon_ticket (status 'failed').
-- A reservation left 'opening' for 10 minutes (the worker died between the
-- steps) no longer counts toward the limit.

create or replace function public.open_ticket(
    p_guild_id text, p_opener_id text, p_opener_name text, p_reason text, p_max_open integer)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    open_ones jsonb;
    new_id    bigint;
begin
    perform pg_advisory_xact_lock(hashtextextended('ticket:' || p_guild_id || ':' || p_opener_id, 0));

    update tickets set status = 'failed', failure = 'abandoned while opening'
    where guild_id = p_guild_id::bigint and opener_id = p_opener_id::bigint
      and status = 'opening' and opened_at < now() - interval '10 minutes';

    select coalesce(jsonb_agg(jsonb_build_object(
               'ticket_id', id, 'channel_id', channel_id::text, 'status', status)
               order by opened_at), '[]'::jsonb)
      into open_ones
    from tickets
    where guild_id = p_guild_id::bigint and opener_id = p_opener_id::bigint
      and status in ('opening', 'open', 'claimed');

    if jsonb_array_length(open_ones) >= greatest(p_max_open, 1) then
        return jsonb_build_object('outcome', 'limit_reached', 'open', open_ones);
    end if;

    insert into tickets (guild_id, opener_id, opener_name, reason, status)
    values (p_guild_id::bigint, p_opener_id::bigint, p_opener_name, coalesce(p_reason, ''), 'opening')
    returning id into new_id;
    return jsonb_build_object('outcome', 'reserved', 'ticket_id', new_id);
end;
$$;

-- A member's tickets that count toward the limit.
create or replace function public.member_open_tickets(p_guild_id text, p_member_id text)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'ticket_id', id, 'channel_id', channel_id::text, 'status', status)
               order by opened_at), '[]'::jsonb)
    from tickets
    where guild_id = p_guild_id::bigint and opener_id = p_member_id::bigint
      and (status in ('open', 'claimed')
           or (status = 'opening' and opened_at >= now() - interval '10 minutes'));
$$;

create or replace function public.attach_ticket_channel(p_ticket_id bigint, p_channel_id text)
returns boolean
language sql
set search_path = public, pg_temp
as $$
    with updated as (
        update tickets set channel_id = p_channel_id::bigint, status = 'open'
        where id = p_ticket_id and status = 'opening'
        returning 1)
    select exists (select 1 from updated);
$$;

create or replace function public.abandon_ticket(p_ticket_id bigint, p_failure text)
returns void
language sql
set search_path = public, pg_temp
as $$
    update tickets set status = 'failed', failure = p_failure
    where id = p_ticket_id and status = 'opening';
$$;

-- A ticket as the worker's state machine reads it.
create or replace function public.ticket_view(t public.tickets)
returns jsonb
language sql
immutable
as $$
    select jsonb_build_object(
        'id', t.id, 'guild_id', t.guild_id::text, 'channel_id', t.channel_id::text,
        'opener_id', t.opener_id::text, 'opener_name', t.opener_name, 'reason', t.reason,
        'status', t.status, 'opened_at', t.opened_at,
        'claimed_by', t.claimed_by::text, 'claimed_at', t.claimed_at,
        'closed_by', t.closed_by::text, 'closed_at', t.closed_at);
$$;

create or replace function public.ticket_by_channel(p_channel_id text)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select ticket_view(t) from tickets t where t.channel_id = p_channel_id::bigint;
$$;

create or replace function public.ticket_by_id(p_ticket_id bigint)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select ticket_view(t) from tickets t where t.id = p_ticket_id;
$$;

-- Claim: only an open ticket; the first claim is the first response.
create or replace function public.claim_ticket(p_ticket_id bigint, p_staff_id text, p_at timestamptz)
returns jsonb
language sql
set search_path = public, pg_temp
as $$
    update tickets t set status = 'claimed', claimed_by = p_staff_id::bigint, claimed_at = p_at,
        first_response_at = coalesce(first_response_at, p_at)
    where id = p_ticket_id and status = 'open'
    returning ticket_view(t);
$$;

-- Close with its transcript, in one transaction; null when it was not open.
create or replace function public.close_ticket(
    p_ticket_id bigint, p_closed_by text, p_at timestamptz, p_transcript jsonb)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    closed jsonb;
begin
    update tickets t set status = 'closed', closed_by = p_closed_by::bigint, closed_at = p_at,
        first_response_at = coalesce(first_response_at,
            case when p_closed_by::bigint <> opener_id then p_at end)
    where id = p_ticket_id and status in ('open', 'claimed')
    returning ticket_view(t) into closed;
    if closed is null then
        return null;
    end if;
    insert into ticket_messages (ticket_id, message_id, author_id, author_name, content, attachments, sent_at)
    select p_ticket_id, (m->>'message_id')::bigint, (m->>'author_id')::bigint, m->>'author_name',
           coalesce(m->>'content', ''), coalesce(m->'attachments', '[]'::jsonb), (m->>'sent_at')::timestamptz
    from jsonb_array_elements(coalesce(p_transcript, '[]'::jsonb)) as m
    on conflict (ticket_id, message_id) do nothing;
    return closed;
end;
$$;

-- Before an AI call: a stored verdict for the same text within the cache
-- window, or whether today's budget is spent.
create or replace function public.audit_precheck(
    p_guild_id text, p_text_hash text, p_cache_hours integer, p_daily_budget_usd numeric, p_now timestamptz)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'cached', (
            select jsonb_build_object('audit_id', a.id, 'verdict', a.verdict, 'reasons', a.reasons,
                                      'suggested_fixes', a.suggested_fixes, 'model', a.model,
                                      'created_at', a.created_at)
            from audits a
            where a.guild_id = p_guild_id::bigint and a.text_hash = p_text_hash and a.status = 'ok'
              and a.created_at > p_now - make_interval(hours => p_cache_hours)
            order by a.created_at desc
            limit 1),
        'spent_today_usd', coalesce((
            select sum(l.cost_usd) from ai_usage_ledger l
            where l.guild_id = p_guild_id::bigint
              and l.created_at >= date_trunc('day', p_now at time zone 'UTC') at time zone 'UTC'
              and l.created_at <= p_now), 0),
        'daily_budget_usd', p_daily_budget_usd);
$$;

-- Record one audit and, when an AI call was made, its ledger row, together.
create or replace function public.record_audit(p_audit jsonb)
returns bigint
language plpgsql
set search_path = public, pg_temp
as $$
declare
    new_id bigint;
begin
    insert into audits (guild_id, requested_by, channel_id, source, text_hash, text_length, verdict,
                        reasons, suggested_fixes, model, input_tokens, output_tokens, cost_usd,
                        status, error)
    values ((p_audit->>'guild_id')::bigint, (p_audit->>'requested_by')::bigint,
            (p_audit->>'channel_id')::bigint, p_audit->>'source', p_audit->>'text_hash',
            (p_audit->>'text_length')::integer, p_audit->>'verdict',
            coalesce(p_audit->'reasons', '[]'::jsonb), coalesce(p_audit->'suggested_fixes', '[]'::jsonb),
            p_audit->>'model', coalesce((p_audit->>'input_tokens')::integer, 0),
            coalesce((p_audit->>'output_tokens')::integer, 0),
            coalesce((p_audit->>'cost_usd')::numeric, 0), p_audit->>'status', p_audit->>'error')
    returning id into new_id;

    if coalesce((p_audit->>'ai_called')::boolean, false) then
        insert into ai_usage_ledger (guild_id, audit_id, model, input_tokens, output_tokens, cost_usd,
                                     succeeded, error_kind)
        values ((p_audit->>'guild_id')::bigint, new_id, coalesce(p_audit->>'model', 'unknown'),
                coalesce((p_audit->>'input_tokens')::integer, 0),
                coalesce((p_audit->>'output_tokens')::integer, 0),
                coalesce((p_audit->>'cost_usd')::numeric, 0),
                p_audit->>'status' = 'ok', p_audit->>'error_kind');
    end if;
    return new_id;
end;
$$;

-- Each member's latest message that scored points: what the per-member
-- message cooldown counts from across batches.
create or replace function public.members_last_scored(p_guild_id text, p_member_ids text[])
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_object_agg(member_id::text, last_at), '{}'::jsonb)
    from (
        select a.member_id, max(a.occurred_at) as last_at
        from activity_logs a
        where a.guild_id = p_guild_id::bigint
          and a.member_id = any (p_member_ids::bigint[])
          and a.kind = 'message' and a.points_value > 0
        group by a.member_id) s;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;

insert into community_meta.schema_migrations (version, name) values
    ('001', 'initial_schema'),
    ('002', 'tickets_and_audits')
on conflict (version) do nothing;
