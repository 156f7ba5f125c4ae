#!/usr/bin/env bash
# Wall time of the README's test command (go test ./...) on this tree and on
# a baseline commit, run alternately so both see the same load, and the
# longest stretch with no output line. Usage (from anywhere):
#   BASE=75dea7c RUNS=2 bash bench/suite.sh
# The environment is passed on: unset DATABASE_URL for a newcomer's run.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BASE:-75dea7c} runs=${RUNS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/base"
git archive "$base" | tar -x -C "$work/base"
# Older trees look for Twilio's OpenAPI files in ../shared beside the checkout.
if [ -d ../shared ]; then ln -s "$(cd ../shared && pwd)" "$work/shared"; fi

# one DIR LABEL: run the suite in DIR, print wall seconds and the longest quiet gap.
one() {
  local start gap
  start=$(date +%s.%N)
  gap=$( (cd "$1" && go test -count=1 ./... 2>&1 || echo "FAIL: exit $?") |
    while IFS= read -r line; do
      case $line in *FAIL*) echo "$2: $line" >&2 ;; esac
      date +%s.%N
    done | awk -v s="$start" '{ if ($1 - s > g) g = $1 - s; s = $1 } END { printf "%.0f", g }')
  printf '%-8s wall %5.0f s   longest quiet %4s s\n' "$2" "$(echo "$(date +%s.%N) - $start" | bc)" "$gap"
}

db=unset
if [ -n "${DATABASE_URL:-}" ]; then db=set; fi
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), DATABASE_URL $db"
for i in $(seq "$runs"); do
  one "$work/base" "$base"
  one . "this"
done
