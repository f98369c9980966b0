#!/usr/bin/env bash
# Load test: backend-axum (supagate) against the seed's FastAPI + PyJWT backend (with plain
# `def` routes and with `async def` routes), one after the
# other on this machine, each server pinned to core 1 and wrk on core 0, several rounds.
# Not part of CI. Needs wrk (apt-get install wrk) and PyPI access for the venv.
#
#   bash benches/load/run.sh [rounds] [seconds]
#
# Prints, per round and server, req/s and p99 latency, then the medians and the ratio; also
# writes them to target/load/results.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${CONNS:-16}
SECRET="supagate-testkit-legacy-jwt-secret-0123456789"   # supagate-testkit's public test secret
URL="https://testkitprojectref00.supabase.co"
OUT=target/load
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
if [ ! -x "$OUT/venv/bin/uvicorn" ] || ! "$OUT/venv/bin/python" -c "import uvloop, httptools" 2>/dev/null; then
  python3 -m venv "$OUT/venv"
  "$OUT/venv/bin/pip" install -q --upgrade fastapi "uvicorn[standard]" pyjwt
fi
cargo build -q --release -p backend-axum
TOKEN=$("$OUT/venv/bin/python" benches/load/mint.py "$SECRET" "$URL/auth/v1")
VERSIONS=$("$OUT/venv/bin/python" -c 'import fastapi, uvicorn, jwt; print(f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, pyjwt {jwt.__version__}")')

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() {  # port
  for _ in $(seq 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/profile/me"; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; exit 1
}

start_axum() {
  SUPABASE_URL=$URL SUPABASE_JWT_SECRET=$SECRET BIND=127.0.0.1:18081 \
    taskset -c 1 target/release/backend-axum >/dev/null &
  PIDS+=($!); wait_up 18081
}
start_fastapi() { FASTAPI_ASYNC=0 start_uvicorn; }
start_fastapi_async() { FASTAPI_ASYNC=1 start_uvicorn; }
start_uvicorn() {
  (cd benches/load && SUPABASE_JWT_SECRET=$SECRET FASTAPI_ASYNC=$FASTAPI_ASYNC taskset -c 1 "../../$OUT/venv/bin/uvicorn" \
    fastapi_app:app --host 127.0.0.1 --port 18082 --workers 1 --log-level warning --no-access-log) &
  PIDS+=($!); wait_up 18082
}

measure() {  # name port -> "rps p99_ms"
  local check
  check=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$2/profile/me")
  [ "$check" = 200 ] || { echo "$1 answered $check to a valid token" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c"$CONNS" -d2s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$2/profile/me" >/dev/null
  local res
  res=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$2/profile/me")
  if echo "$res" | grep -q "Non-2xx"; then echo "$1: non-2xx responses" >&2; echo "$res" >&2; exit 1; fi
  local rps p99
  rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$res" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  echo "$rps $p99"
}

: > "$OUT/rounds.txt"
for r in $(seq "$ROUNDS"); do
  for server in axum fastapi fastapi_async; do
    "start_$server"
    port=$([ $server = axum ] && echo 18081 || echo 18082)
    read -r rps p99 < <(measure "$server" "$port")
    echo "round $r $server $rps req/s p99 ${p99} ms" | tee -a "$OUT/rounds.txt"
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
  done
done

python3 - "$OUT/rounds.txt" "$VERSIONS" "$CONNS" "$SECS" <<'PY' | tee "$OUT/results.txt"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(server, col):
    return statistics.median(float(r[col]) for r in rows if r[2] == server)
a_rps, a_p99 = med("axum", 3), med("axum", 6)
print(f"GET /profile/me, HS256, wrk -t1 -c{sys.argv[3]} -d{sys.argv[4]}s on core 0, server on core 1, {len(rows)//3} rounds")
print(f"FastAPI + PyJWT: {sys.argv[2]}, uvicorn with uvloop and httptools, one worker")
print(f"backend-axum (supagate): median {a_rps:,.0f} req/s, p99 {a_p99:.2f} ms")
for name, label in (("fastapi", "def routes"), ("fastapi_async", "async def routes")):
    f_rps, f_p99 = med(name, 3), med(name, 6)
    print(f"FastAPI ({label}): median {f_rps:,.0f} req/s, p99 {f_p99:.2f} ms; backend-axum is {a_rps / f_rps:.1f}x")
PY
