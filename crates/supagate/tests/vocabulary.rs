//! One vocabulary across the crates: every request-time error type has the same accessors
//! (`supagate::RequestError`, from `supagate-core`), and the aggregate `AuthError` delegates to what it wraps.
#![allow(clippy::unwrap_used)]

use supagate::{AuthError, CookieError, RequestError, TokenError as Error};

fn accessors(e: &dyn RequestError) -> (u16, Option<&'static str>, &'static str, &'static str) {
    (
        e.status().as_u16(),
        e.error_code(),
        e.description(),
        e.reason(),
    )
}

#[test]
fn every_request_time_error_has_the_same_accessors() {
    let denial = supagate::Policy::require(supagate::Requirement::role("admin"))
        .unwrap()
        .check_at(&sample_claims(), 0)
        .into_result()
        .unwrap_err();
    let wrapped: [(&dyn RequestError, AuthError); 3] = [
        (&Error::Expired, AuthError::Token(Error::Expired)),
        (
            &CookieError::TooLarge,
            AuthError::Session(CookieError::TooLarge),
        ),
        (&denial, AuthError::Forbidden(denial.clone())),
    ];
    for (inner, outer) in &wrapped {
        assert_eq!(accessors(*inner), accessors(outer), "{outer:?}");
    }
    #[cfg(feature = "proxy")]
    {
        let e = supagate::proxy::ProxyError::CsrfRejected;
        assert_eq!(
            accessors(&e),
            (403, None, "cross-site request refused", "csrf_rejected")
        );
    }
}

fn sample_claims() -> supagate::Claims {
    use supagate_testkit::{TestKeys, TokenBuilder};
    let keys = TestKeys::new();
    keys.verifier_at(TokenBuilder::DEFAULT_NOW)
        .verify(&TokenBuilder::new().sign_hs256(&keys))
        .unwrap()
}

#[test]
fn the_shared_words_are_one_item_whichever_crate_names_them() {
    // supagate-core's types, re-exported: the same type through every path.
    let t: supagate::Token = supagate::jwt::Token::new("t");
    let _: supagate::core::Token = t;
    let p: supagate::SupabaseProject =
        supagate::jwt::SupabaseProject::parse("http://127.0.0.1:54321").unwrap();
    let _: supagate::core::SupabaseProject = p;
    fn takes_core_trait<E: supagate::core::RequestError>(_: &E) {}
    takes_core_trait(&Error::Expired);
    takes_core_trait(&CookieError::TooLarge);
}
