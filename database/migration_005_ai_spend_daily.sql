-- Each guild's AI spend per day, kept up to date as the ledger is written.
--
-- Before every AI call, audit_begin checks the guild's spend today against
-- its daily budget. It used to sum today's ledger rows, so every audit read
-- every AI call the guild had made that day: the busier the day, the dearer
-- each check. 12,000 audits into a day, that sum cost about 2 ms of database
-- CPU per audit, more than the rest of the audit's database work
-- (bench/README.md, eighth round).
--
-- Now one row per guild and UTC day holds the running total. Statement-level
-- triggers on the ledger keep it, whatever writes the ledger (record_audit,
-- the seed, a correction by hand), and the check reads that one row.
-- The cost ledger on the dashboard still reads the ledger itself: it shows
-- calls, failures and tokens per model, for the days asked.

create table public.ai_spend_daily (
    guild_id bigint not null,
    day      date not null,
    cost_usd numeric(14, 6) not null default 0,
    primary key (guild_id, day)
);
alter table public.ai_spend_daily enable row level security;

-- Adds the cost of the statement's new rows and takes away that of its old
-- ones (an update does both), per guild and UTC day.
create or replace function public.ai_spend_daily_apply()
returns trigger
language plpgsql
set search_path = public, pg_temp
as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        insert into ai_spend_daily as d (guild_id, day, cost_usd)
        select o.guild_id, (o.created_at at time zone 'UTC')::date, -sum(o.cost_usd)
        from old_rows o
        group by 1, 2
        on conflict (guild_id, day) do update set cost_usd = d.cost_usd + excluded.cost_usd;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into ai_spend_daily as d (guild_id, day, cost_usd)
        select n.guild_id, (n.created_at at time zone 'UTC')::date, sum(n.cost_usd)
        from new_rows n
        group by 1, 2
        on conflict (guild_id, day) do update set cost_usd = d.cost_usd + excluded.cost_usd;
    end if;
    return null;
end;
$$;

create trigger ai_spend_daily_on_insert
    after insert on public.ai_usage_ledger
    referencing new table as new_rows
    for each statement execute function public.ai_spend_daily_apply();
create trigger ai_spend_daily_on_update
    after update on public.ai_usage_ledger
    referencing old table as old_rows new table as new_rows
    for each statement execute function public.ai_spend_daily_apply();
create trigger ai_spend_daily_on_delete
    after delete on public.ai_usage_ledger
    referencing old table as old_rows
    for each statement execute function public.ai_spend_daily_apply();

-- Emptying the ledger empties the totals.
create or replace function public.ai_spend_daily_clear()
returns trigger
language plpgsql
set search_path = public, pg_temp
as $$
begin
    truncate ai_spend_daily;
    return null;
end;
$$;

create trigger ai_spend_daily_on_truncate
    after truncate on public.ai_usage_ledger
    for each statement execute function public.ai_spend_daily_clear();

-- What the ledger holds so far. Creating the triggers above locked the
-- ledger against writes until this migration commits (the runner applies
-- each file in one transaction), so no row is missed or counted twice.
insert into public.ai_spend_daily (guild_id, day, cost_usd)
select l.guild_id, (l.created_at at time zone 'UTC')::date, sum(l.cost_usd)
from public.ai_usage_ledger l
group by 1, 2;

-- The same answer as before, with today's spend read from the totals.
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
            select d.cost_usd from ai_spend_daily d
            where d.guild_id = p_guild_id::bigint
              and d.day = (p_now at time zone 'UTC')::date), 0),
        'daily_budget_usd', p_daily_budget_usd);
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
revoke all on all tables in schema public from anon, authenticated;
grant all on all tables in schema public to service_role;
