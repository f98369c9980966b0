-- supagate: sign-out everywhere. Every instance that listens (supagate_postgres::SessionNotifications)
-- is told at once when a session row is deleted (any sign-out, a password change, an admin
-- revoking it) or its not_after changes, and when a user is banned, soft-deleted or deleted;
-- it then forgets its cached liveness answer and asks again on the next request.
-- Run it as a role that owns auth.sessions and auth.users (`postgres` on Supabase). Idempotent.
create schema if not exists supagate;
revoke all on schema supagate from public;

create or replace function supagate.notify_session_change() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_table_name = 'sessions' then
    perform pg_notify('supagate_sessions', old.id::text);
  else
    perform pg_notify('supagate_sessions', 'user:' || old.id::text);
  end if;
  return null;
end
$$;
revoke all on function supagate.notify_session_change() from public;

drop trigger if exists supagate_session_deleted on auth.sessions;
create trigger supagate_session_deleted after delete on auth.sessions
  for each row execute function supagate.notify_session_change();

drop trigger if exists supagate_session_changed on auth.sessions;
create trigger supagate_session_changed after update of not_after on auth.sessions
  for each row when (old.not_after is distinct from new.not_after)
  execute function supagate.notify_session_change();

drop trigger if exists supagate_user_changed on auth.users;
create trigger supagate_user_changed after update of banned_until, deleted_at on auth.users
  for each row when (old.banned_until is distinct from new.banned_until
                     or old.deleted_at is distinct from new.deleted_at)
  execute function supagate.notify_session_change();

drop trigger if exists supagate_user_deleted on auth.users;
create trigger supagate_user_deleted after delete on auth.users
  for each row execute function supagate.notify_session_change();
