//! Copies the guides (`guide/*.md`, links to the repository's `docs/`) into `OUT_DIR` for
//! `supagate::guide`, rewriting their links for rustdoc: a link to another guide
//! (`security.md#defaults`) becomes an intra-doc link (`crate::guide::security#defaults`), and a
//! link to a repository file (`../examples/deploy/`) becomes its URL on the repository. The text
//! is otherwise unchanged, so every Rust block in a guide is a doctest.

use std::path::Path;
use std::{env, fs, io};

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=guide");
    let out = Path::new(&env::var("OUT_DIR").map_err(io::Error::other)?).join("guide");
    fs::create_dir_all(&out)?;
    let repo = env::var("CARGO_PKG_REPOSITORY").unwrap_or_default();
    let mut names = Vec::new();
    for entry in fs::read_dir("guide")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            println!("cargo:rerun-if-changed={}", path.display());
            names.push(path);
        }
    }
    let guides: Vec<String> = names
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect();
    for path in &names {
        let text = fs::read_to_string(path)?;
        let Some(name) = path.file_name() else {
            continue;
        };
        fs::write(out.join(name), rewrite(&text, &guides, &repo))?;
    }
    Ok(())
}

/// Rewrites the targets of `](target)` links outside code blocks.
fn rewrite(text: &str, guides: &[String], repo: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let (before, after) = rest.split_at(at + 2);
            out.push_str(before);
            let end = after.find(')').unwrap_or(after.len());
            let (target, tail) = after.split_at(end);
            out.push_str(&link(target, guides, repo));
            rest = tail;
        }
        out.push_str(rest);
    }
    out
}

fn link(target: &str, guides: &[String], repo: &str) -> String {
    let (file, fragment) = match target.split_once('#') {
        Some((f, frag)) => (f, Some(frag)),
        None => (target, None),
    };
    if let Some(stem) = file.strip_suffix(".md")
        && !stem.contains('/')
        && guides.iter().any(|g| g == stem)
    {
        let module = if stem == "README" {
            "crate::guide".to_owned()
        } else {
            format!("crate::guide::{}", stem.replace('-', "_"))
        };
        return match fragment {
            Some(f) => format!("{module}#{f}"),
            None => module,
        };
    }
    if let Some(path) = target.strip_prefix("../")
        && !repo.is_empty()
    {
        let kind = if path.ends_with('/') { "tree" } else { "blob" };
        return format!("{repo}/{kind}/main/{path}");
    }
    target.to_owned()
}
