# fleet-lib.sh: start and stop a mailfleet collector and one agent per lab host. Sourced by
# deploy/quickstart.sh and tests/lab; not a program of its own.
#
# Set before use: BIN (folder with mailfleet-collector, mailfleet-agent, mailfleet),
# LAB (path of mailfleet-lab), PKI (certificate folder), RUN (folder for pid and log files),
# PORT (collector port; it listens on 198.18.0.1:PORT for the lab and 127.0.0.1:PORT).

fleet_die() { echo "fleet: $*" >&2; exit 1; }

# Makes the CA and the certificates of the collector, hosts h1..hN and the client "admin".
fleet_pki() {
  local n=$1 k pki
  pki=$(dirname "$LAB")/../pki/mailfleet-pki
  [ -f "$PKI/ca.crt" ] || "$pki" "$PKI" init >/dev/null
  [ -f "$PKI/collector.crt" ] || "$pki" "$PKI" issue collector collector --ip 198.18.0.1 --ip 127.0.0.1 --dns localhost >/dev/null
  [ -f "$PKI/admin.crt" ] || "$pki" "$PKI" issue client admin >/dev/null
  for ((k = 1; k <= n; k++)); do
    [ -f "$PKI/h$k.crt" ] || "$pki" "$PKI" issue agent "h$k" >/dev/null
  done
}

# fleet_start_collector DATA_DIR [EXTRA ARGS...]: starts it and waits until it serves.
fleet_start_collector() {
  local data=$1; shift
  mkdir -p "$RUN" "$data"
  chmod 711 "$data"
  rm -f "$RUN/collector.ready"
  "$BIN/mailfleet-collector" --listen "198.18.0.1:$PORT" --listen "127.0.0.1:$PORT" \
    --data-dir "$data" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/collector.crt" \
    --tls-key "$PKI/collector.key" --ready-file "$RUN/collector.ready" "$@" \
    </dev/null >>"$RUN/collector.log" 2>&1 &
  echo $! > "$RUN/collector.pid"
  disown $!
  local i
  for ((i = 0; i < 1200; i++)); do
    [ -s "$RUN/collector.ready" ] && return 0
    kill -0 "$(cat "$RUN/collector.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$RUN/collector.log" >&2
  fleet_die "the collector did not start; its log: $RUN/collector.log"
}

fleet_pid_alive() {
  local pid=$1
  local state
  [ -n "$pid" ] && state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}

# fleet_stop PIDFILE [SIGNAL]: ends that process and waits for it (up to 30 s).
fleet_stop() {
  local pidfile=$1 sig=${2:-TERM} pid i
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  if fleet_pid_alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do fleet_pid_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

fleet_stop_collector() { fleet_stop "$RUN/collector.pid" "${1:-TERM}"; }

# fleet_start_agent hK [EXTRA ARGS...]: one agent inside the host's namespace, over TLS.
fleet_start_agent() {
  local host=$1; shift
  local paths; paths=$("$LAB" paths "$host") || fleet_die "no lab host $host"
  local POSTFIX_CONFIG_DIR DOVECOT_CONFIG STATE_DIR
  eval "$(echo "$paths" | grep -E '^(POSTFIX_CONFIG_DIR|DOVECOT_CONFIG|STATE_DIR)=')"
  mkdir -p "$RUN"
  # A lab user as diagnose's test account (auth.dovecot).
  [ -f "$RUN/auth-probe" ] || (umask 077 && echo "alice:alice-pass" > "$RUN/auth-probe")
  "$LAB" exec "$host" "$BIN/mailfleet-agent" --name "$host" --collector "198.18.0.1:$PORT" \
    --auth-probe-file "$RUN/auth-probe" \
    --postfix-config-dir "$POSTFIX_CONFIG_DIR" --dovecot-config "$DOVECOT_CONFIG" \
    --state-dir "$STATE_DIR" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/$host.crt" \
    --tls-key "$PKI/$host.key" "$@" </dev/null >>"$RUN/agent-$host.log" 2>&1 &
  echo $! > "$RUN/agent-$host.pid"
  disown $!
}

fleet_stop_agent() { fleet_stop "$RUN/agent-$1.pid" "${2:-TERM}"; }

# The CLI as the operator "admin".
fleet_cli() {
  "$BIN/mailfleet" --collector "127.0.0.1:$PORT" --tls-ca "$PKI/ca.crt" \
    --tls-cert "$PKI/admin.crt" --tls-key "$PKI/admin.key" "$@"
}

# fleet_connected_count: how many hosts `mailfleet hosts --json` shows connected.
fleet_connected_count() {
  fleet_cli hosts --json 2>/dev/null | grep -o '"connected":true' | wc -l
}

# fleet_wait_connected N SECONDS: waits until N hosts are connected.
fleet_wait_connected() {
  local want=$1 limit=$2 i
  for ((i = 0; i < limit * 5; i++)); do
    [ "$(fleet_connected_count)" -ge "$want" ] && return 0
    sleep 0.2
  done
  return 1
}
