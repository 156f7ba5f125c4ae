#!/usr/bin/env bash
# Soak run (not in CI): DURATION of mixed traffic at a steady rate against one
# assignd: sync callbacks signed by loadgen, and async tasks routed by the
# TaskRouter emulator (assignd emulator), whose REST API answers FAULT_RATE of
# the reservation updates with 429s and 500s (some after applying). Reports
# memory growth (RSS start/end), goroutines, and whether every async
# reservation was applied exactly once.
#
#   DURATION=10m SYNC_RATE=300 ASYNC_RATE=200 FAULT_RATE=0.1 [SOAK_DATABASE_URL=…] bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/soak
DURATION=${DURATION:-10m}
SYNC_RATE=${SYNC_RATE:-300}
ASYNC_RATE=${ASYNC_RATE:-200}
FAULT_RATE=${FAULT_RATE:-0.1}
ACC=AC00000000000000000000000000000001
TOK=50a40000000000000000000000000001  # 32 hex, like a real auth token
rm -rf "$OUT"; mkdir -p "$OUT"
go build -o "$OUT/assignd" ./cmd/assignd
go build -o "$OUT/loadgen" ./bench/loadgen
go build -o "$OUT/taskgen" ./bench/taskgen

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
metric() { curl -fs http://127.0.0.1:18190/metrics | awk -v m="$1" '$1 == m {print $2}'; }
depth() { curl -fs http://127.0.0.1:18190/metrics | awk '/^assignd_async_queue_depth\{/ {s+=$2; n++} END {print (n ? s : -1)}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

WORKERS=${WORKERS:-200}
{ # the emulator's workspace: WORKERS idle workers, one queue
  echo "friendly_name: Soak"; echo "default_activity: Offline"; echo "timeout_activity: Offline"
  echo "activities:"; echo "  - {name: Offline, available: false}"; echo "  - {name: Idle, available: true}"
  echo "workers:"
  for i in $(seq 1 "$WORKERS"); do echo "  - {name: agent-$i, activity: Idle, attributes: {languages: [en]}}"; done
  echo "task_queues:"; echo "  - {name: Everyone, target_workers: '1==1'}"
  echo "workflows:"; echo "  - {name: Soak, default_queue: Everyone}"
} >"$OUT/workspace.yaml"
TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK DATA_DIR="$OUT/data-emulator" LOG_LEVEL=warn \
  "$OUT/assignd" emulator -addr 127.0.0.1:18181 -callback-url http://127.0.0.1:18180/assignment -workspace "$OUT/workspace.yaml" \
  -fault-rate "$FAULT_RATE" >"$OUT/emulator.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do curl -fs -u "$ACC:$TOK" http://127.0.0.1:18181/v1/Workspaces >/dev/null 2>&1 && break; sleep 0.1; done
# SQLite unless SOAK_DATABASE_URL names a database of its own (never the inherited DATABASE_URL).
# Development mode on purpose: the embedded example policy, REST calls to the local emulator.
env -u DATABASE_URL ${SOAK_DATABASE_URL:+DATABASE_URL=$SOAK_DATABASE_URL} ASSIGND_MODE=development PORT=18180 TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK TWILIO_API_BASE_URL=http://127.0.0.1:18181 \
  DATA_DIR="$OUT/data" ADMIN_ADDR=127.0.0.1:18190 "$OUT/assignd" >"$OUT/assignd.log" 2>&1 &
srv=$!; pids+=($srv)
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18180/readyz >/dev/null 2>&1 && break; sleep 0.1; done

"$OUT/loadgen" -url http://127.0.0.1:18180/assignment -token $TOK -c 8 -d "$DURATION" -rate "$SYNC_RATE" -name soak-sync \
  -want '{"instruction":"accept"}' -bodies 5000 >"$OUT/sync.json" &
lg1=$!
TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK "$OUT/taskgen" -api http://127.0.0.1:18181 -c 8 -d "$DURATION" -rate "$ASYNC_RATE" \
  -task '{"type":"email"}' -name soak-async >"$OUT/async.json" &
lg2=$!
sleep 30
rss_start=$(rss_kb $srv); gor_start=$(metric go_goroutines)
echo "after 30 s: RSS ${rss_start} kB, goroutines ${gor_start}"
wait $lg1 $lg2
rss_end=$(rss_kb $srv); gor_end=$(metric go_goroutines)
for _ in $(seq 1 1800); do [ "$(depth)" = 0 ] && break; sleep 0.1; done
stats=$(curl -fs -u "$ACC:$TOK" http://127.0.0.1:18181/__emulator/stats)
{
  echo "soak: $DURATION, sync ${SYNC_RATE}/s + async ${ASYNC_RATE}/s, REST fault rate $FAULT_RATE, store $(grep -o '"queue":"[a-z]*"' "$OUT/assignd.log" | head -n1)"
  echo "sync:  $(cat "$OUT/sync.json")"
  echo "async: $(cat "$OUT/async.json")"
  echo "RSS: ${rss_start} kB after 30 s, ${rss_end} kB at the end"
  echo "goroutines: ${gor_start} after 30 s, ${gor_end} at the end"
  echo "queue depth after the run: $(depth)"
  echo "emulator: $stats"
  echo "async outcomes: $(curl -fs http://127.0.0.1:18190/metrics | grep '^assignd_async_jobs_total' | tr '\n' ' ')"
  echo "retries: $(curl -fs http://127.0.0.1:18190/metrics | grep '^assignd_async_retries_total' | tr '\n' ' ')"
} | tee "$OUT/report.txt"
