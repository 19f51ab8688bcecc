-- rebuild_rollups: recompute a guild's rollups from its activity_logs.
--
-- The rollups (member_daily_activity, guild_daily_activity,
-- member_channel_activity, guild_activity_gaps, member_activity_state) are
-- kept at ingest, event by event (ADR 0003). This recomputes them from the
-- events themselves: a reaction removal counts on the day of the add it
-- took back (as stored: which add each removal took back is not decided
-- again), and a removal that took nothing back counts for nothing and
-- makes no day active, as migration 013 counts them (ADR 0010). Run it to
-- repair a guild whose rollups went wrong, or to stop counting the days
-- such removals made active before 013:
--
--     select rebuild_rollups('<guild id>');
--
-- From the SQL editor (as the tables' owner): it is not granted to the
-- API's roles, since it locks activity_logs and the rollups against
-- writes while it runs (every guild's relay batches wait, and are retried
-- if they time out; it gives up after 5 s if it cannot take the lock).
-- The dashboard keeps reading the old figures until it commits.
-- guild_members (names, first and last seen) is not a rollup and is left
-- as it is.

create or replace function public.rebuild_rollups(p_guild_id text)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    g           bigint := p_guild_id::bigint;
    member_days integer;
    members     integer;
begin
    set local lock_timeout = '5s';
    lock table activity_logs, member_daily_activity, guild_daily_activity,
               member_channel_activity, guild_activity_gaps, member_activity_state
        in exclusive mode;

    delete from member_daily_activity where guild_id = g;
    delete from guild_daily_activity where guild_id = g;
    delete from member_channel_activity where guild_id = g;
    delete from guild_activity_gaps where guild_id = g;
    delete from member_activity_state where guild_id = g;

    -- Every event that counts, on the day it counts for.
    if to_regclass('pg_temp.rebuild_events') is not null then
        drop table pg_temp.rebuild_events;
    end if;
    create temp table rebuild_events on commit drop as
    select a.member_id, a.channel_id, a.kind, a.points_value as points,
           (coalesce(c.occurred_at, a.occurred_at) at time zone 'UTC')::date as day
    from activity_logs a
    left join activity_logs c on a.kind = 'reaction_remove' and c.id = a.cancels_id
    where a.guild_id = g
      and not (a.kind = 'reaction_remove' and a.cancels_id is null);

    insert into member_daily_activity (guild_id, day, member_id, messages, reactions, points)
    select g, day, member_id,
           count(*) filter (where kind = 'message'),
           count(*) filter (where kind = 'reaction_add')
             - count(*) filter (where kind = 'reaction_remove'),
           sum(points)
    from rebuild_events
    group by day, member_id;
    get diagnostics member_days = row_count;

    insert into guild_daily_activity (guild_id, day, messages, reactions, points, active_members)
    select g, day, sum(messages), sum(reactions), sum(points), count(*)
    from member_daily_activity
    where guild_id = g
    group by day;

    insert into member_channel_activity (guild_id, member_id, day, channel_id, messages, reactions, points)
    select g, member_id, day, channel_id,
           count(*) filter (where kind = 'message'),
           count(*) filter (where kind = 'reaction_add')
             - count(*) filter (where kind = 'reaction_remove'),
           sum(points)
    from rebuild_events
    group by member_id, day, channel_id;

    insert into guild_activity_gaps (guild_id, day, gap_days, members)
    select g, day, gap::smallint, count(*)
    from (
        select day,
               case when prev is null then 0 else least(day - prev, 366) end as gap
        from (
            select day, lag(day) over (partition by member_id order by day) as prev
            from member_daily_activity
            where guild_id = g) p) d
    group by day, gap;

    -- recent_cum[k]: the member's points (hundredths) through day
    -- last_active_day - k + 1, counted from the start of the 91 days (only
    -- differences mean anything).
    insert into member_activity_state
        (guild_id, member_id, messages, reactions, points, first_active_day,
         last_active_day, active_days, recent_cum)
    with totals as (
        select member_id, sum(messages) as messages, sum(reactions) as reactions,
               sum(points) as points, min(day) as first_day, max(day) as last_day,
               count(*) as active_days
        from member_daily_activity
        where guild_id = g
        group by member_id
    ), grid as (
        select t.member_id, o.off, coalesce((d.points * 100)::integer, 0) as amount
        from totals t
        cross join generate_series(0, 90) as o(off)
        left join member_daily_activity d
               on d.guild_id = g and d.member_id = t.member_id and d.day = t.last_day - o.off
    ), running as (
        select member_id, off,
               sum(amount) over (partition by member_id order by off desc) as cum
        from grid
    ), rings as (
        select member_id, array_agg(cum::integer order by off) as recent_cum
        from running
        group by member_id
    )
    select g, t.member_id, t.messages, t.reactions, t.points, t.first_day, t.last_day,
           t.active_days, r.recent_cum
    from totals t join rings r using (member_id);
    get diagnostics members = row_count;

    return jsonb_build_object('member_days', member_days, 'members', members);
end;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
-- (A later migration's blanket grant gives it back to service_role, which
-- can write every table anyway; revoke it again there.)
revoke execute on function public.rebuild_rollups(text) from service_role;
