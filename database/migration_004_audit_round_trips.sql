-- An audit in two round trips to the database instead of five or more.
--
-- Every request the interactions worker makes to PostgREST is a subrequest:
-- time on the wire in production, CPU in the worker's runtime, one of the
-- plan's limited subrequests per invocation. An audit used to read the
-- guild's settings, then the cache and the day's spend, then record the
-- audit and its ledger row, then append each log line on its own. Now:
--
-- * audit_begin: the settings (defaults when the guild has none), a stored
--   verdict for the same text within the guild's cache window, and today's
--   spend against the guild's budget, in one call;
-- * finish_audit: the audit, its ledger row when an AI call was made, and
--   the log lines the audit produced, in one transaction.
--
-- audit_precheck and record_audit stay (both are used here, and a worker
-- still on the previous version keeps calling them during a deploy).

create or replace function public.audit_begin(p_guild_id text, p_text_hash text, p_now timestamptz)
returns jsonb
language sql
stable
set search_path = public, pg_temp
as $$
    select public.audit_precheck(
        p_guild_id, p_text_hash,
        (s->>'audit_cache_hours')::integer, (s->>'ai_daily_budget_usd')::numeric, p_now)
    from public.guild_settings_for(p_guild_id) as s;
$$;

-- p_logs: [{"level": "...", "source": "...", "message": "...", "fields": {...}}, ...]
create or replace function public.finish_audit(p_audit jsonb, p_logs jsonb)
returns bigint
language plpgsql
set search_path = public, pg_temp
as $$
declare
    new_id bigint;
begin
    new_id := public.record_audit(p_audit);
    insert into app_logs (level, source, message, fields)
    select l->>'level', l->>'source', l->>'message', coalesce(l->'fields', '{}'::jsonb)
    from jsonb_array_elements(coalesce(p_logs, '[]'::jsonb)) as l;
    return new_id;
end;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
