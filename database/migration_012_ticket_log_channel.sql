-- A ticket log channel: where staff read a summary of every closed ticket.
--
-- With ticket_log_channel_id set (/settings ticket-log-channel), closing a
-- ticket posts who opened it and why, who claimed and closed it, and how
-- long its transcript is, in that channel. Unset, nothing is posted, as
-- before. guild_settings_for and set_guild_settings learn the new column.

alter table public.guild_settings add column if not exists ticket_log_channel_id bigint;

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
        'ticket_log_channel_id', s.ticket_log_channel_id::text,
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

create or replace function public.set_guild_settings(
    p_guild_id text,
    p_settings jsonb default '{}',
    p_reset jsonb default '[]'
)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    settable constant text[] := array[
        'staff_role_id', 'ticket_category_id', 'ticket_archive_category_id', 'ticket_log_channel_id',
        'max_open_tickets', 'ticket_close_action', 'message_points',
        'reaction_points', 'message_cooldown_secs', 'ai_daily_budget_usd',
        'audit_cache_hours'];
    v_settings constant jsonb := coalesce(p_settings, '{}');
    v_reset constant jsonb := coalesce(p_reset, '[]');
    unknown text;
    col text;
begin
    if jsonb_typeof(v_settings) <> 'object' or jsonb_typeof(v_reset) <> 'array' then
        raise exception 'set_guild_settings takes an object of settings and an array of columns to reset'
            using errcode = '22023';
    end if;
    select k into unknown
      from (select jsonb_object_keys(v_settings) as k
            union all
            select jsonb_array_elements_text(v_reset)) keys
     where k <> all (settable)
     limit 1;
    if unknown is not null then
        raise exception 'unknown setting: %', unknown using errcode = '22023';
    end if;

    insert into guild_settings (guild_id) values (p_guild_id::bigint)
    on conflict (guild_id) do nothing;

    -- jsonb_populate_record keeps the row's own value for every key that is
    -- absent, so only what was asked changes.
    update guild_settings s
       set (staff_role_id, ticket_category_id, ticket_archive_category_id, ticket_log_channel_id,
            max_open_tickets, ticket_close_action, message_points,
            reaction_points, message_cooldown_secs, ai_daily_budget_usd,
            audit_cache_hours, updated_at) =
           (select n.staff_role_id, n.ticket_category_id, n.ticket_archive_category_id, n.ticket_log_channel_id,
                   n.max_open_tickets, n.ticket_close_action, n.message_points,
                   n.reaction_points, n.message_cooldown_secs, n.ai_daily_budget_usd,
                   n.audit_cache_hours, now()
              from jsonb_populate_record(s, v_settings) n)
     where s.guild_id = p_guild_id::bigint;

    for col in select jsonb_array_elements_text(v_reset) loop
        execute format('update guild_settings set %I = default where guild_id = $1', col)
          using p_guild_id::bigint;
    end loop;

    return guild_settings_for(p_guild_id);
end;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
