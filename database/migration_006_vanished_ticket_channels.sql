-- Tickets whose channel was deleted by hand.
--
-- A ticket stays open until it is closed from its channel (the buttons,
-- /close, !close). If someone deletes the channel in Discord instead, the
-- ticket was left open with nowhere to close it from, and it went on
-- counting against its member's open-ticket limit: "Open ticket" answered
-- with a link to a channel that no longer exists, for good.
--
-- Now, when a member at the limit clicks "Open ticket", the interactions
-- worker asks Discord whether each of their open tickets' channels still
-- exists, and closes those whose channel is gone with this function, with a
-- note saying why and when it was noticed, and no transcript (the messages
-- went with the channel). Nobody closed it through the bot and nobody knows
-- when the channel went, so closed_by and closed_at stay empty: the ticket
-- counts as closed, but not towards anyone's handled tickets or the
-- resolution times on the dashboard. It was no response to the member
-- either, so the first response time is left as it was.

create or replace function public.close_vanished_ticket(
    p_ticket_id bigint, p_channel_id text, p_note text)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    closed jsonb;
begin
    update tickets t set status = 'closed', closed_by = null, closed_at = null,
        close_note = p_note
    where id = p_ticket_id and channel_id = p_channel_id::bigint and status in ('open', 'claimed')
    returning ticket_view(t) into closed;
    return closed;
end;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
