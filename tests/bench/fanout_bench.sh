#!/usr/bin/env bash
# Fan-out benchmark: `mailfleet flush --all` on an eight-host lab, from the command to every
# host's result, p50 over 20 runs; the anchor is what an operator does without mailfleet: an
# ssh loop running `postqueue -f` host by host (real sshd in each lab namespace, a key, no
# connection sharing), measured in the same run. Also shown: the same loop without ssh
# (ip netns exec), the floor of any sequential loop. Prints the ratios.
#   MAILFLEET_BIN=build/bin tests/bench/fanout_bench.sh [--hosts N] [--runs N]
set -euo pipefail
NAME=fanout_bench
HOSTS=8
RUNS=20
PORT=17843
# shellcheck source=lab_bench_lib.sh
. "$(dirname "$0")/lab_bench_lib.sh"
bench_options "$@"
if [ ! -x /usr/sbin/sshd ]; then
  echo "fanout_bench: installing openssh-server for the ssh-loop anchor"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
fi
bench_start_fleet

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
echo "fan-out: $HOSTS lab hosts, $RUNS runs each, p50 of the wall time from command to all results"
m=$(measure mailfleet_flush | p50)
s=$(measure ssh_loop | p50)
n=$(measure netns_loop | p50)
echo "  mailfleet flush --all                       p50 $(ms "$m") ms"
echo "  anchor: ssh loop, postqueue -f per host     p50 $(ms "$s") ms"
echo "  floor:  netns exec loop (no ssh)            p50 $(ms "$n") ms"
echo "  ratio vs ssh loop: $(awk -v a="$s" -v b="$m" 'BEGIN {printf "%.1f", a / b}')x (target >= 5x, p50 < 300 ms)"
echo "  ratio vs netns loop: $(awk -v a="$n" -v b="$m" 'BEGIN {printf "%.1f", a / b}')x"
