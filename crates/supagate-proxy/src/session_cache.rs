//! A small cache from the exact bytes of a request's `Cookie` header to the session it
//! resolved to (access token, verified `sub`, expiry), so that a browser's repeated requests
//! skip decoding the cookie and verifying the token. Only sessions that needed no refresh are
//! stored; a hit is re-checked against the refresh margin.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderValue;
use uuid::Uuid;

const SHARDS: usize = 16;
const PER_SHARD: usize = 512;

#[derive(Clone)]
pub(crate) struct Hit {
    /// `Bearer <access token>`, sensitive (cloning it shares the bytes).
    pub(crate) bearer: HeaderValue,
    pub(crate) sub: Uuid,
    pub(crate) expires_at: Option<i64>,
}

struct Entry {
    cookie: Box<[u8]>,
    hit: Hit,
    until: Instant,
}

pub(crate) struct SessionCache {
    shards: Vec<Mutex<HashMap<u64, Entry>>>,
    seed: std::hash::RandomState,
    ttl: Duration,
}

impl SessionCache {
    pub(crate) fn new(ttl: Duration) -> Option<Self> {
        (!ttl.is_zero()).then(|| SessionCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            seed: std::hash::RandomState::new(),
            ttl,
        })
    }

    fn shard(&self, key: u64) -> Option<&Mutex<HashMap<u64, Entry>>> {
        self.shards
            .get(usize::try_from(key % SHARDS as u64).unwrap_or(0))
    }

    /// The shard key: a keyed hash of the length and the first and last bytes (a session
    /// cookie's ends differ between sessions; the full bytes are compared on a hit, so a
    /// collision only costs a miss).
    fn key(&self, cookie: &[u8]) -> u64 {
        let head = cookie.get(..64).unwrap_or(cookie);
        let tail = cookie
            .get(cookie.len().saturating_sub(128)..)
            .unwrap_or(cookie);
        self.seed.hash_one((cookie.len(), head, tail))
    }

    pub(crate) fn get(&self, cookie: &[u8]) -> Option<Hit> {
        let key = self.key(cookie);
        let shard = self
            .shard(key)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let e = shard.get(&key)?;
        (*e.cookie == *cookie && e.until > Instant::now()).then(|| e.hit.clone())
    }

    /// Stores `hit` until `token_exp` (Unix seconds, `now` given) or the TTL, whichever is
    /// sooner.
    pub(crate) fn insert(&self, cookie: &[u8], hit: Hit, token_exp: i64, now: i64) {
        let left = u64::try_from(token_exp.saturating_sub(now)).unwrap_or(0);
        if left == 0 {
            return;
        }
        let until = Instant::now() + self.ttl.min(Duration::from_secs(left));
        let key = self.key(cookie);
        let Some(shard) = self.shard(key) else {
            return;
        };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= PER_SHARD {
            let now = Instant::now();
            shard.retain(|_, e| e.until > now);
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(
            key,
            Entry {
                cookie: cookie.into(),
                hit,
                until,
            },
        );
    }
}
