//! Cookies as people copy them: a `Cookie` header (with or without its name), a browser's or
//! Playwright's JSON export, or a Netscape `cookies.txt`.

use serde_json::Value;

/// The `(name, value)` pairs of `text`, in order, in whichever of the three forms it is.
/// Values are as on the wire (still percent-encoded where the browser stored them so).
///
/// # Examples
///
/// ```
/// use supagate_cli::export::cookie_pairs;
///
/// let header = cookie_pairs("Cookie: a=1; sb-x-auth-token=base64-e30");
/// assert_eq!(header, vec![("a".into(), "1".into()), ("sb-x-auth-token".into(), "base64-e30".into())]);
///
/// let json = cookie_pairs(r#"[{"name":"a","value":"1","domain":"localhost"}]"#);
/// assert_eq!(json, vec![("a".into(), "1".into())]);
///
/// let netscape = cookie_pairs("# Netscape HTTP Cookie File\nlocalhost\tFALSE\t/\tFALSE\t0\ta\t1\n");
/// assert_eq!(netscape, vec![("a".into(), "1".into())]);
/// ```
#[must_use]
pub fn cookie_pairs(text: &str) -> Vec<(String, String)> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
            return json_pairs(&value);
        }
        return Vec::new();
    }
    if trimmed.lines().any(|l| l.split('\t').count() >= 7) {
        return trimmed
            .lines()
            .filter(|l| !l.starts_with('#') || l.starts_with("#HttpOnly_"))
            .filter_map(|l| {
                let fields: Vec<&str> = l.split('\t').collect();
                let name = fields.get(5)?;
                let value = fields.get(6)?;
                Some(((*name).to_owned(), value.trim_end_matches('\r').to_owned()))
            })
            .collect();
    }
    // A `Cookie` header, with or without its name, on one line or several: each split by the
    // cookie crate's own tolerant pair parser.
    let mut pairs = Vec::new();
    for line in trimmed.lines() {
        let mut line = line.trim();
        if line
            .get(..7)
            .is_some_and(|h| h.eq_ignore_ascii_case("cookie:"))
        {
            line = line.get(7..).unwrap_or_default();
        }
        for (pair, name) in supagate::cookie::cookie_pairs(line.as_bytes()) {
            let value = pair.get(name.len() + 1..);
            if let (Ok(name), Some(Ok(value))) =
                (std::str::from_utf8(name), value.map(std::str::from_utf8))
                && !name.is_empty()
            {
                pairs.push((name.to_owned(), value.trim().to_owned()));
            }
        }
    }
    pairs
}

fn json_pairs(value: &Value) -> Vec<(String, String)> {
    let list = match value {
        Value::Array(list) => list.as_slice(),
        Value::Object(map) => match map.get("cookies") {
            Some(Value::Array(list)) => list.as_slice(),
            _ => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    list.iter()
        .filter_map(|c| {
            let name = c.get("name")?.as_str()?;
            let value = c.get("value")?.as_str()?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_exports_give_nothing_or_what_parses() {
        assert!(cookie_pairs("").is_empty());
        assert!(cookie_pairs("[").is_empty());
        assert!(cookie_pairs("{\"cookies\":3}").is_empty());
        assert!(cookie_pairs("[1, null, {\"name\":1,\"value\":\"x\"}]").is_empty());
        assert!(cookie_pairs("no pairs here").is_empty());
        assert_eq!(cookie_pairs("=x; a=; =").len(), 1);
        assert_eq!(
            cookie_pairs("cookie:a=b=c"),
            vec![("a".into(), "b=c".into())]
        );
        // A short Netscape line is skipped, not misread.
        assert_eq!(cookie_pairs("h\tF\t/\tF\t0\ta\t1\nshort\tline\n").len(), 1,);
    }

    #[test]
    fn playwright_storage_state() {
        let state = r#"{"cookies":[{"name":"n","value":"v"}],"origins":[]}"#;
        assert_eq!(cookie_pairs(state), vec![("n".into(), "v".into())]);
    }

    #[test]
    fn http_only_netscape_lines_are_read() {
        let text = "#HttpOnly_localhost\tFALSE\t/\tTRUE\t0\tsb-a-auth-token\tbase64-e30\r\n";
        assert_eq!(
            cookie_pairs(text),
            vec![("sb-a-auth-token".into(), "base64-e30".into())]
        );
    }
}
