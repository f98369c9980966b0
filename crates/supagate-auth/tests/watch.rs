//! Attacks on `Watch`, the end of an open connection's credential, on tokio's paused clock
//! (virtual time, so that minutes pass in milliseconds) and a `FixedClock` for the verifier.
#![cfg(feature = "watch")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use supagate_auth::live::LiveConnection;
use supagate_auth::{
    Authenticator, BoxFuture, Gate, SessionEnd, SessionKey, SessionLiveness, SessionSource,
    SessionState, SourceUnavailable, Watch,
};
use supagate_jwt::FixedClock;
use supagate_testkit::{TestKeys, TokenBuilder};

const T: i64 = TokenBuilder::DEFAULT_NOW;

/// A session store that counts its questions and the times it was asked about an expired
/// token (by the verifier's clock), and whose sessions can be revoked.
#[derive(Debug, Clone)]
struct Store {
    asked: Arc<AtomicUsize>,
    asked_after_expiry: Arc<AtomicUsize>,
    revoked: Arc<AtomicBool>,
    /// How long an answer takes, in milliseconds of tokio's clock.
    delay_ms: Arc<AtomicU64>,
    clock: FixedClock,
}

impl SessionSource for Store {
    fn session_state<'a>(
        &'a self,
        _session: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if self.clock.now_secs() >= T + 60 {
            self.asked_after_expiry.fetch_add(1, Ordering::SeqCst);
        }
        let revoked = self.revoked.load(Ordering::SeqCst);
        let delay = Duration::from_millis(self.delay_ms.load(Ordering::SeqCst));
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(if revoked {
                SessionState::Ended(SessionEnd::NotFound)
            } else {
                SessionState::Live { not_after: None }
            })
        })
    }
}

trait Now {
    fn now_secs(&self) -> i64;
}

impl Now for FixedClock {
    fn now_secs(&self) -> i64 {
        supagate_jwt::Clock::now(self)
    }
}

struct Setup {
    auth: Authenticator,
    clock: FixedClock,
    store: Store,
    keys: TestKeys,
}

fn setup(ttl: Duration) -> Setup {
    let keys = TestKeys::new();
    let clock = FixedClock::new(T);
    let store = Store {
        asked: Arc::default(),
        asked_after_expiry: Arc::default(),
        revoked: Arc::default(),
        delay_ms: Arc::default(),
        clock: clock.clone(),
    };
    let verifier = keys
        .verifier_builder()
        .clock(clock.clone())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let liveness = SessionLiveness::builder(store.clone())
        .ttl(ttl)
        .build()
        .unwrap();
    let auth = Authenticator::builder(verifier)
        .session_liveness(liveness)
        .build()
        .unwrap();
    Setup {
        auth,
        clock,
        store,
        keys,
    }
}

async fn watch_of(s: &Setup, token: &str) -> Watch {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let admission = Gate::modes(s.auth.clone(), "user".parse().unwrap())
        .decide(&headers)
        .await
        .unwrap();
    Watch::of(&s.auth, &admission, &headers)
}

/// Fifty connections of one session, liveness TTL zero (nothing cached), for ten virtual
/// seconds: the session is asked about once per interval (0.4 s), not fifty times.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn many_connections_of_one_session_ask_about_it_once_per_interval() {
    let s = setup(Duration::ZERO);
    let token = TokenBuilder::new().issued_at(T, 3600).sign_es256(&s.keys);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let watch = watch_of(&s, &token).await;
        tasks.push(tokio::spawn(async move { watch.ended().await }));
    }
    let before = s.store.asked.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let asked = s.store.asked.load(Ordering::SeqCst) - before;
    // 10 s / 0.4 s = 25 intervals (and one more at the edges): not 50 x 25.
    assert!((20..=27).contains(&asked), "asked {asked} times");
    assert!(tasks.iter().all(|t| !t.is_finished()));
    // Revoked: every connection ends, within one interval or two.
    s.store.revoked.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(900)).await;
    for t in tasks {
        assert!(
            t.is_finished(),
            "a connection outlived its session's revocation"
        );
        let refusal = t.await.unwrap();
        assert_eq!(refusal.refusal().status(), 401);
    }
}

/// A token that expires: the session of an expired token is never asked about, and the
/// watch ends with `token expired`, not with the source's verdict on a dead token.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_expired_token_ends_without_asking_about_its_session() {
    let s = setup(Duration::ZERO);
    let token = TokenBuilder::new().issued_at(T, 60).sign_es256(&s.keys);
    let watch = watch_of(&s, &token).await;
    let clock = s.clock.clone();
    // The verifier's clock follows virtual time, a second at a time.
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            clock.advance(1);
        }
    });
    let ended = watch.ended().await;
    ticker.abort();
    assert_eq!(ended.refusal().status(), 401);
    assert_eq!(
        supagate_core::RequestError::description(ended.error()),
        "token expired"
    );
    assert_eq!(s.store.asked_after_expiry.load(Ordering::SeqCst), 0);
}

/// The verifier's clock jumps (a wall-clock step, a host resumed, a test clock moved on): a
/// watch with no liveness, sleeping towards an hour away, sees it within its longest sleep.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_clock_that_jumps_past_the_expiry_ends_the_watch_within_fifteen_seconds() {
    let keys = TestKeys::new();
    let clock = FixedClock::new(T);
    let verifier = keys
        .verifier_builder()
        .clock(clock.clone())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let auth = Authenticator::new(verifier);
    let token = TokenBuilder::new().issued_at(T, 3600).sign_es256(&keys);
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let admission = Gate::modes(auth.clone(), "user".parse().unwrap())
        .decide(&headers)
        .await
        .unwrap();
    let watch = Watch::of(&auth, &admission, &headers);
    let task = tokio::spawn(async move { watch.ended().await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    clock.set(T + 3601);
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(task.is_finished(), "the jump was not seen");
}

/// A renewed watch whose old future is still armed: the new end is what a fresh `ended()`
/// waits for, and a refused token changes nothing.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_refused_renewal_changes_nothing() {
    let s = setup(Duration::from_secs(30));
    let token = TokenBuilder::new().issued_at(T, 120).sign_es256(&s.keys);
    let mut watch = watch_of(&s, &token).await;
    let before = watch.ends_at();
    let forged = {
        let mut t = token.clone().into_bytes();
        let at = t.len() - 20;
        t[at] = if t[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    assert_eq!(
        watch.renew(&forged).await.unwrap_err().refusal().status(),
        401
    );
    let expired = TokenBuilder::new()
        .issued_at(T - 100, 50)
        .sign_es256(&s.keys);
    assert_eq!(
        watch.renew(&expired).await.unwrap_err().refusal().status(),
        401
    );
    let service_role = TokenBuilder::new()
        .issued_at(T, 3600)
        .claim("role", "service_role")
        .sign_es256(&s.keys);
    assert_eq!(
        watch
            .renew(&service_role)
            .await
            .unwrap_err()
            .refusal()
            .status(),
        403
    );
    assert_eq!(watch.ends_at(), before);
    // The session signed out (through the proxy: an invalidation, seen at once whatever
    // the TTL): a fresh token of it is refused too.
    s.auth.session_liveness().unwrap().invalidate_session(
        TokenBuilder::DEFAULT_SESSION,
        TokenBuilder::DEFAULT_SUB.parse().unwrap(),
        T,
    );
    let fresh = TokenBuilder::new().issued_at(T, 3600).sign_es256(&s.keys);
    assert_eq!(
        watch.renew(&fresh).await.unwrap_err().refusal().status(),
        401
    );
    assert_eq!(watch.ends_at(), before);
}

fn presented(token: &str) -> String {
    format!(r#"{{"type":"access_token","access_token":"{token}"}}"#)
}

/// Review finding: a renewal with the token the watch holds made a new `ended()` whose first
/// question came a whole interval later; a client re-presenting its token every second put
/// the question off for ever, and a revoked session stayed open until its token expired.
/// The schedule is the watch's own now: liveness TTL 30 s, the same token every second, the
/// session revoked at 5 s: closed within two TTLs of the admission, as documented (the
/// question due at 30 s may still be answered from the admission's cached answer).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn re_presenting_the_same_token_never_puts_off_the_next_question() {
    let s = setup(Duration::from_secs(30));
    let token = TokenBuilder::new().issued_at(T, 3600).sign_es256(&s.keys);
    let mut live = LiveConnection::new(watch_of(&s, &token).await);
    let start = tokio::time::Instant::now();
    let mut closed = None;
    for second in 0..90 {
        if second == 5 {
            s.store.revoked.store(true, Ordering::SeqCst);
        }
        assert!(live.offer_text(&presented(&token)).unwrap());
        if let Ok(close) = tokio::time::timeout(Duration::from_secs(1), live.closing()).await {
            closed = Some((close, start.elapsed()));
            break;
        }
        s.clock.advance(1);
    }
    let (close, after) = closed.expect("the revoked session's socket was never closed");
    assert_eq!((close.code(), close.reason()), (1008, "session ended"));
    assert!(after <= Duration::from_secs(61), "closed after {after:?}");
}

/// Review finding: a token presented while the last was still being checked replaced it,
/// so a slow liveness source never finished a check (and a token only it would refuse never
/// closed the socket); a question started every second. Now the connection closes.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_token_presented_while_the_last_is_checked_closes_the_connection() {
    let s = setup(Duration::ZERO);
    let token = TokenBuilder::new().issued_at(T, 3600).sign_es256(&s.keys);
    let mut live = LiveConnection::new(watch_of(&s, &token).await);
    s.store.delay_ms.store(5_000, Ordering::SeqCst);
    let fresh = TokenBuilder::new().issued_at(T, 7200).sign_es256(&s.keys);
    assert!(live.offer_text(&presented(&fresh)).unwrap());
    assert!(
        tokio::time::timeout(Duration::from_millis(1_500), live.closing())
            .await
            .is_err(),
        "still being checked"
    );
    let again = TokenBuilder::new().issued_at(T, 7300).sign_es256(&s.keys);
    let close = live.offer_text(&presented(&again)).unwrap_err();
    assert_eq!(
        (close.code(), close.reason()),
        (1008, "too many token renewals")
    );
    assert!(live.is_over());
    // Over: nothing more is the app's, and nothing more closes it.
    assert!(live.offer_text("hello").unwrap());
    assert!(live.closing_now().is_none());
}
