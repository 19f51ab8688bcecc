-- Reaction removals and adds, whatever order they arrive in.
--
-- 1. An add that arrives after its removal (a replay of set-aside batches
--    with `gateway-relay replay-rejected`, which come after newer events)
--    used to stand for good: the removal, stored first, had found nothing to
--    take back. Now the unmatched removal is matched to the add when it
--    arrives, and takes back what it scored, on the add's day, as if they
--    had come in order.
-- 2. A removal that takes nothing back no longer makes its member's day
--    active (it used to add an empty member-day, counted as an active
--    member). It still counts as the member being seen (last_seen_at).
--
-- ingest_events is replaced whole (as of migration 003) with these two
-- changes; `inserted` still counts the events stored by this call only.

-- Finds a reaction's unmatched removals (they leave the index once matched).
create index if not exists activity_logs_unmatched_removals
    on public.activity_logs (message_id, member_id, emoji)
    where kind = 'reaction_remove' and cancels_id is null;

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
    late      record;
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

    -- Adds that arrive after their removal (a replay of set-aside batches,
    -- `gateway-relay replay-rejected`): the removal, stored unmatched, now
    -- takes back what the add scored, on the add's day, as if they had
    -- come in order. In order, a removal takes the latest add before it: so
    -- the newest adds pick first, each the earliest unmatched removal after
    -- it. An add a removal of this batch already took back is spent.
    for r in
        select b.id, b.guild_id, b.member_id, b.member_name, b.channel_id, b.day,
               b.points, b.occurred_at, a.message_id, a.emoji
        from ingest_batch b join activity_logs a on a.id = b.id
        where b.kind = 'reaction_add'
        order by b.occurred_at desc, b.id desc
    loop
        continue when exists (select 1 from activity_logs c where c.cancels_id = r.id);
        select x.id, x.occurred_at into late
        from activity_logs x
        where x.kind = 'reaction_remove' and x.cancels_id is null
          and x.guild_id = r.guild_id and x.member_id = r.member_id
          and x.message_id = r.message_id and x.emoji = r.emoji
          and x.occurred_at >= r.occurred_at
          and not exists (select 1 from ingest_batch y where y.id = x.id)
        order by x.occurred_at, x.id
        limit 1
        for update;
        if late.id is not null then
            update activity_logs set cancels_id = r.id, points_value = -r.points
            where id = late.id;
            insert into ingest_batch values (
                late.id, r.guild_id, r.member_id, r.member_name, r.channel_id, r.day,
                'reaction_remove', -r.points, late.occurred_at);
        end if;
        late := null;
    end loop;

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
    -- (A removal that took nothing back changes no figure, and does not make
    -- a day active.)
    insert into ingest_deltas
    select guild_id, day, member_id,
           count(*) filter (where kind = 'message'),
           count(*) filter (where kind = 'reaction_add')
             - count(*) filter (where kind = 'reaction_remove'),
           sum(points), false
    from ingest_batch
    where kind <> 'reaction_remove_unmatched'
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
    where kind <> 'reaction_remove_unmatched'
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

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
