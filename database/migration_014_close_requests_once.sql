-- `!close` is acted on once per message, however often the relay delivers it.
--
-- The relay delivers at least once: after an outage it may send a batch
-- again, and its events are then recorded once (activity_logs'
-- idempotency keys). The `!close` messages among them used to be acted on
-- again, unless their ticket was closed by then: a member's refused
-- `!close` was refused twice in the channel, and a staff member's `!close`
-- typed again to retry a channel that could not be removed was ignored.
-- Now the worker claims each `!close` message here first and acts only on
-- the ones it claimed: a message delivered again is skipped whatever became
-- of its ticket, and a new `!close` is always answered.

create table if not exists public.close_requests (
    message_id bigint primary key,
    guild_id   bigint not null,
    channel_id bigint not null,
    user_id    bigint not null,
    claimed_at timestamptz not null default now()
);
alter table public.close_requests enable row level security;

-- The `!close` messages of p_requests (objects with message_id, guild_id,
-- channel_id, user_id) not claimed before: their message ids, as text.
create or replace function public.claim_close_requests(p_requests jsonb)
returns jsonb
language sql
set search_path = public, pg_temp
as $$
    with claimed as (
        insert into close_requests (message_id, guild_id, channel_id, user_id)
        select r.message_id::bigint, r.guild_id::bigint, r.channel_id::bigint, r.user_id::bigint
        from jsonb_to_recordset(p_requests)
             as r(message_id text, guild_id text, channel_id text, user_id text)
        on conflict (message_id) do nothing
        returning message_id
    )
    select coalesce(jsonb_agg(message_id::text order by message_id), '[]'::jsonb) from claimed;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
revoke all on all tables in schema public from anon, authenticated;
grant all on all tables in schema public to service_role;
