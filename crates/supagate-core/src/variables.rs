//! [`Variables`]: the configuration variables, read once, in one place.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

type LookupFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The configuration variables the crates of this family read: a snapshot of the process
/// environment ([`Variables::from_env`], the only place in the family that reads it), or
/// any other source (a map in tests, a secrets store), with defaults layered under it.
///
/// A value that is empty or only whitespace counts as unset, everywhere. `Debug` lists names,
/// never values (several are secrets), and the snapshot's values are zeroed on drop.
///
/// # Examples
///
/// ```
/// use supagate_core::Variables;
///
/// let vars = Variables::from_pairs([("SUPABASE_URL", "http://127.0.0.1:54321"), ("API_URL", " ")])
///     .with_default("BIND", "127.0.0.1:3000")
///     .with_default("API_URL", "http://127.0.0.1:8000");
/// assert_eq!(vars.get("SUPABASE_URL").as_deref(), Some("http://127.0.0.1:54321"));
/// assert_eq!(vars.get("BIND").as_deref(), Some("127.0.0.1:3000")); // absent: the default
/// assert_eq!(vars.get("API_URL"), None); // blank is unset, and no default stands in
/// assert_eq!(vars.get("SUPABASE_JWT_SECRET"), None);
/// assert_eq!(format!("{vars:?}"), r#"Variables { set: ["SUPABASE_URL"], defaults: ["API_URL", "BIND"] }"#);
/// ```
#[derive(Clone)]
pub struct Variables {
    source: Source,
    defaults: BTreeMap<String, String>,
}

#[derive(Clone)]
enum Source {
    Snapshot(Arc<BTreeMap<String, Zeroizing<String>>>),
    Lookup(Arc<LookupFn>),
}

impl Variables {
    /// A snapshot of the process environment (values that are not UTF-8 are left out, as
    /// unset). The one place of the crate family that reads the environment.
    #[must_use]
    pub fn from_env() -> Self {
        let map = std::env::vars_os()
            .filter_map(|(k, v)| {
                Some((k.into_string().ok()?, Zeroizing::new(v.into_string().ok()?)))
            })
            .collect();
        Variables {
            source: Source::Snapshot(Arc::new(map)),
            defaults: BTreeMap::new(),
        }
    }

    /// Variables from `(name, value)` pairs.
    ///
    /// # Examples
    ///
    /// ```
    /// let vars = supagate_core::Variables::from_pairs([("A", "1")]);
    /// assert_eq!(vars.get("A").as_deref(), Some("1"));
    /// ```
    #[must_use]
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), Zeroizing::new(v.into())))
            .collect();
        Variables {
            source: Source::Snapshot(Arc::new(map)),
            defaults: BTreeMap::new(),
        }
    }

    /// A snapshot of `names`, each asked of `lookup` once (a map in tests, a secrets store
    /// that is not `'static`).
    ///
    /// # Examples
    ///
    /// ```
    /// let url = String::from("http://127.0.0.1:54321");
    /// let vars = supagate_core::Variables::snapshot(["SUPABASE_URL", "BIND"], |name| {
    ///     (name == "SUPABASE_URL").then(|| url.clone())
    /// });
    /// assert_eq!(vars.get("SUPABASE_URL").as_deref(), Some("http://127.0.0.1:54321"));
    /// assert_eq!(vars.get("BIND"), None);
    /// ```
    #[must_use]
    pub fn snapshot<'n>(
        names: impl IntoIterator<Item = &'n str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        Variables::from_pairs(
            names
                .into_iter()
                .filter_map(|name| Some((name.to_owned(), lookup(name)?))),
        )
    }

    /// Variables asked of `lookup` each time one is read.
    ///
    /// # Examples
    ///
    /// ```
    /// let vars = supagate_core::Variables::from_lookup(|name| (name == "A").then(|| "1".to_owned()));
    /// assert_eq!(vars.get("A").as_deref(), Some("1"));
    /// assert_eq!(vars.get("B"), None);
    /// ```
    #[must_use]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Variables {
            source: Source::Lookup(Arc::new(lookup)),
            defaults: BTreeMap::new(),
        }
    }

    /// `value` for `name` when the source does not have it at all (an application's own
    /// default, such as a local stack's URL in a demo). A variable set to a blank value stays
    /// unset: the default never stands in for a value someone emptied.
    ///
    /// # Examples
    ///
    /// ```
    /// let vars = supagate_core::Variables::from_pairs([("A", "1")]).with_default("A", "2").with_default("B", "3");
    /// assert_eq!((vars.get("A").as_deref(), vars.get("B").as_deref()), (Some("1"), Some("3")));
    /// ```
    #[must_use]
    pub fn with_default(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.defaults.insert(name.into(), value.into());
        self
    }

    /// The names these variables have values or defaults for, sorted: every name of a
    /// snapshot ([`Variables::from_env`], [`Variables::from_pairs`]) whose value is not blank
    /// (a blank one reads as unset), and the defaults; only the defaults of a lookup
    /// ([`Variables::from_lookup`]), which cannot be listed. For checks that look at
    /// every variable (a secret in a browser-bundled variable, a misspelled name).
    ///
    /// # Examples
    ///
    /// ```
    /// let vars = supagate_core::Variables::from_pairs([("B", "2"), ("A", "1"), ("D", " ")])
    ///     .with_default("C", "3");
    /// assert_eq!(vars.names(), ["A", "B", "C"]);
    /// assert!(supagate_core::Variables::from_lookup(|_| None).names().is_empty());
    /// ```
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.source {
            Source::Snapshot(map) => map
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, _)| k.clone())
                .collect(),
            Source::Lookup(_) => Vec::new(),
        };
        names.extend(self.defaults.keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    /// The value of `name`, or its default when the source does not have it; `None` when it
    /// is set to an empty or whitespace-only value. Not trimmed otherwise: what a value may
    /// look like is for its reader to say.
    ///
    /// # Examples
    ///
    /// ```
    /// let vars = supagate_core::Variables::from_pairs([("A", " x "), ("B", "")]);
    /// assert_eq!(vars.get("A").as_deref(), Some(" x "));
    /// assert_eq!(vars.get("B"), None);
    /// ```
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        let set = match &self.source {
            Source::Snapshot(map) => map.get(name).map(|v| v.as_str().to_owned()),
            Source::Lookup(f) => f(name),
        };
        match set {
            None => self.defaults.get(name).cloned(),
            Some(v) if v.trim().is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// Whether `name` has a value (set, or by default).
    ///
    /// # Examples
    ///
    /// ```
    /// let vars = supagate_core::Variables::from_pairs([("A", "1")]);
    /// assert!(vars.is_set("A") && !vars.is_set("B"));
    /// ```
    #[must_use]
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Variables");
        match &self.source {
            Source::Snapshot(map) => d.field(
                "set",
                &map.iter()
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            ),
            Source::Lookup(_) => d.field("set", &"<lookup>"),
        };
        d.field("defaults", &self.defaults.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let vars = Variables::from_pairs([("SUPABASE_JWT_SECRET", "a-secret-value")])
            .with_default("X", "a-default-value");
        let shown = format!("{vars:?}");
        assert!(
            !shown.contains("a-secret-value") && !shown.contains("a-default-value"),
            "{shown}"
        );
        assert!(shown.contains("SUPABASE_JWT_SECRET"), "{shown}");
    }

    #[test]
    fn blank_is_unset_and_no_default_stands_in_for_it() {
        let vars = Variables::from_lookup(|n| match n {
            "A" => Some("\t\n".into()),
            "B" => Some("v".into()),
            _ => None,
        })
        .with_default("A", "d")
        .with_default("C", "c");
        assert_eq!(vars.get("A"), None);
        assert_eq!(vars.get("B").as_deref(), Some("v"));
        assert_eq!(vars.get("C").as_deref(), Some("c"));
    }
}
