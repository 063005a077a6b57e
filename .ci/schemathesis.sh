#!/usr/bin/env bash
# schemathesis against a demo gateway with an API key: every operation,
# every status and content type it answers must be documented, and no
# response may be a 5xx other than the documented upstream ones.
# Usage: .ci/schemathesis.sh [path to the pixgate binary]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$root/target/debug/pixgate}")
key=schemathesis-$RANDOM$RANDOM
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec "$bin" --demo --listen "127.0.0.1:$port" --api-key "$key" >"$work/demo.log" 2>&1) &
demo=$!
trap 'kill "$demo" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
  kill -0 "$demo" 2>/dev/null || { cat "$work/demo.log"; exit 1; }
  sleep 0.2
done
python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4.3,<5'
run() {
  python3 -m schemathesis.cli --config-file "$root/schemathesis.toml" run \
    "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $key" \
    --request-timeout 10 --generation-deterministic "$@" || { cat "$work/demo.log"; return 1; }
}
# Logging out turns the demo anonymous (or Flickr unauthorized), so those
# run last, on their own.
run --max-examples 25 --exclude-path /auth/logout --exclude-path /flickr/auth/logout
run --max-examples 5 --include-path /auth/logout --include-path /flickr/auth/logout
