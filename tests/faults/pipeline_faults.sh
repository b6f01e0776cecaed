#!/usr/bin/env bash
# Fault tests of the log pipeline: real agent, collector and PostgreSQL processes over TLS on
# loopback. A generator writes sequence-numbered lines; the agent is killed with -9 at seeded
# random points, the collector is killed with -9, PostgreSQL restarts, and the collector is
# stopped while lines are written and the file rotated. At the end the rows in PostgreSQL must
# equal the lines written: none missing, none twice.
#
#   MAILFLEET_BIN=build/bin tests/faults/pipeline_faults.sh [--iterations N] [--seed S]
# Prints "faults: N passed, M failed".
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MAILFLEET_BIN:?set MAILFLEET_BIN to the folder with the built programs}
ITERATIONS=50
SEED=${MAILFLEET_FAULT_SEED:-$(date +%s)}
while [ $# -gt 0 ]; do
  case $1 in
    --iterations) ITERATIONS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    *) echo "pipeline_faults: unknown option $1" >&2; exit 2 ;;
  esac
done
RANDOM=$SEED

WORK=$(mktemp -d /tmp/mailfleet-faults.XXXXXX)
chmod 711 "$WORK"
PKI=$WORK/pki
PORT=17643
LOG=$WORK/logs/mail.log
mkdir -p "$WORK/logs" "$WORK/postfix" "$WORK/run"
echo "compatibility_level = 3.6" > "$WORK/postfix/main.cf"

passes=0
fails=0
ok() { passes=$((passes + 1)); echo "ok - $1"; }
not_ok() { fails=$((fails + 1)); echo "not ok - $1"; [ $# -lt 2 ] || echo "$2" | sed 's/^/    # /' | head -n 20; }

alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}
stop_pid() {  # stop_pid FILE SIGNAL
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill "-$2" "$pid" 2>/dev/null
  for _ in $(seq 300); do alive "$pid" || break; sleep 0.05; done
  rm -f "$1"
}

finish() {
  stop_pid "$WORK/run/agent.pid" KILL
  stop_pid "$WORK/run/collector.pid" TERM
  # A collector killed with -9 leaves its PostgreSQL running: stop that too.
  local pg
  pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [ -f "$WORK/collector/postgres/postmaster.pid" ] &&
    runuser -u postgres -- "$pg/pg_ctl" -D "$WORK/collector/postgres" -m immediate -w stop >/dev/null 2>&1
  if [ $fails -gt 0 ]; then
    mkdir -p /tmp/mailfleet-faults-logs && cp "$WORK"/run/*.log /tmp/mailfleet-faults-logs/ 2>/dev/null
    echo "faults: logs kept in /tmp/mailfleet-faults-logs (seed $SEED)"
  fi
  rm -rf "$WORK"
  echo "faults: $passes passed, $fails failed"
}
trap finish EXIT

"$REPO/deploy/pki/mailfleet-pki" "$PKI" init >/dev/null
"$REPO/deploy/pki/mailfleet-pki" "$PKI" issue collector collector --ip 127.0.0.1 --dns localhost >/dev/null
"$REPO/deploy/pki/mailfleet-pki" "$PKI" issue agent gen >/dev/null
"$REPO/deploy/pki/mailfleet-pki" "$PKI" issue client admin >/dev/null

start_collector() {
  rm -f "$WORK/run/ready"
  "$BIN/mailfleet-collector" --listen "127.0.0.1:$PORT" --data-dir "$WORK/collector" \
    --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/collector.crt" --tls-key "$PKI/collector.key" \
    --heartbeat-interval 1 --stale-after 5 --ready-file "$WORK/run/ready" \
    </dev/null >>"$WORK/run/collector.log" 2>&1 &
  echo $! > "$WORK/run/collector.pid"
  disown $!
  for _ in $(seq 600); do [ -s "$WORK/run/ready" ] && return 0; sleep 0.1; done
  return 1
}
# The agent finds the collector by name, through its own resolver: the statically linked agent
# carries only some of gRPC's plugins (common/grpc_client_plugins.cc), DNS among them.
start_agent() {
  "$BIN/mailfleet-agent" --name gen --collector "localhost:$PORT" --no-default-logs \
    --log-file "$LOG" --postfix-config-dir "$WORK/postfix" --dovecot-config "$WORK/none.conf" \
    --state-dir "$WORK/agent" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/gen.crt" \
    --tls-key "$PKI/gen.key" </dev/null >>"$WORK/run/agent.log" 2>&1 &
  echo $! > "$WORK/run/agent.pid"
  disown $!
}
cli() {
  "$BIN/mailfleet" --collector "127.0.0.1:$PORT" --tls-ca "$PKI/ca.crt" \
    --tls-cert "$PKI/admin.crt" --tls-key "$PKI/admin.key" "$@"
}

written=0
# write_lines N: appends the next N sequence-numbered lines (run it with & for a background
# writer: the count is taken here, before the subshell forks).
generate() {
  seq "$1" "$2" |
    awk '{printf "Nov 29 00:%02d:%02d gen postfix/qmgr[1]: %010X: removed\n", ($1/60)%60, $1%60, $1}' >>"$LOG"
}
write_lines() {
  generate $((written + 1)) $((written + $1))
  written=$((written + $1))
}
write_lines_in_background() {
  generate $((written + 1)) $((written + $1)) &
  written=$((written + $1))
}
generation=0
rotate() {  # rename rotation, as logrotate's "create" does; every generation is kept
  generation=$((generation + 1))
  mv "$LOG" "$LOG.$(printf '%04d' $generation)"
  : > "$LOG"
}

# The sequence numbers stored, one per line (the queue id is the number in hex).
stored_seqs() {
  cli logs --limit 1000000 --service qmgr --json 2>/dev/null |
    sed -n 's/.*"queue_id":"\([0-9A-F]*\)".*/\1/p' | while read -r hex; do echo $((16#$hex)); done
}
stored_count() { cli logs --limit 1000000 --service qmgr --json 2>/dev/null | wc -l; }
wait_for_all() {
  local limit=$1 i
  for ((i = 0; i < limit * 5; i++)); do
    [ "$(stored_count)" -ge "$written" ] && return 0
    sleep 0.2
  done
  return 1
}
# expect_exactly_once WHAT: after the pipeline caught up, every line written is stored once.
expect_exactly_once() {
  local out
  if wait_for_all 60 && out=$(exactly_once); then
    ok "$1: $out"
  else
    not_ok "$1: each line exactly once" "$(exactly_once)"
  fi
}
exactly_once() {
  local report
  report=$(stored_seqs | sort -n | uniq -c |
    awk -v n="$written" '$1 != 1 {dup++} {seen++; if ($2 < 1 || $2 > n) bad++}
      END {printf "%d distinct of %d written, %d stored more than once, %d unknown", seen, n, dup, bad;
           exit !(seen == n && dup == 0 && bad == 0)}')
  local rc=$?
  echo "$report"
  return $rc
}

if ! start_collector; then
  not_ok "collector starts" "$(tail -n 20 "$WORK/run/collector.log")"
  exit 1
fi
write_lines 500
start_agent

# --- kill -9 of the agent at seeded random points ----------------------------------------------
for ((i = 1; i <= ITERATIONS; i++)); do
  write_lines $((RANDOM % 1500 + 1))
  [ $((RANDOM % 7)) -eq 0 ] && { rotate; write_lines $((RANDOM % 300 + 1)); }
  sleep "0.$((RANDOM % 40))"
  stop_pid "$WORK/run/agent.pid" KILL
  start_agent
done
if wait_for_all 60; then
  ok "$ITERATIONS kill -9 of the agent (seed $SEED): all $written lines arrived"
else
  not_ok "$ITERATIONS kill -9 of the agent (seed $SEED): all lines arrive" "stored $(stored_count) of $written; missing: $(stored_seqs | sort -n | awk -v n=$written 'BEGIN{e=1} {while (e < $1) {printf "%d ", e; e++} e=$1+1} END {while (e <= n) {printf "%d ", e; e++}}' | head -c 400)"
fi
if out=$(exactly_once); then ok "after the agent kills: $out"; else not_ok "after the agent kills: each line exactly once" "$out"; fi

# --- kill -9 of the collector -------------------------------------------------------------------
write_lines_in_background 3000
sleep 0.2
stop_pid "$WORK/run/collector.pid" KILL
wait
write_lines 1000
start_collector || not_ok "collector restarts after kill -9" "$(tail -n 20 "$WORK/run/collector.log")"
expect_exactly_once "kill -9 of the collector"

# --- PostgreSQL restarts under a running pipeline -----------------------------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
write_lines_in_background 2000
sleep 0.1
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/collector/postgres" -m fast -w restart \
  -l "$WORK/collector/postgres/server.log" >/dev/null 2>&1
wait
write_lines 500
expect_exactly_once "PostgreSQL restart"

# --- the collector stopped while lines are written and the file rotated -------------------------
stop_pid "$WORK/run/collector.pid" TERM
write_lines 700
rotate
write_lines 800
rotate
write_lines 300
start_collector || not_ok "collector starts again" "$(tail -n 20 "$WORK/run/collector.log")"
expect_exactly_once "collector stopped while lines were written and rotated twice"

agent_rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$(cat "$WORK/run/agent.pid")/status" 2>/dev/null; }
echo "# agent RSS after the run: $(agent_rss_kb) KiB; lines written: $written"
