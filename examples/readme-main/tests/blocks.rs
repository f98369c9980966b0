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

/// The Rust blocks of `text`: (first line number, lines). Fences as CommonMark has them
/// (three or more backticks or tildes, closed by a run of the same character at least as
/// long), and rustdoc's rule for which are Rust: no info string, or one whose every word
/// (split on commas, spaces and tabs) is `rust` or a doctest attribute.
fn rust_blocks(text: &str) -> Vec<(usize, Vec<&str>)> {
    const ATTRIBUTES: &[&str] = &[
        "rust",
        "no_run",
        "ignore",
        "should_panic",
        "compile_fail",
        "test_harness",
        "standalone_crate",
        "edition2015",
        "edition2018",
        "edition2021",
        "edition2024",
    ];
    let mut blocks = Vec::new();
    // (fence char, fence length, is rust, first line, lines)
    let mut open: Option<(char, usize, bool, usize, Vec<&str>)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let fence = ['`', '~'].into_iter().find_map(|c| {
            let run = trimmed.chars().take_while(|x| *x == c).count();
            (indent < 4 && run >= 3).then_some((c, run))
        });
        match (&mut open, fence) {
            (Some((c, len, rust, start, lines)), Some((fc, flen)))
                if fc == *c && flen >= *len && trimmed.trim_start_matches(fc).trim().is_empty() =>
            {
                if *rust {
                    blocks.push((*start, std::mem::take(lines)));
                }
                open = None;
            }
            (Some((_, _, _, _, lines)), _) => lines.push(line),
            (None, Some((c, len))) => {
                let info = trimmed.trim_start_matches(c);
                let rust = info
                    .split([',', ' ', '\t'])
                    .filter(|w| !w.is_empty())
                    .all(|w| ATTRIBUTES.contains(&w) || w.starts_with("ignore-"));
                open = Some((c, len, rust, n + 1, Vec::new()));
            }
            (None, None) => {}
        }
    }
    blocks
}

/// rustdoc hides a line whose trimmed text is `#` or starts with `# `, and shows `##…` as
/// `#…`: either way what GitHub shows is not what compiles.
fn hidden(line: &str) -> bool {
    let t = line.trim_start();
    t == "#" || t.starts_with("# ") || t.starts_with("##")
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
                assert!(!hidden(line), "{at}: a hidden line: {line}");
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

#[test]
fn the_fence_and_hidden_line_rules_are_rustdocs() {
    let text = "```rust no_run\na\n```\n~~~\nb\n~~~~\n```text\nc\n```\n````rust\nd\n```\ne\n````\n```sh\nf\n```\n";
    let got: Vec<Vec<&str>> = rust_blocks(text).into_iter().map(|(_, l)| l).collect();
    assert_eq!(got, vec![vec!["a"], vec!["b"], vec!["d", "```", "e"]]);
    assert!(hidden("    # let _ = app;") && hidden("#") && hidden("##[derive(Debug)]"));
    assert!(
        !hidden("#[derive(Debug)]") && !hidden("#![allow(unused)]") && !hidden("let x = 1; # no")
    );
}

#[test]
fn every_guide_is_compiled() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for doc in documents() {
        let name = doc.file_name().unwrap().to_str().unwrap();
        if name == "security-catalog.md" {
            continue;
        }
        let included = if name == "README.md" && doc.parent().unwrap().ends_with("docs") {
            "docs/README.md"
        } else if name == "README.md" {
            "../../../README.md"
        } else {
            name
        };
        assert!(
            lib.contains(included),
            "{} is not compiled by src/lib.rs",
            doc.display()
        );
    }
}
