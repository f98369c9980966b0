//! Rate limiting per client address and per user, on `governor` (GCRA).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use crate::error::ProxyError;

/// Rate limits: requests per minute with a burst allowance, per client address and per
/// verified user, and a budget per client address for the calls the proxy makes to the auth
/// server on a client's behalf (refresh, sign-in, code exchange). Requests and auth calls are
/// not limited unless configured; over a limit the proxy answers 429 with `Retry-After`.
///
/// Two budgets are always on. Refreshes per session (the verified access token's
/// `session_id`): 4 a minute ([`RateLimit::refreshes_per_session`]), so that one token a client
/// holds, sent with endless made-up refresh tokens, cannot become endless calls (a real
/// session refreshes about once an hour, and concurrent requests share one call). And a refresh
/// for a session whose access token cannot be checked
/// (its `kid` is no longer in the key set, after a rotation) is allowed 10 times a minute per
/// client address, bursts of 5 ([`RateLimit::unverifiable_refreshes_per_client_address`]).
/// Every such call leaves from the proxy's one address, and the auth server limits per
/// address: without a budget, forged sessions could spend that limit for everyone.
///
/// IPv6 clients are counted per /64 (one subscriber's usual allocation), so an address
/// rotation inside a prefix does not escape the limit. The client address is the TCP peer:
/// behind another reverse proxy every request comes from it, so limit there instead.
///
/// # Examples
///
/// ```
/// use supagate_proxy::RateLimit;
///
/// // 600 requests a minute per address with bursts of 60; 300 a minute per user.
/// let limits = RateLimit::new().per_client_address(600, 60).per_user(300, 30);
/// assert!(limits.is_limited());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    address: Option<(NonZeroU32, NonZeroU32)>,
    user: Option<(NonZeroU32, NonZeroU32)>,
    auth_calls: Option<(NonZeroU32, NonZeroU32)>,
    unverifiable: Option<(NonZeroU32, NonZeroU32)>,
    per_session: Option<(NonZeroU32, NonZeroU32)>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            address: None,
            user: None,
            auth_calls: None,
            unverifiable: NonZeroU32::new(10).zip(NonZeroU32::new(5)),
            per_session: NonZeroU32::new(4).zip(NonZeroU32::new(4)),
        }
    }
}

impl RateLimit {
    /// No limits.
    #[must_use]
    pub fn new() -> Self {
        RateLimit::default()
    }

    /// `per_minute` requests a minute per client address, `burst` at once. A zero turns the
    /// limit off.
    #[must_use]
    pub fn per_client_address(mut self, per_minute: u32, burst: u32) -> Self {
        self.address = NonZeroU32::new(per_minute).zip(NonZeroU32::new(burst));
        self
    }

    /// `per_minute` requests a minute per user (the verified `sub`), `burst` at once. A zero
    /// turns the limit off.
    #[must_use]
    pub fn per_user(mut self, per_minute: u32, burst: u32) -> Self {
        self.user = NonZeroU32::new(per_minute).zip(NonZeroU32::new(burst));
        self
    }

    /// `per_minute` calls to the auth server a minute per client address (refreshes,
    /// sign-ins, code exchanges made for its requests), `burst` at once; 429 with
    /// `Retry-After` beyond, and an expired session keeps its cookies. A zero turns the budget
    /// off. Default: off (the example turns it on).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_proxy::RateLimit;
    ///
    /// let limits = RateLimit::new().auth_calls_per_client_address(30, 10);
    /// assert!(limits.is_limited());
    /// ```
    #[must_use]
    pub fn auth_calls_per_client_address(mut self, per_minute: u32, burst: u32) -> Self {
        self.auth_calls = NonZeroU32::new(per_minute).zip(NonZeroU32::new(burst));
        self
    }

    /// The budget for refreshes of sessions whose access token cannot be verified because its
    /// `kid` left the key set. Default: 10 a minute per client address, bursts of 5. A zero
    /// refuses such refreshes outright (those users sign in again).
    #[must_use]
    pub fn unverifiable_refreshes_per_client_address(
        mut self,
        per_minute: u32,
        burst: u32,
    ) -> Self {
        self.unverifiable = NonZeroU32::new(per_minute).zip(NonZeroU32::new(burst));
        self
    }

    /// Refresh calls per session (the `session_id` of the verified, possibly expired, access
    /// token; its `sub` when it has none). Default: 4 a minute, bursts of 4. A zero turns the
    /// budget off.
    #[must_use]
    pub fn refreshes_per_session(mut self, per_minute: u32, burst: u32) -> Self {
        self.per_session = NonZeroU32::new(per_minute).zip(NonZeroU32::new(burst));
        self
    }

    /// The auth-call budget a proxy with a secret key gets when none was configured: 30 a
    /// minute per client address, bursts of 10 (the example's default).
    pub(crate) fn with_auth_calls_or_default(mut self) -> Self {
        if self.auth_calls.is_none() {
            self.auth_calls = NonZeroU32::new(30).zip(NonZeroU32::new(10));
        }
        self
    }

    /// Whether requests or auth calls are limited (beyond the always-on budget for
    /// unverifiable refreshes).
    #[must_use]
    pub fn is_limited(&self) -> bool {
        self.address.is_some() || self.user.is_some() || self.auth_calls.is_some()
    }
}

pub(crate) struct Limiter {
    address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    user: Option<DefaultKeyedRateLimiter<Uuid>>,
    auth_calls: Option<DefaultKeyedRateLimiter<IpAddr>>,
    unverifiable: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_session: Option<DefaultKeyedRateLimiter<u64>>,
    checks: AtomicU64,
}

/// Which auth-server budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthCall {
    /// A sign-in, a code exchange, a sign-out.
    Checked,
    /// A refresh of a session whose access token verified (signature and all but `exp`):
    /// a keyed hash of its `session_id`.
    Session(u64),
    /// A refresh of a session whose access token's key is no longer in the set.
    Unverifiable,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("per_address", &self.address.is_some())
            .field("per_user", &self.user.is_some())
            .field("auth_calls_per_address", &self.auth_calls.is_some())
            .field(
                "unverifiable_refreshes_per_address",
                &self.unverifiable.is_some(),
            )
            .finish()
    }
}

fn quota((per_minute, burst): (NonZeroU32, NonZeroU32)) -> Quota {
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// The key for an address: IPv4 as is, IPv6 by its /64 (IPv4-mapped as IPv4).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Limiter {
    pub(crate) fn new(config: RateLimit) -> Self {
        let keyed = |q: Option<(NonZeroU32, NonZeroU32)>| {
            q.map(|q| DefaultKeyedRateLimiter::keyed(quota(q)))
        };
        Limiter {
            address: keyed(config.address),
            user: config
                .user
                .map(|q| DefaultKeyedRateLimiter::keyed(quota(q))),
            auth_calls: keyed(config.auth_calls),
            unverifiable: keyed(config.unverifiable),
            per_session: config
                .per_session
                .map(|q| DefaultKeyedRateLimiter::keyed(quota(q))),
            checks: AtomicU64::new(0),
        }
    }

    fn housekeeping(&self) {
        // Forget idle keys now and then, so the maps stay as small as the active clients.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            for l in [&self.address, &self.auth_calls, &self.unverifiable]
                .into_iter()
                .flatten()
            {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(l) = &self.per_session {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(l) = &self.user {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
    }

    /// An unspecified address (`0.0.0.0`, `::`) means "unknown peer" and is not limited:
    /// counting every unknown client as one would let one of them lock all out.
    pub(crate) fn check_address(&self, ip: IpAddr) -> Result<(), ProxyError> {
        self.housekeeping();
        match &self.address {
            Some(l) if !ip.is_unspecified() => l
                .check_key(&address_key(ip))
                .map_err(|n| refusal(n, "client_address")),
            _ => Ok(()),
        }
    }

    /// Spends one call to the auth server for `ip` from the budget `kind` (an unverifiable
    /// refresh spends from both). Unspecified addresses are not limited, as above, except for
    /// unverifiable refreshes, which are always budgeted.
    pub(crate) fn check_auth_call(&self, ip: IpAddr, kind: AuthCall) -> Result<(), ProxyError> {
        self.housekeeping();
        let key = address_key(ip);
        match kind {
            AuthCall::Unverifiable => match &self.unverifiable {
                Some(l) => l
                    .check_key(&key)
                    .map_err(|n| refusal(n, "unverifiable_refresh"))?,
                None => {
                    observe_refusal("unverifiable_refresh");
                    return Err(ProxyError::RateLimited {
                        retry_after_secs: 60,
                    });
                }
            },
            AuthCall::Session(session) => {
                if let Some(l) = &self.per_session {
                    l.check_key(&session)
                        .map_err(|n| refusal(n, "session_auth_calls"))?;
                }
            }
            AuthCall::Checked => {}
        }
        match &self.auth_calls {
            Some(l) if !ip.is_unspecified() => {
                l.check_key(&key).map_err(|n| refusal(n, "auth_calls"))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn check_user(&self, sub: &Uuid) -> Result<(), ProxyError> {
        match &self.user {
            Some(l) => l.check_key(sub).map_err(|n| refusal(n, "user")),
            None => Ok(()),
        }
    }
}

/// Counts a refusal by the limiter `name` (`supagate.rate_limit.refusals`).
#[allow(unused_variables)]
fn observe_refusal(name: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        supagate_core::observe::RATE_LIMIT_REFUSALS,
        supagate_core::observe::LIMITER => name,
    )
    .increment(1);
}

fn refusal(
    not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>,
    name: &'static str,
) -> ProxyError {
    observe_refusal(name);
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ProxyError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_429_with_retry_after() {
        let l = Limiter::new(RateLimit::new().per_client_address(60, 2));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(l.check_address(ip).is_ok());
        assert!(l.check_address(ip).is_ok());
        let err = l.check_address(ip).unwrap_err();
        assert!(
            matches!(
                err,
                ProxyError::RateLimited {
                    retry_after_secs: 1
                }
            ),
            "{err:?}"
        );
        // Another client is unaffected.
        assert!(l.check_address("203.0.113.10".parse().unwrap()).is_ok());
    }

    #[test]
    fn ipv6_counted_per_64() {
        let l = Limiter::new(RateLimit::new().per_client_address(60, 1));
        assert!(l.check_address("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(
            l.check_address("2001:db8:1:2:ffff::9".parse().unwrap())
                .is_err()
        );
        assert!(l.check_address("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn per_user() {
        let l = Limiter::new(RateLimit::new().per_user(60, 1));
        let a = Uuid::from_u128(1);
        assert!(l.check_user(&a).is_ok());
        assert!(l.check_user(&a).is_err());
        assert!(l.check_user(&Uuid::from_u128(2)).is_ok());
        assert!(!RateLimit::new().per_user(0, 1).is_limited());
    }

    #[test]
    fn auth_call_budgets() {
        let l = Limiter::new(RateLimit::new().auth_calls_per_client_address(60, 2));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(l.check_auth_call(ip, AuthCall::Checked).is_ok());
        assert!(l.check_auth_call(ip, AuthCall::Checked).is_ok());
        assert!(l.check_auth_call(ip, AuthCall::Checked).is_err());
        assert!(
            l.check_auth_call("203.0.113.10".parse().unwrap(), AuthCall::Checked)
                .is_ok()
        );

        // Unverifiable refreshes: always budgeted (default 5 at once), even without a limit
        // configured and for an unknown peer.
        let l = Limiter::new(RateLimit::new());
        let unknown: IpAddr = "0.0.0.0".parse().unwrap();
        for _ in 0..5 {
            assert!(l.check_auth_call(unknown, AuthCall::Unverifiable).is_ok());
        }
        assert!(l.check_auth_call(unknown, AuthCall::Unverifiable).is_err());
        assert!(l.check_auth_call(unknown, AuthCall::Checked).is_ok());
        let off = Limiter::new(RateLimit::new().unverifiable_refreshes_per_client_address(0, 0));
        assert!(off.check_auth_call(ip, AuthCall::Unverifiable).is_err());

        // Refreshes per session: 4 at once by default, other sessions unaffected.
        let l = Limiter::new(RateLimit::new());
        for _ in 0..4 {
            assert!(l.check_auth_call(ip, AuthCall::Session(7)).is_ok());
        }
        assert!(l.check_auth_call(ip, AuthCall::Session(7)).is_err());
        assert!(l.check_auth_call(ip, AuthCall::Session(8)).is_ok());
    }
}
