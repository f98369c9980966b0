//! The verified-token cache: a token verified once is accepted again without signature work
//! until `min(exp, ttl)`, for as long as the key that verified it is still configured.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::claims::Claims;

/// Settings of the verified-token cache (opt-in, with
/// [`VerifierBuilder::token_cache`](crate::VerifierBuilder::token_cache)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use supagate_jwt::TokenCacheConfig;
///
/// let cache = TokenCacheConfig::default()
///     .with_max_entries(50_000)
///     .with_ttl(Duration::from_secs(60));
/// # let _ = cache;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCacheConfig {
    max_entries: usize,
    max_bytes: usize,
    ttl: Duration,
}

impl Default for TokenCacheConfig {
    /// 10,000 entries, 16 MiB of cached tokens and payloads, 60 s.
    fn default() -> Self {
        TokenCacheConfig {
            max_entries: 10_000,
            max_bytes: 16 * 1024 * 1024,
            ttl: Duration::from_secs(60),
        }
    }
}

impl TokenCacheConfig {
    /// Most entries kept. Default 10,000.
    #[must_use]
    pub fn with_max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Most bytes of tokens and payloads kept. Default 16 MiB.
    #[must_use]
    pub fn with_max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// How long a verified token is trusted without re-verification (never past its `exp`).
    /// Default 60 s.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
}

const SHARDS: usize = 16;

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) claims: Arc<Claims>,
    pub(crate) payload: Arc<[u8]>,
    /// `kid` and fingerprint of the asymmetric key that verified it (`None` for HMAC).
    pub(crate) key: Option<crate::verifier::KeyId>,
    /// The third-party issuer whose keys verified it (`None`: the project's own keys).
    pub(crate) third_party: Option<usize>,
    /// The algorithm of the key that verified it.
    pub(crate) alg: crate::Algorithm,
    /// Until when (exclusive) the entry is served: the token's `exp` as given to
    /// [`TokenCache::insert`], capped there by the TTL.
    pub(crate) until: i64,
    /// The earliest time a fresh verification accepts the token (`max(iat, nbf) - leeway`):
    /// a clock moved back before it gets no hit.
    pub(crate) from: i64,
}

/// What an entry is charged against the byte bound: the token, and the payload four times
/// over for the parsed claims (maps of `user_metadata` cost more than their JSON text).
fn cost(token: &str, entry: &Entry) -> usize {
    token
        .len()
        .saturating_add(entry.payload.len().saturating_mul(4))
}

/// Tokens and their entries that share a signature hash.
type Bucket = Vec<(Box<str>, Arc<Entry>)>;

/// Entries by the keyed hash of their token's signature segment; each bucket holds the whole
/// tokens, compared in full on lookup.
#[derive(Debug, Default)]
struct Shard {
    map: HashMap<u64, Bucket, Identity>,
    entries: usize,
    bytes: usize,
}

impl Shard {
    fn remove_where(&mut self, mut pred: impl FnMut(&str, &Entry) -> bool) {
        let (mut entries, mut bytes) = (self.entries, self.bytes);
        self.map.retain(|_, bucket| {
            bucket.retain(|(t, e)| {
                let gone = pred(t, e);
                if gone {
                    entries -= 1;
                    bytes = bytes.saturating_sub(cost(t, e));
                }
                !gone
            });
            !bucket.is_empty()
        });
        (self.entries, self.bytes) = (entries, bytes);
    }
}

/// The keys are already keyed SipHash values.
#[derive(Debug, Clone, Copy, Default)]
struct Identity;

impl BuildHasher for Identity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

#[derive(Debug)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    shards: [Mutex<Shard>; SHARDS],
    per_shard_entries: usize,
    per_shard_bytes: usize,
    ttl: i64,
    seed: RandomState,
}

impl TokenCache {
    pub(crate) fn new(cfg: TokenCacheConfig) -> Self {
        TokenCache {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            per_shard_entries: cfg.max_entries.div_ceil(SHARDS).max(1),
            per_shard_bytes: cfg.max_bytes.div_ceil(SHARDS).max(1),
            ttl: i64::try_from(cfg.ttl.as_secs()).unwrap_or(i64::MAX),
            seed: RandomState::new(),
        }
    }

    fn locate(&self, token: &str) -> (u64, std::sync::MutexGuard<'_, Shard>) {
        let sig = token.rsplit_once('.').map_or(token, |(_, s)| s);
        let hash = self.seed.hash_one(sig);
        // The remainder is below SHARDS, the array's length.
        #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
        let shard = self.shards[(hash % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (hash, shard)
    }

    /// A live entry for exactly this token.
    pub(crate) fn get(&self, token: &str, now: i64) -> Option<Arc<Entry>> {
        let hit = self.lookup(token, now);
        // Literal names and labels (those of `supagate_core::observe`, checked by a test): a
        // key built at compile time, nothing allocated or hashed per request.
        // The handle registered with the recorder in place is kept; under another recorder
        // (one installed later, a test's own) it is registered again.
        #[cfg(feature = "metrics")]
        {
            use std::sync::OnceLock;
            type Kept = OnceLock<(usize, metrics::Counter)>;
            static HIT: Kept = OnceLock::new();
            static MISS: Kept = OnceLock::new();
            let (kept, make): (&Kept, fn() -> metrics::Counter) = if hit.is_some() {
                (
                    &HIT,
                    || metrics::counter!("supagate.token_cache.requests", "result" => "hit"),
                )
            } else {
                (
                    &MISS,
                    || metrics::counter!("supagate.token_cache.requests", "result" => "miss"),
                )
            };
            let recorder = metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>().addr());
            match kept.get_or_init(|| (recorder, make())) {
                (id, handle) if *id == recorder => handle.increment(1),
                _ => make().increment(1),
            }
        }
        hit
    }

    fn lookup(&self, token: &str, now: i64) -> Option<Arc<Entry>> {
        let (hash, shard) = self.locate(token);
        let entry = shard
            .map
            .get(&hash)?
            .iter()
            .find(|(t, _)| &**t == token)
            .map(|(_, e)| Arc::clone(e))?;
        (entry.from <= now && now < entry.until).then_some(entry)
    }

    /// Removes the entry for this token (its key left the key set).
    pub(crate) fn remove(&self, token: &str) {
        let (_, mut shard) = self.locate(token);
        shard.remove_where(|t, _| t == token);
    }

    /// Caches `entry` (whose `until` is the token's `exp`) until `min(exp, now + ttl)`.
    pub(crate) fn insert(&self, token: &str, entry: Entry, now: i64) {
        let until = entry.until.min(now.saturating_add(self.ttl));
        let size = cost(token, &entry);
        if until <= now || size > self.per_shard_bytes {
            return;
        }
        let entry = Arc::new(Entry { until, ..entry });
        let (hash, mut shard) = self.locate(token);
        let old = shard.map.get_mut(&hash).and_then(|bucket| {
            let pos = bucket.iter().position(|(t, _)| &**t == token)?;
            Some(bucket.swap_remove(pos))
        });
        if let Some((t, e)) = old {
            shard.entries -= 1;
            shard.bytes = shard.bytes.saturating_sub(cost(&t, &e));
        }
        if shard.entries >= self.per_shard_entries || shard.bytes + size > self.per_shard_bytes {
            shard.remove_where(|_, e| e.until <= now);
        }
        while shard.entries >= self.per_shard_entries || shard.bytes + size > self.per_shard_bytes {
            // Still full of live entries: drop an arbitrary bucket (a token dropped early is
            // just verified again).
            let Some(&victim) = shard.map.keys().next() else {
                break;
            };
            if let Some(bucket) = shard.map.remove(&victim) {
                for (t, e) in &bucket {
                    shard.entries -= 1;
                    shard.bytes = shard.bytes.saturating_sub(cost(t, e));
                }
                #[cfg(feature = "metrics")]
                metrics::counter!(supagate_core::observe::TOKEN_CACHE_EVICTIONS)
                    .increment(bucket.len() as u64);
            }
        }
        shard.entries += 1;
        shard.bytes += size;
        shard
            .map
            .entry(hash)
            .or_default()
            .push((token.into(), entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_literal_metric_names_are_the_documented_ones() {
        assert_eq!(
            supagate_core::observe::TOKEN_CACHE_REQUESTS,
            "supagate.token_cache.requests"
        );
        assert_eq!(supagate_core::observe::RESULT, "result");
    }

    fn entry(claims: &Claims, exp: i64) -> Entry {
        Entry {
            claims: Arc::new(claims.clone()),
            payload: Arc::from(&b"{}"[..]),
            key: None,
            third_party: None,
            alg: crate::Algorithm::HS256,
            until: exp,
            from: i64::MIN,
        }
    }

    fn claims() -> Claims {
        serde_json::from_value(serde_json::json!({
            "sub": "8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a", "aud": "authenticated",
            "exp": 2000, "iat": 1000
        }))
        .unwrap()
    }

    #[test]
    fn hit_expiry_and_exact_match() {
        let cache = TokenCache::new(TokenCacheConfig::default());
        let c = claims();
        cache.insert("a.b.sig", entry(&c, 1030), 1000);
        assert!(cache.get("a.b.sig", 1029).is_some());
        assert!(cache.get("a.b.sig", 1030).is_none(), "never past exp");
        assert!(
            cache.get("a.X.sig", 1000).is_none(),
            "same signature, other payload"
        );
        cache.insert("a.b.sig2", entry(&c, 5000), 1000);
        assert!(cache.get("a.b.sig2", 1059).is_some());
        assert!(cache.get("a.b.sig2", 1060).is_none(), "never past the ttl");
        cache.remove("a.b.sig2");
        assert!(cache.get("a.b.sig2", 1000).is_none());
        cache.insert("expired", entry(&c, 1000), 1000);
        assert!(cache.get("expired", 999).is_none());
        // A clock moved back before the token's validity gets no hit.
        let early = Entry {
            from: 970,
            ..entry(&c, 2000)
        };
        cache.insert("early", early, 1000);
        assert!(cache.get("early", 1000).is_some());
        assert!(cache.get("early", 969).is_none());
        assert!(cache.get("early", 970).is_some());
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let cache = TokenCache::new(TokenCacheConfig::default().with_max_entries(32));
        let c = claims();
        for i in 0..10_000 {
            cache.insert(&format!("h.p.{i}"), entry(&c, 2000), 1000);
        }
        let total: usize = cache.shards.iter().map(|s| s.lock().unwrap().entries).sum();
        assert!(total <= 32, "{total}");
        let cache = TokenCache::new(TokenCacheConfig::default().with_max_bytes(16 * 100));
        for i in 0..1_000 {
            cache.insert(&format!("h.p.{i:060}"), entry(&c, 2000), 1000);
        }
        for s in &cache.shards {
            assert!(s.lock().unwrap().bytes <= 100);
        }
    }
}
