//! Streaming check of the session JSON: reads only `access_token`, `refresh_token`,
//! `expires_at` and whether `user` is an object, skipping everything else without building it,
//! with a nesting-depth budget.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::CookieError;

/// The JSON type of a value, with the string kept when asked for.
pub(crate) enum Kind {
    Str(Option<String>),
    Null,
    Int(i64),
    Float(f64),
    Other,
    Object,
}

/// Visits any value within `budget` levels of nesting.
#[derive(Clone, Copy)]
struct Any {
    budget: usize,
    keep: bool,
}

impl<'de> DeserializeSeed<'de> for Any {
    type Value = Kind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Any {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(self.keep.then(|| v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(self.keep.then_some(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Other)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let inner = self.enter()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(Kind::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let inner = self.enter()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(Kind::Object)
    }
}

impl Any {
    fn enter<E: de::Error>(self) -> Result<Any, E> {
        match self.budget.checked_sub(1) {
            Some(budget) if budget > 0 => Ok(Any {
                budget,
                keep: false,
            }),
            _ => Err(E::custom("json nested too deeply")),
        }
    }
}

/// What the session check found.
pub(crate) struct Shape {
    pub(crate) access: Option<Kind>,
    pub(crate) refresh: Option<Kind>,
    pub(crate) expires_at: Option<Kind>,
    pub(crate) user_is_object: bool,
}

enum Key {
    Access,
    Refresh,
    ExpiresAt,
    User,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "access_token" => Key::Access,
                    "refresh_token" => Key::Refresh,
                    "expires_at" => Key::ExpiresAt,
                    "user" => Key::User,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

struct Top {
    budget: usize,
}

impl<'de> Visitor<'de> for Top {
    type Value = Option<Shape>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a session object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Shape>, A::Error> {
        let inner = Any {
            budget: self.budget,
            keep: false,
        }
        .enter()?;
        let keep = Any {
            keep: true,
            ..inner
        };
        let mut shape = Shape {
            access: None,
            refresh: None,
            expires_at: None,
            user_is_object: false,
        };
        // Later members win, as with `JSON.parse`.
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Access => shape.access = Some(map.next_value_seed(keep)?),
                Key::Refresh => shape.refresh = Some(map.next_value_seed(keep)?),
                Key::ExpiresAt => shape.expires_at = Some(map.next_value_seed(inner)?),
                Key::User => {
                    shape.user_is_object = matches!(map.next_value_seed(inner)?, Kind::Object)
                }
                Key::Other => {
                    map.next_value_seed(inner)?;
                }
            }
        }
        Ok(Some(shape))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Shape>, A::Error> {
        Any {
            budget: self.budget,
            keep: false,
        }
        .visit_seq(seq)
        .map(|_| None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<Shape>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Shape>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Shape>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Shape>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Shape>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Shape>, E> {
        Ok(None)
    }
}

/// Checks `json` (one pass, nothing built but the two tokens). `BadJson` for syntax errors,
/// trailing data or nesting beyond `max_depth`; `NotASession` for a non-object.
pub(crate) fn check(json: &str, max_depth: usize) -> Result<Shape, CookieError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let shape = de
        .deserialize_any(Top { budget: max_depth })
        .map_err(|_| CookieError::BadJson)?;
    de.end().map_err(|_| CookieError::BadJson)?;
    shape.ok_or(CookieError::NotASession)
}
