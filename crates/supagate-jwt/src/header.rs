//! The JOSE header, read against an allow-list.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::Error;
use crate::keys::MAX_KID_LEN;

/// The members of a token header that passed the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub(crate) alg: Cow<'a, str>,
    pub(crate) kid: Option<Cow<'a, str>>,
}

/// Header member names that are known JOSE names, so an error may name them.
const KNOWN: &[&str] = &[
    "crit", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "cty", "enc", "zip", "b64", "epk",
    "apu", "apv", "iv", "tag", "p2s", "p2c", "url", "nonce",
];

enum Problem {
    Forbidden(&'static str),
    Duplicate,
    WrongType,
}

struct Raw<'a> {
    alg: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    problem: Option<Problem>,
}

impl<'de> serde::Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawVisitor)
    }
}

struct RawVisitor;

/// A header member name, read without allocating.
enum Member {
    Alg,
    Kid,
    Typ,
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Member, E> {
                Ok(match v {
                    "alg" => Member::Alg,
                    "kid" => Member::Kid,
                    "typ" => Member::Typ,
                    other => Member::Other(
                        KNOWN
                            .iter()
                            .find(|k| **k == other)
                            .copied()
                            .unwrap_or("unknown"),
                    ),
                })
            }
        }
        d.deserialize_str(V)
    }
}

fn set<'a>(
    slot: &mut Option<Cow<'a, str>>,
    value: Option<Cow<'a, str>>,
    problem: &mut Option<Problem>,
) {
    match value {
        None => {
            problem.get_or_insert(Problem::WrongType);
        }
        Some(v) => {
            if slot.is_some() {
                problem.get_or_insert(Problem::Duplicate);
            }
            *slot = Some(v);
        }
    }
}

/// A JSON value that must be a string; anything else is recorded as `None` (and consumed).
/// Borrows from the input when the string has no escapes.
struct MaybeString<'a>(Option<Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for MaybeString<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeString<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MaybeString<'de>, E> {
                Ok(MaybeString(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<MaybeString<'de>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<MaybeString<'de>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        let mut raw = Raw {
            alg: None,
            kid: None,
            typ: None,
            problem: None,
        };
        while let Some(key) = map.next_key::<Member>()? {
            match key {
                Member::Alg => {
                    let v = map.next_value::<MaybeString<'de>>()?.0;
                    set(&mut raw.alg, v, &mut raw.problem);
                }
                Member::Kid => {
                    let v = map.next_value::<MaybeString<'de>>()?.0;
                    set(&mut raw.kid, v, &mut raw.problem);
                }
                Member::Typ => {
                    let v = map.next_value::<MaybeString<'de>>()?.0;
                    set(&mut raw.typ, v, &mut raw.problem);
                }
                Member::Other(name) => {
                    map.next_value::<IgnoredAny>()?;
                    raw.problem.get_or_insert(Problem::Forbidden(name));
                }
            }
        }
        Ok(raw)
    }
}

/// Parses the decoded header segment. Only `alg`, `kid` and `typ` are allowed, each at most
/// once and each a string; `typ` must be `JWT` (case-insensitive) when present.
pub(crate) fn parse(bytes: &[u8]) -> Result<Header<'_>, Error> {
    let raw: Raw<'_> = serde_json::from_slice(bytes).map_err(|_| Error::Malformed)?;
    match raw.problem {
        Some(Problem::Forbidden(member)) => return Err(Error::HeaderNotAllowed { member }),
        Some(Problem::Duplicate | Problem::WrongType) => return Err(Error::Malformed),
        None => {}
    }
    if let Some(typ) = &raw.typ
        && !typ.eq_ignore_ascii_case("JWT")
    {
        return Err(Error::TypeNotAllowed);
    }
    let alg = raw.alg.ok_or(Error::Malformed)?;
    if let Some(kid) = &raw.kid
        && (kid.is_empty() || kid.len() > MAX_KID_LEN)
    {
        return Err(Error::UnknownKey);
    }
    Ok(Header { alg, kid: raw.kid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        assert!(parse(br#"{"alg":"HS256","typ":"JWT","kid":"x"}"#).is_ok());
        assert!(parse(br#"{"alg":"HS256","typ":"jwt"}"#).is_ok());
        assert!(parse(br#"{"alg":"HS\u0032\u0035\u0036"}"#).is_ok());
        assert_eq!(
            parse(br#"{"alg":"HS256","crit":[]}"#),
            Err(Error::HeaderNotAllowed { member: "crit" })
        );
        assert_eq!(
            parse(br#"{"alg":"HS256","x-custom":1}"#),
            Err(Error::HeaderNotAllowed { member: "unknown" })
        );
        assert_eq!(
            parse(br#"{"alg":"HS256","typ":"at+jwt"}"#),
            Err(Error::TypeNotAllowed)
        );
        assert_eq!(
            parse(br#"{"alg":"HS256","alg":"HS256"}"#),
            Err(Error::Malformed)
        );
        assert_eq!(parse(br#"{"alg":"HS256","kid":7}"#), Err(Error::Malformed));
        assert_eq!(
            parse(br#"{"alg":"HS256","kid":null}"#),
            Err(Error::Malformed)
        );
        assert_eq!(parse(br#"{"alg":"HS256"}xyz"#), Err(Error::Malformed));
        assert_eq!(
            parse(b"\xEF\xBB\xBF{\"alg\":\"HS256\"}"),
            Err(Error::Malformed)
        );
        assert_eq!(parse(br#"["HS256"]"#), Err(Error::Malformed));
        assert_eq!(parse(br#"{}"#), Err(Error::Malformed));
    }
}
