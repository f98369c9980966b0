//! What a user-scoped transaction costs against a local PostgreSQL, paired in the same run
//! (`target/criterion/paired/`), on one indexed `select` by primary key:
//!
//! - `plain_tx`: `BEGIN`, the `select`, `COMMIT` as the superuser (no RLS): the baseline, three
//!   round trips;
//! - `supagate_rls_tx`: `Rls::begin` (`BEGIN` and one `set_config` statement: role, role
//!   settings, claims, method, path, headers), the same `select` under RLS, `COMMIT`: four;
//! - `hand_written_rls_tx`: what teams write by hand: `BEGIN`, `set local role`, a
//!   `set_config` of the claims, the `select`, `COMMIT`: five;
//! - `plain_tx_one_more_round_trip`: the baseline with a `select 1` more: what one round trip
//!   costs here, the floor of any scoping that is not pipelined with `BEGIN`.
//!
//! - `rls_tx_tokio_postgres`: the same on tokio-postgres and a deadpool-postgres pool of one,
//!   every statement prepared once per connection: `plain_tx` (`BEGIN`, the `select`,
//!   `COMMIT` as the superuser: three round trips, what one writes by hand);
//!   `plain_tx_pipelined` (`BEGIN`, a `select 1` and the `select` in one flight, then
//!   `COMMIT`: two, the floor of a pipelined scope); `hand_written_pipelined_rls_tx` (the
//!   same with `set_config` of the role and the claims in place of `select 1`, as
//!   `authenticator`: RLS applies, nothing else is set); `supagate_pipelined_rls_tx`
//!   (`PgRls::begin_query`: `BEGIN`, the whole scope and the `select` in one flight, then
//!   `COMMIT`: two); `supagate_rls_tx` (`PgRls::begin`, then the `select`, then `COMMIT`:
//!   three);
//!
//! - `liveness_cached`: `Authenticator::admit` with and without session liveness whose answer
//!   is cached (no database involved).
//!
//! A private cluster is started on a free loopback port (Debian's PostgreSQL). Run pinned:
//! `taskset -c 1 cargo bench -p supagate-benches --bench postgres` (the server's processes are
//! not pinned: they share the machine's cores).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::postgres::PgPoolOptions;
use supagate::Authenticator;
use supagate::auth::{
    BoxFuture, Caller, SessionKey, SessionLiveness, SessionSource, SessionState, SourceUnavailable,
};
use supagate::postgres::tokio_pg::PgRls;
use supagate::postgres::{RequestInfo, Rls};
use supagate_benches::paired;
use supagate_testkit::{TestKeys, TestPostgres, TokenBuilder};

const OWNER: &str = "0a11ce00-0000-4000-8000-0000000000be";
const QUERY: &str = "select id, body from notes where id = $1";

fn bench(c: &mut Criterion) {
    let pg = TestPostgres::start().unwrap();
    pg.psql(include_str!(
        "../../examples/backend-rls/migrations/0001_notes.sql"
    ))
    .unwrap();
    // 100 000 notes of 1 000 owners; the benchmarked one is the caller's.
    pg.psql(&format!(
        "insert into notes (owner, body) select case when g % 1000 = 0 then '{OWNER}'::uuid \
         else md5(g::text)::uuid end, 'note ' || g from generate_series(1, 100000) g; analyze notes"
    ))
    .unwrap();
    let id: i64 = pg
        .psql(&format!(
            "select min(id) from notes where owner = '{OWNER}'"
        ))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = |url: String| {
        rt.block_on(
            PgPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                // No ping before each acquire: deadpool's `Fast` recycling checks nothing
                // either, so the two clients pay for the same round trips.
                .test_before_acquire(false)
                .connect(&url),
        )
        .unwrap()
    };
    let superuser = pool(pg.superuser_url());
    let authenticator = pool(pg.url("authenticator"));
    let rls = rt
        .block_on(Rls::builder(authenticator.clone()).build())
        .unwrap();
    let keys = TestKeys::new();
    let verified = keys
        .verifier_at(TokenBuilder::DEFAULT_NOW)
        .verify_payload(&TokenBuilder::new().claim("sub", OWNER).sign_es256(&keys))
        .unwrap();
    let caller = Caller::User(verified);
    let mut headers = http::HeaderMap::new();
    headers.insert("x-request-id", "bench".parse().unwrap());
    let info = RequestInfo::new(&http::Method::GET, "/notes/1", &headers);

    let plain = || {
        rt.block_on(async {
            let mut tx = superuser.begin().await.unwrap();
            let row: (i64, String) = sqlx::query_as(QUERY)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            black_box(row);
        });
    };
    let scoped = || {
        rt.block_on(async {
            let mut tx = rls.begin(&rls.scope(&caller), &info).await.unwrap();
            let row: (i64, String) = sqlx::query_as(QUERY)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            black_box(row);
        });
    };
    let claims = rls.scope(&caller).claims_json().to_owned();
    let by_hand = || {
        rt.block_on(async {
            let mut tx = authenticator.begin().await.unwrap();
            sqlx::query("set local role authenticated")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("select set_config('request.jwt.claims', $1, true)")
                .bind(&claims)
                .execute(&mut *tx)
                .await
                .unwrap();
            let row: (i64, String) = sqlx::query_as(QUERY)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            black_box(row);
        });
    };
    // The floor on this machine: the plain transaction with one more round trip that does
    // nothing (`select 1`).
    let one_more = || {
        rt.block_on(async {
            let mut tx = superuser.begin().await.unwrap();
            sqlx::query("select 1").execute(&mut *tx).await.unwrap();
            let row: (i64, String) = sqlx::query_as(QUERY)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            black_box(row);
        });
    };
    scoped();
    by_hand();
    plain();
    one_more();

    let mut group = c.benchmark_group("rls_tx");
    group.bench_function("plain_tx", |b| b.iter(plain));
    group.bench_function("supagate_rls_tx", |b| b.iter(scoped));
    group.bench_function("hand_written_rls_tx", |b| b.iter(by_hand));
    group.bench_function("plain_tx_one_more_round_trip", |b| b.iter(one_more));
    group.finish();
    paired(
        "rls_tx",
        &[
            ("plain_tx", &plain),
            ("supagate_rls_tx", &scoped),
            ("hand_written_rls_tx", &by_hand),
            ("plain_tx_one_more_round_trip", &one_more),
        ],
        20,
        300,
    );

    // The same on tokio-postgres (a pool of one connection each).
    let deadpool = |url: String| {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        deadpool_postgres::Pool::builder(manager)
            .max_size(1)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .unwrap()
    };
    let superuser = deadpool(pg.superuser_url());
    let pg_rls = rt
        .block_on(PgRls::builder(deadpool(pg.url("authenticator"))).build())
        .unwrap();
    let scope = pg_rls.scope(&caller);
    let plain = || {
        rt.block_on(async {
            let mut client = superuser.get().await.unwrap();
            let statement = client.prepare_cached(QUERY).await.unwrap();
            let tx = client.transaction().await.unwrap();
            let row = tx.query_one(&statement, &[&id]).await.unwrap();
            tx.commit().await.unwrap();
            black_box(row);
        });
    };
    let pipelined = || {
        rt.block_on(async {
            let (tx, rows) = pg_rls
                .begin_query(
                    &scope,
                    &info,
                    QUERY,
                    &[(&id, tokio_postgres::types::Type::INT8)],
                )
                .await
                .unwrap();
            tx.commit().await.unwrap();
            black_box(rows);
        });
    };
    let scoped = || {
        rt.block_on(async {
            let tx = pg_rls.begin(&scope, &info).await.unwrap();
            let statement = tx.prepare_cached(QUERY).await.unwrap();
            let row = tx.query_one(&statement, &[&id]).await.unwrap();
            tx.commit().await.unwrap();
            black_box(row);
        });
    };
    let plain_pipelined = || {
        rt.block_on(async {
            let client = superuser.get().await.unwrap();
            let one = client.prepare_cached("select 1").await.unwrap();
            let select = client.prepare_cached(QUERY).await.unwrap();
            let (begun, nothing, row) = futures_util::future::join3(
                client.batch_execute("BEGIN"),
                client.query(&one, &[]),
                client.query_one(&select, &[&id]),
            )
            .await;
            begun.unwrap();
            nothing.unwrap();
            black_box(row.unwrap());
            client.batch_execute("COMMIT").await.unwrap();
        });
    };
    let by_hand_pool = deadpool(pg.url("authenticator"));
    let by_hand_pipelined = || {
        rt.block_on(async {
            let client = by_hand_pool.get().await.unwrap();
            let scope = client
                .prepare_cached(
                    "select set_config('role', 'authenticated', true), \
                     set_config('request.jwt.claims', $1, true)",
                )
                .await
                .unwrap();
            let select = client.prepare_cached(QUERY).await.unwrap();
            let (begun, scoped, row) = futures_util::future::join3(
                client.batch_execute("BEGIN"),
                client.query(&scope, &[&claims]),
                client.query_one(&select, &[&id]),
            )
            .await;
            begun.unwrap();
            scoped.unwrap();
            black_box(row.unwrap());
            client.batch_execute("COMMIT").await.unwrap();
        });
    };
    plain();
    plain_pipelined();
    by_hand_pipelined();
    pipelined();
    scoped();
    let mut group = c.benchmark_group("rls_tx_tokio_postgres");
    group.bench_function("plain_tx", |b| b.iter(plain));
    group.bench_function("plain_tx_pipelined", |b| b.iter(plain_pipelined));
    group.bench_function("hand_written_pipelined_rls_tx", |b| {
        b.iter(by_hand_pipelined);
    });
    group.bench_function("supagate_pipelined_rls_tx", |b| b.iter(pipelined));
    group.bench_function("supagate_rls_tx", |b| b.iter(scoped));
    group.finish();
    paired(
        "rls_tx_tokio_postgres",
        &[
            ("plain_tx", &plain),
            ("plain_tx_pipelined", &plain_pipelined),
            ("hand_written_pipelined_rls_tx", &by_hand_pipelined),
            ("supagate_pipelined_rls_tx", &pipelined),
            ("supagate_rls_tx", &scoped),
        ],
        20,
        300,
    );
}

/// Every session is live: the source of the cached-path benchmark (never asked once warm).
#[derive(Debug)]
struct AlwaysLive;

impl SessionSource for AlwaysLive {
    fn session_state<'a>(
        &'a self,
        _: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
        Box::pin(async { Ok(SessionState::Live { not_after: None }) })
    }
}

/// What session liveness costs a request when its answer is cached (every request of a
/// session but one per ttl): `Authenticator::admit` of an ES256 user token with and without
/// it, token cache on in both (the warm path of a real service).
fn liveness(c: &mut Criterion) {
    let keys = TestKeys::new();
    let verifier = keys.verifier_at(TokenBuilder::DEFAULT_NOW);
    let plain = Authenticator::new(verifier.clone());
    let live = SessionLiveness::builder(AlwaysLive).build().unwrap();
    let checked = Authenticator::builder(verifier)
        .session_liveness(live)
        .build()
        .unwrap();
    let mut headers = http::HeaderMap::new();
    let token = TokenBuilder::new().sign_es256(&keys);
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let modes: supagate::auth::AuthModes = "user".parse().unwrap();
    let (plain, checked) = (
        supagate::auth::Gate::modes(plain, modes.clone()),
        supagate::auth::Gate::modes(checked, modes),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(checked.decide(&headers)).unwrap();
    let without = || {
        black_box(plain.decide_now(black_box(&headers)).unwrap().unwrap());
    };
    let with = || {
        black_box(checked.decide_now(black_box(&headers)).unwrap().unwrap());
    };
    let mut group = c.benchmark_group("liveness_cached");
    group.bench_function("admit", |b| b.iter(without));
    group.bench_function("admit_with_liveness", |b| b.iter(with));
    group.finish();
    paired(
        "liveness_cached",
        &[("admit", &without), ("admit_with_liveness", &with)],
        500,
        400,
    );
}

criterion_group!(benches, bench, liveness);
criterion_main!(benches);
