-- supagate: sign-out everywhere. Every instance that listens (supagate_postgres::SessionNotifications)
-- is told at once when a session row is deleted (any sign-out, a password change, an admin
-- revoking it) or its not_after changes, when the table is emptied, and when a user is banned,
-- soft-deleted or deleted; it then forgets its cached liveness answers and asks again on the
-- next request.
--
-- Run it as a role that may create triggers on auth.sessions and auth.users (`postgres` on
-- Supabase, which owns neither table: so nothing here drops or replaces a trigger, which only
-- the owner may do). Idempotent: a trigger that exists already is left as it is.
create schema if not exists supagate;
revoke all on schema supagate from public;

-- Security invoker: pg_notify needs no privilege, and a trigger's function is not checked for
-- EXECUTE when it fires.
create or replace function supagate.notify_session_change() returns trigger
language plpgsql set search_path = '' as $$
begin
  if tg_level = 'STATEMENT' then
    perform pg_notify('supagate_sessions', 'all');
  elsif tg_table_name = 'sessions' then
    perform pg_notify('supagate_sessions', old.id::text);
  else
    perform pg_notify('supagate_sessions', 'user:' || old.id::text);
  end if;
  return null;
end
$$;
revoke all on function supagate.notify_session_change() from public;

do $$
declare
  t record;
begin
  for t in select * from (values
    ('supagate_session_deleted', 'auth.sessions',
     'after delete on auth.sessions for each row execute function supagate.notify_session_change()'),
    ('supagate_session_changed', 'auth.sessions',
     'after update of not_after on auth.sessions for each row when (old.not_after is distinct from new.not_after) execute function supagate.notify_session_change()'),
    ('supagate_sessions_emptied', 'auth.sessions',
     'after truncate on auth.sessions for each statement execute function supagate.notify_session_change()'),
    ('supagate_user_changed', 'auth.users',
     'after update of banned_until, deleted_at on auth.users for each row when (old.banned_until is distinct from new.banned_until or old.deleted_at is distinct from new.deleted_at) execute function supagate.notify_session_change()'),
    ('supagate_user_deleted', 'auth.users',
     'after delete on auth.users for each row execute function supagate.notify_session_change()')
  ) as v(name, tab, body) loop
    if not exists (select 1 from pg_catalog.pg_trigger
                   where tgname = t.name and tgrelid = t.tab::regclass) then
      execute format('create trigger %I %s', t.name, t.body);
    end if;
  end loop;
end
$$;
