#!/usr/bin/env python3
"""Print the medians and ratios of the last `cargo bench -p supagate-benches` runs (verify, cookie, axum, token_cache, proxy).

Reads criterion's estimates from target/criterion and the paired measurements the bench writes
to target/criterion/paired/. The paired ratio (median over rounds of back-to-back chunks) is
robust to the machine's speed drifting between benchmarks; the criterion ratios are not.
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "criterion")


def median(group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))["median"]["point_estimate"] / 1000.0  # ns -> µs


def paired(group):
    path = os.path.join(root, "paired", group + ".json")
    return json.load(open(path)) if os.path.exists(path) else {}


rows = []
for group in ("hs256", "es256", "rs256", "eddsa"):
    raw = median(group, "jsonwebtoken_decode")
    floor = median(group, "floor")
    pg = paired(group)
    for bench in ("supagate_aws_lc_rs", "supagate_rust_crypto", "jsonwebtoken_decode", "floor"):
        m = median(group, bench)
        if m is None:
            continue
        vs_raw = f"{m / raw:.2f}x" if raw else "-"
        vs_floor = f"{m / floor:.2f}x" if floor else "-"
        p = pg.get(bench)
        p_raw = f"{p['ratio_to_baseline']:.2f}x" if p else "-"
        p_floor = "-"
        if p and "floor" in pg:
            p_floor = f"{p['ratio_to_baseline'] / pg['floor']['ratio_to_baseline']:.2f}x"
        rows.append((group, bench, f"{m:.2f}", vs_raw, vs_floor, p_raw, p_floor))

cookie_rows = []
for group in ("cookie_one_chunk", "cookie_five_chunks"):
    pg = paired(group)
    for bench in ("read", "write", "floor"):
        m = median(group, bench)
        if m is None:
            continue
        floor = median(group, "floor")
        p = pg.get(bench)
        cookie_rows.append((group, bench, f"{m:.2f}", f"{m / floor:.2f}x", f"{p['ratio_to_baseline']:.2f}x" if p else "-"))

print(f"| {'alg':5} | {'bench':20} | {'criterion median µs':>19} | {'vs raw':>6} | {'vs floor':>8} | {'paired vs raw':>13} | {'paired vs floor':>15} |")
print("|-------|----------------------|---------------------|--------|----------|---------------|-----------------|")
for r in rows:
    print(f"| {r[0]:5} | {r[1]:20} | {r[2]:>19} | {r[3]:>6} | {r[4]:>8} | {r[5]:>13} | {r[6]:>15} |")

if cookie_rows:
    print()
    print(f"| {'group':18} | {'bench':5} | {'criterion median µs':>19} | {'vs floor':>8} | {'paired vs floor':>15} |")
    print("|--------------------|-------|---------------------|----------|-----------------|")
    for r in cookie_rows:
        print(f"| {r[0]:18} | {r[1]:5} | {r[2]:>19} | {r[3]:>8} | {r[4]:>15} |")

axum_rows = []
pg = paired("axum")
raw = median("axum", "handwritten_jsonwebtoken")
for bench in ("supagate_claims", "handwritten_jsonwebtoken", "no_auth"):
    m = median("axum", bench)
    if m is None:
        continue
    p = pg.get(bench)
    axum_rows.append((bench, f"{m:.2f}", f"{m / raw:.2f}x", f"{p['median_us']:.2f}" if p else "-", f"{p['ratio_to_baseline']:.2f}x" if p else "-"))
if axum_rows:
    print()
    print(f"| {'axum request path':24} | {'criterion median µs':>19} | {'vs handwritten':>14} | {'paired median µs':>16} | {'paired vs handwritten':>21} |")
    print("|--------------------------|---------------------|----------------|------------------|-----------------------|")
    for r in axum_rows:
        print(f"| {r[0]:24} | {r[1]:>19} | {r[2]:>14} | {r[3]:>16} | {r[4]:>21} |")

tc = paired("token_cache")
cold = median("token_cache", "es256_cold")
if cold:
    print()
    print(f"| {'token cache (ES256)':20} | {'criterion median µs':>19} | {'cold / it':>9} | {'paired median µs':>16} | {'paired cold / it':>16} |")
    print("|----------------------|---------------------|-----------|------------------|------------------|")
    for bench in ("es256_cold", "cache_hit", "jsonwebtoken_decode"):
        m = median("token_cache", bench)
        p = tc.get(bench)
        print(f"| {bench:20} | {m:>19.2f} | {cold / m:>8.1f}x | {p['median_us'] if p else 0:>16.2f} | {1 / p['ratio_to_baseline'] if p else 0:>15.1f}x |")

base = median("proxy_request", "bare_hop")
if base:
    print()
    print(f"| {'proxy work per request':24} | {'criterion median µs':>19} |")
    print("|--------------------------|---------------------|")
    for bench in ("supagate_uncached", "session_read", "verify_hs256", "prepare_headers", "bare_hop"):
        m = median("proxy_request", bench)
        if m is not None:
            print(f"| {bench:24} | {m:>19.2f} |")
