#!/usr/bin/env bash
# Load test of the frontend proxy: `frontend-proxy` (supagate) in front of `backend-axum`,
# against a minimal Node proxy doing the same cookie-to-bearer forwarding (once with `fetch`,
# once with an `undici` Pool), and against calling the backend directly (the added-latency
# baseline), and a bare Rust hop (`load-tools bare-proxy`: axum + hyper-util, a fixed bearer,
# no session handling: the floor). All in the same run, several rounds; the proxy under test pinned to core 1, the
# backend and wrk to core 0. Not part of CI. Needs wrk (apt-get install wrk), Node 20+ and npm.
#
#   bash benches/load/proxy.sh [rounds] [seconds]
#   BASELINE=/path/to/an/older/frontend-proxy bash benches/load/proxy.sh 3 10
#
# With BASELINE set, that binary (for example one built from an earlier commit with
# `git worktree add` and its own CARGO_TARGET_DIR) is measured in every round too, as `base`,
# and the summary gives the current proxy's ratio to it: a regression check in one run.
#
# The session is a fresh one signed with the legacy HS256 secret (ALG=es256: the ES256 test
# key, verified against the test JWK set); both supagate services verify it, the Node proxy
# only decodes the cookie. Both supagate services keep their verified-token cache on (the
# same session repeats; the proxy example's default). Rate limiting is off in the proxy for the
# measurement. Prints per-round req/s and p50/p99, then medians and ratios; also writes them
# to target/load/proxy-results.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${CONNS:-16}
ALG=${ALG:-hs256}        # the session's access token: hs256 (legacy secret) or es256 (JWKS)
SECRET="supagate-testkit-legacy-jwt-secret-0123456789"   # supagate-testkit's public test secret
URL="https://testkitprojectref00.supabase.co"   # supagate-testkit's project; never contacted
OUT=target/load
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
(cd benches/load/node && npm ci --no-audit --no-fund --loglevel=error)
cargo build -q --release -p backend-axum -p frontend-proxy -p load-tools
target/release/load-tools jwks > "$OUT/jwks.json"
COOKIE=$(target/release/load-tools session-cookie "$URL" "$ALG")
COOKIE_NAME=sb-testkitprojectref00-auth-token
TOKEN=$(access_token_of "$COOKIE")
VERSIONS="node $(node --version), undici $(node -p 'require("./benches/load/node/node_modules/undici/package.json").version')"


SUPABASE_URL=$URL SUPABASE_JWT_SECRET=$SECRET SUPABASE_JWKS_URL="file://$PWD/$OUT/jwks.json" SUPAGATE_TOKEN_CACHE=1 BIND=127.0.0.1:18181 \
  taskset -c 0 target/release/backend-axum >/dev/null &
PIDS+=($!); wait_up 18181

start_rust() {
  SUPABASE_URL=$URL SUPABASE_PUBLISHABLE_KEY=sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH SUPABASE_JWT_SECRET=$SECRET SUPABASE_JWKS_URL="file://$PWD/$OUT/jwks.json" \
    API_URL=http://127.0.0.1:18181 BIND=127.0.0.1:18182 RATE_LIMIT_PER_MINUTE=0 \
    taskset -c 1 target/release/frontend-proxy >/dev/null 2>&1 &
  PIDS+=($!); wait_up 18182
}
start_base() {  # an older build of the same proxy, same settings
  SUPABASE_URL=$URL SUPABASE_PUBLISHABLE_KEY=sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH SUPABASE_JWT_SECRET=$SECRET SUPABASE_JWKS_URL="file://$PWD/$OUT/jwks.json" \
    API_URL=http://127.0.0.1:18181 BIND=127.0.0.1:18182 RATE_LIMIT_PER_MINUTE=0 \
    taskset -c 1 "$BASELINE" >/dev/null 2>&1 &
  PIDS+=($!); wait_up 18182
}
start_bare() {  # the floor: a bare Rust hop with a fixed bearer, no session handling
  BEARER=$TOKEN taskset -c 1 target/release/load-tools bare-proxy 18182 http://127.0.0.1:18181 >/dev/null &
  PIDS+=($!); wait_up 18182
}
start_node() {  # fetch|undici
  taskset -c 1 node benches/load/node/proxy.mjs "$1" 18182 http://127.0.0.1:18181 "$COOKIE_NAME" >/dev/null &
  PIDS+=($!); wait_up 18182
}

measure() {  # name url header -> "rps p50_ms p99_ms"
  local check
  check=$(curl -s -o /dev/null -w '%{http_code}' -H "$3" "$2")
  [ "$check" = 200 ] || { echo "$1 answered $check" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c"$CONNS" -d2s -H "$3" "$2" >/dev/null
  local res
  res=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -H "$3" "$2")
  if echo "$res" | grep -q "Non-2xx"; then echo "$1: non-2xx responses" >&2; echo "$res" >&2; exit 1; fi
  echo "$res" | awk '
    function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v } sub(/s/, "", v); return v * 1000 }
    /Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    END { print rps, p50, p99 }'
}

: > "$OUT/proxy-rounds.txt"
for r in $(seq "$ROUNDS"); do
  read -r rps p50 p99 < <(measure direct http://127.0.0.1:18181/profile/me "Authorization: Bearer $TOKEN")
  echo "round $r direct $rps req/s p50 $p50 ms p99 $p99 ms" | tee -a "$OUT/proxy-rounds.txt"
  for server in bare rust ${BASELINE:+base} undici fetch; do
    case $server in rust) start_rust ;; base) start_base ;; bare) start_bare ;; *) start_node $server ;; esac
    read -r rps p50 p99 < <(measure "$server" http://127.0.0.1:18182/api/profile "Cookie: $COOKIE")
    echo "round $r $server $rps req/s p50 $p50 ms p99 $p99 ms" | tee -a "$OUT/proxy-rounds.txt"
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
  done
done

python3 - "$OUT/proxy-rounds.txt" "$VERSIONS" "$CONNS" "$SECS" "$ALG" <<'PY' | tee "$OUT/proxy-results.txt"
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[2], []).append((float(f[3]), float(f[6]), float(f[9])))
med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in rows.items()}
print(f"frontend proxy load test ({sys.argv[5]} session; {sys.argv[2]}; wrk -c{sys.argv[3]}, {sys.argv[4]} s, {len(rows['rust'])} rounds, medians)")
for k in [k for k in ["direct", "bare", "rust", "base", "undici", "fetch"] if k in med]:
    rps, p50, p99 = med[k]
    print(f"  {k:7s} {rps:10.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
print(f"  supagate proxy vs undici proxy: {med['rust'][0] / med['undici'][0]:.2f}x req/s (target 2.5x)")
print(f"  supagate proxy vs fetch proxy:  {med['rust'][0] / med['fetch'][0]:.2f}x req/s (target 10x)")
print(f"  supagate proxy vs a bare Rust hop: {med['rust'][0] / med['bare'][0]:.2f}x req/s")
if "base" in med:
    print(f"  supagate proxy vs the BASELINE build: {med['rust'][0] / med['base'][0]:.2f}x req/s, p99 {med['rust'][2]:.2f} vs {med['base'][2]:.2f} ms")
print(f"  added p50 over calling the backend directly: {med['rust'][1] - med['direct'][1]:.2f} ms (target < 1 ms)")
PY
