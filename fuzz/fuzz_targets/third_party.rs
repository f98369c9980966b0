//! Third-party issuers: arbitrary bytes as a token, as the payload of a token the provider
//! really signed, and as `SUPABASE_THIRD_PARTY_ISSUERS`. Never a panic; a provider-signed
//! payload is accepted only as the provider's (its `iss`, `ThirdParty`, its audience and role).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use supagate_jwt::{IssuedBy, SupabaseConfig, ThirdPartyIssuer, Variables, Verifier};
use supagate_testkit::{MockOidc, TestKeys, TokenBuilder, sign_raw_provider};

const CLERK: &str = "https://clerk.example.com";

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        TestKeys::new()
            .verifier_builder()
            .third_party_issuer(
                ThirdPartyIssuer::new(CLERK)
                    .audience(MockOidc::AUDIENCE)
                    .jwk_set(MockOidc::jwk_set()),
            )
            .clock(supagate_jwt::FixedClock::new(TokenBuilder::DEFAULT_NOW))
            .no_token_cache()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let v = verifier();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = v.verify(text);
        let _ = SupabaseConfig::from_variables(&Variables::from_pairs([
            ("SUPABASE_URL", TestKeys::SUPABASE_URL),
            ("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET),
            ("SUPABASE_THIRD_PARTY_ISSUERS", text),
        ]));
    }
    let header = format!(r#"{{"alg":"ES256","kid":"{}","typ":"JWT"}}"#, MockOidc::KID);
    let token = sign_raw_provider(header.as_bytes(), data);
    if let Ok(claims) = v.verify(&token) {
        assert_eq!(claims.issued_by, IssuedBy::ThirdParty);
        assert_eq!(claims.iss.as_deref(), Some(CLERK));
        assert!(claims.aud.contains(MockOidc::AUDIENCE));
        assert_eq!(claims.postgres_role.as_deref(), Some("authenticated"));
    }
});
