#!/usr/bin/env bash
# Load test for the backend path, side by side in one run, each server pinned to core 1 and wrk
# on core 0, several rounds:
#
# - `axum`: backend-axum `GET /profile/me` with default settings (supagate);
# - `hand`: the same route behind a hand-written axum extractor around raw
#   `jsonwebtoken::decode` (`load-tools hand`), what teams write today;
# - `plain`: the same JSON route with no authentication at all (`load-tools hand`, `/plain/me`);
# - `fastapi`, `fastapi_async`: the seed's FastAPI + PyJWT backend with `def` and `async def`
#   routes (skipped with `FASTAPI=0`; needs PyPI access for the venv).
#
# `ALG=hs256` (default) sends one HS256 token; `ALG=es256` sends ES256 tokens of 1,000 users
# round-robin (what new Supabase projects issue), with the keys given inline (`SUPABASE_JWKS`).
# Not part of CI. Needs wrk (apt-get install wrk).
#
#   bash benches/load/run.sh [rounds] [seconds]
#
# Prints, per round and server, req/s and p99 latency, then the medians and the ratios; also
# writes them to target/load/results-<alg>.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${CONNS:-16}
ALG=${ALG:-hs256}
FASTAPI=${FASTAPI:-1}
[ "$ALG" = es256 ] && FASTAPI=0
SECRET="supagate-testkit-legacy-jwt-secret-0123456789"   # supagate-testkit's public test secret
URL="https://testkitprojectref00.supabase.co"
OUT=target/load
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
SERVERS="axum hand plain"
if [ "$FASTAPI" = 1 ]; then
  SERVERS="$SERVERS fastapi fastapi_async"
  if [ ! -x "$OUT/venv/bin/uvicorn" ] || ! "$OUT/venv/bin/python" -c "import uvloop, httptools" 2>/dev/null; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install -q --upgrade fastapi "uvicorn[standard]" pyjwt
  fi
  VERSIONS=$("$OUT/venv/bin/python" -c 'import fastapi, uvicorn, jwt; print(f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, pyjwt {jwt.__version__}")')
else
  VERSIONS="(FastAPI skipped)"
fi
cargo build -q --release -p backend-axum -p load-tools
if [ "$ALG" = es256 ]; then
  target/release/load-tools tokens 1000 "$URL" > "$OUT/tokens.txt"
  target/release/load-tools jwks > "$OUT/jwks.json"
  KEY_ENV=(SUPABASE_JWKS="$(cat "$OUT/jwks.json")")
  HAND_KEY="$OUT/jwks.json"
else
  # One HS256 token, as the seed's clients send it.
  if [ "$FASTAPI" = 1 ]; then
    "$OUT/venv/bin/python" benches/load/mint.py "$SECRET" "$URL/auth/v1" > "$OUT/tokens.txt"
  else
    target/release/load-tools mint-hs256 "$URL" > "$OUT/tokens.txt"
  fi
  KEY_ENV=(SUPABASE_JWT_SECRET="$SECRET")
  HAND_KEY="$SECRET"
fi
TOKEN=$(head -1 "$OUT/tokens.txt")


start_axum() {
  env SUPABASE_URL=$URL "${KEY_ENV[@]}" BIND=127.0.0.1:18081 \
    taskset -c 1 target/release/backend-axum >/dev/null &
  PIDS+=($!); wait_up 18081; PORT=18081; ROUTE=/profile/me
}
start_hand() {
  taskset -c 1 target/release/load-tools hand 18084 "$HAND_KEY" "$URL" &
  PIDS+=($!); wait_up 18084; PORT=18084; ROUTE=/profile/me
}
start_plain() { start_hand; ROUTE=/plain/me; }
start_fastapi() { FASTAPI_ASYNC=0 start_uvicorn; }
start_fastapi_async() { FASTAPI_ASYNC=1 start_uvicorn; }
start_uvicorn() {
  (cd benches/load && SUPABASE_JWT_SECRET=$SECRET FASTAPI_ASYNC=$FASTAPI_ASYNC taskset -c 1 "../../$OUT/venv/bin/uvicorn" \
    fastapi_app:app --host 127.0.0.1 --port 18082 --workers 1 --log-level warning --no-access-log) &
  PIDS+=($!); wait_up 18082; PORT=18082; ROUTE=/profile/me
}

measure() {  # name port route -> "rps p99_ms"
  local check
  check=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$2$3")
  [ "$check" = 200 ] || { echo "$1 answered $check to a valid token" >&2; exit 1; }
  local args=(-t1 -c"$CONNS" --latency)
  if [ "$ALG" = es256 ]; then
    sed "s#/profile/me#$3#" benches/load/tokens.lua > "$OUT/tokens-route.lua"
    args+=(-s "$OUT/tokens-route.lua")
  else
    args+=(-H "Authorization: Bearer $TOKEN")
  fi
  TOKENS="$OUT/tokens.txt" taskset -c 0 wrk "${args[@]}" -d2s "http://127.0.0.1:$2$3" >/dev/null
  local res
  res=$(TOKENS="$OUT/tokens.txt" taskset -c 0 wrk "${args[@]}" -d"${SECS}s" "http://127.0.0.1:$2$3")
  if echo "$res" | grep -q "Non-2xx"; then echo "$1: non-2xx responses" >&2; echo "$res" >&2; exit 1; fi
  local rps p99
  rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$res" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  echo "$rps $p99"
}

ROUNDS_FILE="$OUT/rounds-$ALG.txt"
: > "$ROUNDS_FILE"
for r in $(seq "$ROUNDS"); do
  for server in $SERVERS; do
    "start_$server"
    read -r rps p99 < <(measure "$server" "$PORT" "$ROUTE")
    echo "round $r $server $rps req/s p99 ${p99} ms" | tee -a "$ROUNDS_FILE"
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
  done
done

python3 - "$ROUNDS_FILE" "$VERSIONS" "$CONNS" "$SECS" "$ALG" <<'PY' | tee "$OUT/results-$ALG.txt"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
servers = sorted({r[2] for r in rows}, key=[r[2] for r in rows].index)
rounds = len(rows) // len(servers)
def med(server, col):
    return statistics.median(float(r[col]) for r in rows if r[2] == server)
def per_round(a, b):
    by = {(r[1], r[2]): float(r[3]) for r in rows}
    return ", ".join(f"{by[(k, a)] / by[(k, b)]:.2f}x" for k in sorted({r[1] for r in rows}, key=int))
alg = sys.argv[5].upper()
print(f"GET /profile/me, {alg}{' tokens of 1,000 users' if alg == 'ES256' else ''}, wrk -t1 -c{sys.argv[3]} -d{sys.argv[4]}s on core 0, server on core 1, {rounds} rounds")
labels = {"axum": "backend-axum (supagate, defaults)", "hand": "hand-written jsonwebtoken extractor",
          "plain": "same route, no authentication", "fastapi": "FastAPI + PyJWT, def routes",
          "fastapi_async": "FastAPI + PyJWT, async def routes"}
for s in servers:
    print(f"{labels[s]}: median {med(s, 3):,.0f} req/s, p99 {med(s, 6):.2f} ms")
a = med("axum", 3)
for s in servers[1:]:
    print(f"backend-axum / {s}: {a / med(s, 3):.2f}x (per round {per_round('axum', s)})")
if "fastapi" in servers:
    print(f"FastAPI: {sys.argv[2]}, uvicorn with uvloop and httptools, one worker")
PY
