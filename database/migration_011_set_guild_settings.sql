-- /settings: staff change their server's settings from Discord.
--
-- Until now a guild's settings were edited in the guild_settings table by
-- hand. set_guild_settings writes what one /settings command asks, in one
-- call, and answers with the settings as they now stand (guild_settings_for).
--
-- p_settings: the values to set, by column (ids as strings). A key that is
--             present sets its column, to null when its value is null.
-- p_reset:    a JSON array of columns to return to their defaults.
-- A key or column that is not a setting raises 22023 and changes nothing;
-- a value the table refuses raises as it does (23514 out of bounds, 23502
-- a null for a setting that must have a value, 22P02 not a number), and
-- changes nothing either. (The worker sends none of these: the core checks
-- every value against the same bounds first.)

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
        'staff_role_id', 'ticket_category_id', 'ticket_archive_category_id',
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
       set (staff_role_id, ticket_category_id, ticket_archive_category_id,
            max_open_tickets, ticket_close_action, message_points,
            reaction_points, message_cooldown_secs, ai_daily_budget_usd,
            audit_cache_hours, updated_at) =
           (select n.staff_role_id, n.ticket_category_id, n.ticket_archive_category_id,
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
