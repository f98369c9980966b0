#!/usr/bin/env bash
# Instructions per request, user space, of the frontend proxy and of the bare Rust hop, each
# under callgrind (`valgrind --tool=callgrind`), and the functions where they differ: the
# profile behind the proxy's hot-path work in docs/benchmarks.md. Deterministic where the
# load scripts' req/s are not (the host's speed drifts by tens of percent within minutes),
# but blind to the kernel and to how fast each instruction runs: confirm a change with
# benches/load/proxy-pair.sh. Not part of CI. Needs valgrind (Debian `valgrind`).
#
#   bash benches/load/proxy-instructions.sh [requests]
#   PROXY=/path/to/another/frontend-proxy bash benches/load/proxy-instructions.sh 5000
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
N=${1:-5000}
SECRET="supagate-testkit-legacy-jwt-secret-0123456789"   # supagate-testkit's public test secret
URL="https://testkitprojectref00.supabase.co"   # supagate-testkit's project; never contacted
OUT=target/load
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }
cargo build -q --release -p backend-axum -p frontend-proxy -p load-tools
PROXY=${PROXY:-target/release/frontend-proxy}
target/release/load-tools jwks > "$OUT/jwks.json"
COOKIE=$(target/release/load-tools session-cookie "$URL" hs256)
TOKEN=$(access_token_of "$COOKIE")
SUPABASE_URL=$URL SUPABASE_JWT_SECRET=$SECRET SUPABASE_JWKS_URL="file://$PWD/$OUT/jwks.json" SUPAGATE_TOKEN_CACHE=1 BIND=127.0.0.1:18181 \
  target/release/backend-axum >/dev/null &
PIDS+=($!); wait_up 18181

# One keep-alive connection, N requests one after another, each answer checked.
drive() {  # port count
  COOKIE="$COOKIE" python3 - "$1" "$2" <<'PY'
import os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
req = (f"GET /api/profile HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {os.environ['COOKIE']}\r\n\r\n").encode()
s = socket.create_connection(("127.0.0.1", port))
for _ in range(n):
    s.sendall(req)
    buf = b""
    while True:
        buf += s.recv(65536)
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
            if len(rest) >= (int(length[0].split(b":")[1]) if length else 0):
                if not head.startswith(b"HTTP/1.1 200"):
                    sys.exit(f"not a 200: {head[:80]!r}")
                break
PY
}

measure() {  # name port command...
  local name=$1 port=$2; shift 2
  rm -f "$OUT/callgrind.$name"*
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$name" "$@" >/dev/null 2>&1 &
  local pid=$!
  PIDS+=($pid)
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  drive "$port" 200              # warm: connections pooled, caches filled
  callgrind_control -z "$pid" >/dev/null
  drive "$port" "$N"
  callgrind_control -d "$pid" >/dev/null
  sleep 1
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
BEARER=$TOKEN measure bare 18182 target/release/load-tools bare-proxy 18182 http://127.0.0.1:18181
SUPABASE_URL=$URL SUPABASE_PUBLISHABLE_KEY=sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH SUPABASE_JWT_SECRET=$SECRET \
  SUPABASE_JWKS_URL="file://$PWD/$OUT/jwks.json" API_URL=http://127.0.0.1:18181 BIND=127.0.0.1:18183 RATE_LIMIT_PER_MINUTE=0 \
  measure proxy 18183 "$PROXY"

# The explicit dump (counters zeroed after the warm-up) is each name's `.1` part.
python3 - "$N" "$OUT" <<'PY' | tee "$OUT/proxy-instructions.txt"
import re, subprocess, sys
n, out = int(sys.argv[1]), sys.argv[2]
def load(name):
    f = f"{out}/callgrind.{name}.1"
    text = subprocess.run(["callgrind_annotate", "--threshold=100", f], capture_output=True, text=True).stdout
    per = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if m:
            name = re.sub(r"\[/[^]]*\]", "", m.group(2)).strip()
            per[name] = per.get(name, 0) + int(m.group(1).replace(",", "")) / n
    return per
bare, proxy = load("bare"), load("proxy")
tb, tp = max(bare.values()), max(proxy.values())
print(f"instructions per request: bare hop {tb:.0f}, proxy {tp:.0f} ({tp / tb:.3f}x, {tp - tb:+.0f})")
rows = [k for k in set(bare) | set(proxy) if max(bare.get(k, 0), proxy.get(k, 0)) < 0.5 * tb]
rows.sort(key=lambda k: bare.get(k, 0) - proxy.get(k, 0))
print("  more in the proxy (per request):")
for k in rows[:25]:
    print(f"  {proxy.get(k, 0) - bare.get(k, 0):+7.0f}  {k[:110]}")
PY
