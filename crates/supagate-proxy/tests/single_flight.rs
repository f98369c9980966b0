//! Concurrent requests with the same expired session share one refresh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use supagate_jwt::Token;
use supagate_proxy::RefreshCoordinator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_make_one_refresh() {
    let coordinator = Arc::new(RefreshCoordinator::<String>::new());
    let calls = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (c, calls) = (coordinator.clone(), calls.clone());
            tokio::spawn(async move {
                c.run(&Token::new("rt-1"), || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    "session-2".to_owned()
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(*t.await.unwrap(), "session-2");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Other refresh tokens are independent.
    let other = coordinator
        .run(&Token::new("rt-other"), || async { "other".to_owned() })
        .await;
    assert_eq!(*other, "other");
}

#[tokio::test]
async fn reuse_window_then_a_new_refresh() {
    let coordinator = RefreshCoordinator::<u32>::with_reuse_window(Duration::from_millis(50));
    let t = Token::new("rt");
    assert_eq!(*coordinator.run(&t, || async { 1 }).await, 1);
    assert_eq!(*coordinator.run(&t, || async { 2 }).await, 1, "reused");
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(*coordinator.run(&t, || async { 3 }).await, 3, "window over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresher_is_taken_over() {
    let coordinator = Arc::new(RefreshCoordinator::<u32>::new());
    let c = coordinator.clone();
    let first = tokio::spawn(async move {
        c.run(&Token::new("rt"), || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            1
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    first.abort();
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        coordinator.run(&Token::new("rt"), || async { 2 }),
    )
    .await
    .unwrap();
    assert_eq!(*second, 2);
}
