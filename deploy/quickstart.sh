#!/usr/bin/env bash
# The mailfleet demo on one Debian 12 machine, as root:
#   deploy/quickstart.sh [--hosts N]   install, build, start the collector (embedded
#                                      PostgreSQL), the lab fleet and an agent per host over
#                                      TLS, send some mail, show `mailfleet hosts`
#   deploy/quickstart.sh down          stop the agents, the collector and the lab
#   deploy/quickstart.sh down --purge  the same, and delete the demo's data and certificates
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MAILFLEET_BUILD_DIR:-$REPO/build}
BIN=$BUILD/bin
LAB=$REPO/deploy/lab/mailfleet-lab
DEMO=${MAILFLEET_DEMO_DIR:-/var/lib/mailfleet-demo}
PKI=$DEMO/pki
RUN=$DEMO/run
PORT=${MAILFLEET_PORT:-7443}
# shellcheck source=lab/fleet-lib.sh
. "$REPO/deploy/lab/fleet-lib.sh"

say() { echo "quickstart: $*"; }

down() {
  local f
  for f in "$RUN"/agent-*.pid; do [ -e "$f" ] && fleet_stop "$f"; done
  fleet_stop_collector
  "$LAB" down >/dev/null 2>&1 || true
  if [ "${1:-}" = --purge ]; then rm -rf "$DEMO"; say "demo data removed"; fi
  say "stopped: agents, collector (and its PostgreSQL), lab fleet"
}

[ "$(id -u)" -eq 0 ] || { echo "quickstart: run as root (it installs packages and makes network namespaces)" >&2; exit 1; }

hosts=3
case ${1:-} in
  down) shift; down "$@"; exit 0 ;;
  --hosts) hosts=${2:?--hosts needs a number}; shift 2 ;;
  "") ;;
  *) echo "usage: deploy/quickstart.sh [--hosts N] | down [--purge]" >&2; exit 2 ;;
esac

say "installing dependencies"
"$REPO/deploy/install-deps.sh" | tail -n 1
say "building (this takes a few minutes the first time)"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target mailfleet-collector mailfleet-agent mailfleet >/dev/null

if [ -f "$RUN/collector.pid" ] && fleet_pid_alive "$(cat "$RUN/collector.pid")"; then
  say "a demo is running already; stopping it first"
  down
fi
mkdir -p "$DEMO" "$RUN"; chmod 711 "$DEMO"
say "certificates in $PKI"
fleet_pki "$hosts"
say "starting the lab fleet ($hosts hosts)"
"$LAB" down >/dev/null 2>&1 || true
"$LAB" up --hosts "$hosts"
say "starting the collector on 198.18.0.1:$PORT and 127.0.0.1:$PORT (embedded PostgreSQL in $DEMO/collector)"
fleet_start_collector "$DEMO/collector"
for ((k = 1; k <= hosts; k++)); do fleet_start_agent "h$k"; done
if ! fleet_wait_connected "$hosts" 30; then
  echo "quickstart: not every agent connected within 30 s; see $RUN/agent-*.log" >&2
  exit 1
fi

say "sending mail across the fleet"
"$LAB" send h1 alice@h3.lab.test --subject "h1 to h3 through h2" >/dev/null
if [ "$hosts" -ge 2 ]; then "$LAB" send h2 bob@h1.lab.test >/dev/null; fi
"$LAB" send "h$hosts" carol@h1.lab.test >/dev/null

cat > "$DEMO/cli.toml" <<EOF
# mailfleet CLI settings for the demo (MAILFLEET_CONFIG=$DEMO/cli.toml)
collector = "127.0.0.1:$PORT"
[tls]
ca = "$PKI/ca.crt"
cert = "$PKI/admin.crt"
key = "$PKI/admin.key"
EOF

echo
MAILFLEET_CONFIG=$DEMO/cli.toml "$BIN/mailfleet" hosts
cat <<EOF

The demo runs. Use the CLI as the operator "admin":
  export MAILFLEET_CONFIG=$DEMO/cli.toml PATH=$BIN:\$PATH
  mailfleet hosts                 # the fleet; --json for scripts
  mailfleet hosts h2              # one host's whole inventory
  mailfleet logs --since 10m      # the fleet's mail log lines
  mailfleet queue --by domain     # every queue at once (qshape for the fleet)
  mailfleet audit                 # every command sent to the fleet
Play with the lab:
  $LAB status
  $LAB send h1 alice@h3.lab.test  # h1 -> h2 -> h3
  $LAB fault queue-stuck h1 ; $LAB send h1 alice@h3.lab.test --count 5
  mailfleet queue ; mailfleet hold --all --to h3.lab.test ; mailfleet release --all --queue hold
  $LAB heal queue-stuck h1 ; mailfleet flush --all
Logs: $RUN/collector.log, $RUN/agent-h*.log, and each host's mail log under /var/lib/mailfleet-lab.
Stop everything: deploy/quickstart.sh down   (add --purge to delete the data too)
EOF
