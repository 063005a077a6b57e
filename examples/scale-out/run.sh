#!/usr/bin/env bash
# Three pixgate replicas sharing one Redis behind one port, in front of the
# demo's fake Imgur (`pixgate demo-upstream`): the setup of
# docs/scale-out.md, started on free ports, checked, and left running.
#
#   examples/scale-out/run.sh [path/to/pixgate]            # start, check, serve until Ctrl-C
#   examples/scale-out/run.sh --check [path/to/pixgate]    # start, check, stop (what CI runs)
#
# Needs redis-server and nginx (Debian: apt-get install redis-server nginx;
# both run here as your own processes, never as system services), curl and
# python3. Nothing reaches Imgur.
set -euo pipefail

CHECK_ONLY=0
if [[ "${1:-}" == "--check" ]]; then
  CHECK_ONLY=1
  shift
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${1:-$HERE/../../target/debug/pixgate}"
if [[ ! -x "$BIN" ]]; then
  echo "run.sh: no gateway binary at $BIN (run cargo build first)" >&2
  exit 1
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
for tool in redis-server nginx curl python3; do
  if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$tool" ]]; then
    echo "run.sh: $tool is missing (Debian: apt-get install redis-server nginx curl python3)" >&2
    exit 1
  fi
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

WORK="$(mktemp -d)"
# nginx's workers run as `nobody` when this runs as root: let them in.
chmod 755 "$WORK"
PIDS=()
cleanup() {
  local status=$?
  # Newest first: nginx, the replicas, the fake, then Redis.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null || true
    wait "${PIDS[i]}" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    for log in "$WORK"/*.log; do
      [[ -f "$log" ]] && { echo "== $(basename "$log")" >&2; tail -n 40 "$log" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # url, what
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "run.sh: $2 did not come up ($1)" >&2
  return 1
}

REDIS_PORT="$(free_port)"
UPSTREAM_PORT="$(free_port)"
PORT="$(free_port)"
URL="http://127.0.0.1:$PORT"

step "redis-server on port $REDIS_PORT: AOF on (appendfsync always), never evicting"
mkdir -p "$WORK/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
  --appendonly yes --appendfsync always --save '' \
  --maxmemory-policy noeviction --dir "$WORK/redis" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $REDIS_PORT), 0.2)" 2>/dev/null && break
  sleep 0.05
done

step "the demo's fake Imgur on port $UPSTREAM_PORT (pixgate demo-upstream)"
"$BIN" demo-upstream --listen "127.0.0.1:$UPSTREAM_PORT" --callback "$URL/auth/callback" \
  >"$WORK/upstream.env" 2>"$WORK/upstream.log" &
PIDS+=($!)
for _ in $(seq 1 200); do
  grep -q '^IMGUR_REFRESH_TOKEN=' "$WORK/upstream.env" 2>/dev/null && break
  sleep 0.05
done
set -a
# shellcheck disable=SC1091
. "$WORK/upstream.env"
set +a
export PIXGATE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

REPLICA_PORTS=()
for n in 1 2 3; do
  port="$(free_port)"
  REPLICA_PORTS+=("$port")
  step "replica $n on port $port"
  mkdir -p "$WORK/replica$n"
  # Each replica's own files stay unused: with PIXGATE_REDIS_URL its tokens
  # and ledger live in Redis.
  PIXGATE_LISTEN="127.0.0.1:$port" \
    PIXGATE_TOKEN_FILE="$WORK/replica$n/tokens.json" \
    PIXGATE_DB="$WORK/replica$n/pixgate.db" \
    "$BIN" >"$WORK/replica$n.log" 2>&1 &
  PIDS+=($!)
done
for port in "${REPLICA_PORTS[@]}"; do wait_for "http://127.0.0.1:$port/readyz" "replica on $port"; done

step "nginx on port $PORT, round robin over the three"
mkdir -p "$WORK/nginx"
chmod 755 "$WORK/nginx"
sed -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@PORT@|$PORT|" \
  -e "s|@REPLICA1@|${REPLICA_PORTS[0]}|" -e "s|@REPLICA2@|${REPLICA_PORTS[1]}|" \
  -e "s|@REPLICA3@|${REPLICA_PORTS[2]}|" "$HERE/nginx.conf" >"$WORK/nginx/nginx.conf"
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e stderr >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
wait_for "$URL/readyz" "nginx"

step "check: favorites through the balancer, then an upload seen by every replica"
for _ in 1 2 3 4 5 6; do
  curl -fsS -o /dev/null -w '%{http_code} X-Cache: ' -D "$WORK/headers" "$URL/v1/favorites"
  grep -i '^x-cache:' "$WORK/headers" | cut -d' ' -f2 | tr -d '\r'
done
printf 'a tiny "image"' >"$WORK/hello.png"
ID="$(curl -fsS -F "image=@$WORK/hello.png;type=image/png" "$URL/v1/images" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
echo "uploaded $ID"
for port in "${REPLICA_PORTS[@]}"; do
  curl -fsS "http://127.0.0.1:$port/v1/uploads" | grep -q "\"$ID\"" \
    || { echo "run.sh: replica on $port does not list $ID" >&2; exit 1; }
  echo "replica on $port lists $ID in the shared ledger"
done
KEYS="$(redis-cli -p "$REDIS_PORT" --scan --pattern '{pixgate}:*' 2>/dev/null | sort | tr '\n' ' ' || true)"
echo "shared keys in Redis: ${KEYS:-(redis-cli not installed)}"
for n in 1 2 3; do
  if [[ -e "$WORK/replica$n/tokens.json" ]]; then
    echo "run.sh: replica $n wrote a local token file behind Redis's back" >&2
    exit 1
  fi
done

if [[ $CHECK_ONLY -eq 1 ]]; then
  step "scale-out example OK"
  exit 0
fi
cat <<EOT

== running: three replicas behind $URL (Ctrl-C stops everything)
  curl $URL/v1/favorites
  curl -F image=@some-picture.png $URL/v1/images
  curl $URL/v1/uploads
  browser login through any replica: $URL/auth/login
  each replica directly: ${REPLICA_PORTS[*]/#/http://127.0.0.1:}
EOT
wait
