#!/usr/bin/env python3
"""Print criterion medians from target/criterion and the ratios the issues ask for."""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "criterion")

def median(group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))["median"]["point_estimate"] / 1000.0  # ns -> µs

rows = []
for group in ("hs256", "es256", "rs256", "eddsa"):
    raw = median(group, "jsonwebtoken_decode")
    floor = median(group, "floor")
    for bench in ("supagate_aws_lc_rs", "supagate_rust_crypto", "jsonwebtoken_decode", "floor"):
        m = median(group, bench)
        if m is None:
            continue
        vs_raw = f"{m / raw:.2f}x" if raw else "-"
        vs_floor = f"{m / floor:.2f}x" if floor else "-"
        rows.append((group, bench, f"{m:.2f}", vs_raw, vs_floor))

print(f"| {'alg':6} | {'bench':22} | {'median µs':>9} | {'vs raw decode':>13} | {'vs floor':>8} |")
print("|--------|------------------------|-----------|---------------|----------|")
for r in rows:
    print(f"| {r[0]:6} | {r[1]:22} | {r[2]:>9} | {r[3]:>13} | {r[4]:>8} |")
