#!/usr/bin/env bash
# The cost of the metrics feature: backend-axum `GET /profile/me` with `METRICS=prometheus`
# (the Prometheus recorder installed, every authentication recorded) against the same binary
# without it, in short alternating measurements: both servers run for the whole test, pinned
# to core 1; `wrk -t1 -c16` on core 0 loads one at a time for SECS seconds, the order rotating
# every round; the ratio is taken per round and its median reported (see proxy-pair.sh for
# why). Not part of CI. Needs wrk.
#
#   bash benches/load/metrics-pair.sh [rounds] [seconds]
#
# HS256 by default (one token); ALG=es256 for the ES256 tokens of 1,000 users (the JWK set
# given inline), as benches/load/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
ROUNDS=${1:-10}
SECS=${2:-3}
CONNS=${CONNS:-16}
ALG=${ALG:-hs256}
SECRET="supagate-testkit-legacy-jwt-secret-0123456789"   # supagate-testkit's public test secret
URL="https://testkitprojectref00.supabase.co"   # supagate-testkit's project; never contacted
OUT=target/load
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build -q --release -p backend-axum -p load-tools
if [ "$ALG" = es256 ]; then
  target/release/load-tools tokens 1000 "$URL" > "$OUT/tokens.txt"
  target/release/load-tools jwks > "$OUT/jwks.json"
  KEY_ENV=(SUPABASE_JWKS="$(cat "$OUT/jwks.json")")
else
  target/release/load-tools mint-hs256 "$URL" > "$OUT/tokens.txt"
  KEY_ENV=(SUPABASE_JWT_SECRET="$SECRET")
fi
TOKEN=$(head -1 "$OUT/tokens.txt")

serve() {  # port metrics
  env SUPABASE_URL=$URL "${KEY_ENV[@]}" BIND=127.0.0.1:$1 METRICS=$2 METRICS_BIND=127.0.0.1:18093 \
    taskset -c 1 target/release/backend-axum >/dev/null &
  PIDS+=($!); wait_up "$1"
}
serve 18091 ""
serve 18092 prometheus
curl -sf http://127.0.0.1:18093/metrics >/dev/null || { echo "no /metrics on the metrics address" >&2; exit 1; }
SERVERS=(off:18091 on:18092)

rps() {  # port seconds
  local args=(-t1 -c"$CONNS" -d"$2s")
  if [ "$ALG" = es256 ]; then
    args+=(-s benches/load/tokens.lua)
  else
    args+=(-H "Authorization: Bearer $TOKEN")
  fi
  TOKENS="$OUT/tokens.txt" taskset -c 0 wrk "${args[@]}" "http://127.0.0.1:$1/profile/me" \
    | awk '/Non-2xx/ { bad = 1 } /Requests\/sec/ { r = $2 } END { if (bad) print "bad"; else print r }'
}
for s in "${SERVERS[@]}"; do rps "${s#*:}" 2 >/dev/null; done   # warm-up
: > "$OUT/metrics-pair-rounds.txt"
for r in $(seq "$ROUNDS"); do
  line="round $r"
  for k in 0 1; do
    s=${SERVERS[$(( (k + r) % 2 ))]}
    v=$(rps "${s#*:}" "$SECS")
    [ "$v" = bad ] && { echo "${s%%:*} answered non-2xx" >&2; exit 1; }
    line="$line ${s%%:*} $v"
  done
  echo "$line" | tee -a "$OUT/metrics-pair-rounds.txt"
done
python3 - "$OUT/metrics-pair-rounds.txt" "$ALG" "$CONNS" "$SECS" <<'PY' | tee "$OUT/metrics-pair-results.txt"
import statistics, sys
rounds = []
for line in open(sys.argv[1]):
    f = line.split()[2:]
    rounds.append({f[i]: float(f[i + 1]) for i in range(0, len(f), 2)})
print(f"backend-axum with and without METRICS=prometheus, alternating ({sys.argv[2]}; wrk -c{sys.argv[3]}, {sys.argv[4]} s per server per round, {len(rounds)} rounds)")
for k in ("on", "off"):
    print(f"  {k:3s} median {statistics.median(r[k] for r in rounds):9.0f} req/s")
per = sorted(r["on"] / r["off"] for r in rounds)
q = lambda p: per[min(len(per) - 1, int(p * len(per)))]
print(f"  on / off: median of per-round ratios {statistics.median(per):.3f}x (quartiles {q(0.25):.3f}..{q(0.75):.3f})")
PY
