#!/usr/bin/env bash
# Profiles the gateway during benchmark scenarios with perf (Debian's
# linux-perf): `perf record --call-graph dwarf` attached to each gateway
# process the harness starts, then the hottest functions, inclusive and
# self, written next to the data in bench/profiles/.
#
#   bench/profile.sh favorites            # one scenario, quick-mode lengths
#   bench/profile.sh upload,storm
set -euo pipefail
cd "$(dirname "$0")/.."
scenarios=${1:?"usage: bench/profile.sh SCENARIO[,SCENARIO...]"}
if ! command -v perf >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi
out="$PWD/bench/profiles"
rm -rf "$out"
mkdir -p "$out"
bench/run.sh --quick --only "$scenarios" --perf-dir "$out"
for data in "$out"/*.perf.data; do
  report="${data%.perf.data}.txt"
  {
    echo "== $(basename "$data"): inclusive (children), gateway functions"
    perf report -i "$data" --children --sort symbol --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | grep -E 'pixgate::|tracing|reqwest|hyper|actix_http|moka|tokio::fs|spawn_blocking|statx|flock' \
      | sed 's/  */ /g' | head -40 || true
    echo
    echo "== self time"
    perf report -i "$data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | sed 's/  */ /g' | head -30 || true
  } >"$report"
  echo "== $report"
  head -25 "$report" || true
done
