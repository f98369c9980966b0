//! What a request presents, before any verification: the user's credential from the
//! configured source, and the API keys it carries.

use super::*;

/// A token's text, borrowed from the request or owned by the session read from its cookies.
pub(super) enum Credential<'h> {
    Header(&'h str),
    Cookie(supagate_cookie::Session),
}

impl Credential<'_> {
    pub(super) fn token(&self) -> &str {
        match self {
            Credential::Header(t) => t,
            Credential::Cookie(s) => s.access_token().expose(),
        }
    }
}

/// What a request presented, before any verification.
pub(super) struct Presented<'h> {
    /// The user's token, unless the bearer is an API key.
    pub(super) user: Option<Credential<'h>>,
    /// Whether an `apikey` was sent at all.
    pub(super) apikey: bool,
    /// The name of the publishable key it is, if it is one.
    pub(super) publishable: Option<String>,
    /// The name of the secret key it is, if it is one.
    pub(super) secret: Option<String>,
    /// Whether browser fetch metadata came with it.
    pub(super) browser: bool,
}

impl Authenticator {
    /// Whether a mode before `user` (or any mode, when `user` is not listed) admits the
    /// request, or it is refused before any mode is tried: then the user credential is not
    /// looked at, and need not be verified.
    pub(super) fn decided_before_user(presented: &Presented<'_>, modes: &AuthModes) -> bool {
        if presented.secret.is_some() && presented.browser {
            return true;
        }
        for m in modes.modes() {
            let admits = match m {
                AuthMode::User => return false,
                AuthMode::None => true,
                AuthMode::Publishable(sel) => presented
                    .publishable
                    .as_deref()
                    .is_some_and(|n| sel.admits(n)),
                AuthMode::Secret(sel) => presented.secret.as_deref().is_some_and(|n| sel.admits(n)),
            };
            if admits {
                return true;
            }
        }
        // Nothing admits it: a good API key decides the refusal (403) before the user token.
        presented.publishable.is_some() || presented.secret.is_some() || presented.apikey
    }

    /// The request's credentials, unverified: the user's token (unless it is an API key sent
    /// as the bearer), the `apikey` value and whether browser fetch metadata is present.
    pub(super) fn presented<'h, H: RequestHeaders>(
        &self,
        headers: &'h H,
    ) -> Result<Presented<'h>, AuthError> {
        let mut fields = headers.values(&APIKEY);
        let apikey = match (fields.next(), fields.next()) {
            (None, _) => None,
            (Some(_), Some(_)) => {
                return Err(AuthError::InvalidRequest {
                    reason: "several apikey fields",
                });
            }
            (Some(v), None) => Some(v).filter(|v| !v.is_empty()),
        };
        let key_digest = apikey.map(digest);
        let user = self.credential(headers)?;

        let publishable = key_digest.and_then(|d| {
            self.inner
                .api_keys
                .identify_digest(ApiKeyKind::Publishable, &d)
                .map(str::to_owned)
        });
        let secret = key_digest.and_then(|d| {
            self.inner
                .api_keys
                .identify_digest(ApiKeyKind::Secret, &d)
                .map(str::to_owned)
        });
        // Fetch metadata matters only with a secret key: looked up only then.
        let browser = secret.is_some()
            && [&SEC_FETCH_SITE, &SEC_FETCH_MODE, &ORIGIN]
                .iter()
                .any(|n| headers.values(n).next().is_some());
        Ok(Presented {
            user,
            apikey: apikey.is_some(),
            publishable,
            secret,
            browser,
        })
    }

    /// `Bearer <value>` that is no user token: the request's own `apikey`, a configured
    /// publishable key, or the legacy anon key.
    fn is_api_key_bearer(&self, token: &[u8], apikey: Option<&[u8]>) -> bool {
        // The request's own `apikey` counts only when it is an `sb_` key: a JWT sent in both
        // fields (an expired token, a `service_role` key) is still verified as a token, so
        // copying a bad token into `apikey` cannot turn it into "no user".
        if token.starts_with(b"sb_") && apikey.is_some_and(|k| k == token) {
            return true;
        }
        // Hash only what could be a key: a publishable key has its prefix, and the anon key
        // (public too) its length; a user's token is neither, so it costs two comparisons.
        if token.starts_with(ApiKeyKind::Publishable.prefix().as_bytes()) {
            return self
                .inner
                .api_keys
                .identify_digest(ApiKeyKind::Publishable, &digest(token))
                .is_some();
        }
        self.inner
            .anon_key
            .as_ref()
            .is_some_and(|(a, len)| *len == token.len() && ct_eq(a, &digest(token)))
    }

    /// The user's token the request presents (from the configured source), copied: what a
    /// [`Watch`](crate::Watch) asks session liveness with. `None` without one, or when the
    /// request's credentials cannot be read.
    #[cfg(feature = "watch")]
    pub(crate) fn user_token<H: RequestHeaders>(
        &self,
        headers: &H,
    ) -> Option<zeroize::Zeroizing<String>> {
        let credential = self.credential(headers).ok()??;
        Some(zeroize::Zeroizing::new(credential.token().to_owned()))
    }

    /// The request's credential from the configured source, unverified.
    pub(super) fn credential<'h, H: RequestHeaders>(
        &self,
        headers: &'h H,
    ) -> Result<Option<Credential<'h>>, AuthError> {
        // `Bearer <an API key>` is what a signed-out supabase-js sends: no user.
        let user_bearer = |headers: &'h H| -> Result<Option<&'h str>, AuthError> {
            Ok(bearer_token(headers.authorization())?.filter(|token| {
                let mut keys = headers.values(&APIKEY);
                let apikey = match (keys.next(), keys.next()) {
                    (Some(k), None) => Some(k),
                    _ => None,
                };
                !self.is_api_key_bearer(token.as_bytes(), apikey)
            }))
        };
        match &self.inner.source {
            TokenSource::AuthorizationHeader => Ok(user_bearer(headers)?.map(Credential::Header)),
            TokenSource::SessionCookie(reader) => {
                Ok(read_session(reader, headers)?.map(Credential::Cookie))
            }
            TokenSource::AuthorizationHeaderOrSessionCookie(reader) => {
                let bearer = user_bearer(headers)?;
                let session = read_session(reader, headers)?;
                match (bearer, session) {
                    (Some(_), Some(_)) => Err(AuthError::InvalidRequest {
                        reason: "token in both header and cookie",
                    }),
                    (Some(token), None) => Ok(Some(Credential::Header(token))),
                    (None, Some(session)) => Ok(Some(Credential::Cookie(session))),
                    (None, None) => Ok(None),
                }
            }
        }
    }
}

fn read_session(
    reader: &SessionReader,
    headers: &impl RequestHeaders,
) -> Result<Option<supagate_cookie::Session>, AuthError> {
    let fields: Vec<&[u8]> = headers.cookie().collect();
    if fields.is_empty() {
        return Ok(None);
    }
    Ok(reader.read_fields(&fields)?)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use supagate_cookie::CookieName;
    use supagate_testkit::{TestKeys, TokenBuilder};

    use super::*;

    fn auth(source: TokenSource) -> Authenticator {
        Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
            .token_source(source)
            .legacy_anon_key("an-anon-key-of-some-length")
            .build()
            .unwrap_or_else(|_| unreachable!())
    }

    fn headers(fields: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in fields {
            h.append(
                *name,
                HeaderValue::from_str(value).unwrap_or_else(|_| unreachable!()),
            );
        }
        h
    }

    fn reader() -> SessionReader {
        SessionReader::new(
            CookieName::custom("sb-test-auth-token").unwrap_or_else(|_| unreachable!()),
        )
    }

    #[test]
    fn two_apikey_fields_are_a_bad_request() {
        let a = auth(TokenSource::AuthorizationHeader);
        let h = headers(&[("apikey", "a"), ("apikey", "b")]);
        assert!(matches!(
            a.presented(&h),
            Err(AuthError::InvalidRequest { .. })
        ));
        // An empty `apikey` is no key.
        let h = headers(&[("apikey", "")]);
        assert!(a.presented(&h).is_ok_and(|p| !p.apikey));
    }

    #[test]
    fn an_api_key_as_the_bearer_is_no_user_but_a_jwt_copied_into_apikey_still_is() {
        let a = auth(TokenSource::AuthorizationHeader);
        // What a signed-out supabase-js sends: the anon key as the bearer.
        let h = headers(&[("authorization", "Bearer an-anon-key-of-some-length")]);
        assert!(matches!(a.credential(&h), Ok(None)));
        // An `sb_` key sent in both fields is no user.
        let h = headers(&[
            ("authorization", "Bearer sb_publishable_x"),
            ("apikey", "sb_publishable_x"),
        ]);
        assert!(matches!(a.credential(&h), Ok(None)));
        // A token copied into `apikey` stays a user credential, to be verified.
        let h = headers(&[("authorization", "Bearer eyJ.a.b"), ("apikey", "eyJ.a.b")]);
        assert!(matches!(
            a.credential(&h),
            Ok(Some(Credential::Header("eyJ.a.b")))
        ));
    }

    #[test]
    fn a_cookie_route_never_reads_the_header_and_both_at_once_is_refused() {
        let cookie = "sb-test-auth-token=%7B%22access_token%22%3A%22eyJ.c.d%22%2C%22refresh_token%22%3A%22r%22%2C%22expires_at%22%3A1%7D";
        let h = headers(&[("authorization", "Bearer eyJ.a.b"), ("cookie", cookie)]);
        let only_cookie = auth(TokenSource::SessionCookie(reader()));
        match only_cookie.credential(&h) {
            Ok(Some(c)) => assert_eq!(c.token(), "eyJ.c.d"),
            other => panic!("{:?}", other.map(|c| c.map(|c| c.token().to_owned()))),
        }
        let either = auth(TokenSource::AuthorizationHeaderOrSessionCookie(reader()));
        assert!(matches!(
            either.credential(&h),
            Err(AuthError::InvalidRequest { .. })
        ));
        let header_only = auth(TokenSource::AuthorizationHeader);
        assert!(matches!(
            header_only.credential(&headers(&[("cookie", cookie)])),
            Ok(None)
        ));
    }
}
