-- A closed ticket can say its transcript is not whole.
--
-- A transcript keeps a ticket channel's newest 1,000 messages. A longer
-- ticket lost its oldest messages without a word; now the worker passes a
-- note saying so, kept as the ticket's close_note (shown on the dashboard).
-- Callers that pass no note (a worker not yet updated) close as before.

drop function if exists public.close_ticket(bigint, text, timestamptz, jsonb);

create function public.close_ticket(
    p_ticket_id bigint, p_closed_by text, p_at timestamptz, p_transcript jsonb,
    p_note text default null)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    closed jsonb;
begin
    update tickets t set status = 'closed', closed_by = p_closed_by::bigint, closed_at = p_at,
        close_note = coalesce(p_note, t.close_note),
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

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
