//! `backend-rls` as PostgREST runs it, against a private PostgreSQL cluster and the real
//! binary: `GET` routes in read-only transactions, `PRE_REQUEST` called for every caller with
//! its errors mapped as PostgREST maps them, and `SESSION_NOTIFY=1`: two processes with a
//! 30 s liveness cache both refuse a signed-out session at once, and no cached answer is
//! served while the listening connection is down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use backend_common::drive::{Response, Server, request};
use supagate_testkit::{TestKeys, TestPostgres, TokenBuilder};

const ALICE: &str = "0a11ce00-0000-4000-8000-00000000001a";

/// The pre-request function of these tests: raises what `x-test` asks for; `write` writes.
const PRE_REQUEST: &str = r"
create table public.audit (at timestamptz not null default now());
grant insert on public.audit to anon, authenticated;
create function public.pre_request() returns void language plpgsql as $$
begin
  case current_setting('request.headers', true)::json->>'x-test'
    when 'ban' then raise sqlstate 'PT403' using message = 'banned';
    when 'exception' then raise exception 'no tenant';
    when 'privilege' then raise sqlstate '42501';
    when 'write' then insert into public.audit default values;
    else null;
  end case;
end $$;
grant execute on function public.pre_request() to anon, authenticated;
";

struct Env {
    pg: TestPostgres,
    keys: TestKeys,
}

impl Env {
    fn start(setup: &str) -> Env {
        let pg = TestPostgres::start().expect("postgres");
        if !setup.is_empty() {
            pg.psql(setup).unwrap();
        }
        Env {
            pg,
            keys: TestKeys::new(),
        }
    }

    fn server(&self, extra: &[(&str, &str)]) -> Server {
        let (authenticator, admin, jwks) = (
            self.pg.url("authenticator"),
            self.pg.superuser_url(),
            self.keys.jwks_json(),
        );
        let mut env = vec![
            ("SUPABASE_URL", TestKeys::SUPABASE_URL),
            ("SUPABASE_JWKS", jwks.as_str()),
            ("BIND", "127.0.0.1:0"),
            ("DATABASE_URL", authenticator.as_str()),
            ("SESSION_DATABASE_URL", admin.as_str()),
            ("MIGRATION_DATABASE_URL", admin.as_str()),
        ];
        env.extend_from_slice(extra);
        Server::spawn(env!("CARGO_BIN_EXE_backend-rls"), &env)
    }

    fn sign_in(&self, user: &str, session: &str) -> String {
        self.pg
            .psql(&format!(
                "insert into auth.users (id) values ('{user}') on conflict do nothing; \
                 insert into auth.sessions (id, user_id) values ('{session}', '{user}')"
            ))
            .unwrap();
        let token = TokenBuilder::now()
            .claim("sub", user)
            .claim("session_id", session)
            .sign_es256(&self.keys);
        format!("Bearer {token}")
    }
}

fn call(
    server: &Server,
    method: &str,
    bearer: Option<&str>,
    test: Option<&str>,
    body: Option<&str>,
) -> Response {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(b) = bearer {
        headers.push(("authorization", b));
    }
    if let Some(t) = test {
        headers.push(("x-test", t));
    }
    request(
        server.addr,
        method,
        "/notes",
        &headers,
        body.unwrap_or_default().as_bytes(),
    )
}

#[test]
fn reads_are_read_only_and_the_pre_request_function_refuses_as_postgrest_does() {
    let env = Env::start(PRE_REQUEST);
    let server = env.server(&[("PRE_REQUEST", "public.pre_request")]);
    let alice = env.sign_in(ALICE, "5e550000-0000-4000-8000-00000000a001");
    let note = Some(r#"{"body": "hello"}"#);

    // It runs for every caller: signed in and signed out.
    for bearer in [Some(alice.as_str()), None] {
        assert_eq!(call(&server, "GET", bearer, None, None).status, 200);
        let r = call(&server, "GET", bearer, Some("ban"), None);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            !r.body.contains("banned"),
            "the database's message: {}",
            r.body
        );
        assert_eq!(
            call(&server, "GET", bearer, Some("exception"), None).status,
            400
        );
    }
    // 42501: 401 signed out (with the challenge), 403 signed in.
    let r = call(&server, "GET", None, Some("privilege"), None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        call(&server, "GET", Some(&alice), Some("privilege"), None).status,
        403
    );
    // A GET is read-only for the function too (25006: 405); a POST may write.
    let r = call(&server, "GET", Some(&alice), Some("write"), None);
    assert_eq!(r.status, 405, "{}", r.body);
    let r = call(&server, "POST", Some(&alice), Some("write"), note);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        env.pg.psql("select count(*) from audit").unwrap().trim(),
        "1"
    );

    // A function that does not exist stops start-up, naming the variable.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backend-rls"))
        .env_clear()
        .env("SUPABASE_URL", TestKeys::SUPABASE_URL)
        .env("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET)
        .env("DATABASE_URL", env.pg.url("authenticator"))
        .env("SESSION_CHECK", "off")
        .env("PRE_REQUEST", "public.missing")
        .env("BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PRE_REQUEST") && err.contains("no such function"),
        "{err}"
    );
}

/// The 99th percentile of `samples`.
fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99).div_ceil(100) - 1]
}

#[test]
fn two_processes_refuse_a_signed_out_session_at_once() {
    let env = Env::start("");
    let notify = [("SESSION_NOTIFY", "1"), ("SESSION_TTL_SECS", "30")];
    let a = env.server(&notify);
    let b = env.server(&notify);
    // One listening connection per process.
    let listening = || {
        env.pg
            .psql("select count(*) from pg_stat_activity where application_name like '%notify%'")
            .unwrap()
            .trim()
            .to_owned()
    };
    let start = Instant::now();
    while listening() != "2" {
        assert!(start.elapsed() < Duration::from_secs(10), "not listening");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut seen = Vec::new();
    for n in 0..100 {
        let session = format!("5e550000-0000-4000-8000-0000000{n:05}");
        let bearer = env.sign_in(ALICE, &session);
        for s in [&a, &b] {
            assert_eq!(call(s, "GET", Some(&bearer), None, None).status, 200);
        }
        env.pg
            .psql(&format!("delete from auth.sessions where id = '{session}'"))
            .unwrap();
        let deleted = Instant::now();
        for s in [&a, &b] {
            loop {
                let status = call(s, "GET", Some(&bearer), None, None).status;
                if status == 401 {
                    break;
                }
                assert_eq!(status, 200);
                assert!(
                    deleted.elapsed() < Duration::from_secs(1),
                    "sign-out {n} not seen within a second"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        seen.push(deleted.elapsed());
    }
    let median = {
        let mut s = seen.clone();
        s.sort();
        s[s.len() / 2]
    };
    let p99 = p99(&mut seen);
    eprintln!(
        "sign-out seen by both processes: median {median:?}, p99 {p99:?}, max {:?} (100 sign-outs, 30 s cache)",
        seen.last().unwrap()
    );
    assert!(p99 < Duration::from_secs(1));

    // The listening connections killed: a session deleted meanwhile is never a 200, and both
    // listen again by themselves within 20 s.
    let bearer = env.sign_in(ALICE, "5e550000-0000-4000-8000-00000000f001");
    for s in [&a, &b] {
        assert_eq!(call(s, "GET", Some(&bearer), None, None).status, 200);
    }
    env.pg
        .psql(
            "select pg_terminate_backend(pid) from pg_stat_activity \
             where application_name like '%notify%'",
        )
        .unwrap();
    let killed = Instant::now();
    // Gone (a terminated backend takes a moment to exit; a sign-out committed before it
    // did is seen when its process notices the loss, which this waits for).
    while listening() != "0" {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    env.pg
        .psql("delete from auth.sessions where id = '5e550000-0000-4000-8000-00000000f001'")
        .unwrap();
    for s in [&a, &b] {
        let status = call(s, "GET", Some(&bearer), None, None).status;
        assert!(status == 401 || status == 503, "{status}");
    }
    while listening() != "2" {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "not listening again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("listening again after {:?}", killed.elapsed());
    // And sign-outs are heard again.
    let bearer = env.sign_in(ALICE, "5e550000-0000-4000-8000-00000000f002");
    assert_eq!(call(&a, "GET", Some(&bearer), None, None).status, 200);
    env.pg
        .psql("delete from auth.sessions where id = '5e550000-0000-4000-8000-00000000f002'")
        .unwrap();
    let deleted = Instant::now();
    while call(&a, "GET", Some(&bearer), None, None).status != 401 {
        assert!(deleted.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(5));
    }
}
