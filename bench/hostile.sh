#!/usr/bin/env bash
# What unsigned clients cost assignd (issue 15, findings 1 and 2), against
# this checkout and, side by side, an older revision (OLD_REV, default
# 75dea7c, built in a temporary git worktree):
#   flood-bounded: 32 connections send the most the server reads past its
#     shape check (128 parameters filling 64 KB) with a forged signature;
#   flood-wide:    32 connections send 10,000 parameters (what the old
#     signature check spent 50-180 ms of CPU on);
#   idle:          10,000 connections held open, sending nothing, with the
#     server's descriptor limit at FD_LIMIT (default 8192);
#   gogc:          signed-callback throughput with Go's GOGC (100) against
#     the old built-in GOGC=400, alternated PAIRS times.
# Genuine signed callbacks arrive at RATE/s on new connections throughout.
# Loopback only; every run ends by itself.
#
#   DUR=60s bash bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/hostile
DUR=${DUR:-60s}
RATE=${RATE:-20}
FD_LIMIT=${FD_LIMIT:-8192}
OLD_REV=${OLD_REV:-75dea7c}
PAIRS=${PAIRS:-3}
ACC=AC00000000000000000000000000000001
TOK=be4c0000000000000000000000000001
mkdir -p "$OUT"
rm -rf "$OUT"/data-* "$OUT"/*.json "$OUT"/*.log

echo "building…"
go build -o "$OUT/assignd-new" ./cmd/assignd
go build -o "$OUT/hostile" ./bench/hostile
go build -o "$OUT/loadgen" ./bench/loadgen
old=$(mktemp -d)
git worktree add --detach -q "$old/src" "$OLD_REV"
(cd "$old/src" && go build -o "$OLDPWD/$OUT/assignd-old" ./cmd/assignd)
git worktree remove --force "$old/src"; rm -rf "$old"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }

serve() { # binary name port extra-env…  (development mode, the example policy, no decision log: finding 3 is measured elsewhere)
  local bin=$1 name=$2 port=$3; shift 3
  ( ulimit -n "$FD_LIMIT"
    exec env -u DATABASE_URL -u GOGC -u GOMEMLIMIT ASSIGND_MODE=development PORT="$port" TWILIO_ACCOUNT_SID=$ACC TWILIO_AUTH_TOKEN=$TOK \
      TWILIO_API_BASE_URL=http://127.0.0.1:1 DATA_DIR="$OUT/data-$name" ADMIN_ADDR=127.0.0.1:$(( port + 1000 )) \
      DECISION_LOG=off LOG_LEVEL=info "$@" "$OUT/assignd-$bin" ) >"$OUT/$name.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/healthz"
}
stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

hostile() { # bin name port hostile-flags…
  local bin=$1 name=$2 port=$3; shift 3
  serve "$bin" "$name" "$port"
  "$OUT/hostile" -url "http://127.0.0.1:$port/assignment" -token $TOK -pid "${pids[-1]}" -d "$DUR" -rate "$RATE" "$@" >"$OUT/$name.json"
  echo "$name: $(cat "$OUT/$name.json")"
  stop
}

for bin in new old; do
  hostile "$bin" "$bin-flood-bounded" 18180 -mode flood -body bounded
  hostile "$bin" "$bin-flood-wide" 18180 -mode flood -body wide
  hostile "$bin" "$bin-idle" 18180 -mode idle -idle 10000
done

# GOGC: the same signed load, Go's default against the old built-in 400.
for i in $(seq 1 "$PAIRS"); do
  for g in 100 400; do
    serve new "gogc-$g-$i" 18180 GOGC=$g
    "$OUT/loadgen" -url http://127.0.0.1:18180/assignment -token $TOK -c 32 -d 8s -name "gogc-$g" \
      -want '{"instruction":"accept"}' >"$OUT/gogc-$g-$i.json"
    echo "gogc-$g-$i: $(cat "$OUT/gogc-$g-$i.json") peak RSS $(awk '/VmHWM/ {print $2/1024 " MB"}' /proc/"${pids[-1]}"/status)"
    stop
  done
done
