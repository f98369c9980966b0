//! Starts the `backend-rls` binary against a private PostgreSQL cluster and drives the notes
//! API over HTTP: who sees what is decided by the RLS policies alone; a signed-out session
//! ends at once; the database down is 503.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use backend_common::drive::{Response, Server, request};
use serde_json::{Value, json};
use supagate_testkit::{TestKeys, TestPostgres, TokenBuilder};

const ALICE: &str = "0a11ce00-0000-4000-8000-00000000000a";
const BOB: &str = "0b0b0000-0000-4000-8000-00000000000b";

struct Env {
    pg: TestPostgres,
    keys: TestKeys,
    server: Server,
}

impl Env {
    fn start(extra: &[(&str, &str)]) -> Env {
        let pg = TestPostgres::start().expect("postgres");
        let keys = TestKeys::new();
        let (authenticator, admin, jwks) = (
            pg.url("authenticator"),
            pg.superuser_url(),
            keys.jwks_json(),
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
        let server = Server::spawn(env!("CARGO_BIN_EXE_backend-rls"), &env);
        Env { pg, keys, server }
    }

    /// A signed-in user with a live session row; their bearer header value.
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

    fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(b) = bearer {
            headers.push(("authorization", b));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        request(self.server.addr, method, path, &headers, body.as_bytes())
    }
}

fn bodies(r: &Response) -> Vec<String> {
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn notes_are_private_by_policy_and_sessions_end_when_signed_out() {
    let env = Env::start(&[("SESSION_TTL_SECS", "0")]);
    let alice = env.sign_in(ALICE, "5e550000-0000-4000-8000-0000000000a1");
    let bob = env.sign_in(BOB, "5e550000-0000-4000-8000-0000000000b1");

    let r = env.call(
        "POST",
        "/notes",
        Some(&alice),
        Some(json!({"body": "alice private"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let private = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["owner"], ALICE);
    let r = env.call(
        "POST",
        "/notes",
        Some(&alice),
        Some(json!({"body": "alice public", "public": true})),
    );
    assert_eq!(r.status, 201);
    let r = env.call(
        "POST",
        "/notes",
        Some(&bob),
        Some(json!({"body": "it's \"bob's\" \\ note'); drop table notes; --"})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["body"],
        "it's \"bob's\" \\ note'); drop table notes; --"
    );

    assert_eq!(
        bodies(&env.call("GET", "/notes", Some(&alice), None)),
        ["alice public", "alice private"]
    );
    assert_eq!(
        bodies(&env.call("GET", "/notes", Some(&bob), None)),
        [
            "it's \"bob's\" \\ note'); drop table notes; --",
            "alice public"
        ]
    );
    assert_eq!(
        bodies(&env.call("GET", "/notes", None, None)),
        ["alice public"]
    );
    // Bob cannot read or delete Alice's private note: to him it does not exist.
    let path = format!("/notes/{private}");
    assert_eq!(env.call("GET", &path, Some(&bob), None).status, 404);
    assert_eq!(env.call("GET", &path, None, None).status, 404);
    assert_eq!(env.call("DELETE", &path, Some(&bob), None).status, 404);
    assert_eq!(env.call("GET", &path, Some(&alice), None).status, 200);
    // Signed out: no writes; a bad token is refused, never read as "signed out".
    assert_eq!(
        env.call("POST", "/notes", None, Some(json!({"body": "x"})))
            .status,
        401
    );
    assert_eq!(
        env.call("GET", "/notes", Some("Bearer not.a.token"), None)
            .status,
        401
    );
    // A token claiming service_role is not a user (the base policy), and never that role.
    let service = TokenBuilder::now()
        .claim("sub", BOB)
        .claim("role", "service_role")
        .sign_es256(&env.keys);
    assert_eq!(
        env.call("GET", "/notes", Some(&format!("Bearer {service}")), None)
            .status,
        403
    );
    // A note the check constraint refuses: 400, not 500.
    assert_eq!(
        env.call("POST", "/notes", Some(&alice), Some(json!({"body": ""})))
            .status,
        400
    );

    assert_eq!(env.call("DELETE", &path, Some(&alice), None).status, 204);
    assert_eq!(env.call("GET", &path, Some(&alice), None).status, 404);

    // Alice signs out (GoTrue deletes her session row): her unexpired token stops working.
    env.pg
        .psql(&format!(
            "delete from auth.sessions where user_id = '{ALICE}'"
        ))
        .unwrap();
    let r = env.call("GET", "/notes", Some(&alice), None);
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(env.call("GET", "/notes", Some(&bob), None).status, 200);
    // A time-boxed session past its not_after.
    env.pg
        .psql(&format!("update auth.sessions set not_after = now() - interval '1 minute' where user_id = '{BOB}'"))
        .unwrap();
    assert_eq!(env.call("GET", "/notes", Some(&bob), None).status, 401);
}

#[test]
fn the_database_down_is_503_not_200() {
    let mut env = Env::start(&[]);
    let alice = env.sign_in(ALICE, "5e550000-0000-4000-8000-0000000000a2");
    assert_eq!(env.call("GET", "/notes", Some(&alice), None).status, 200);
    assert_eq!(env.call("GET", "/notes", None, None).status, 200);
    env.pg.stop();
    // Alice's session was checked less than 30 s ago; her transaction cannot begin.
    let r = env.call("GET", "/notes", Some(&alice), None);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert_eq!(env.call("GET", "/notes", None, None).status, 503);
    // A session not seen before cannot be checked: 503, not admitted.
    let token = TokenBuilder::now()
        .claim("sub", ALICE)
        .claim("session_id", "5e550000-0000-4000-8000-0000000000a3")
        .sign_es256(&env.keys);
    assert_eq!(
        env.call("GET", "/notes", Some(&format!("Bearer {token}")), None)
            .status,
        503
    );
}

/// Review finding: a `\u0000` in a note's body or in a claim gave 500 and an error log.
/// Postgres text and jsonb cannot hold it: the client's value is refused with 400.
#[test]
fn a_nul_character_is_the_clients_400_not_a_500() {
    let env = Env::start(&[]);
    let alice = env.sign_in(ALICE, "5e550000-0000-4000-8000-0000000000a4");
    let r = env.call(
        "POST",
        "/notes",
        Some(&alice),
        Some(json!({"body": "before\u{0}after"})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_input", "{}", r.body);
    assert!(!r.body.contains("before"), "no value echoed: {}", r.body);
    let r = env.call(
        "POST",
        "/notes",
        Some(&alice),
        Some(json!({"body": "mine"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // A claim the token carries (user_metadata is the user's to write): the policies that
    // read auth.uid() cast the claims to jsonb, which cannot hold it.
    let token = TokenBuilder::now()
        .claim("sub", ALICE)
        .claim("session_id", "5e550000-0000-4000-8000-0000000000a4")
        .claim("user_metadata", json!({"name": "nul\u{0}name"}))
        .sign_es256(&env.keys);
    let r = env.call("GET", "/notes", Some(&format!("Bearer {token}")), None);
    assert_eq!(r.status, 400, "{}", r.body);
    // The service is fine afterwards.
    assert_eq!(env.call("GET", "/notes", Some(&alice), None).status, 200);
}

/// Review finding: a database that stopped while a query ran gave 500 without `Retry-After`
/// (the example mapped two SQLSTATEs itself). 57P01 is the database going away: 503.
#[test]
fn a_database_that_goes_away_mid_query_is_503_with_retry_after() {
    let env = Env::start(&[("SESSION_CHECK", "off")]);
    let alice = env.sign_in(ALICE, "5e550000-0000-4000-8000-0000000000a5");
    assert_eq!(env.call("GET", "/notes", Some(&alice), None).status, 200);
    std::thread::scope(|s| {
        // Another session holds the table, so the request's query waits inside the database.
        let locker = s.spawn(|| {
            env.pg.psql(
                "begin; lock table notes in access exclusive mode; select pg_sleep(4); commit",
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(400));
        let call = s.spawn(|| env.call("GET", "/notes", Some(&alice), None));
        // The server ends the waiting backend (what a shutdown or a failover does).
        let mut ended = String::new();
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            ended = env
                .pg
                .psql(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity \
                     where usename = 'authenticator' and wait_event_type = 'Lock'",
                )
                .unwrap();
            if ended.trim() != "0" {
                break;
            }
        }
        assert_eq!(ended.trim(), "1", "the request's query was waiting");
        let r = call.join().unwrap();
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.header("retry-after"), Some("1"));
        let _ = locker.join();
    });
    // A new connection serves the next request.
    assert_eq!(env.call("GET", "/notes", Some(&alice), None).status, 200);
}

#[test]
fn bad_configuration_stops_start_up() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backend-rls"))
        .env_clear()
        .env("SUPABASE_URL", TestKeys::SUPABASE_URL)
        .env("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_URL is required"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backend-rls"))
        .env_clear()
        .env(
            "DATABASE_URL",
            "postgres://authenticator@127.0.0.1:9/postgres",
        )
        .env("SUPABASE_URL", TestKeys::SUPABASE_URL)
        .env("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET)
        .env("SESSION_CHECK", "sometimes")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SESSION_CHECK: `sometimes` is not db, auth or off"),
        "{err}"
    );
    // The default session check on a pool that cannot read auth.sessions: a clear start-up
    // error, not a 503 on every signed-in request.
    let pg = TestPostgres::start().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backend-rls"))
        .env_clear()
        .env("SUPABASE_URL", TestKeys::SUPABASE_URL)
        .env("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET)
        .env("DATABASE_URL", pg.url("authenticator"))
        .env("BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read auth.sessions"), "{err}");
}
