#!/usr/bin/env bash
# Runs every client example against `pixgate --demo` (the real gateway in
# front of its built-in fake Imgur and fake Flickr) with an API key. This is what CI calls:
#   cargo build && bash examples/run.sh [path/to/pixgate]
# The binary defaults to target/debug/pixgate of this repository. Needs curl,
# python3 (with venv) and Node 20 + npm; pip and npm fetch from their registries.
set -euo pipefail

EXAMPLES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${1:-$EXAMPLES/../target/debug/pixgate}"
if [[ ! -x "$BIN" ]]; then
  echo "run.sh: no gateway binary at $BIN (run cargo build first)" >&2
  exit 1
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

WORK="$(mktemp -d)"
LOG="$WORK/pixgate.log"
DEMO_PID=""
cleanup() {
  local status=$?
  if [[ -n "$DEMO_PID" ]]; then
    kill "$DEMO_PID" 2>/dev/null || true
    wait "$DEMO_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -f "$LOG" ]]; then
    echo "== run.sh FAILED; the demo gateway's log:" >&2
    cat "$LOG" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
URL="http://127.0.0.1:$PORT"

step "starting $BIN --demo on $URL"
# An empty working directory, so no .env is read.
mkdir "$WORK/cwd"
(cd "$WORK/cwd" && exec "$BIN" --demo --listen "127.0.0.1:$PORT" --api-key "$KEY") >"$LOG" 2>&1 &
DEMO_PID=$!
ready=""
for _ in $(seq 1 60); do # 60 x 0.5 s: at most ~30 s for the server to come up
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" == 200 ]]; then
    ready=yes
    break
  fi
  if ! kill -0 "$DEMO_PID" 2>/dev/null; then
    echo "run.sh: pixgate exited during start" >&2
    exit 1
  fi
  sleep 0.5
done
if [[ -z "$ready" ]]; then
  echo "run.sh: /readyz did not answer 200 within 30 s" >&2
  exit 1
fi
echo "ready"
export PIXGATE_URL="$URL" PIXGATE_API_KEY="$KEY" # read by every example

step "a call without the API key must answer 401"
CODE="$(curl -sS -o /dev/null -w '%{http_code}' "$PIXGATE_URL/v1/favorites")"
if [[ "$CODE" != 401 ]]; then
  echo "run.sh: GET /v1/favorites without the key answered HTTP $CODE, not 401" >&2
  exit 1
fi
echo "HTTP 401, as it should"

step "curl.sh"
bash "$EXAMPLES/curl.sh"

step "python/favorites.py"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check -r "$EXAMPLES/python/requirements.txt"
printf '%s' 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==' \
  | base64 -d >"$WORK/pixel.png"
"$WORK/venv/bin/python" "$EXAMPLES/python/favorites.py" "$WORK/pixel.png"

step "python/albums.py"
"$WORK/venv/bin/python" "$EXAMPLES/python/albums.py" "$WORK/pixel.png"

step "python/flickr.py"
"$WORK/venv/bin/python" "$EXAMPLES/python/flickr.py" "$WORK/pixel.png"

step "typescript (npm ci, npm run build, node dist/main.js)"
(
  cd "$EXAMPLES/typescript"
  npm ci --no-audit --no-fund --loglevel=error
  npm run --silent build
  node dist/main.js
)

step "run.sh: every example passed"
