-- Names, and a page, for members known only from tickets and audits.
--
-- guild_members is filled by the relay from messages and reactions, so a
-- member who opened a ticket or asked for an audit but never posted had no
-- member page (member_profile answered null: the dashboard's links to them
-- led to "not found"), and the ticket page named its claimer and closer by
-- id where the tickets list named them. Both now fall back on what tickets
-- themselves recorded: the opener's name, and the names on the transcript.

-- For participant_name: a member's latest transcript message, without
-- reading every transcript of the guild.
create index ticket_messages_author on public.ticket_messages (author_id, sent_at desc);

-- The name a ticket's participant goes by: their member row, else the name
-- on their latest message in the guild's transcripts, else the name they
-- opened a ticket under.
create or replace function public.participant_name(p_guild_id bigint, p_member_id bigint)
returns text
language sql
stable
set search_path = public, pg_temp
as $$
    select coalesce(
        (select display_name from guild_members
         where guild_id = p_guild_id and member_id = p_member_id),
        (select m.author_name from ticket_messages m join tickets t on t.id = m.ticket_id
         where t.guild_id = p_guild_id and m.author_id = p_member_id and m.author_name <> ''
         order by m.sent_at desc limit 1),
        (select opener_name from tickets
         where guild_id = p_guild_id and opener_id = p_member_id and opener_name <> ''
         order by opened_at desc limit 1));
$$;

-- One ticket of the guild and its transcript, oldest message first; null
-- when the guild has no such ticket. Names its opener, claimer and closer.
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
            'opener_display_name', coalesce(nullif(t.opener_name, ''),
                                            participant_name(t.guild_id, t.opener_id)),
            'claimed_by_name', participant_name(t.guild_id, t.claimed_by),
            'closed_by_name', participant_name(t.guild_id, t.closed_by)),
        'messages', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'message_id', m.message_id::text, 'author_id', m.author_id::text,
                       'author_name', m.author_name, 'content', m.content,
                       'attachments', m.attachments, 'sent_at', m.sent_at)
                       order by m.sent_at, m.message_id), '[]'::jsonb)
            from ticket_messages m where m.ticket_id = t.id))
    from tickets t
    where t.id = p_ticket_id and t.guild_id = p_guild_id::bigint;
$$;

-- One member: who they are, their daily scores and activity by channel over
-- [p_from, p_to], and the tickets and audits involving them. Null when the
-- guild has never seen them: not in a message, a reaction, a ticket or an
-- audit.
create or replace function public.member_profile(
    p_guild_id text, p_member_id text, p_from date, p_to date)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    with who as (
        select p_guild_id::bigint as g, p_member_id::bigint as m
    ), tickets_of as (
        select t.* from tickets t, who
        where t.guild_id = who.g
          and (t.opener_id = who.m or t.claimed_by = who.m or t.closed_by = who.m)
    ), audits_of as (
        select a.* from audits a, who
        where a.guild_id = who.g and a.requested_by = who.m
        order by a.created_at desc limit 100
    )
    select case when m.member_id is null and s.member_id is null
                     and not exists (select 1 from tickets_of)
                     and not exists (select 1 from audits_of)
                then null else jsonb_build_object(
        'member_id', p_member_id,
        'display_name', coalesce(m.display_name, participant_name(who.g, who.m)),
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
            from tickets_of t),
        'audits', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'id', a.id, 'created_at', a.created_at, 'verdict', a.verdict,
                       'status', a.status, 'source', a.source, 'reasons', a.reasons)
                       order by a.created_at desc), '[]'::jsonb)
            from audits_of a))
    end
    from who
    left join guild_members m on m.guild_id = who.g and m.member_id = who.m
    left join member_activity_state s on s.guild_id = who.g and s.member_id = who.m;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
revoke execute on function public.rebuild_rollups(text) from service_role;
