-- Sign-in attempts are counted before the password is checked.
--
-- The dashboard checked a client's allowance (login_gate), then the
-- password, then counted a failure (login_failed): three steps, so a burst
-- of attempts sent at once all passed the check before the first failure
-- was counted, and tried as many passwords as the burst was long. Now each
-- attempt is counted as it begins, under the client's row lock: a burst is
-- counted one attempt after another, and none past the limit is let
-- through, whatever its password. A successful sign-in clears the count
-- (login_succeeded, as before); a wrong password is logged, and blocks the
-- client when it used the last attempt (login_refused).
-- login_gate and login_failed stay for workers not yet updated.

create or replace function public.login_begin(
    p_client text, p_now timestamptz, p_max_failures integer default 5,
    p_window_secs integer default 900, p_block_secs integer default 900)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    attempt login_attempts;
begin
    -- forget clients quiet for a day
    delete from login_attempts
    where window_started_at < p_now - interval '1 day'
      and (blocked_until is null or blocked_until < p_now);

    insert into login_attempts as a (client, failures, window_started_at)
    values (p_client, 1, p_now)
    on conflict (client) do update set
        failures = case
            when a.blocked_until > p_now then a.failures
            when a.window_started_at < p_now - make_interval(secs => p_window_secs) then 1
            else a.failures + 1 end,
        window_started_at = case
            when a.blocked_until > p_now then a.window_started_at
            when a.window_started_at < p_now - make_interval(secs => p_window_secs) then p_now
            else a.window_started_at end
    returning * into attempt;

    if attempt.blocked_until > p_now then
        return jsonb_build_object(
            'allowed', false,
            'retry_after_secs', greatest(ceil(extract(epoch from attempt.blocked_until - p_now)), 0)::integer);
    end if;
    if attempt.failures > p_max_failures then
        update login_attempts set blocked_until = p_now + make_interval(secs => p_block_secs),
                                  failures = 0, window_started_at = p_now
        where client = p_client
        returning * into attempt;
        insert into app_logs (level, source, message, fields)
        values ('warn', 'dashboard-worker', 'dashboard sign-in refused; client blocked',
                jsonb_build_object('client', p_client, 'blocked_until', attempt.blocked_until));
        return jsonb_build_object('allowed', false, 'retry_after_secs', p_block_secs);
    end if;
    return jsonb_build_object('allowed', true, 'retry_after_secs', 0);
end;
$$;

-- A wrong password (the attempt was already counted by login_begin): logged,
-- and the client is blocked when this was the last attempt its allowance
-- had, so it is told at once (as login_failed did).
create or replace function public.login_refused(
    p_client text, p_now timestamptz, p_max_failures integer default 5,
    p_block_secs integer default 900)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    attempt login_attempts;
begin
    update login_attempts
    set blocked_until = case when failures >= p_max_failures
                             then p_now + make_interval(secs => p_block_secs) end,
        failures = case when failures >= p_max_failures then 0 else failures end,
        window_started_at = case when failures >= p_max_failures then p_now
                                 else window_started_at end
    where client = p_client and (blocked_until is null or blocked_until <= p_now)
    returning * into attempt;

    insert into app_logs (level, source, message, fields)
    values ('warn', 'dashboard-worker',
            case when attempt.blocked_until > p_now then 'failed dashboard login; client blocked'
                 else 'failed dashboard login' end,
            jsonb_build_object('client', p_client, 'blocked_until', attempt.blocked_until));

    return jsonb_build_object(
        'blocked', coalesce(attempt.blocked_until > p_now, false),
        'retry_after_secs', coalesce(greatest(ceil(extract(epoch from attempt.blocked_until - p_now)), 0)::integer, 0));
end;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
