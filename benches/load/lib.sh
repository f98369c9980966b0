# Shared by the load scripts (sourced, not run): the servers they start are killed on exit,
# and `wait_up` waits for one to answer.

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() {  # port
  for _ in $(seq 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; exit 1
}

access_token_of() {  # a session Cookie header as @supabase/ssr writes it -> its access token
  COOKIE="$1" python3 -c '
import base64, json, os, urllib.parse
v = "".join(p.split("=", 1)[1] for p in os.environ["COOKIE"].split("; "))
v = urllib.parse.unquote(v)[len("base64-"):]
print(json.loads(base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)))["access_token"])'
}
