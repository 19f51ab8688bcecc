-- What the scoring endpoint needs to score a relay batch, in one call.
--
-- For each guild in a batch it read the guild's settings, and then, where
-- the guild has a message cooldown, when each of the batch's members last
-- scored: one or two round trips per guild. A batch spanning many guilds
-- made so many that a Worker on Cloudflare's free plan (50 subrequests per
-- request) failed it every time, and the relay retried it for ever. Now one
-- call answers for every guild of the batch.
--
-- p_guilds: [{"guild_id": "...", "member_ids": ["...", ...]}, ...]
-- returns, in the same order: [{"settings": <guild_settings_for>,
--   "last_scored": {"<member id>": "<time>", ...}}, ...], last_scored empty
--   for a guild without a cooldown.

create or replace function public.scoring_context(p_guilds jsonb)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'settings', s.settings,
               'last_scored', case
                   when (s.settings->>'message_cooldown_secs')::integer > 0
                   then members_last_scored(
                       g.value->>'guild_id',
                       array(select jsonb_array_elements_text(g.value->'member_ids')))
                   else '{}'::jsonb end)
               order by g.ordinality), '[]'::jsonb)
    from jsonb_array_elements(coalesce(p_guilds, '[]'::jsonb)) with ordinality as g(value, ordinality)
    cross join lateral (select guild_settings_for(g.value->>'guild_id') as settings) s;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
