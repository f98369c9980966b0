//! A small cache from a request's session cookies to the session they resolved to (access
//! token, verified `sub`, expiry), so that a browser's repeated requests skip decoding the
//! cookie and verifying the token. Only sessions that needed no refresh are stored; a hit is
//! re-checked against the refresh margin.
//!
//! The key is a keyed 128-bit hash of the session cookie pairs only (the configured name's
//! family and every `sb-*` cookie, in order): other cookies neither change the key nor are
//! kept, and no raw header bytes are stored. The cache is bounded in entries and in bytes.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderValue;
use http::header::{COOKIE, HeaderMap};
use uuid::Uuid;

use supagate_cookie::cookie_pairs;

use crate::headers::HeaderPolicy;

const SHARDS: usize = 16;
const PER_SHARD: usize = 512;
/// Bytes charged per shard (bearer and claims, [`Hit::cost`]; 32 MiB in all).
const PER_SHARD_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub(crate) struct Hit {
    /// `Bearer <access token>`, sensitive (cloning it shares the bytes).
    pub(crate) bearer: HeaderValue,
    pub(crate) sub: Uuid,
    /// The verified claims (shared, never copied per request).
    pub(crate) claims: std::sync::Arc<supagate_jwt::Claims>,
    pub(crate) expires_at: Option<i64>,
}

impl Hit {
    /// The bytes an entry is charged: the bearer and its parsed claims, counted as four times
    /// the token again (as the verifier's own cache charges a payload): a token padded with
    /// `user_metadata` costs what its claims weigh, not only its text.
    pub(crate) fn cost(&self) -> usize {
        self.bearer.len().saturating_mul(5)
    }
}

/// A keyed 128-bit hash of a request's session cookie pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(u64, u64);

struct Entry {
    hit: Hit,
    until: Instant,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Entry>,
    bytes: usize,
}

pub(crate) struct SessionCache {
    shards: Vec<Mutex<Shard>>,
    seed: RandomState,
    ttl: Duration,
}

impl SessionCache {
    pub(crate) fn new(ttl: Duration) -> Option<Self> {
        (!ttl.is_zero()).then(|| SessionCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            seed: RandomState::new(),
            ttl,
        })
    }

    /// The key of a request: its auth cookie pairs (as `policy` knows them: `sb-*` and the
    /// session cookie's family), hashed in order. `None` when it has none.
    pub(crate) fn key(&self, headers: &HeaderMap, policy: &HeaderPolicy) -> Option<Key> {
        let mut h = self.seed.build_hasher();
        let mut any = false;
        for field in headers.get_all(COOKIE) {
            for (pair, name) in cookie_pairs(field.as_bytes()) {
                if !policy.is_auth_cookie(name) {
                    continue;
                }
                any = true;
                h.write_usize(pair.len());
                h.write(pair);
            }
        }
        // One pass over the bytes, two finalisations of SipHash's 256-bit state: inputs that
        // differ give independent 64-bit halves.
        let first = h.finish();
        h.write_u8(0xff);
        any.then(|| Key(first, h.finish()))
    }

    fn shard(&self, key: Key) -> Option<&Mutex<Shard>> {
        self.shards
            .get(usize::try_from(key.0 % SHARDS as u64).unwrap_or(0))
    }

    pub(crate) fn get(&self, key: Key) -> Option<Hit> {
        let shard = self
            .shard(key)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let e = shard.map.get(&key)?;
        (e.until > Instant::now()).then(|| e.hit.clone())
    }

    /// Stores `hit` until `token_exp` (Unix seconds, `now` given) or the TTL, whichever is
    /// sooner.
    pub(crate) fn insert(&self, key: Key, hit: Hit, token_exp: i64, now: i64) {
        let left = u64::try_from(token_exp.saturating_sub(now)).unwrap_or(0);
        let size = hit.cost();
        if left == 0 || size > PER_SHARD_BYTES {
            return;
        }
        let until = Instant::now() + self.ttl.min(Duration::from_secs(left));
        let Some(shard) = self.shard(key) else {
            return;
        };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = shard.map.remove(&key) {
            shard.bytes = shard.bytes.saturating_sub(old.hit.cost());
        }
        if shard.map.len() >= PER_SHARD || shard.bytes + size > PER_SHARD_BYTES {
            let now = Instant::now();
            shard.map.retain(|_, e| e.until > now);
            shard.bytes = shard.map.values().map(|e| e.hit.cost()).sum();
            if shard.map.len() >= PER_SHARD || shard.bytes + size > PER_SHARD_BYTES {
                shard.map.clear();
                shard.bytes = 0;
            }
        }
        shard.bytes += size;
        shard.map.insert(key, Entry { hit, until });
    }

    /// Entries and cached bytes, for tests.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let s = s.lock().unwrap_or_else(PoisonError::into_inner);
            (n + s.map.len(), b + s.bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use supagate_cookie::CookieName;

    fn policy(name: &str) -> HeaderPolicy {
        HeaderPolicy::default().session_cookie(CookieName::custom(name).unwrap())
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    fn claims() -> std::sync::Arc<supagate_jwt::Claims> {
        use std::sync::OnceLock;
        static CLAIMS: OnceLock<std::sync::Arc<supagate_jwt::Claims>> = OnceLock::new();
        CLAIMS
            .get_or_init(|| {
                let keys = supagate_testkit::TestKeys::new();
                let token = supagate_testkit::TokenBuilder::new().sign_es256(&keys);
                let now = supagate_testkit::TokenBuilder::DEFAULT_NOW;
                std::sync::Arc::new(keys.verifier_at(now).verify(&token).unwrap())
            })
            .clone()
    }

    fn hit(len: usize) -> Hit {
        Hit {
            bearer: HeaderValue::from_str(&"a".repeat(len)).unwrap(),
            sub: Uuid::from_u128(1),
            claims: claims(),
            expires_at: Some(i64::MAX),
        }
    }

    #[test]
    fn only_session_pairs_make_the_key() {
        let c = SessionCache::new(Duration::from_secs(60)).unwrap();
        let name = policy("app-session");
        let k = |s: &str| c.key(&headers(s), &name);
        assert_eq!(k("theme=dark"), None);
        let base = k("app-session=abc").unwrap();
        // Junk and padding beside the session do not change the key…
        assert_eq!(
            k("pad=xxxxxxxxxxxxxxxx; app-session=abc; theme=dark"),
            Some(base)
        );
        // …another session value, a chunk or a planted sb- cookie does.
        assert_ne!(k("app-session=abd"), Some(base));
        assert_ne!(k("app-session=abc; app-session.0=x"), Some(base));
        assert_ne!(k("app-session=abc; sb-x-auth-token=y"), Some(base));
    }

    #[test]
    fn padded_cookies_store_nothing_of_the_padding() {
        let c = SessionCache::new(Duration::from_secs(60)).unwrap();
        let name = policy("s");
        let pad = "p".repeat(30_000);
        for i in 0..200 {
            let key = c
                .key(&headers(&format!("pad{i}={pad}; s=session")), &name)
                .unwrap();
            c.insert(key, hit(100), i64::MAX, 0);
        }
        // One session: one entry of the bearer's cost, whatever the padding.
        assert_eq!(c.usage(), (1, hit(100).cost()));
    }

    #[test]
    fn bounded_in_entries_and_bytes() {
        let c = SessionCache::new(Duration::from_secs(60)).unwrap();
        let name = policy("s");
        for i in 0..20_000 {
            let key = c.key(&headers(&format!("s=session-{i}")), &name).unwrap();
            c.insert(key, hit(30_000), i64::MAX, 0);
        }
        let (n, bytes) = c.usage();
        assert!(n <= SHARDS * PER_SHARD, "{n} entries");
        assert!(bytes <= SHARDS * PER_SHARD_BYTES, "{bytes} bytes");
    }
}
