//! Arbitrary methods, paths and header fields through `RequestInfo::from_fields` (what the
//! actix adapter passes; axum's `RequestInfo::new` goes through it too): never panics, always
//! yields one JSON object of strings, never carries a credential header, and joins repeated
//! names in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supagate_postgres::RequestInfo;

const CREDENTIALS: [&str; 4] = ["authorization", "apikey", "cookie", "proxy-authorization"];

fuzz_target!(|input: (String, String, Vec<(String, Vec<u8>)>)| {
    let (method, path, fields) = input;
    let info = RequestInfo::from_fields(
        &method,
        &path,
        fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    assert_eq!(info.method(), method);
    assert_eq!(info.path(), path);
    let json: serde_json::Value = serde_json::from_str(info.headers_json()).expect("valid JSON");
    let object = json.as_object().expect("an object");
    for (name, value) in object {
        assert!(
            !CREDENTIALS.contains(&name.as_str()),
            "credential header {name}"
        );
        assert_eq!(name.to_ascii_lowercase(), *name);
        let expected: Vec<&str> = fields
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase() == *name)
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .collect();
        assert_eq!(value.as_str(), Some(expected.join(", ").as_str()));
    }
});
