#!/usr/bin/env bash
# Load test for key rotation (issue #6; not part of CI): backend-axum verifying ES256 tokens of
# 1,000 distinct users under wrk, while a mock JWKS server rotates the published set every few
# seconds (the ES256 signing key stays, the other keys come and go, `max-age=2`). Run twice:
# without and with the verified-token cache. Any non-2xx answer fails the run.
#
#   bash benches/load/rotation.sh [seconds] [rotate-secs]
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
SECS=${1:-20}
ROTATE=${2:-3}
URL="https://testkitprojectref00.supabase.co"
OUT=target/load
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build -q --release -p backend-axum -p load-tools
target/release/load-tools tokens 1000 "$URL" > "$OUT/tokens.txt"


target/release/load-tools mock-jwks "$ROTATE" > "$OUT/jwks-url.txt" 2> "$OUT/mock-jwks.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$OUT/jwks-url.txt" ] && break; sleep 0.1; done
JWKS_URL=$(head -1 "$OUT/jwks-url.txt")

: > "$OUT/rotation.txt"
for cache in 0 1; do
  SUPABASE_URL=$URL SUPABASE_JWKS_URL=$JWKS_URL SUPAGATE_TOKEN_CACHE=$cache BIND=127.0.0.1:18083 \
    taskset -c 1 target/release/backend-axum > /dev/null &
  PIDS+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18083/healthz && break; sleep 0.1; done
  res=$(TOKENS="$OUT/tokens.txt" taskset -c 0 wrk -t1 -c16 -d"${SECS}s" --latency \
    -s benches/load/tokens.lua http://127.0.0.1:18083/profile/me)
  rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$res" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$res" | awk '/Non-2xx/ {print $5}')
  echo "token cache $cache: $rps req/s, p99 $p99, non-2xx ${non2xx:-0}" | tee -a "$OUT/rotation.txt"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
  if [ -n "${non2xx:-}" ]; then echo "FAILED: non-2xx answers for valid tokens" >&2; exit 1; fi
done
echo "mock JWKS: $(tail -1 "$OUT/mock-jwks.log")" | tee -a "$OUT/rotation.txt"
