//! Shared set-up: a private cluster with the Supabase fixture and the notes table of
//! `examples/backend-rls`, tokens for two users.
#![allow(dead_code)]

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use supagate_auth::Caller;
use supagate_jwt::{FixedClock, Verified, Verifier};
use supagate_testkit::{TestKeys, TestPostgres, TokenBuilder};
use uuid::Uuid;

/// The notes migration of `examples/backend-rls`: RLS policies on `owner = auth.uid()`.
pub(crate) const NOTES: &str =
    include_str!("../../../../examples/backend-rls/migrations/0001_notes.sql");

/// The pre-request function of the tests: it records what it saw, and raises what the
/// request's `x-raise` header asks for; `x-write` makes it write.
pub(crate) const PRE_REQUEST: &str = r"
create table public.pre_request_log (seen text);
grant insert on public.pre_request_log to anon, authenticated;
create function public.check_request() returns void language plpgsql as $$
begin
  perform set_config('app.seen',
    current_user || ' ' || coalesce(auth.uid()::text, '-') || ' ' ||
    current_setting('request.method') || ' ' || current_setting('request.path') || ' ' ||
    coalesce(current_setting('request.headers')::json->>'x-tenant', '-'), true);
  case current_setting('request.headers')::json->>'x-raise'
    when 'banned' then raise sqlstate 'PT403' using message = 'banned';
    when 'slow-down' then raise sqlstate 'PT429' using message = 'slow down';
    when 'exception' then raise exception 'no tenant';
    when 'privilege' then raise sqlstate '42501' using message = 'not for you';
    when 'unique' then raise sqlstate '23505';
    when 'internal' then raise sqlstate 'XX000';
    else null;
  end case;
  if current_setting('request.headers')::json->>'x-write' = 'yes' then
    insert into public.pre_request_log values ('written');
  end if;
end $$;
grant execute on function public.check_request() to anon, authenticated;
";

pub(crate) const ALICE: &str = "0a11ce00-0000-4000-8000-000000000001";
pub(crate) const BOB: &str = "0b0b0000-0000-4000-8000-000000000002";

pub(crate) struct Env {
    pub(crate) pg: TestPostgres,
    pub(crate) keys: TestKeys,
    pub(crate) clock: FixedClock,
    pub(crate) verifier: Verifier,
}

impl Env {
    pub(crate) fn start() -> Env {
        let pg = TestPostgres::start().expect("a private PostgreSQL cluster starts");
        pg.psql(NOTES).expect("the notes migration applies");
        let keys = TestKeys::new();
        let clock = FixedClock::new(TokenBuilder::DEFAULT_NOW);
        let verifier = keys
            .verifier_builder()
            .clock(clock.clone())
            .build()
            .expect("verifier");
        Env {
            pg,
            keys,
            clock,
            verifier,
        }
    }

    /// A pool logging in as `authenticator`, as PostgREST does.
    pub(crate) async fn pool(&self, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&self.pg.url("authenticator"))
            .await
            .expect("authenticator connects")
    }

    /// A privileged pool (the superuser), for `auth.sessions`.
    pub(crate) async fn admin_pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.pg.superuser_url())
            .await
            .expect("superuser connects")
    }

    pub(crate) fn token(&self, user: &str) -> TokenBuilder {
        TokenBuilder::new().claim("sub", user)
    }

    pub(crate) fn verified(&self, token: &TokenBuilder) -> Verified {
        self.verifier
            .verify_payload(&token.sign_es256(&self.keys))
            .expect("the token verifies")
    }

    pub(crate) fn user(&self, user: &str) -> Caller<Verified> {
        Caller::User(self.verified(&self.token(user)))
    }

    /// A user and one session of theirs in `auth.*`.
    pub(crate) fn add_session(&self, user: &str, session: Uuid, extra: &str) {
        self.pg
            .psql(&format!(
                "insert into auth.users (id, email) values ('{user}', 'u@example.com') on conflict do nothing; \
                 insert into auth.sessions (id, user_id, not_after) values ('{session}', '{user}', {extra});"
            ))
            .expect("session row");
    }
}
