# Shared by the benchmarks that run on the lab fleet (fanout_bench.sh, diagnose_bench.sh).
# Before sourcing, set NAME (for messages), HOSTS, RUNS and PORT; then parse the common
# options with bench_options "$@" and start everything with bench_start_fleet. Provides
# now_ns, p50, max_of, ms and measure FN (prints one wall time in ns per run).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MAILFLEET_BIN:-$REPO/build/bin}
LAB=$REPO/deploy/lab/mailfleet-lab

bench_options() {
  while [ $# -gt 0 ]; do
    case $1 in
      --hosts) HOSTS=$2; shift 2 ;;
      --runs) RUNS=$2; shift 2 ;;
      *) echo "$NAME: unknown option '$1'" >&2; exit 2 ;;
    esac
  done
}

bench_start_fleet() {
  local p k
  for p in mailfleet-collector mailfleet-agent mailfleet; do
    [ -x "$BIN/$p" ] || { echo "$NAME: $BIN/$p not built" >&2; exit 1; }
  done
  if ip netns list 2>/dev/null | grep -q '^mflab-'; then
    echo "$NAME: a lab is running (mflab-* namespaces); stop it first (deploy/quickstart.sh down)" >&2
    exit 1
  fi
  WORK=$(mktemp -d "/tmp/mailfleet-$NAME.XXXXXX")
  chmod 711 "$WORK"
  PKI=$WORK/pki
  RUN=$WORK/run
  export MFLAB_ROOT=$WORK/lab
  # shellcheck source=../../deploy/lab/fleet-lib.sh
  . "$REPO/deploy/lab/fleet-lib.sh"
  trap bench_cleanup EXIT
  "$LAB" up --hosts "$HOSTS" >/dev/null
  fleet_pki "$HOSTS"
  fleet_start_collector "$WORK/collector" --log-level warn
  for ((k = 1; k <= HOSTS; k++)); do fleet_start_agent "h$k" --log-level warn; done
  fleet_wait_connected "$HOSTS" 30 || { echo "$NAME: agents did not connect" >&2; exit 1; }
}

bench_cleanup() {
  local f
  for f in "$RUN"/*.pid "$WORK"/ssh/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 1
  for f in "$RUN"/*.pid; do [ -e "$f" ] && fleet_stop "$f" KILL; done
  "$LAB" down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

now_ns() { date +%s%N; }
p50() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
max_of() { sort -n | tail -n 1; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.1f", ns / 1e6}'; }
measure() {
  local i t0
  "$1" && "$1"  # warm up (and fail early)
  for ((i = 0; i < RUNS; i++)); do
    t0=$(now_ns)
    "$1"
    echo $(($(now_ns) - t0))
  done
}
