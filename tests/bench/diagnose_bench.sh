#!/usr/bin/env bash
# diagnose benchmark: `mailfleet diagnose --all` on the three-host lab (every check, the fleet
# checks included), wall time from the command to the printed report, over N runs; target
# under 3 s. The anchor is the guide's workflow done by a script, one host after another,
# with the commands the guide lists (postfix status, postqueue -j, ss, nc, dig/host, doveadm
# auth test, postfix check, doveconf -n, df), measured in the same run.
#   MAILFLEET_BIN=build/bin tests/bench/diagnose_bench.sh [--hosts N] [--runs N]
set -euo pipefail
NAME=diagnose_bench
HOSTS=3
RUNS=10
PORT=17943
# shellcheck source=lab_bench_lib.sh
. "$(dirname "$0")/lab_bench_lib.sh"
bench_options "$@"
bench_start_fleet

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
echo "diagnose: $HOSTS lab hosts, $RUNS runs"
d=$(measure run_diagnose)
g=$(measure guide_loop)
echo "  mailfleet diagnose --all (19 checks per host + fleet checks)  p50 $(ms "$(p50 <<<"$d")") ms, max $(ms "$(max_of <<<"$d")") ms (target < 3000 ms)"
echo "  anchor: the guide's commands host by host (10 per host)       p50 $(ms "$(p50 <<<"$g")") ms"
echo "  ratio: $(awk -v a="$(p50 <<<"$g")" -v b="$(p50 <<<"$d")" 'BEGIN {printf "%.1f", a / b}')x"
