#!/usr/bin/env bash
# The benchmark suite in one command: builds the release binaries, installs
# the load generator (oha) and the reference server (nginx) if missing,
# runs every scenario on loopback, stops everything it started, and writes
# bench/RESULTS.md (or bench/RESULTS.quick.md with --quick).
#
#   bench/run.sh            # full run, about 5 minutes after the build
#   bench/run.sh --quick    # regression guard, under 2 minutes after the build
#
# --out FILE writes the results there instead (e.g. a run of one scenario:
# bench/run.sh --only replicas --out bench/RESULTS.replicas.md). Other
# arguments go to the harness: --only storm,upload  --strict (exit 1 when a
# target is missed). Set CARGO_TARGET_DIR to build elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

quick=()
out="$repo/bench/RESULTS.md"
extra=()
next_is_out=0
for arg in "$@"; do
  if [ "$next_is_out" = 1 ]; then out="$arg"; next_is_out=0; continue; fi
  case "$arg" in
    --out) next_is_out=1 ;;
    --quick) quick=(--quick); out="$repo/bench/RESULTS.quick.md" ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) extra+=("$arg") ;;
  esac
done

echo "== release build"
cargo build --release --features bench --bins
target_dir=${CARGO_TARGET_DIR:-$repo/target}

echo "== load generator (oha)"
tools="$repo/bench/.tools"
oha="$tools/bin/oha"
if [ ! -x "$oha" ]; then
  # Built from crates.io into bench/.tools (gitignored); a few minutes, once.
  CARGO_TARGET_DIR="$target_dir/bench-tools" cargo install oha --version 1.16.0 --locked --root "$tools"
fi
"$oha" --version

echo "== reference server (nginx)"
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's package; the harness runs its own unprivileged instance, so the
  # package's service is not started (nor needed).
  RUNLEVEL=1 apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx" -v

echo "== shared store for the replicas scenario (redis-server)"
if ! command -v redis-server >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's package; the harness runs its own instance on a free port.
  RUNLEVEL=1 apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
redis_server=$(command -v redis-server || echo /usr/bin/redis-server)
"$redis_server" --version

# 1000 concurrent connections, both ends in this process tree.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== benchmark"
"$target_dir/release/pixgate-bench" \
  --gateway "$target_dir/release/pixgate" \
  --oha "$oha" \
  --nginx "$nginx" \
  --redis-server "$redis_server" \
  --notes "$repo/bench/PROFILE.md" \
  --commit "$(git rev-parse --short HEAD 2>/dev/null || true)" \
  --out "$out" \
  "${quick[@]}" "${extra[@]}"
echo "== wrote $out"
