//! Key selection: which prepared key a token may be verified with. The token's `alg` never
//! chooses the method; its `kid` only names a key within its issuer's own set.

use super::*;

/// The key a token selected.
pub(super) enum Selected<'a> {
    Hmac(&'a PreparedHmac),
    Public(Arc<PreparedKeys>, usize),
}

/// The header's algorithm, or why it is refused: a real JOSE algorithm we do not implement is
/// `UnsupportedAlg`, anything else (`none` included) `AlgNotAllowed`.
pub(super) fn algorithm(header: &header::Header<'_>) -> Result<Algorithm, Error> {
    Algorithm::from_name(&header.alg).ok_or_else(|| {
        if is_known_unsupported(&header.alg) {
            Error::UnsupportedAlg
        } else {
            Error::AlgNotAllowed
        }
    })
}

/// Asymmetric key selection within one issuer's keys: the `kid` (required) names the key, whose
/// pinned algorithm must equal `alg`. An unknown `kid` asks the source for a newer set.
pub(super) fn select_public(
    keys: &Keys,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<Selected<'static>, Error> {
    let kid = kid.ok_or(Error::UnknownKey)?;
    let mut set = keys.current()?;
    let mut index = set.position(kid);
    if index.is_none()
        && let Keys::Source(src) = keys
        && let Some(newer) = src.unknown_kid(kid)
    {
        set = newer;
        index = set.position(kid);
    }
    let Some(index) = index else {
        // A key set whose latest fetch failed cannot say the key is not there.
        return Err(match keys {
            Keys::Source(src) if src.fetch_failing() => Error::KeysUnavailable,
            _ => Error::UnknownKey,
        });
    };
    let key = set.key_at(index).ok_or(Error::UnknownKey)?;
    if key.alg != alg {
        return Err(Error::AlgNotAllowed);
    }
    Ok(Selected::Public(set, index))
}

/// Key selection for a token whose `iss` names a third-party issuer: that issuer's keys only,
/// asymmetric algorithms only.
pub(super) fn select_third_party<'a>(
    tp: &'a ThirdParty,
    header: &header::Header<'_>,
) -> Result<Selected<'a>, Error> {
    let alg = algorithm(header)?;
    if alg.is_hmac() {
        return Err(Error::AlgNotAllowed);
    }
    select_public(&tp.keys, alg, header.kid.as_deref())
}

pub(super) fn issued_by(from: Option<usize>) -> IssuedBy {
    if from.is_some() {
        IssuedBy::ThirdParty
    } else {
        IssuedBy::Supabase
    }
}

/// HMAC key selection: an exact `kid` match first; otherwise the one key without a `kid` (the
/// legacy secret, whatever `kid` the token carries); a token without `kid` may also use the
/// only key of its algorithm. Anything ambiguous is refused.
pub(super) fn select_hmac<'a>(
    keys: &'a [PreparedHmac],
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<Selected<'a>, Error> {
    let mut count = 0usize;
    let mut only: Option<&PreparedHmac> = None;
    let mut kidless_count = 0usize;
    let mut kidless: Option<&PreparedHmac> = None;
    for key in keys.iter().filter(|k| k.alg == alg) {
        if kid.is_some() && key.kid.as_deref() == kid {
            return Ok(Selected::Hmac(key));
        }
        count += 1;
        only = Some(key);
        if key.kid.is_none() {
            kidless_count += 1;
            kidless = Some(key);
        }
    }
    match (count, kidless_count, kidless, kid, only) {
        (0, ..) => Err(Error::AlgNotAllowed),
        (_, 1, Some(key), _, _) => Ok(Selected::Hmac(key)),
        (1, 0, _, None, Some(key)) => Ok(Selected::Hmac(key)),
        _ => Err(Error::UnknownKey),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn header(alg: &str) -> header::Header<'_> {
        header::Header {
            alg: Cow::Borrowed(alg),
            kid: None,
        }
    }

    #[test]
    fn the_algorithm_is_named_by_the_token_but_never_chosen_by_it() {
        assert_eq!(algorithm(&header("ES256")).ok(), Some(Algorithm::ES256));
        assert_eq!(algorithm(&header("HS256")).ok(), Some(Algorithm::HS256));
        // `none` in any case, and names that only look like algorithms, are not allowed.
        for alg in ["none", "None", "NONE", "", "es256", "HS256 ", "RS256\0"] {
            assert_eq!(
                algorithm(&header(alg)).err(),
                Some(Error::AlgNotAllowed),
                "{alg:?}"
            );
        }
        // Real JOSE algorithms we do not implement are told apart (for the logs).
        assert_eq!(
            algorithm(&header("ES512")).err(),
            Some(Error::UnsupportedAlg)
        );
    }

    #[test]
    fn issued_by_follows_whose_keys_verified() {
        assert_eq!(issued_by(None), IssuedBy::Supabase);
        assert_eq!(issued_by(Some(0)), IssuedBy::ThirdParty);
    }

    #[test]
    fn no_hmac_key_of_the_algorithm_is_not_an_unknown_key() {
        assert!(matches!(
            select_hmac(&[], Algorithm::HS256, None),
            Err(Error::AlgNotAllowed)
        ));
        assert!(matches!(
            select_hmac(&[], Algorithm::HS256, Some("k")),
            Err(Error::AlgNotAllowed)
        ));
    }

    #[test]
    #[cfg(any(feature = "aws_lc_rs", feature = "rust_crypto"))]
    fn hmac_selection_refuses_every_ambiguity() {
        let Some(backend) = CryptoBackend::preferred() else {
            return;
        };
        let set = |json: &str| {
            JwkSet::from_secret_json(json)
                .and_then(|s| crate::keys::prepare_hmac(&s, backend))
                .unwrap_or_default()
        };
        let k = |kid: &str, secret: &str| {
            let kid = if kid.is_empty() {
                String::new()
            } else {
                format!(r#""kid":"{kid}","#)
            };
            format!(r#"{{"kty":"oct",{kid}"alg":"HS256","k":"{secret}"}}"#)
        };
        let a = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
        let b = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI";
        // Two keys with kids: a token must name one.
        let two = set(&format!(r#"{{"keys":[{},{}]}}"#, k("one", a), k("two", b)));
        assert_eq!(two.len(), 2);
        assert!(matches!(
            select_hmac(&two, Algorithm::HS256, Some("two")),
            Ok(Selected::Hmac(key)) if key.kid.as_deref() == Some("two")
        ));
        assert!(matches!(
            select_hmac(&two, Algorithm::HS256, None),
            Err(Error::UnknownKey)
        ));
        assert!(matches!(
            select_hmac(&two, Algorithm::HS256, Some("three")),
            Err(Error::UnknownKey)
        ));
        // The legacy secret (no kid) answers whatever kid the token carries.
        let legacy = set(&format!(r#"{{"keys":[{},{}]}}"#, k("", a), k("two", b)));
        assert!(matches!(
            select_hmac(&legacy, Algorithm::HS256, Some("unknown")),
            Ok(Selected::Hmac(key)) if key.kid.is_none()
        ));
        // One key with a kid also serves a token without one.
        let one = set(&format!(r#"{{"keys":[{}]}}"#, k("one", a)));
        assert!(matches!(
            select_hmac(&one, Algorithm::HS256, None),
            Ok(Selected::Hmac(_))
        ));
    }
}
