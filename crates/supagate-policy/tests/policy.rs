//! Rows 55–60 of `docs/security-catalog.md` §1 C, byte-exact comparison variants, wrong
//! JSON types, combinator truth tables, the `@supabase/ssr` corpus tokens, and a property:
//! decisions never depend on `user_metadata`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{Value, json};
use supagate_core::RequestError as _;
use supagate_jwt::Claims;
use supagate_policy::{
    Failure, Policy, PolicyBuilder, PolicyConfig, PolicyError, Requirement, RoleSource,
};

const NOW: i64 = 1_798_761_600;

fn claims_with(f: impl FnOnce(&mut Value)) -> Claims {
    let mut v = json!({
        "iss": "https://ref.supabase.co/auth/v1", "sub": "3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11",
        "aud": "authenticated", "exp": NOW + 3600, "iat": NOW, "email": "a@example.com", "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]}, "user_metadata": {},
        "role": "authenticated", "aal": "aal1", "amr": [{"method": "password", "timestamp": NOW - 60}],
        "session_id": "b1e0f2a4-7c3d-4e5f-8a9b-0c1d2e3f4a5b", "is_anonymous": false
    });
    f(&mut v);
    serde_json::from_value(v).unwrap()
}

fn user() -> Claims {
    claims_with(|_| {})
}

fn with_app_role(role: Value) -> Claims {
    claims_with(|v| v["app_metadata"]["role"] = role)
}

fn failure(p: &Policy, c: &Claims) -> Option<Failure> {
    p.check_at(c, NOW)
        .into_result()
        .err()
        .map(|d| d.failure().clone())
}

#[test]
fn row_55_postgres_role_must_be_authenticated_unless_allowed() {
    let p = Policy::authenticated();
    for role in ["anon", "service_role", "postgres", "Authenticated"] {
        let c = claims_with(|v| v["role"] = json!(role));
        assert_eq!(failure(&p, &c), Some(Failure::PostgresRole), "{role}");
    }
    let c = claims_with(|v| {
        v.as_object_mut().unwrap().remove("role");
    });
    assert_eq!(failure(&p, &c), Some(Failure::PostgresRole));
    let internal = Policy::authenticated().allow_postgres_roles(["service_role"]);
    assert!(
        internal
            .check_at(&claims_with(|v| v["role"] = json!("service_role")), NOW)
            .is_allowed()
    );
    // The Postgres role is never an app role.
    let admin = Policy::require(Requirement::role("authenticated")).unwrap();
    assert_eq!(failure(&admin, &user()), Some(Failure::Role));
    assert!(matches!(
        RoleSource::claim("role"),
        Err(PolicyError::ForbiddenRoleSource { .. })
    ));
}

#[test]
fn row_56_anonymous_users_are_denied_unless_allowed() {
    let anon = claims_with(|v| v["is_anonymous"] = json!(true));
    let d = Policy::authenticated()
        .check_at(&anon, NOW)
        .into_result()
        .unwrap_err();
    assert_eq!(d.failure(), &Failure::Anonymous);
    assert_eq!(d.status(), http::StatusCode::FORBIDDEN);
    assert_eq!(d.error_code(), Some("insufficient_scope"));
    let open = Policy::authenticated().allow_anonymous();
    assert!(open.check_at(&anon, NOW).is_allowed());
    let permanent = Policy::builder()
        .allow_anonymous()
        .require(Requirement::Permanent)
        .build()
        .unwrap();
    assert_eq!(failure(&permanent, &anon), Some(Failure::Permanent));
}

#[test]
fn row_57_user_metadata_never_grants_a_role() {
    let p = Policy::require(Requirement::role("admin")).unwrap();
    let c = claims_with(|v| {
        v["user_metadata"] =
            json!({"role": "admin", "roles": ["admin"], "app_metadata": {"role": "admin"}});
    });
    assert_eq!(failure(&p, &c), Some(Failure::Role));
    for name in ["user_metadata", "role"] {
        assert!(RoleSource::claim(name).is_err(), "{name}");
    }
    let cfg: Result<PolicyConfig, _> =
        serde_json::from_value(json!({"roles_from": {"from": "user_metadata"}}));
    assert!(cfg.is_err(), "no configuration can name user_metadata");
    let cfg: PolicyConfig =
        serde_json::from_value(json!({"roles_from": {"from": "claim", "name": "user_metadata"}}))
            .unwrap();
    assert!(Policy::from_config(cfg).is_err());
}

#[test]
fn row_58_byte_exact_roles_and_wrong_types_deny() {
    let p = Policy::require(Requirement::role("admin")).unwrap();
    assert!(p.check_at(&with_app_role(json!("admin")), NOW).is_allowed());
    for bad in [
        json!("Admin"),
        json!("ADMIN"),
        json!(" admin"),
        json!("admin "),
        json!("аdmin"),
        json!("admin\u{200b}"),
        json!(["admin"]),
        json!(1),
        json!({"admin": true}),
        json!(null),
        json!(true),
    ] {
        assert_eq!(
            failure(&p, &with_app_role(bad.clone())),
            Some(Failure::Role),
            "{bad}"
        );
    }
    let many = Policy::require(Requirement::role("admin"))
        .unwrap()
        .roles_from(RoleSource::AppMetadataRoles);
    let roles = |r: Value| claims_with(|v| v["app_metadata"]["roles"] = r);
    assert!(
        many.check_at(&roles(json!(["user", "admin"])), NOW)
            .is_allowed()
    );
    for bad in [
        json!("admin"),
        json!(["admin", 1]),
        json!([["admin"]]),
        json!({"0": "admin"}),
    ] {
        assert_eq!(
            failure(&many, &roles(bad.clone())),
            Some(Failure::Role),
            "{bad}"
        );
    }
    let path = Policy::require(Requirement::role("owner"))
        .unwrap()
        .roles_from(RoleSource::app_metadata_path(["org", "role"]).unwrap());
    assert!(
        path.check_at(
            &claims_with(|v| v["app_metadata"]["org"] = json!({"role": "owner"})),
            NOW
        )
        .is_allowed()
    );
    assert_eq!(
        failure(
            &path,
            &claims_with(|v| v["app_metadata"]["org"] = json!("owner"))
        ),
        Some(Failure::Role)
    );
    let hook = Policy::require(Requirement::role("editor"))
        .unwrap()
        .roles_from(RoleSource::claim("user_role").unwrap());
    assert!(
        hook.check_at(&claims_with(|v| v["user_role"] = json!("editor")), NOW)
            .is_allowed()
    );
    assert_eq!(
        failure(&hook, &claims_with(|v| v["user_role"] = json!(7))),
        Some(Failure::Role)
    );
}

#[test]
fn row_59_aal2_required() {
    let p = Policy::require(Requirement::Aal2).unwrap();
    assert_eq!(failure(&p, &user()), Some(Failure::Aal2));
    let d = p.check_at(&user(), NOW).into_result().unwrap_err();
    assert_eq!(d.description(), "aal2 required");
    assert_eq!(
        failure(
            &p,
            &claims_with(|v| {
                v.as_object_mut().unwrap().remove("aal");
            })
        ),
        Some(Failure::Aal2)
    );
    assert!(
        p.check_at(&claims_with(|v| v["aal"] = json!("aal2")), NOW)
            .is_allowed()
    );
    let recent = Policy::require(Requirement::RecentSignIn { max_age_secs: 300 }).unwrap();
    assert!(recent.check_at(&user(), NOW).is_allowed());
    assert_eq!(failure(&recent, &user()), None);
    assert_eq!(
        recent
            .check_at(&user(), NOW + 600)
            .into_result()
            .unwrap_err()
            .failure(),
        &Failure::RecentSignIn
    );
    let no_ts = claims_with(|v| v["amr"] = json!(["password"]));
    assert_eq!(failure(&recent, &no_ts), Some(Failure::RecentSignIn));
}

#[test]
fn row_60_oauth_client_tokens_denied_unless_allowed() {
    let c = claims_with(|v| {
        v["client_id"] = json!("cli-1");
        v["scope"] = json!("openid");
    });
    assert_eq!(
        failure(&Policy::authenticated(), &c),
        Some(Failure::OAuthClient)
    );
    assert!(
        Policy::authenticated()
            .allow_oauth_clients(["cli-1"])
            .check_at(&c, NOW)
            .is_allowed()
    );
    assert_eq!(
        failure(&Policy::authenticated().allow_oauth_clients(["cli-2"]), &c),
        Some(Failure::OAuthClient)
    );
    assert!(
        Policy::authenticated()
            .allow_any_oauth_client()
            .check_at(&c, NOW)
            .is_allowed()
    );
}

#[test]
fn combinator_truth_tables() {
    // a = role admin, b = aal2
    let a = || Requirement::role("admin");
    let b = || Requirement::Aal2;
    for (admin, aal2) in [(false, false), (false, true), (true, false), (true, true)] {
        let c = claims_with(|v| {
            if admin {
                v["app_metadata"]["role"] = json!("admin");
            }
            if aal2 {
                v["aal"] = json!("aal2");
            }
        });
        let ok = |r: Requirement| Policy::require(r).unwrap().check_at(&c, NOW).is_allowed();
        assert_eq!(ok(Requirement::all([a(), b()])), admin && aal2);
        assert_eq!(ok(Requirement::any([a(), b()])), admin || aal2);
        assert_eq!(ok(Requirement::not(a())), !admin);
        assert_eq!(
            ok(Requirement::not(Requirement::all([a(), b()]))),
            !(admin && aal2)
        );
        assert_eq!(
            ok(Requirement::any([Requirement::not(a()), b()])),
            !admin || aal2
        );
        assert_eq!(
            ok(Requirement::AnyRole(vec!["x".into(), "admin".into()])),
            admin
        );
        assert_eq!(ok(Requirement::AllRoles(vec!["admin".into()])), admin);
    }
    assert_eq!(
        Policy::require(Requirement::All(vec![])),
        Err(PolicyError::EmptyList)
    );
    assert_eq!(
        Policy::require(Requirement::role("")),
        Err(PolicyError::EmptyName)
    );
}

#[test]
fn permissions_through_the_role_table() {
    let p = Policy::builder()
        .roles_from(RoleSource::AppMetadataRoles)
        .permissions([
            ("billing", vec!["invoices:read", "invoices:write"]),
            ("support", vec!["invoices:read"]),
        ])
        .require(Requirement::Permission("invoices:write".into()))
        .build()
        .unwrap();
    let roles = |r: Value| claims_with(|v| v["app_metadata"]["roles"] = r);
    assert!(p.check_at(&roles(json!(["billing"])), NOW).is_allowed());
    assert_eq!(
        failure(&p, &roles(json!(["support"]))),
        Some(Failure::Permission)
    );
    assert_eq!(
        failure(&p, &roles(json!(["invoices:write"]))),
        Some(Failure::Permission)
    );
    assert_eq!(
        Policy::require(Requirement::Permission("nope".into())),
        Err(PolicyError::UnknownPermission("nope".into()))
    );
}

/// The builder's setters only record: every order of the same calls builds the same policy,
/// or fails with the same error.
#[test]
fn builder_setter_order_does_not_matter() {
    type Step = fn(PolicyBuilder) -> PolicyBuilder;
    let steps: [Step; 4] = [
        |b| b.require(Requirement::Permission("invoices:write".into())),
        |b| b.permissions([("billing", ["invoices:write"])]),
        |b| b.roles_from(RoleSource::AppMetadataRoles),
        |b| b.allow_postgres_roles(["service_role"]),
    ];
    let build = |order: &[usize]| {
        order
            .iter()
            .fold(Policy::builder(), |b, &i| steps[i](b))
            .build()
    };
    let reference = build(&[0, 1, 2, 3]).unwrap();
    let mut orders = vec![];
    permutations(&mut vec![0, 1, 2, 3], 0, &mut orders);
    assert_eq!(orders.len(), 24);
    for order in &orders {
        assert_eq!(build(order).as_ref(), Ok(&reference), "{order:?}");
    }
    // Without the table, the same requirement fails in every order.
    for order in [[0, 2, 3], [2, 3, 0], [3, 0, 2]] {
        assert_eq!(
            build(&order),
            Err(PolicyError::UnknownPermission("invoices:write".into()))
        );
    }
    // A forbidden role source is refused at build, wherever it was set.
    let bad = serde_json::from_value::<RoleSource>(json!({"from": "claim", "name": "role"}))
        .expect("a claim role source");
    assert!(matches!(
        Policy::builder().roles_from(bad).build(),
        Err(PolicyError::ForbiddenRoleSource { .. })
    ));
}

fn permutations(v: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
    if k == v.len() {
        out.push(v.clone());
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permutations(v, k + 1, out);
        v.swap(k, i);
    }
}

#[test]
fn policies_are_plain_shareable_data() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Policy>();
    let cfg: PolicyConfig = serde_json::from_value(json!({
        "require": {"all": [{"any_role": ["admin", "owner"]}, "aal2", {"not": "permanent"}]},
        "allow_anonymous": true,
        "allow_oauth_clients": ["*"]
    }))
    .unwrap();
    let p = Policy::from_config(cfg).unwrap();
    let c = claims_with(|v| {
        v["app_metadata"]["role"] = json!("owner");
        v["aal"] = json!("aal2");
        v["is_anonymous"] = json!(true);
        v["client_id"] = json!("x");
    });
    assert!(p.check_at(&c, NOW).is_allowed());
}

#[test]
fn corpus_tokens() {
    use supagate_jwt::{FixedClock, Hs256Secret, JwkSet, Verifier};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/supabase-ssr");
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(p)).unwrap()).unwrap()
    };
    let verifier = Verifier::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")
        .hs256_secret(
            Hs256Secret::new(read("keys/hs256.json")["secret"].as_str().unwrap()).unwrap(),
        )
        .jwk_set(
            JwkSet::from_json(&std::fs::read_to_string(dir.join("keys/jwks.json")).unwrap())
                .unwrap(),
        )
        .clock(FixedClock::new(
            read("index.json")["reference_now_unix"].as_i64().unwrap(),
        ))
        .build()
        .unwrap();
    let signed_in = Policy::authenticated();
    let admin = Policy::require(Requirement::role("admin")).unwrap();
    let mfa = Policy::require(Requirement::Aal2).unwrap();
    let mut seen_anonymous = false;
    for entry in std::fs::read_dir(dir.join("cases")).unwrap() {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let Some(token) = case["expected_access_token"].as_str() else {
            continue;
        };
        let id = case["id"].as_str().unwrap();
        let claims = verifier.verify(token).unwrap();
        let now = claims.iat;
        if claims.is_anonymous {
            seen_anonymous = true;
            assert_eq!(
                failure_at(&signed_in, &claims, now),
                Some(Failure::Anonymous),
                "{id}"
            );
            assert!(
                signed_in
                    .clone()
                    .allow_anonymous()
                    .check_at(&claims, now)
                    .is_allowed(),
                "{id}"
            );
        } else {
            assert!(signed_in.check_at(&claims, now).is_allowed(), "{id}");
        }
        // No corpus user has an app role or MFA.
        assert!(!admin.check_at(&claims, now).is_allowed(), "{id}");
        assert!(failure_at(&mfa, &claims, now).is_some(), "{id}");
    }
    assert!(
        seen_anonymous,
        "the corpus has an anonymous-user session (w11)"
    );
}

fn failure_at(p: &Policy, c: &Claims, now: i64) -> Option<Failure> {
    p.check_at(c, now)
        .into_result()
        .err()
        .map(|d| d.failure().clone())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "(admin|owner|billing|role|roles|[a-zA-Zа-я ]{0,8})".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                "(role|roles|app_metadata|org|[a-z]{1,6})",
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decisions_never_depend_on_user_metadata(meta in arb_json(), admin in any::<bool>(), aal2 in any::<bool>(), anon in any::<bool>()) {
        let base = |m: Value| claims_with(|v| {
            v["user_metadata"] = m;
            if admin { v["app_metadata"]["role"] = json!("admin"); v["app_metadata"]["roles"] = json!(["admin"]); }
            if aal2 { v["aal"] = json!("aal2"); }
            v["is_anonymous"] = json!(anon);
        });
        let plain = base(json!({}));
        let meta_obj = if meta.is_object() { meta } else { json!({"role": meta}) };
        let edited = base(meta_obj);
        let policies = [
            Policy::authenticated(),
            Policy::require(Requirement::role("admin")).unwrap(),
            Policy::require(Requirement::role("admin")).unwrap().roles_from(RoleSource::AppMetadataRoles),
            Policy::require(Requirement::any([Requirement::role("admin"), Requirement::Aal2])).unwrap(),
            Policy::require(Requirement::not(Requirement::role("admin"))).unwrap().allow_anonymous(),
            Policy::require(Requirement::role("admin")).unwrap().roles_from(RoleSource::app_metadata_path(["org", "role"]).unwrap()),
        ];
        for p in &policies {
            prop_assert_eq!(p.check_at(&plain, NOW), p.check_at(&edited, NOW));
        }
    }
}

#[test]
fn scope_requirements_match_whole_space_separated_tokens() {
    let scoped = |scope: &str| {
        claims_with(|v| {
            v["client_id"] = json!("cli-1");
            v["scope"] = json!(scope);
        })
    };
    let p = Policy::builder()
        .require(Requirement::Scope("notes:read".into()))
        .allow_oauth_clients(["cli-1"])
        .build()
        .unwrap();
    assert!(p.check_at(&scoped("notes:read"), NOW).is_allowed());
    assert!(p.check_at(&scoped("openid notes:read"), NOW).is_allowed());
    // Whole tokens only, case-sensitive: no prefix, suffix or substring match.
    for near in [
        "notes:reads",
        "xnotes:read",
        "notes",
        "NOTES:READ",
        "notes:read,x",
        "",
    ] {
        let d = p.check_at(&scoped(near), NOW).into_result().unwrap_err();
        assert_eq!(d.failure(), &Failure::Scope, "{near}");
        assert_eq!(d.scope(), Some("notes:read"), "{near}");
        assert_eq!(d.error_code(), Some("insufficient_scope"));
    }
    // A user session has no scope claim.
    assert_eq!(failure(&p, &claims_with(|_| {})), Some(Failure::Scope));
    // The denial lists every missing scope of an `all`, once, in order; not those under `not`.
    let both = Policy::builder()
        .require(Requirement::all([
            Requirement::Scope("a:read".into()),
            Requirement::Scope("b:write".into()),
            Requirement::not(Requirement::Scope("admin".into())),
            Requirement::Scope("a:read".into()),
        ]))
        .allow_oauth_clients(["cli-1"])
        .build()
        .unwrap();
    let d = both
        .check_at(&scoped("openid"), NOW)
        .into_result()
        .unwrap_err();
    assert_eq!(d.scope(), Some("a:read b:write"));
    let d = both
        .check_at(&scoped("b:write"), NOW)
        .into_result()
        .unwrap_err();
    assert_eq!(d.scope(), Some("a:read"));
    // Other refusals carry no scope.
    let admin = Policy::require(Requirement::role("admin")).unwrap();
    let d = admin
        .check_at(&claims_with(|_| {}), NOW)
        .into_result()
        .unwrap_err();
    assert_eq!(d.scope(), None);
    // Scope names that cannot go into a challenge are refused at build.
    for bad in ["", "two words", "q\"uote", "back\\slash", "tab\t", "é"] {
        assert_eq!(
            Policy::require(Requirement::Scope(bad.into())),
            Err(PolicyError::BadScope),
            "{bad:?}"
        );
    }
    // And from configuration.
    let cfg: PolicyConfig = serde_json::from_value(json!({
        "require": {"scope": "notes:read"}, "allow_oauth_clients": ["cli-1"]
    }))
    .unwrap();
    assert_eq!(Policy::from_config(cfg).unwrap(), p);
}

#[test]
fn third_party_tokens_meet_no_requirement_read_from_provider_written_claims() {
    // Everything a requirement could read, as a provider template might write it.
    let mut claims = claims_with(|v| {
        v["app_metadata"] = json!({"role": "admin", "roles": ["admin", "billing"]});
        v["aal"] = json!("aal2");
        v["scope"] = json!("notes:read");
    });
    claims.issued_by = supagate_jwt::IssuedBy::ThirdParty;
    let permissions = [("admin", vec!["invoices:write"])];
    let cases: Vec<(Requirement, RoleSource, Failure)> = vec![
        (
            Requirement::role("admin"),
            RoleSource::default(),
            Failure::Role,
        ),
        (
            Requirement::AnyRole(vec!["admin".into(), "x".into()]),
            RoleSource::default(),
            Failure::Role,
        ),
        (
            Requirement::AllRoles(vec!["admin".into(), "billing".into()]),
            RoleSource::AppMetadataRoles,
            Failure::Role,
        ),
        (
            Requirement::Permission("invoices:write".into()),
            RoleSource::default(),
            Failure::Permission,
        ),
        (Requirement::Aal2, RoleSource::default(), Failure::Aal2),
        (
            Requirement::RecentSignIn { max_age_secs: 600 },
            RoleSource::default(),
            Failure::RecentSignIn,
        ),
        // Review finding: `scope` is as provider-written as the roles.
        (
            Requirement::Scope("notes:read".into()),
            RoleSource::default(),
            Failure::Scope,
        ),
    ];
    for (requirement, source, failure) in cases {
        let build = |trust: bool| {
            let b = Policy::builder()
                .require(requirement.clone())
                .roles_from(source.clone())
                .permissions(permissions.clone());
            if trust {
                b.trust_third_party_claims()
            } else {
                b
            }
            .build()
            .unwrap()
        };
        let denied = build(false).check_at(&claims, NOW);
        assert_eq!(
            denied.into_result().unwrap_err().failure(),
            &failure,
            "{requirement:?}"
        );
        assert!(
            build(true).check_at(&claims, NOW).is_allowed(),
            "{requirement:?}"
        );
        // The project's own token with the same claims passes without trust.
        let mut own = claims.clone();
        own.issued_by = supagate_jwt::IssuedBy::Supabase;
        assert!(
            build(false).check_at(&own, NOW).is_allowed(),
            "{requirement:?}"
        );
    }
    // What does not read provider-written claims applies as usual.
    assert!(Policy::authenticated().check_at(&claims, NOW).is_allowed());
    assert!(
        Policy::require(Requirement::Permanent)
            .unwrap()
            .check_at(&claims, NOW)
            .is_allowed()
    );
    assert!(
        Policy::require(Requirement::ClientScope("notes:read".into()))
            .unwrap()
            .check_at(&claims, NOW)
            .is_allowed(),
        "no client_id: not an OAuth grant"
    );
    // And from configuration.
    let cfg: PolicyConfig =
        serde_json::from_str(r#"{"require": {"role": "admin"}, "trust_third_party_claims": true}"#)
            .unwrap();
    assert!(
        Policy::from_config(cfg)
            .unwrap()
            .check_at(&claims, NOW)
            .is_allowed()
    );
}

/// Review finding: a third-party issuer's token with `client_id` and `scope` claims passed the
/// OAuth-client allow-list and `Scope` like a grant Supabase Auth made to one of the project's
/// OAuth clients. A provider writes any `client_id`: the same gate as its roles applies.
#[test]
fn a_third_party_client_id_is_no_oauth_grant_of_the_project() {
    let mut claims = claims_with(|v| {
        v["client_id"] = json!("mcp-client");
        v["scope"] = json!("openid notes:read");
    });
    claims.issued_by = supagate_jwt::IssuedBy::ThirdParty;
    let listed = || {
        Policy::builder()
            .require(Requirement::ClientScope("notes:read".into()))
            .allow_oauth_clients(["mcp-client"])
    };
    let any = || {
        Policy::builder()
            .require(Requirement::Scope("notes:read".into()))
            .allow_any_oauth_client()
    };
    for policy in [listed().build().unwrap(), any().build().unwrap()] {
        let d = policy.check_at(&claims, NOW).into_result().unwrap_err();
        assert_eq!(d.failure(), &Failure::OAuthClient, "{policy:?}");
    }
    // Trusted on purpose: as for the project's own grants.
    assert!(
        listed()
            .trust_third_party_claims()
            .build()
            .unwrap()
            .check_at(&claims, NOW)
            .is_allowed()
    );
    assert!(
        any()
            .trust_third_party_claims()
            .build()
            .unwrap()
            .check_at(&claims, NOW)
            .is_allowed()
    );
    // The project's own grant passes as before.
    let mut own = claims.clone();
    own.issued_by = supagate_jwt::IssuedBy::Supabase;
    assert!(listed().build().unwrap().check_at(&own, NOW).is_allowed());
    assert!(any().build().unwrap().check_at(&own, NOW).is_allowed());
}
