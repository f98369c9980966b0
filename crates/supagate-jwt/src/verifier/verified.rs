//! [`Verified`]: a token that passed verification, with its payload.

use super::*;

/// A token that passed [`Verifier::verify_payload`]: its Supabase claims and its verified
/// payload.
///
/// Cheap to clone and to move (the claims and the payload are shared, with the verified-token
/// cache too: a cache hit copies nothing). `Debug` prints the claims, not the payload bytes.
#[derive(Clone)]
pub struct Verified {
    pub(super) claims: Arc<Claims>,
    pub(super) payload: Arc<[u8]>,
    pub(super) alg: Algorithm,
}

impl Verified {
    /// The Supabase claims.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The algorithm of the key that verified the token: the key's pinned algorithm, which
    /// the token's `alg` header had to name exactly. A closed set, safe for logs and labels.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::Algorithm;
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let verifier = keys.verifier_at(TokenBuilder::DEFAULT_NOW);
    /// let token = TokenBuilder::new().sign_es256(&keys);
    /// assert_eq!(verifier.verify_payload(&token)?.algorithm(), Algorithm::ES256);
    /// assert_eq!(verifier.verify_payload(&token)?.algorithm(), Algorithm::ES256); // cached
    /// let hs256 = verifier.verify_payload(&TokenBuilder::new().sign_hs256(&keys))?;
    /// assert_eq!(hs256.algorithm().name(), "HS256");
    /// # Ok::<(), supagate_jwt::Error>(())
    /// ```
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The Supabase claims, by value (a copy when they are shared with the token cache).
    #[must_use]
    pub fn into_claims(self) -> Claims {
        Arc::try_unwrap(self.claims).unwrap_or_else(|shared| (*shared).clone())
    }

    /// The Supabase claims, shared (no copy): what `Authenticated<Arc<Claims>>` hands a
    /// handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let verifier = keys.verifier_builder().build()?; // the token cache is on by default
    /// let token = TokenBuilder::now().sign_es256(&keys);
    /// let first = verifier.verify_payload(&token)?.into_shared_claims();
    /// let again = verifier.verify_payload(&token)?.into_shared_claims();
    /// assert!(std::sync::Arc::ptr_eq(&first, &again)); // the cached claims, not a copy
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn into_shared_claims(self) -> Arc<Claims> {
        self.claims
    }

    /// The verified payload: the token's claims as the JSON it carried (UTF-8, one object,
    /// no duplicate names), for code that hands them on whole, such as
    /// `request.jwt.claims` in Postgres.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let verified = keys
    ///     .verifier_at(TokenBuilder::DEFAULT_NOW)
    ///     .verify_payload(&TokenBuilder::new().sign_es256(&keys))?;
    /// let json: serde_json::Value = serde_json::from_slice(verified.payload()).unwrap();
    /// assert_eq!(json["role"], "authenticated");
    /// # Ok::<(), supagate_jwt::Error>(())
    /// ```
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Deserializes the verified payload into your own type. The registered claims were
    /// already validated; this only reads.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedClaims`] when the payload does not deserialize into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|_| Error::MalformedClaims)
    }

    /// The claims as `T`: the Supabase [`Claims`] themselves when `T` is that type (no second
    /// parse), shared when `T` is `Arc<Claims>` (no copy either), otherwise
    /// [`Verified::deserialize`]. What the framework extractors use.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedClaims`] when the payload does not deserialize into `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::Claims;
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let verified = keys
    ///     .verifier_at(TokenBuilder::DEFAULT_NOW)
    ///     .verify_payload(&TokenBuilder::new().sign_es256(&keys))?;
    /// let claims: Claims = verified.clone().into_typed()?;
    /// let value: serde_json::Value = verified.into_typed()?;
    /// assert_eq!(value["sub"], claims.sub.to_string());
    /// # Ok::<(), supagate_jwt::Error>(())
    /// ```
    pub fn into_typed<T: DeserializeOwned + 'static>(self) -> Result<T, Error> {
        use std::any::{Any, TypeId};
        /// `value` as `T` when `T` is its very type.
        fn same<T: 'static, U: 'static>(value: U) -> Option<T> {
            let mut slot = Some(value);
            (&mut slot as &mut dyn Any)
                .downcast_mut::<Option<T>>()
                .and_then(Option::take)
        }
        if TypeId::of::<T>() == TypeId::of::<Arc<Claims>>() {
            return same(self.claims).ok_or(Error::MalformedClaims);
        }
        if TypeId::of::<T>() == TypeId::of::<Claims>() {
            return same(self.into_claims()).ok_or(Error::MalformedClaims);
        }
        serde_json::from_slice(&self.payload).map_err(|_| Error::MalformedClaims)
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Verified>();
    }

    #[test]
    fn debug_shows_the_claims_never_the_payload_bytes() {
        let claims: Claims = serde_json::from_str(
            r#"{"sub":"8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a","aud":"authenticated","exp":2,"iat":1,"role":"authenticated"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let v = Verified {
            claims: Arc::new(claims),
            payload: Arc::from(&br#"{"marker-only-in-the-payload":1}"#[..]),
            alg: Algorithm::ES256,
        };
        let shown = format!("{v:?}");
        assert!(shown.starts_with("Verified { claims: "), "{shown}");
        assert!(!shown.contains("marker-only-in-the-payload"), "{shown}");
        // Clones share the payload.
        let c = v.clone();
        assert!(std::ptr::eq(c.payload().as_ptr(), v.payload().as_ptr()));
    }
}
