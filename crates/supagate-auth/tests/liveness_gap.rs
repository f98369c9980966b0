//! Review finding: a request that came after a sign-out was forgotten (a notification, a
//! paused cache) joined a question asked before it, and took its old "live" answer. A
//! question under way is now shared only by requests that came before the next
//! invalidation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use supagate_auth::{
    AuthError, BoxFuture, SessionEnd, SessionKey, SessionLiveness, SessionSource, SessionState,
    SourceUnavailable,
};
use supagate_testkit::{TestKeys, TokenBuilder};
use uuid::Uuid;

/// Answers after 200 ms what the session was when it was asked.
#[derive(Debug, Clone, Default)]
struct Slow(Arc<AtomicBool>);

impl SessionSource for Slow {
    fn session_state<'a>(
        &'a self,
        _: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
        let ended = self.0.load(Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(if ended {
                SessionState::Ended(SessionEnd::NotFound)
            } else {
                SessionState::Live { not_after: None }
            })
        })
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_after_a_forget_never_takes_an_answer_asked_before_it() {
    let keys = TestKeys::new();
    let verifier = keys.verifier_at(TokenBuilder::DEFAULT_NOW);
    let session = Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0001);
    let token = TokenBuilder::new()
        .claim("session_id", session.to_string())
        .sign_es256(&keys);
    let claims = verifier.verify(&token).unwrap();
    let source = Slow::default();
    for forget in [
        (|l: &SessionLiveness, s: Uuid| l.forget_session(s)) as fn(&SessionLiveness, Uuid),
        |l, _| l.forget_all(),
        |l, _| l.pause_cache(),
    ] {
        source.0.store(false, Ordering::SeqCst);
        let liveness = SessionLiveness::builder(source.clone())
            .ttl(Duration::from_secs(30))
            .build()
            .unwrap();
        let now = TokenBuilder::DEFAULT_NOW;
        let before = {
            let (l, c, t) = (liveness.clone(), claims.clone(), token.clone());
            tokio::spawn(async move { l.check(&c, &t, now).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Signed out while the first question is on its way; the notification comes.
        source.0.store(true, Ordering::SeqCst);
        forget(&liveness, session);
        let after = liveness.check(&claims, &token, now).await;
        assert!(
            matches!(after, Err(AuthError::SessionRevoked { .. })),
            "{after:?}"
        );
        // The first request got the answer to its own question.
        assert!(before.await.unwrap().is_ok());
        // And that answer was not cached over the sign-out.
        assert!(liveness.check(&claims, &token, now).await.is_err());
    }
}
