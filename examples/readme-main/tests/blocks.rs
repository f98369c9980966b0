//! The README's and the guides' Rust blocks, as GitHub shows them: no hidden lines (what is
//! shown is what compiles), and only the `supagate` facade's paths (what a user who added
//! `supagate` has).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    docs.sort();
    docs
}

/// The Rust blocks of `text`: (first line number, lines).
fn rust_blocks(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    let mut in_other = false;
    for (n, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        if let Some((start, lines)) = current.as_mut() {
            if fence {
                blocks.push((*start, std::mem::take(lines)));
                current = None;
            } else {
                lines.push(line);
            }
        } else if in_other {
            in_other = !fence;
        } else if fence {
            let lang = line.trim_start().trim_start_matches('`');
            // rustdoc's rule: an unlabelled block, or one whose first word is `rust` or a
            // doctest attribute, is Rust.
            let first = lang.split(',').next().unwrap_or_default().trim();
            if first.is_empty()
                || first == "rust"
                || [
                    "no_run",
                    "ignore",
                    "should_panic",
                    "compile_fail",
                    "edition2024",
                ]
                .contains(&first)
            {
                current = Some((n + 1, Vec::new()));
            } else {
                in_other = true;
            }
        }
    }
    blocks
}

#[test]
fn blocks_hide_nothing_and_use_the_facade_only() {
    let mut blocks_seen = 0;
    for doc in documents() {
        if doc.ends_with("security-catalog.md") {
            continue; // the contributors' catalog, not a guide (see src/lib.rs)
        }
        let text = std::fs::read_to_string(&doc).unwrap();
        for (start, lines) in rust_blocks(&text) {
            blocks_seen += 1;
            for (i, line) in lines.iter().enumerate() {
                let at = format!("{}:{}", doc.display(), start + i + 1);
                assert!(
                    !(line.starts_with("# ") || *line == "#"),
                    "{at}: a hidden line: {line}"
                );
                for internal in [
                    "supagate_core",
                    "supagate_jwt",
                    "supagate_cookie",
                    "supagate_policy",
                    "supagate_auth",
                    "supagate_axum",
                    "supagate_actix",
                    "supagate_proxy",
                    "supagate_postgres",
                    "supagate_tonic",
                    "supagate_testkit",
                ] {
                    assert!(
                        !line.contains(&format!("{internal}::"))
                            && !line.contains(&format!("use {internal}")),
                        "{at}: `{internal}` is not a dependency of a user who added `supagate`: {line}"
                    );
                }
            }
        }
    }
    assert!(blocks_seen >= 50, "{blocks_seen}");
}
