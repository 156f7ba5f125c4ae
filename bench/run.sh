#!/usr/bin/env bash
# Load benchmark for assignd, all on this machine, in one go:
#   (a) floor: a bare echo handler answering a constant accept (no checks)
#   (b) sync:  assignd, signature check + the example policy, DECISION_LOG=off
#   (b2) sync-log: the same with DECISION_LOG=full (every callback in the
#        decision log); its ratio to (b) is the decision log's cost
#   (c) async-sqlite:   tasks routed by the TaskRouter emulator (assignd emulator)
#       to assignd, which answers {} and stores each decision in SQLite, then
#       accepts over the emulator's REST API
#   (d) async-postgres: the same on PostgreSQL (when DATABASE_URL is set)
# (a) and (b) print requests/s, p50/p99/p99.9 and errors, with the ratio to (a);
# the async runs report tasks accepted per second end to end and, from the
# emulator, that each decision was applied exactly once. Results go to
# bench/out/ and bench/RESULTS.md.
#
#   DUR=10s CONNS=32 DATABASE_URL=postgres://… bash bench/run.sh
#
# PAIRS=n runs only (b) and (b2), alternated n times (off, full, off, full, …),
# and prints each pair's ratio and their mean: the decision log's cost on a
# shared machine, where one pair swings with the other tenants' load.
#
#   PAIRS=5 DUR=8s bash bench/run.sh
# (SYNC_PORT and LOG_PORT move its two servers off 18080 and 18084.)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
DUR=${DUR:-10s}
CONNS=${CONNS:-32}
ACC=AC00000000000000000000000000000001
TOK=be4c0000000000000000000000000001  # 32 hex, like a real auth token
mkdir -p "$OUT"
rm -rf "$OUT"/data-* "$OUT"/*.json "$OUT"/*.log

echo "building…"
go build -o "$OUT/assignd" ./cmd/assignd
go build -o "$OUT/loadgen" ./bench/loadgen
go build -o "$OUT/floor" ./bench/floor
go build -o "$OUT/taskgen" ./bench/taskgen

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_http() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }
field() { grep -o "\"$2\":[^,}]*" "$1" | head -n1 | cut -d: -f2 | tr -d '"'; }
# Queue depth from the admin listener's /metrics (on port+1000); -1 when it could not be read (a failed
# scrape must not look like an empty queue).
depth() { curl -fs "http://127.0.0.1:$(( $1 + 1000 ))/metrics" | awk '/^assignd_async_queue_depth\{/ {s+=$2; n++} END {print (n ? s : -1)}'; }

# The emulator's workspace for the async runs: WORKERS idle workers, one queue.
WORKERS=${WORKERS:-200}
{
  echo "friendly_name: Bench"; echo "default_activity: Offline"; echo "timeout_activity: Offline"
  echo "activities:"; echo "  - {name: Offline, available: false}"; echo "  - {name: Idle, available: true}"
  echo "workers:"
  for i in $(seq 1 "$WORKERS"); do echo "  - {name: agent-$i, activity: Idle, attributes: {languages: [en]}}"; done
  echo "task_queues:"; echo "  - {name: Everyone, target_workers: '1==1'}"
  echo "workflows:"; echo "  - {name: Bench, default_queue: Everyone}"
} >"$OUT/workspace.yaml"

emulator() { # port: a fresh TaskRouter emulator (the bench account) calling assignd on port, so its counts are that run's
  TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK DATA_DIR="$OUT/data-emulator" LOG_LEVEL=warn \
    "$OUT/assignd" emulator -addr 127.0.0.1:18081 -callback-url "http://127.0.0.1:$1/assignment" -workspace "$OUT/workspace.yaml" \
    >"$OUT/emulator.log" 2>&1 &
  emupid=$!; pids+=($emupid)
  for _ in $(seq 1 200); do curl -fs -u "$ACC:$TOK" http://127.0.0.1:18081/v1/Workspaces >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "emulator not up" >&2; return 1
}

serve() { # name port extra-env…
  local name=$1 port=$2; shift 2
  # DATABASE_URL only when a run passes it: the caller's names the admin database.
  # Development mode on purpose: the embedded example policy, REST calls to the local emulator.
  env -u DATABASE_URL ASSIGND_MODE=development PORT="$port" TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK TWILIO_API_BASE_URL=http://127.0.0.1:18081 \
    DATA_DIR="$OUT/data-$name" ADMIN_ADDR=127.0.0.1:$(( port + 1000 )) LOG_LEVEL=info "$@" "$OUT/assignd" >"$OUT/$name.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/readyz"
}

# CPU time (user + system, clock ticks) a process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# (b) sync, decision log off; (b2) the same with the decision log on (full)
sync_run() { # name port DECISION_LOG [json name]
  serve "$1" "$2" DECISION_LOG="$3"
  local t0; t0=$(cpu_ticks "${pids[-1]}")
  "$OUT/loadgen" -url "http://127.0.0.1:$2/assignment" -token $TOK -c "$CONNS" -d "$DUR" -name "$1" \
    -want '{"instruction":"accept"}' >"$OUT/${4:-$1}.json"
  # The server's own CPU per request (the writer included): what bounds
  # throughput on saturated cores, and steadier than requests/s when other
  # tenants share them.
  echo "$(( $(cpu_ticks "${pids[-1]}") - t0 ))" >"$OUT/${4:-$1}.cpu"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
}

if [ -n "${PAIRS:-}" ]; then
  sum=0
  for i in $(seq 1 "$PAIRS"); do
    sync_run sync "${SYNC_PORT:-18080}" off "sync-$i"
    sync_run sync-log "${LOG_PORT:-18084}" full "sync-log-$i"
    off=$(field "$OUT/sync-$i.json" rps); full=$(field "$OUT/sync-log-$i.json" rps)
    r=$(echo "$full / $off" | bc -l); sum=$(echo "$sum + $r" | bc -l)
    hz=$(getconf CLK_TCK)
    coff=$(echo "$(cat "$OUT/sync-$i.cpu") * 1000000 / $hz / $(field "$OUT/sync-$i.json" requests)" | bc -l)
    cfull=$(echo "$(cat "$OUT/sync-log-$i.cpu") * 1000000 / $hz / $(field "$OUT/sync-log-$i.json" requests)" | bc -l)
    c=$(echo "$coff / $cfull" | bc -l); csum=$(echo "${csum:-0} + $c" | bc -l)
    poff=$(field "$OUT/sync-$i.json" p99_ms); pfull=$(field "$OUT/sync-log-$i.json" p99_ms)
    p=$(echo "$pfull / $poff" | bc -l); psum=$(echo "${psum:-0} + $p" | bc -l)
    printf 'pair %d: off %.0f rps, full %.0f rps, ratio %.3f; p99 off %s ms, full %s ms, ratio %.2f; server CPU/request off %.1f µs, full %.1f µs, ratio %.3f (load average %s)\n' \
      "$i" "$off" "$full" "$r" "$poff" "$pfull" "$p" "$coff" "$cfull" "$c" "$(cut -d' ' -f1-3 /proc/loadavg)"
  done
  printf 'mean ratio full/off over %d pairs: throughput %.3f (target ≥ 0.90), p99 %.2f (target ≤ 1.5), server CPU per request (off/full) %.3f\n' \
    "$PAIRS" "$(echo "$sum / $PAIRS" | bc -l)" "$(echo "$psum / $PAIRS" | bc -l)" "$(echo "$csum / $PAIRS" | bc -l)"
  exit 0
fi

# (a) floor
# The floor runs with Go's GC setting, as assignd does, so the ratio compares handlers, not GC settings.
"$OUT/floor" -addr 127.0.0.1:18090 & pids+=($!)
sleep 0.3
"$OUT/loadgen" -url http://127.0.0.1:18090/assignment -c "$CONNS" -d "$DUR" -name floor \
  -want '{"instruction":"accept"}' >"$OUT/floor.json"
kill "${pids[-1]}"

sync_run sync 18080 off
sync_run sync-log 18084 full

async_run() { # name port extra-env…
  local name=$1 port=$2; shift 2
  emulator "$port"
  serve "$name" "$port" "$@"
  TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK "$OUT/taskgen" -api http://127.0.0.1:18081 -c "$CONNS" -d "$DUR" \
    -task '{"type":"email"}' -name "$name" >"$OUT/$name-tasks.json"
  for _ in $(seq 1 1200); do [ "$(depth "$port")" = 0 ] && break; sleep 0.1; done
  curl -fs -u "$ACC:$TOK" http://127.0.0.1:18081/__emulator/stats >"$OUT/$name-emulator.json"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  kill "$emupid"; wait "$emupid" 2>/dev/null || true
}

# (c) async on SQLite
async_run async-sqlite 18082
# (d) async on PostgreSQL
if [ -n "${DATABASE_URL:-}" ]; then
  dbname=assignd_bench_$$
  psql "$DATABASE_URL" -qc "CREATE DATABASE $dbname" >/dev/null
  pgurl=$(echo "$DATABASE_URL" | sed -E "s#/[^/?]+(\?|$)#/$dbname\1#")
  async_run async-postgres 18083 DATABASE_URL="$pgurl"
  psql "$DATABASE_URL" -qc "DROP DATABASE $dbname WITH (FORCE)" >/dev/null || true
fi

# Report
floor_rps=$(field "$OUT/floor.json" rps)
{
  echo "# assignd load benchmark"
  echo
  echo "Latest run: $(date -u +%Y-%m-%dT%H:%MZ), \`DUR=$DUR CONNS=$CONNS bash bench/run.sh\`."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB,"
  echo "$(go version | cut -d' ' -f3), load generator on the same cores. Every server logs one line per callback (to a file)."
  echo
  echo "| run | requests/s | ratio to floor | p50 ms | p99 ms | p99.9 ms | non-200 | errors | wrong body |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for f in floor sync sync-log; do
    [ -f "$OUT/$f.json" ] || continue
    rps=$(field "$OUT/$f.json" rps)
    printf '| %s | %.0f | %.2f | %s | %s | %s | %s | %s | %s |\n' "$f" "$rps" "$(echo "$rps / $floor_rps" | bc -l)" \
      "$(field "$OUT/$f.json" p50_ms)" "$(field "$OUT/$f.json" p99_ms)" "$(field "$OUT/$f.json" p999_ms)" \
      "$(field "$OUT/$f.json" non_200)" "$(field "$OUT/$f.json" errors)" "$(field "$OUT/$f.json" wrong_body)"
  done
  echo
  printf 'Decision log cost: sync-log (DECISION_LOG=full) / sync (off) = **%.2f** (target ≥ 0.90).\n' \
    "$(echo "$(field "$OUT/sync-log.json" rps) / $(field "$OUT/sync.json" rps)" | bc -l)"
  echo
  echo "Async decisions: tasks created for $DUR by $CONNS clients in the TaskRouter emulator ($WORKERS workers), each callback"
  echo "answered {} and the accept applied over the emulator's REST API (exactly-once checked by the emulator):"
  echo
  echo "| run | tasks created | accepted | accepted/s | updates applied | applied twice |"
  echo "|---|---:|---:|---:|---:|---:|"
  for f in async-sqlite async-postgres; do
    [ -f "$OUT/$f-tasks.json" ] || continue
    printf '| %s | %s | %s | %.0f | %s | %s |\n' "$f" "$(field "$OUT/$f-tasks.json" created)" "$(field "$OUT/$f-tasks.json" accepted)" \
      "$(field "$OUT/$f-tasks.json" accepted_per_s)" "$(field "$OUT/$f-emulator.json" applied)" "$(field "$OUT/$f-emulator.json" applied_twice)"
  done
} >"$OUT/report.md"
cat "$OUT/report.md"
