#!/usr/bin/env bash
# Soak run (not in CI): DURATION of mixed sync and async callbacks at a steady
# rate against one assignd, with a REST fake that answers FAULT_RATE of the
# updates with 429s and 500s (some after applying). Reports memory growth
# (RSS start/end), goroutines, and whether every async reservation was
# applied exactly once.
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

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
metric() { curl -fs http://127.0.0.1:18180/metrics | awk -v m="$1" '$1 == m {print $2}'; }
depth() { curl -fs http://127.0.0.1:18180/metrics | awk '/^assignd_async_queue_depth\{/ {s+=$2; n++} END {print (n ? s : -1)}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK DATA_DIR="$OUT/data-fake" \
  "$OUT/assignd" fake-taskrouter -addr 127.0.0.1:18181 -fault-rate "$FAULT_RATE" >"$OUT/fake.log" 2>&1 & pids+=($!)
sleep 0.3
# SQLite unless SOAK_DATABASE_URL names a database of its own (never the inherited DATABASE_URL).
# Development mode on purpose: the embedded example policy, REST calls to the local fake.
env -u DATABASE_URL ${SOAK_DATABASE_URL:+DATABASE_URL=$SOAK_DATABASE_URL} ASSIGND_MODE=development PORT=18180 TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK TWILIO_API_BASE_URL=http://127.0.0.1:18181 \
  DATA_DIR="$OUT/data" "$OUT/assignd" >"$OUT/assignd.log" 2>&1 &
srv=$!; pids+=($srv)
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18180/readyz >/dev/null 2>&1 && break; sleep 0.1; done

secs=$(( $(echo "$DURATION" | sed -E 's/m$/*60/; s/s$//') ))
"$OUT/loadgen" -url http://127.0.0.1:18180/assignment -token $TOK -c 8 -d "$DURATION" -rate "$SYNC_RATE" -name soak-sync \
  -want '{"instruction":"accept"}' -bodies 5000 >"$OUT/sync.json" &
lg1=$!
"$OUT/loadgen" -url http://127.0.0.1:18180/assignment -token $TOK -c 8 -d "$DURATION" -rate "$ASYNC_RATE" -name soak-async \
  -task '{"type":"email"}' -want '{}' -bodies $(( ASYNC_RATE * secs + 1000 )) -seed 7 >"$OUT/async.json" &
lg2=$!
sleep 30
rss_start=$(rss_kb $srv); gor_start=$(metric go_goroutines)
echo "after 30 s: RSS ${rss_start} kB, goroutines ${gor_start}"
wait $lg1 $lg2
rss_end=$(rss_kb $srv); gor_end=$(metric go_goroutines)
for _ in $(seq 1 1800); do [ "$(depth)" = 0 ] && break; sleep 0.1; done
stats=$(curl -fs -u "$ACC:$TOK" http://127.0.0.1:18181/__fake/stats)
{
  echo "soak: $DURATION, sync ${SYNC_RATE}/s + async ${ASYNC_RATE}/s, REST fault rate $FAULT_RATE, store $(grep -o '"queue":"[a-z]*"' "$OUT/assignd.log" | head -n1)"
  echo "sync:  $(cat "$OUT/sync.json")"
  echo "async: $(cat "$OUT/async.json")"
  echo "RSS: ${rss_start} kB after 30 s, ${rss_end} kB at the end"
  echo "goroutines: ${gor_start} after 30 s, ${gor_end} at the end"
  echo "queue depth after the run: $(depth)"
  echo "REST fake: $stats"
  echo "async outcomes: $(curl -fs http://127.0.0.1:18180/metrics | grep '^assignd_async_jobs_total' | tr '\n' ' ')"
  echo "retries: $(curl -fs http://127.0.0.1:18180/metrics | grep '^assignd_async_retries_total' | tr '\n' ' ')"
} | tee "$OUT/report.txt"
