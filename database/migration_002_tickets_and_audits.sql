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
