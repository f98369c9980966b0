//! The variables the library reads, from the environment, an env file and flags.

use std::collections::BTreeMap;
use std::sync::Arc;

use supagate::Variables;

use crate::{ProjectArgs, Usage};

/// The variables of one run: flags over the env file over the environment.
#[derive(Clone)]
pub(crate) struct Vars {
    overlay: Arc<BTreeMap<String, String>>,
    env: Variables,
}

impl Vars {
    pub(crate) fn new(args: &ProjectArgs, env: Variables) -> Result<Vars, Usage> {
        let mut overlay = BTreeMap::new();
        if let Some(path) = &args.env_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Usage(format!("cannot read the env file {path}: {e}")))?;
            for (name, value) in parse_env_file(&text) {
                overlay.insert(name, value);
            }
        }
        for (name, value) in [
            ("SUPABASE_URL", &args.url),
            ("SUPABASE_JWKS", &args.jwks),
            ("SUPABASE_JWKS_URL", &args.jwks_url),
            ("SUPABASE_THIRD_PARTY_ISSUERS", &args.third_party_issuers),
        ] {
            if let Some(value) = value {
                overlay.insert(name.to_owned(), value.clone());
            }
        }
        Ok(Vars {
            overlay: Arc::new(overlay),
            env,
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.overlay
            .get(name)
            .cloned()
            .or_else(|| self.env.get(name))
            .filter(|v| !v.trim().is_empty())
    }

    /// Every name set, the env file's and the flags' with the environment's.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.overlay.keys().cloned().collect();
        for n in self.env.names() {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names.sort();
        names
    }

    /// As the library reads them.
    pub(crate) fn variables(&self) -> Variables {
        let this = self.clone();
        Variables::from_lookup(move |name| this.get(name))
    }

    /// Only `names` of these (the rest unset), with `extra` over them: one check at a time.
    pub(crate) fn only(&self, names: &[&str], extra: &[(&str, &str)]) -> Variables {
        let mut map: BTreeMap<String, String> = names
            .iter()
            .filter_map(|n| Some(((*n).to_owned(), self.get(n)?)))
            .collect();
        for (n, v) in extra {
            map.insert((*n).to_owned(), (*v).to_owned());
        }
        Variables::from_pairs(map)
    }
}

/// The variables of an env file: `KEY=VALUE` lines, with `export ` prefixes, `#` comments,
/// blank lines and surrounding quotes read as dotenv reads them; other lines are skipped.
///
/// # Examples
///
/// ```
/// let vars = supagate_cli::parse_env_file("# project\nexport SUPABASE_URL='http://127.0.0.1:54321'\n");
/// assert_eq!(vars, vec![("SUPABASE_URL".to_owned(), "http://127.0.0.1:54321".to_owned())]);
/// ```
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (name, value) = line.split_once('=')?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            let mut value = value.trim();
            // An unquoted value ends at ` #` (a comment), as dotenv reads it.
            if !value.starts_with(['"', '\''])
                && let Some(at) = value.find(" #")
            {
                value = value.get(..at).unwrap_or(value).trim_end();
            }
            // A quoted value ends at its closing quote (a comment may follow).
            if let Some(q) = value.chars().next().filter(|c| *c == '"' || *c == '\'')
                && let Some(end) = value.get(1..).and_then(|v| v.find(q))
            {
                return Some((
                    name.to_owned(),
                    value.get(1..=end).unwrap_or_default().to_owned(),
                ));
            }
            let value = ['"', '\'']
                .iter()
                .find_map(|q| {
                    value
                        .strip_prefix(*q)
                        .and_then(|v| v.strip_suffix(*q))
                        .filter(|_| value.len() >= 2)
                })
                .unwrap_or(value);
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_read_as_dotenv_does() {
        let text = "# c\n\nexport A=1 # one\nB = \"two # 2\" # the second\nC='3'\nbad line\n=x\nD-E=1\nF=\"\n";
        let got = parse_env_file(text);
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two # 2".into()),
                ("C".into(), "3".into()),
                ("F".into(), "\"".into()),
            ]
        );
    }
}
