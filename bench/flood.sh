#!/usr/bin/env bash
# A flood of forged callbacks against the decision log (issue 15 #3): FLOOD (10 s) of
# callbacks signed with the wrong token, as fast as CONNS connections go, while genuine
# signed callbacks arrive at RATE/s from 1 s before the flood to 1 s after it. Reports how
# much DATA_DIR grew, the forged requests' rate, and whether every genuine callback
# answered is in the decision log (DECISION_LOG=full, SQLite).
#
#   bash bench/flood.sh                       # this checkout
#   BIN=/path/to/other/assignd bash bench/flood.sh   # another build, same generator
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/flood
FLOOD=${FLOOD:-10}
CONNS=${CONNS:-32}
RATE=${RATE:-50}
PORT=${PORT:-28180}
ACC=AC00000000000000000000000000000001
TOK=be4c0000000000000000000000000001
mkdir -p "$OUT"
rm -rf "$OUT/data" "$OUT"/*.json
go build -o "$OUT/loadgen" ./bench/loadgen
if [ -z "${BIN:-}" ]; then go build -o "$OUT/assignd" ./cmd/assignd; BIN=$OUT/assignd; fi

env -u DATABASE_URL ASSIGND_MODE=development PORT="$PORT" TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK \
  TWILIO_API_BASE_URL=http://127.0.0.1:1 DATA_DIR="$OUT/data" DECISION_LOG=full LOG_LEVEL=warn "$BIN" >"$OUT/assignd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
sleep 0.5
before=$(du -sb "$OUT/data" | cut -f1)

"$OUT/loadgen" -url "http://127.0.0.1:$PORT/assignment" -token $TOK -c 4 -rate "$RATE" -d "$((FLOOD + 2))s" \
  -bodies $(( RATE * (FLOOD + 3) )) -seed 7 -name genuine -want '{"instruction":"accept"}' >"$OUT/genuine.json" &
gen=$!
sleep 1
"$OUT/loadgen" -forge -url "http://127.0.0.1:$PORT/assignment" -token $TOK -c "$CONNS" -d "${FLOOD}s" -seed 9 -name forged >"$OUT/forged.json"
wait $gen
sleep 1 # the writer commits every 100 ms
after=$(du -sb "$OUT/data" | cut -f1)
kill $pid; wait $pid 2>/dev/null || true; trap - EXIT

field() { grep -o "\"$2\":[^,}]*" "$1" | head -n1 | cut -d: -f2 | tr -d '"'; }
db=$OUT/data/decisions.sqlite
answered=$(field "$OUT/genuine.json" requests)
# Every genuine callback answered 200 must be in the log: the generator's SIDs are WR00000007…
kept=$(sqlite3 "$db" "SELECT COUNT(DISTINCT reservation_sid) FROM assignd_decision WHERE result='ok' AND reservation_sid LIKE 'WR00000007%'")
refused=$(sqlite3 "$db" "SELECT COUNT(*) FROM assignd_decision WHERE result='bad_signature'")
printf 'forged: %s requests in %s s (%.0f/s), %s not answered 403; genuine: %s answered (%s not 200), %s of them in the log\n' \
  "$(field "$OUT/forged.json" requests)" "$FLOOD" "$(field "$OUT/forged.json" rps)" "$(field "$OUT/forged.json" non_200)" \
  "$answered" "$(field "$OUT/genuine.json" non_200)" "$kept"
printf 'decision log rows for refusals: %s; DATA_DIR grew by %.1f MB (%s → %s bytes)\n' \
  "$refused" "$(echo "($after - $before) / 1000000" | bc -l)" "$before" "$after"
