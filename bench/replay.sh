#!/usr/bin/env bash
# Replay bounds (issue 15 #4): what one replay of a pathological rule costs
# the server. Two rules, each in a file asking for cost_limit 1e18, over a
# task's ITEMS items: "loops" nests all() three deep (CPU), "lists" nests
# map() three deep (CPU and memory). For each build (this tree; with
# OLD=DIR, also the checkout in DIR, e.g. `git worktree add /tmp/old 75dea7c`):
#   base     replay through the policy in force (the example): the baseline
#   upload   the file uploaded for replay (policy in force: the example)
#   inforce  the file is the policy in force (POLICY_FILE): its live
#            callback, then a replay through it
# Each row: HTTP status, wall time, the server's CPU time and peak RSS
# (VmHWM), and the answer's error. Results: bench/out/replay/results.md.
#
#   OLD=/tmp/old ITEMS=300 bash bench/replay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/replay
ITEMS=${ITEMS:-300}
MAXTIME=${MAXTIME:-120}
mkdir -p "$OUT"
rm -rf "$OUT"/data-* "$OUT"/*.log

rules_file() { # NAME WHEN
  cat > "$OUT/$1.yaml" <<YAML
cost_limit: 1000000000000000000
rules:
  - name: expensive
    when: '$2'
    then: {instruction: accept}
default: {instruction: later}
on_error: {instruction: reject, activity_sid: WA00000000000000000000000000000007}
YAML
}
rules_file loops 'task.items.all(a, task.items.all(b, task.items.all(c, a + b + c >= 0)))'
rules_file lists 'task.items.map(a, task.items.map(b, task.items.map(c, a + b + c))).size() >= 0'
task=$(python3 -c "import json; print(json.dumps({'items': list(range($ITEMS))}))")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }  # utime+stime, USER_HZ=100
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }

# run NAME BIN RULES [inforce]: start the server (RULES in force with
# inforce), send one callback, replay it.
run() {
  local name=$1 bin=$2 rules=$3 policy port admin data pid id
  policy=${4:+$PWD/$OUT/$rules.yaml}
  local tag=$name-$rules${4:+-inforce}
  port=$(free_port); admin=$(free_port); data="$OUT/data-$tag"
  env -i PATH="$PATH" HOME="$HOME" PORT="$port" ADMIN_ADDR="127.0.0.1:$admin" DATA_DIR="$data" \
    ${policy:+POLICY_FILE="$policy"} "$bin" serve >"$OUT/$tag.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local t0 t1 c0 c1
  t0=$(now)
  env -i PATH="$PATH" HOME="$HOME" DATA_DIR="$data" PORT="$port" "$bin" send -timeout "${MAXTIME}s" -task "$task" >"$OUT/$tag.send" 2>&1 || true
  t1=$(now)
  local send_s; send_s=$(echo "$t1 - $t0" | bc)
  sleep 1.5  # the decision log's batch
  id=$(curl -s "127.0.0.1:$admin/admin/api/decisions?limit=1" | grep -o '"id": [0-9]*' | head -1 | grep -o '[0-9]*')
  replay() { # label, curl args…
    local label=$1; shift
    c0=$(cpu_s "$pid"); t0=$(now)
    local code; code=$(curl -s -o "$OUT/$tag-${label// /-}.json" -w '%{http_code}' --max-time "$MAXTIME" "$@" \
      "127.0.0.1:$admin/admin/api/decisions/$id/replay" || echo "timeout")
    t1=$(now); c1=$(cpu_s "$pid")
    local err; err=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" / ".join(x for x in (d.get("error"), d.get("note")) if x))' \
      "$OUT/$tag-${label// /-}.json" 2>/dev/null || true)
    printf '| %s | %s | %s | %.2f | %.2f | %s | %s |\n' "$name" "$label" "$code" "$(echo "$t1 - $t0" | bc)" "$(echo "$c1 - $c0" | bc)" "$(hwm_mb "$pid")" "${err:-—}"
  }
  if [ -z "$policy" ]; then
    replay base -X POST
    replay "upload $rules" --data-binary @"$OUT/$rules.yaml" -H 'Content-Type: application/yaml'
  else
    printf '| %s | live callback, %s in force | %s | %.2f | | %s | %s |\n' "$name" "$rules" "$(grep -o '"instruction":"[a-z]*"' "$OUT/$tag.send" | head -1)" "$send_s" "$(hwm_mb "$pid")" "reject is on_error"
    replay "$rules in force" -X POST
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "building…"
go build -o "$OUT/assignd-new" ./cmd/assignd
[ -n "${OLD:-}" ] && (cd "$OLD" && go build -o "$OLDPWD/$OUT/assignd-old" ./cmd/assignd)

{
  echo "ITEMS=$ITEMS, $(nproc) cores, $(date -u +%FT%TZ)"
  echo
  echo '| build | replay | status | wall s | server CPU s | peak RSS MB | error |'
  echo '|---|---|---|---:|---:|---:|---|'
  for build in new ${OLD:+old}; do
    for rules in ${RULES:-loops lists}; do
      run "$build" "$OUT/assignd-$build" "$rules"
      run "$build" "$OUT/assignd-$build" "$rules" inforce
    done
  done
} | tee "$OUT/results.md"
