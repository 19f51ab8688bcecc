-- Where archived ticket channels go.
--
-- A guild that archives closed tickets (ticket_close_action = 'archive')
-- kept each archived channel in the ticket category, where it went on
-- counting towards Discord's 50 channels per category: after 50 tickets, no
-- new one could open. With ticket_archive_category_id set, an archived
-- channel moves there. Unset, it stays where it was, as before.

alter table public.guild_settings add column if not exists ticket_archive_category_id bigint;

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
        'ticket_archive_category_id', s.ticket_archive_category_id::text,
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

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
