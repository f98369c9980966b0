//! Shared helpers for the criterion benches in `benches/`.
#![allow(clippy::indexing_slicing)]

use std::time::Instant;

use serde_json::{Value, json};

/// Paired measurement: `rounds` rounds, each timing a chunk of `chunk` calls of every
/// function back to back (order reversed every other round). Returns per-function medians of
/// the per-call time and, for each function, the median over rounds of its ratio to `fns[0]`.
pub fn paired(group: &str, fns: &[(&str, &dyn Fn())], chunk: u32, rounds: usize) {
    let mut per_call: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); fns.len()];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..fns.len()).collect()
        } else {
            (0..fns.len()).rev().collect()
        };
        for i in order {
            let start = Instant::now();
            for _ in 0..chunk {
                (fns[i].1)();
            }
            per_call[i].push(start.elapsed().as_secs_f64() * 1e6 / f64::from(chunk));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut out = serde_json::Map::new();
    for (i, (label, _)) in fns.iter().enumerate() {
        let ratios: Vec<f64> = per_call[i]
            .iter()
            .zip(&per_call[0])
            .map(|(a, b)| a / b)
            .collect();
        let m = median(per_call[i].clone());
        let r = median(ratios);
        eprintln!(
            "paired {group}/{label}: median {m:.2} µs, ratio to {} {r:.3}",
            fns[0].0
        );
        out.insert(
            (*label).to_owned(),
            json!({"median_us": m, "ratio_to_baseline": r, "baseline": fns[0].0}),
        );
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/paired");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("{group}.json")),
        Value::Object(out).to_string(),
    );
}
