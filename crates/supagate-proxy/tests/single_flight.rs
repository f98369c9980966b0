//! Concurrent requests with the same expired session share one refresh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use supagate_jwt::Token;
use supagate_proxy::core::RefreshCoordinator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_make_one_refresh() {
    let coordinator = Arc::new(RefreshCoordinator::<String>::new());
    let calls = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (c, calls) = (coordinator.clone(), calls.clone());
            tokio::spawn(async move {
                c.run(&Token::new("rt-1"), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    "session-2".to_owned()
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(*t.await.unwrap().unwrap(), "session-2");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Other refresh tokens are independent.
    let other = coordinator
        .run(&Token::new("rt-other"), || async { "other".to_owned() })
        .await
        .unwrap();
    assert_eq!(*other, "other");
}

#[tokio::test]
async fn reuse_window_then_a_new_refresh() {
    let coordinator = RefreshCoordinator::<u32>::with_reuse_window(Duration::from_millis(50));
    let t = Token::new("rt");
    assert_eq!(*coordinator.run(&t, || async { 1 }).await.unwrap(), 1);
    assert_eq!(
        *coordinator.run(&t, || async { 2 }).await.unwrap(),
        1,
        "reused"
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(coordinator.len(), 0, "the entry removed itself");
    assert_eq!(
        *coordinator.run(&t, || async { 3 }).await.unwrap(),
        3,
        "window over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresher_does_not_cancel_the_refresh() {
    let coordinator = RefreshCoordinator::<u32>::with_reuse_window(Duration::from_millis(300));
    let calls = Arc::new(AtomicU32::new(0));
    let (c, n) = (coordinator.clone(), calls.clone());
    let first = tokio::spawn(async move {
        c.run(&Token::new("rt"), || async move {
            n.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            1
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    first.abort(); // the client disconnected mid-refresh
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        coordinator.run(&Token::new("rt"), || async { 2 }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(*second, 1, "the first refresh finished and was shared");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the refresh token was sent once"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(coordinator.is_empty(), "no entry left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_cancellations_leave_no_entries() {
    let coordinator = RefreshCoordinator::<u32>::with_reuse_window(Duration::from_millis(50));
    let mut handles = Vec::new();
    for i in 0..2_000u32 {
        let c = coordinator.clone();
        handles.push(tokio::spawn(async move {
            c.run(&Token::new(format!("rt-{i}")), move || async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                i
            })
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    for h in &handles {
        h.abort();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(coordinator.len(), 0);
}

#[tokio::test]
async fn the_map_is_bounded_and_refreshes_still_run() {
    let coordinator = RefreshCoordinator::<u32>::new().with_max_entries(10);
    for i in 0..100u32 {
        let r = coordinator
            .run(&Token::new(format!("rt-{i}")), move || async move { i })
            .await
            .unwrap();
        assert_eq!(*r, i);
        assert!(coordinator.len() <= 10);
    }
}

/// A finished refresh past its reuse window is not reused even while its task has not yet run
/// to remove it (a loaded runtime): the next request with that refresh token is a new call. The
/// current-thread runtime is held by a blocking sleep so that the removal cannot run first.
#[tokio::test(flavor = "current_thread")]
async fn a_finished_refresh_past_its_window_is_not_reused_before_its_removal() {
    let coordinator = RefreshCoordinator::<u32>::with_reuse_window(Duration::from_secs(1));
    let calls = Arc::new(AtomicU32::new(0));
    let token = Token::new("rt-window");
    let refresh =
        |calls: Arc<AtomicU32>| move || async move { calls.fetch_add(1, Ordering::SeqCst) + 1 };
    assert_eq!(
        *coordinator
            .run(&token, refresh(calls.clone()))
            .await
            .unwrap(),
        1
    );
    // Within the window: shared.
    assert_eq!(
        *coordinator
            .run(&token, refresh(calls.clone()))
            .await
            .unwrap(),
        1
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(coordinator.len(), 1, "the removal has not run yet");
    assert_eq!(
        *coordinator
            .run(&token, refresh(calls.clone()))
            .await
            .unwrap(),
        2
    );
    // The first refresh's removal, running late, leaves the second's entry in place.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        *coordinator
            .run(&token, refresh(calls.clone()))
            .await
            .unwrap(),
        2
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
