#!/usr/bin/env bash
# Fan-out benchmark: `mailfleet flush --all` on an eight-host lab, from the command to every
# host's result, p50 over 20 runs; the anchor is what an operator does without mailfleet: an
# ssh loop running `postqueue -f` host by host (real sshd in each lab namespace, a key, no
# connection sharing), measured in the same run. Also shown: the same loop without ssh
# (ip netns exec), the floor of any sequential loop. Prints the ratios.
#   MAILFLEET_BIN=build/bin tests/bench/fanout_bench.sh [--hosts N] [--runs N]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MAILFLEET_BIN:-$REPO/build/bin}
HOSTS=8
RUNS=20
while [ $# -gt 0 ]; do
  case $1 in
    --hosts) HOSTS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "fanout_bench: unknown option '$1'" >&2; exit 2 ;;
  esac
done
for p in mailfleet-collector mailfleet-agent mailfleet; do
  [ -x "$BIN/$p" ] || { echo "fanout_bench: $BIN/$p not built" >&2; exit 1; }
done
if ip netns list 2>/dev/null | grep -q '^mflab-'; then
  echo "fanout_bench: a lab is running (mflab-* namespaces); stop it first (deploy/quickstart.sh down)" >&2
  exit 1
fi
if [ ! -x /usr/sbin/sshd ]; then
  echo "fanout_bench: installing openssh-server for the ssh-loop anchor"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
fi

LAB=$REPO/deploy/lab/mailfleet-lab
WORK=$(mktemp -d /tmp/mailfleet-fanout-bench.XXXXXX)
chmod 711 "$WORK"
PKI=$WORK/pki
RUN=$WORK/run
PORT=17843
export MFLAB_ROOT=$WORK/lab
# shellcheck source=../../deploy/lab/fleet-lib.sh
. "$REPO/deploy/lab/fleet-lib.sh"
cleanup() {
  local f
  for f in "$RUN"/*.pid "$WORK"/ssh/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 1
  for f in "$RUN"/*.pid; do [ -e "$f" ] && fleet_stop "$f" KILL; done
  "$LAB" down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$LAB" up --hosts "$HOSTS" >/dev/null
fleet_pki "$HOSTS"
fleet_start_collector "$WORK/collector" --log-level warn
for ((k = 1; k <= HOSTS; k++)); do fleet_start_agent "h$k" --log-level warn; done
fleet_wait_connected "$HOSTS" 30 || { echo "fanout_bench: agents did not connect" >&2; exit 1; }

# An sshd in every host's namespace, root by key only.
mkdir -p "$WORK/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/client_key"
cp "$WORK/ssh/client_key.pub" "$WORK/ssh/authorized_keys"
for ((k = 1; k <= HOSTS; k++)); do
  "$LAB" exec "h$k" /usr/sbin/sshd -f /dev/null -o "ListenAddress=198.18.0.$((10 + k))" \
    -o "HostKey=$WORK/ssh/host_key" -o "AuthorizedKeysFile=$WORK/ssh/authorized_keys" \
    -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no -o UsePAM=no \
    -o StrictModes=no -o "PidFile=$WORK/ssh/sshd-h$k.pid"
done
SSH=(ssh -i "$WORK/ssh/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o BatchMode=yes -o LogLevel=ERROR)

now_ns() { date +%s%N; }
p50() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.1f", ns / 1e6}'; }

mailfleet_flush() {
  local out; out=$(fleet_cli flush --all) || { echo "$out" >&2; return 1; }
  grep -q "done: $HOSTS ok" <<<"$out" || { echo "$out" >&2; return 1; }
}
ssh_loop() {
  local k
  for ((k = 1; k <= HOSTS; k++)); do
    "${SSH[@]}" "root@198.18.0.$((10 + k))" postqueue -c "$MFLAB_ROOT/h$k/postfix" -f
  done
}
netns_loop() {
  local k
  for ((k = 1; k <= HOSTS; k++)); do
    "$LAB" exec "h$k" postqueue -c "$MFLAB_ROOT/h$k/postfix" -f
  done
}
measure() {  # measure FN: prints one wall time in ns per run
  local i t0
  "$1" && "$1"  # warm up (and fail early)
  for ((i = 0; i < RUNS; i++)); do
    t0=$(now_ns)
    "$1"
    echo $(($(now_ns) - t0))
  done
}

echo "fan-out: $HOSTS lab hosts, $RUNS runs each, p50 of the wall time from command to all results"
m=$(measure mailfleet_flush | p50)
s=$(measure ssh_loop | p50)
n=$(measure netns_loop | p50)
echo "  mailfleet flush --all                       p50 $(ms "$m") ms"
echo "  anchor: ssh loop, postqueue -f per host     p50 $(ms "$s") ms"
echo "  floor:  netns exec loop (no ssh)            p50 $(ms "$n") ms"
echo "  ratio vs ssh loop: $(awk -v a="$s" -v b="$m" 'BEGIN {printf "%.1f", a / b}')x (target >= 5x, p50 < 300 ms)"
echo "  ratio vs netns loop: $(awk -v a="$n" -v b="$m" 'BEGIN {printf "%.1f", a / b}')x"
