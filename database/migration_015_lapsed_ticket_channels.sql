-- A ticket channel left behind by an interrupted opening is found and removed.
--
-- Opening a ticket reserves a row ('opening'), creates the channel, then
-- attaches it. If the worker's work is cut off between the last two (a
-- Worker's deferred work has 30 s), the channel exists with no row pointing
-- at it. open_ticket already lapses such a reservation to 'failed' after 10
-- minutes, the next time its member opens a ticket; it now also returns the
-- member's lapsed tickets whose channels have not been looked for yet, so
-- the worker can find their channels (by the topic "Ticket #<id> opened by
-- ...") and delete them. Once it has (or found none), it says so with
-- lapsed_channels_checked; until then they are returned again.

alter table public.tickets add column if not exists lapse_checked_at timestamptz;

create or replace function public.open_ticket(
    p_guild_id text, p_opener_id text, p_opener_name text, p_reason text, p_max_open integer)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    open_ones jsonb;
    lapsed    jsonb;
    new_id    bigint;
begin
    perform pg_advisory_xact_lock(hashtextextended('ticket:' || p_guild_id || ':' || p_opener_id, 0));

    update tickets set status = 'failed', failure = 'abandoned while opening'
    where guild_id = p_guild_id::bigint and opener_id = p_opener_id::bigint
      and status = 'opening' and opened_at < now() - interval '10 minutes';

    select coalesce(jsonb_agg(id order by id), '[]'::jsonb) into lapsed
    from tickets
    where guild_id = p_guild_id::bigint and opener_id = p_opener_id::bigint
      and status = 'failed' and failure = 'abandoned while opening'
      and channel_id is null and lapse_checked_at is null;

    select coalesce(jsonb_agg(jsonb_build_object(
               'ticket_id', id, 'channel_id', channel_id::text, 'status', status)
               order by opened_at), '[]'::jsonb)
      into open_ones
    from tickets
    where guild_id = p_guild_id::bigint and opener_id = p_opener_id::bigint
      and status in ('opening', 'open', 'claimed');

    if jsonb_array_length(open_ones) >= greatest(p_max_open, 1) then
        return jsonb_build_object('outcome', 'limit_reached', 'open', open_ones, 'lapsed', lapsed);
    end if;

    insert into tickets (guild_id, opener_id, opener_name, reason, status)
    values (p_guild_id::bigint, p_opener_id::bigint, p_opener_name, coalesce(p_reason, ''), 'opening')
    returning id into new_id;
    return jsonb_build_object('outcome', 'reserved', 'ticket_id', new_id, 'lapsed', lapsed);
end;
$$;

-- The lapsed tickets whose channels the worker has looked for (and deleted
-- any it found): open_ticket no longer returns them.
create or replace function public.lapsed_channels_checked(p_ticket_ids jsonb)
returns void
language sql
set search_path = public, pg_temp
as $$
    update tickets set lapse_checked_at = now()
    where id in (select jsonb_array_elements_text(p_ticket_ids)::bigint)
      and status = 'failed' and lapse_checked_at is null;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
