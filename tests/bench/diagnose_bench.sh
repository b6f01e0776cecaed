#!/usr/bin/env bash
# diagnose benchmark: `mailfleet diagnose --all` on the three-host lab (every check, the fleet
# checks included), wall time from the command to the printed report, over N runs; target
# under 3 s. The anchor is the guide's workflow done by a script, one host after another,
# with the commands the guide lists (postfix status, postqueue -j, ss, nc, dig/host, doveadm
# auth test, postfix check, doveconf -n, df), measured in the same run.
#   MAILFLEET_BIN=build/bin tests/bench/diagnose_bench.sh [--hosts N] [--runs N]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MAILFLEET_BIN:-$REPO/build/bin}
HOSTS=3
RUNS=10
while [ $# -gt 0 ]; do
  case $1 in
    --hosts) HOSTS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "diagnose_bench: unknown option '$1'" >&2; exit 2 ;;
  esac
done
for p in mailfleet-collector mailfleet-agent mailfleet; do
  [ -x "$BIN/$p" ] || { echo "diagnose_bench: $BIN/$p not built" >&2; exit 1; }
done
if ip netns list 2>/dev/null | grep -q '^mflab-'; then
  echo "diagnose_bench: a lab is running (mflab-* namespaces); stop it first (deploy/quickstart.sh down)" >&2
  exit 1
fi
LAB=$REPO/deploy/lab/mailfleet-lab
WORK=$(mktemp -d /tmp/mailfleet-diagnose-bench.XXXXXX)
chmod 711 "$WORK"
PKI=$WORK/pki
RUN=$WORK/run
PORT=17943
export MFLAB_ROOT=$WORK/lab
# shellcheck source=../../deploy/lab/fleet-lib.sh
. "$REPO/deploy/lab/fleet-lib.sh"
cleanup() {
  local f
  for f in "$RUN"/*.pid; do [ -e "$f" ] && fleet_stop "$f" KILL; done
  "$LAB" down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$LAB" up --hosts "$HOSTS" >/dev/null
fleet_pki "$HOSTS"
fleet_start_collector "$WORK/collector" --log-level warn
for ((k = 1; k <= HOSTS; k++)); do fleet_start_agent "h$k" --log-level warn; done
fleet_wait_connected "$HOSTS" 30 || { echo "diagnose_bench: agents did not connect" >&2; exit 1; }

now_ns() { date +%s%N; }
p50() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
max() { sort -n | tail -n 1; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.0f", ns / 1e6}'; }

run_diagnose() {
  local rc=0
  fleet_cli diagnose --all >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || { echo "diagnose_bench: diagnose exited $rc on a healthy lab" >&2; return 1; }
}
# The guide by hand, as a script: the same ground, one host after another.
guide_loop() {
  local k d
  for ((k = 1; k <= HOSTS; k++)); do
    d=$MFLAB_ROOT/h$k
    {
      "$LAB" exec "h$k" postfix -c "$d/postfix" status
      "$LAB" exec "h$k" postqueue -c "$d/postfix" -j
      "$LAB" exec "h$k" ss -tlnp
      "$LAB" exec "h$k" timeout 2 bash -c "exec 3<>/dev/tcp/198.18.0.1$k/25"
      "$LAB" exec "h$k" getent hosts "h$k.lab.test"
      "$LAB" exec "h$k" nft list ruleset
      "$LAB" exec "h$k" doveadm -c "$d/dovecot/dovecot.conf" auth test alice alice-pass
      "$LAB" exec "h$k" postfix -c "$d/postfix" check
      "$LAB" exec "h$k" doveconf -c "$d/dovecot/dovecot.conf" -n
      "$LAB" exec "h$k" df -h "$d/spool"
    } >/dev/null 2>&1 || true
  done
}
measure() {
  local i t0
  "$1"  # warm up
  for ((i = 0; i < RUNS; i++)); do
    t0=$(now_ns)
    "$1"
    echo $(($(now_ns) - t0))
  done
}

echo "diagnose: $HOSTS lab hosts, $RUNS runs"
d=$(measure run_diagnose)
g=$(measure guide_loop)
echo "  mailfleet diagnose --all (19 checks per host + fleet checks)  p50 $(ms "$(p50 <<<"$d")") ms, max $(ms "$(max <<<"$d")") ms (target < 3000 ms)"
echo "  anchor: the guide's commands host by host (10 per host)       p50 $(ms "$(p50 <<<"$g")") ms"
echo "  ratio: $(awk -v a="$(p50 <<<"$g")" -v b="$(p50 <<<"$d")" 'BEGIN {printf "%.1f", a / b}')x"
