//! Refusals: what an [`Authenticator`] answers for a refused request, and how it is logged.

use super::*;

impl Authenticator {
    /// The refusal for `err`: status, `WWW-Authenticate` (with this realm), `Retry-After` on
    /// 503, and the configured body. Emits a `tracing` event (target `supagate`) with the
    /// reason code and status, never the token.
    #[must_use]
    pub fn refusal(&self, err: &AuthError) -> Refusal {
        log_refusal(err);
        let body = match &self.inner.body {
            Some(f) => f(err),
            None => RefusalBody::default_for(err),
        };
        Refusal::new(
            err,
            &self.inner.realm,
            self.inner.retry_after_secs,
            body,
            self.inner.resource_metadata.as_deref(),
        )
    }

    /// [`Authenticator::refusal`] together with the error, for a framework rejection type.
    #[must_use]
    pub fn reject(&self, err: AuthError) -> Rejection {
        let refusal = self.refusal(&err);
        Rejection::new(err, refusal)
    }
}

pub(crate) fn log_refusal(err: &AuthError) {
    static UNSUPPORTED_ALG_WARNED: AtomicBool = AtomicBool::new(false);
    let status = err.status().as_u16();
    let reason = err.reason();
    match err {
        AuthError::MissingCredentials => {
            tracing::trace!(target: "supagate", status, reason, "request refused");
        }
        AuthError::Internal { what } => {
            tracing::error!(target: "supagate", status, reason, what, "request refused");
        }
        AuthError::Token(supagate_jwt::Error::KeysUnavailable)
        | AuthError::AuthServerUnavailable => {
            tracing::warn!(target: "supagate", status, reason, "request refused");
        }
        AuthError::Token(supagate_jwt::Error::UnsupportedAlg)
            if !UNSUPPORTED_ALG_WARNED.swap(true, Ordering::Relaxed) =>
        {
            tracing::warn!(
                target: "supagate",
                status,
                reason,
                "a token used a JOSE algorithm supagate does not implement (such as ES512); \
                 it was refused (logged once)"
            );
        }
        _ => tracing::debug!(target: "supagate", status, reason, "request refused"),
    }
}

#[cfg(test)]
mod tests {
    use supagate_testkit::{TestKeys, TokenBuilder};

    use super::*;

    fn auth(b: impl FnOnce(AuthenticatorBuilder) -> AuthenticatorBuilder) -> Authenticator {
        b(Authenticator::builder(
            TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW),
        ))
        .build()
        .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn an_internal_detail_never_reaches_the_client() {
        let r = auth(|b| b).refusal(&AuthError::Internal {
            what: "no supagate_postgres::Rls registered",
        });
        assert_eq!(r.status(), 500);
        let body = String::from_utf8_lossy(r.body().bytes()).into_owned();
        assert!(!body.contains("Rls"), "{body}");
        assert!(r.www_authenticate().is_none());
        assert!(r.retry_after().is_none());
    }

    #[test]
    fn the_configured_body_and_retry_after_apply_but_never_the_status() {
        let a = auth(|b| {
            b.retry_after_secs(7)
                .error_body(|e| RefusalBody::text(e.reason()))
        });
        let r = a.refusal(&AuthError::Token(supagate_jwt::Error::KeysUnavailable));
        assert_eq!(r.status(), 503);
        assert_eq!(r.retry_after().map(|v| v.as_bytes()), Some(&b"7"[..]));
        assert_eq!(r.body().bytes(), b"keys_unavailable");
        let rejection = a.reject(AuthError::MissingCredentials);
        assert_eq!(rejection.refusal().status(), 401);
    }

    #[test]
    fn logging_a_refusal_never_panics_for_any_kind() {
        for e in [
            AuthError::MissingCredentials,
            AuthError::Internal { what: "x" },
            AuthError::AuthServerUnavailable,
            AuthError::Token(supagate_jwt::Error::UnsupportedAlg),
            AuthError::Token(supagate_jwt::Error::UnsupportedAlg),
            AuthError::InvalidApiKey,
        ] {
            log_refusal(&e);
        }
    }
}
