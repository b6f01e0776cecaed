#!/usr/bin/env bash
# Parse benchmark: lines per second per core of `mailfleet parse --summary` against pflogsumm
# on the same large, real log, side by side in one run. Prints the figures and the ratio.
#   MAILFLEET_BIN=build/bin tests/bench/parse_bench.sh [--copies N]
# The log: the 69,861 real lines of pixelpark-postfix-logsums (shared/corpora), N copies
# (default 15, about a million lines).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MAILFLEET_BIN:-$REPO/build/bin}
CORPORA=${MAILFLEET_CORPORA:-$(cd "$REPO/.." && pwd)/shared/corpora}
COPIES=15
[ "${1:-}" = --copies ] && COPIES=$2
SRC=$CORPORA/pixelpark-postfix-logsums/test/mail.log.xz
[ -f "$SRC" ] || { echo "parse_bench: $SRC not found; set MAILFLEET_CORPORA" >&2; exit 1; }
command -v pflogsumm >/dev/null || { echo "parse_bench: pflogsumm is not installed (deploy/install-deps.sh)" >&2; exit 1; }
[ -x "$BIN/mailfleet" ] || { echo "parse_bench: $BIN/mailfleet not built" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mailfleet-parse-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
xz -dc "$SRC" > "$WORK/one.log"
for _ in $(seq "$COPIES"); do cat "$WORK/one.log"; done > "$WORK/mail.log"
LINES=$(wc -l < "$WORK/mail.log")
BYTES=$(stat -c %s "$WORK/mail.log")
cat "$WORK/mail.log" > /dev/null  # into the page cache for both

# run NAME CMD...: CPU seconds (user + sys) and wall seconds of CMD, best of 5 (this VM's
# neighbours steal time at random; the least disturbed run is the one to compare). Bash's own
# `time` reads them to the millisecond; /usr/bin/time rounds to 10 ms.
run() {
  local name=$1 best_cpu="" best_wall="" i out cpu wall TIMEFORMAT="%3U %3S %3R"
  shift
  for i in 1 2 3 4 5; do
    out=$( { time "$@" > /dev/null 2>&1; } 2>&1 | tail -n 1)
    cpu=$(echo "$out" | awk '{print $1 + $2}')
    wall=$(echo "$out" | awk '{print $3}')
    if [ -z "$best_cpu" ] || awk -v a="$cpu" -v b="$best_cpu" 'BEGIN{exit !(a < b)}'; then
      best_cpu=$cpu
      best_wall=$wall
    fi
  done
  echo "$best_cpu $best_wall"
}

read -r mf_cpu mf_wall < <(run mailfleet "$BIN/mailfleet" parse --summary "$WORK/mail.log")
read -r pf_cpu pf_wall < <(run pflogsumm pflogsumm "$WORK/mail.log")

awk -v lines="$LINES" -v bytes="$BYTES" -v mc="$mf_cpu" -v mw="$mf_wall" -v pc="$pf_cpu" -v pw="$pf_wall" 'BEGIN {
  mrate = lines / (mc > 0 ? mc : 0.001); prate = lines / (pc > 0 ? pc : 0.001);
  printf "parse benchmark: %d lines (%.1f MiB), best of 5\n", lines, bytes / 1048576;
  printf "  mailfleet parse --summary: %6.3f s CPU, %6.3f s wall: %10.0f lines/s/core\n", mc, mw, mrate;
  printf "  pflogsumm                : %6.3f s CPU, %6.3f s wall: %10.0f lines/s/core\n", pc, pw, prate;
  printf "  ratio mailfleet / pflogsumm: %.1fx (target >= 30x); target 3M lines/s/core: %s\n",
         mrate / prate, (mrate >= 3000000 ? "met" : "NOT met");
}'
