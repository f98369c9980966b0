#!/usr/bin/env bash
# The frontend proxy against a bare Rust hop, in short alternating measurements: both
# servers (and, with BASELINE, an older build of the proxy) run for the whole test, pinned to
# core 1; `wrk -t1 -c16` on core 0 loads one at a time for SECS seconds, the order rotating
# every round. The ratio is taken per round (adjacent seconds, same host weather) and its
# median reported: on a shared machine whose speed drifts by tens of percent within minutes,
# this is the figure to compare, not medians of separate runs. Not part of CI. Needs wrk.
#
#   bash benches/load/proxy-pair.sh [rounds] [seconds]
#   BASELINE=/path/to/an/older/frontend-proxy bash benches/load/proxy-pair.sh 20 3
#
# Same session and settings as benches/load/proxy.sh (HS256 by default, ALG=es256 for the
# test JWK set; rate limiting off; the proxy's session cache on, as the example's default).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
ROUNDS=${1:-20}
SECS=${2:-3}
CONNS=${CONNS:-16}
ALG=${ALG:-hs256}
SECRET="supagate-testkit-legacy-jwt-secret-0123456789"   # supagate-testkit's public test secret
URL="https://testkitprojectref00.supabase.co"   # supagate-testkit's project; never contacted
OUT=target/load
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build -q --release -p backend-axum -p frontend-proxy -p load-tools
target/release/load-tools jwks > "$OUT/jwks.json"
COOKIE=$(target/release/load-tools session-cookie "$URL" "$ALG")
TOKEN=$(access_token_of "$COOKIE")

proxy() {  # binary port
  SUPABASE_URL=$URL SUPABASE_PUBLISHABLE_KEY=sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH SUPABASE_JWT_SECRET=$SECRET SUPABASE_JWKS_URL="file://$PWD/$OUT/jwks.json" \
    API_URL=http://127.0.0.1:18181 BIND=127.0.0.1:$2 RATE_LIMIT_PER_MINUTE=0 \
    taskset -c 1 "$1" >/dev/null 2>&1 &
  PIDS+=($!); wait_up "$2"
}

SUPABASE_URL=$URL SUPABASE_JWT_SECRET=$SECRET SUPABASE_JWKS_URL="file://$PWD/$OUT/jwks.json" SUPAGATE_TOKEN_CACHE=1 BIND=127.0.0.1:18181 \
  taskset -c 0 target/release/backend-axum >/dev/null &
PIDS+=($!); wait_up 18181
BEARER=$TOKEN taskset -c 1 target/release/load-tools bare-proxy 18182 http://127.0.0.1:18181 >/dev/null &
PIDS+=($!); wait_up 18182
proxy target/release/frontend-proxy 18183
SERVERS=(bare:18182 rust:18183)
if [ -n "${BASELINE:-}" ]; then proxy "$BASELINE" 18184; SERVERS+=(base:18184); fi

rps() {  # port seconds
  taskset -c 0 wrk -t1 -c"$CONNS" -d"$2s" -H "Cookie: $COOKIE" "http://127.0.0.1:$1/api/profile" \
    | awk '/Non-2xx/ { bad = 1 } /Requests\/sec/ { r = $2 } END { if (bad) print "bad"; else print r }'
}
for s in "${SERVERS[@]}"; do rps "${s#*:}" 2 >/dev/null; done   # warm-up
: > "$OUT/proxy-pair-rounds.txt"
n=${#SERVERS[@]}
for r in $(seq "$ROUNDS"); do
  line="round $r"
  for k in $(seq 0 $((n - 1))); do
    s=${SERVERS[$(( (k + r) % n ))]}
    v=$(rps "${s#*:}" "$SECS")
    [ "$v" = bad ] && { echo "${s%%:*} answered non-2xx" >&2; exit 1; }
    line="$line ${s%%:*} $v"
  done
  echo "$line" | tee -a "$OUT/proxy-pair-rounds.txt"
done

python3 - "$OUT/proxy-pair-rounds.txt" "$ALG" "$CONNS" "$SECS" <<'PY' | tee "$OUT/proxy-pair-results.txt"
import statistics, sys
rounds = []
for line in open(sys.argv[1]):
    f = line.split()[2:]
    rounds.append({f[i]: float(f[i + 1]) for i in range(0, len(f), 2)})
print(f"frontend proxy vs a bare hop, alternating ({sys.argv[2]} session; wrk -c{sys.argv[3]}, {sys.argv[4]} s per server per round, {len(rounds)} rounds)")
for k in rounds[0]:
    print(f"  {k:5s} median {statistics.median(r[k] for r in rounds):9.0f} req/s")
def ratio(a, b):
    per = sorted(r[a] / r[b] for r in rounds)
    q = lambda p: per[min(len(per) - 1, int(p * len(per)))]
    print(f"  {a} / {b}: median of per-round ratios {statistics.median(per):.3f}x (quartiles {q(0.25):.3f}..{q(0.75):.3f})")
ratio("rust", "bare")
if "base" in rounds[0]:
    ratio("base", "bare")
    ratio("rust", "base")
PY
