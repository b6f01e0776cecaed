#!/usr/bin/env bash
# Lab tests: the real programs over TLS against the lab fleet of real Postfix + Dovecot hosts.
# Started by tests/run.sh (MAILFLEET_BIN = the folder with the built programs). Brings the lab
# up, runs the checks, and takes everything down again; prints "lab: N passed, M failed".
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MAILFLEET_BIN:?set MAILFLEET_BIN to the folder with the built programs}
LAB=$REPO/deploy/lab/mailfleet-lab
WORK=$(mktemp -d /tmp/mailfleet-lab-test.XXXXXX)
chmod 711 "$WORK"
PKI=$WORK/pki
RUN=$WORK/run
PORT=17443
export MFLAB_ROOT=$WORK/lab
# shellcheck source=../../deploy/lab/fleet-lib.sh
. "$REPO/deploy/lab/fleet-lib.sh"

passes=0
fails=0
ok() { passes=$((passes + 1)); echo "ok - $1"; }
not_ok() { fails=$((fails + 1)); echo "not ok - $1"; [ $# -lt 2 ] || echo "$2" | sed 's/^/    # /' | head -n 20; }
# check DESCRIPTION CMD...: one test; CMD's output is shown when it fails.
check() {
  local what=$1 out; shift
  if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what" "$out"; fi
}
# within SECONDS CMD...: true as soon as CMD succeeds, polling every 0.2 s.
within() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$@"
}
not() { ! "$@"; }
# fails_saying TEXT CMD...: CMD fails, and its output contains TEXT.
fails_saying() {
  local text=$1 out; shift
  if out=$("$@" 2>&1); then echo "succeeded, but should have failed: $out"; return 1; fi
  echo "$out" | grep -qF -- "$text" || { echo "$out"; return 1; }
}

netns_was_mounted=0
mountpoint -q /run/netns 2>/dev/null && netns_was_mounted=1

finish() {
  local f
  if [ $fails -gt 0 ]; then
    mkdir -p /tmp/mailfleet-lab-logs && cp -r "$RUN"/*.log /tmp/mailfleet-lab-logs/ 2>/dev/null
    echo "lab: logs of the failed run kept in /tmp/mailfleet-lab-logs"
  fi
  for f in "$RUN"/*.pid; do [ -e "$f" ] && fleet_stop "$f" KILL; done
  "$LAB" down >/dev/null 2>&1 || true
  rm -rf "$WORK"
  echo "lab: $passes passed, $fails failed"
}
trap finish EXIT

if ip netns list 2>/dev/null | grep -q '^mflab-'; then
  not_ok "a lab is running already (mflab-* namespaces): stop it first with deploy/quickstart.sh down"
  exit 1
fi

# --- The fleet comes up -------------------------------------------------------------------
start=$(date +%s%N)
if ! "$LAB" up --hosts 3 >"$WORK/up.log" 2>&1; then
  not_ok "lab up" "$(cat "$WORK/up.log")"
  exit 1
fi
ok "lab up: 3 hosts in $(( ($(date +%s%N) - start) / 1000000 )) ms"

fleet_pki 3
fleet_start_collector "$WORK/collector" --heartbeat-interval 1 --stale-after 5
for k in 1 2 3; do fleet_start_agent "h$k"; done

connected_is() { test "$(fleet_connected_count)" -eq "$1"; }
maildir_count() { find "$MFLAB_ROOT/h$1/mail/$2/Maildir/new" -type f 2>/dev/null | wc -l; }
maildir_above() { test "$(maildir_count "$1" "$2")" -gt "$3"; }
check "all three agents connected within 10 s" within 10 connected_is 3

hosts_json() { fleet_cli hosts --json; }
inventory_ok() {
  local json k
  json=$(hosts_json) || return 1
  for k in 1 2 3; do
    echo "$json" | grep -Eq "\"name\":\"h$k\",\"inventory\":\{[^}]*\"addresses\":\[\"198\.18\.0\.1$k\"\][^}]*\"postfix_version\":\"3\.7\.[0-9]+\",\"dovecot_version\":\"2\.3\.[0-9.]+\"" ||
      { echo "h$k missing or wrong in: $json"; return 1; }
  done
}
check "hosts --json: h1..h3 with their address, Postfix 3.7.x and Dovecot 2.3.x" inventory_ok
table_has_three() { test "$(fleet_cli hosts | grep -c ' connected ')" -eq 3; }
check "hosts table lists three connected hosts" table_has_three

# --- diagnose: every lab fault found on its host, and nothing on a healthy fleet ----------------
# diag_expect WANT HOST CHECKS [OPTIONS...]: `diagnose --json` shows, for HOST, one of CHECKS
# ("a|b") with status WANT (and a remedy when not ok), and no other host failing those checks.
# Fleet checks (fleet.*) count when their hosts name HOST.
diag_expect() {
  local want=$1 host=$2 checks=$3 out; shift 3
  out=$(fleet_cli diagnose --json "$@" 2>/dev/null)
  python3 -c '
import json, sys
want, host, checks = sys.argv[1], sys.argv[2], sys.argv[3].split("|")
doc = json.loads(sys.stdin.read())
found, others = [], []
for h in doc["hosts"]:
    for c in h["checks"]:
        if c["id"] in checks:
            if h["host"] == host:
                found.append(c)
            elif c["status"] == "fail" and want == "fail":
                others.append(h["host"] + " " + c["id"])
for c in doc["fleet"]:
    if c["id"] in checks and (want != "fail" or host in c.get("hosts", [])):
        found.append(c)
ok = any(c["status"] == want and (want == "ok" or c["remedy"]) for c in found)
if not ok or others:
    print("want", want, "on", host, "for", checks, "got", [(c["id"], c["status"], c["summary"]) for c in found], "others failing:", others)
    sys.exit(1)
' "$want" "$host" "$checks" <<<"$out"
}
# healthy_fleet [IGNORED_CHECK]: no warn or fail (but on IGNORED_CHECK) and exit 0 (1 when
# only the ignored check warns).
healthy_fleet() {
  local out rc; out=$(fleet_cli diagnose --json 2>/dev/null); rc=$?
  python3 -c '
import json, sys
ignored = sys.argv[1] if len(sys.argv) > 1 else ""
doc = json.loads(sys.stdin.read())
bad = [(h["host"], c["id"], c["status"], c["summary"]) for h in doc["hosts"] for c in h["checks"] if c["status"] in ("warn", "fail") and c["id"] != ignored]
bad += [("fleet", c["id"], c["status"], c["summary"]) for c in doc["fleet"] if c["status"] in ("warn", "fail")]
unreachable = [h["host"] for h in doc["hosts"] if not h["reachable"]]
if bad or unreachable or len(doc["hosts"]) != 3 or len(doc["fleet"]) != 2:
    print(bad, unreachable); sys.exit(1)
' "$@" <<<"$out" && { [ "$rc" -eq 0 ] || { [ $# -gt 0 ] && [ "$rc" -eq 1 ]; }; } || { echo "exit $rc"; return 1; }
}
check "diagnose on the healthy fleet: no fail, no warn, exit 0" within 20 healthy_fleet
diag_matrix() { fleet_cli diagnose 2>/dev/null | grep -q '^service.postfix  *ok  *ok  *ok$'; }
check "diagnose prints the checks x hosts matrix" diag_matrix

"$LAB" fault postfix-stopped h2 >/dev/null
check "diagnose: postfix stopped on h2 -> service.postfix fails there" diag_expect fail h2 service.postfix
"$LAB" heal postfix-stopped h2 >/dev/null
check "diagnose: after heal service.postfix ok on h2" within 10 diag_expect ok h2 service.postfix --check service.postfix
"$LAB" fault dovecot-stopped h3 >/dev/null
check "diagnose: dovecot stopped on h3 -> service.dovecot" diag_expect fail h3 service.dovecot
"$LAB" heal dovecot-stopped h3 >/dev/null
check "diagnose: after heal service.dovecot ok on h3" within 10 diag_expect ok h3 service.dovecot --check service.
"$LAB" fault port25-blocked h2 >/dev/null
check "diagnose: port 25 blocked on h2 -> fleet.reachability names h2" diag_expect fail h2 fleet.reachability
check "diagnose: ... and smtp.relay fails on the upstream host h1" diag_expect fail h1 smtp.relay
check "diagnose: ... and firewall.mail_ports fails on h2" diag_expect fail h2 firewall.mail_ports
"$LAB" heal port25-blocked h2 >/dev/null
check "diagnose: after heal reachability ok" within 10 diag_expect ok h2 fleet.reachability --check fleet.reachability
"$LAB" fault dns-broken h2 >/dev/null
check "diagnose: DNS broken on h2 -> dns.resolvers" diag_expect fail h2 "dns.resolvers|dns.forward|dns.mx|dns.ptr" --check dns.
"$LAB" heal dns-broken h2 >/dev/null
check "diagnose: after heal dns ok on h2" within 10 diag_expect ok h2 dns.resolvers --check dns.
"$LAB" fault bad-relayhost h3 >/dev/null
"$LAB" send h3 bob@h1.lab.test --subject relay >/dev/null
check "diagnose: bad relayhost on h3 -> smtp.relay or config.postfix" diag_expect fail h3 "smtp.relay|config.postfix"
queue_grows() { [ "$("$LAB" exec h3 postqueue -c "$MFLAB_ROOT/h3/postfix" -j | wc -l)" -gt 0 ]; }
check "diagnose: ... and h3's queue grows" within 10 queue_grows
"$LAB" heal bad-relayhost h3 >/dev/null
"$LAB" exec h3 postqueue -c "$MFLAB_ROOT/h3/postfix" -f
check "diagnose: after heal smtp.relay ok on h3" within 10 diag_expect ok h3 smtp.relay --check smtp.relay
"$LAB" fault maildir-perms h3 >/dev/null
check "diagnose: Maildir permissions on h3 -> mailbox.maildir" diag_expect fail h3 mailbox.maildir
"$LAB" heal maildir-perms h3 >/dev/null
check "diagnose: after heal mailbox.maildir ok on h3" diag_expect ok h3 mailbox.maildir --check mailbox.maildir
"$LAB" fault auth-broken h2 >/dev/null
check "diagnose: auth broken on h2 -> auth.dovecot" diag_expect fail h2 auth.dovecot
"$LAB" heal auth-broken h2 >/dev/null
check "diagnose: after heal auth.dovecot ok on h2" within 10 diag_expect ok h2 auth.dovecot --check auth.dovecot
"$LAB" fault queue-stuck h1 >/dev/null
"$LAB" send h1 alice@h3.lab.test --count 3 --subject stuck-diag >/dev/null
stuck_found() { diag_expect fail h1 "queue.size|queue.age" --queue-warn 1 --queue-fail 3; }
check "diagnose: queue stuck on h1 -> queue.size" within 15 stuck_found
"$LAB" heal queue-stuck h1 >/dev/null
"$LAB" exec h1 postqueue -c "$MFLAB_ROOT/h1/postfix" -f
check "diagnose: after heal and flush queue.size ok on h1" within 15 diag_expect ok h1 queue.size --check queue.size
"$LAB" fault postfix-stopped h1 >/dev/null
"$LAB" fault auth-broken h3 >/dev/null
check "diagnose: two faults at once: service.postfix on h1 ..." diag_expect fail h1 service.postfix
check "diagnose: ... and auth.dovecot on h3" diag_expect fail h3 auth.dovecot
"$LAB" heal auth-broken h3 >/dev/null
changes_out=$(fleet_cli diagnose --changes 2>/dev/null)
check "diagnose --changes: h3 auth.dovecot went from fail to ok since the previous run" grep -q "h3 auth.dovecot: fail -> ok" <<<"$changes_out"
# logs.errors is added by the collector; it is kept with the run, so it is no "change".
check "diagnose --changes: the collector's own checks are kept with each run" not grep -q "logs.errors: - ->" <<<"$changes_out"
"$LAB" heal postfix-stopped h1 >/dev/null
# The faults' own log lines stay in logs.errors' window (15 minutes) for a while.
check "diagnose: healthy again after every heal (but the faults' log lines)" within 20 healthy_fleet logs.errors
check "no fault left on after diagnose" test -z "$("$LAB" faults)"

# --- Logs: every line of every host, stored once, searchable -----------------------------------
hosts_with_message() {  # hosts_with_message ID: how many distinct hosts logged lines for it
  fleet_cli logs --message-id "$1" --json --limit 1000 | grep -o '"host":"h[0-9]"' | sort -u | wc -l
}
three_hosts_have() { test "$(hosts_with_message "$1")" -eq 3; }
id=$("$LAB" send h1 alice@h3.lab.test --subject "trace me")
id=${id//[<>]/}
start=$(date +%s%N)
if within 2 three_hosts_have "$id"; then
  ok "mail h1 -> h2 -> h3: mailfleet logs --message-id shows all three hosts after $(( ($(date +%s%N) - start) / 1000000 )) ms"
else
  not_ok "mail h1 -> h2 -> h3: mailfleet logs --message-id shows all three hosts within 2 s" "$(fleet_cli logs --message-id "$id" 2>&1)"
fi
delivered_on_h3() { fleet_cli logs --message-id "$1" --host h3 --status sent --json | grep -q '"relay_host":"h3.lab.test"'; }
check "logs filters: --host h3 --status sent finds the final delivery" within 5 delivered_on_h3 "$id"
no_duplicates() {
  local total distinct
  total=$(fleet_cli logs --limit 100000 --json | wc -l)
  distinct=$(fleet_cli logs --limit 100000 --json | sed 's/"id":[0-9]*,//' | sort -u | wc -l)
  [ "$total" -gt 0 ] && [ "$total" -eq "$distinct" ] || { echo "$total rows, $distinct distinct"; return 1; }
}
check "no log line is stored twice" no_duplicates
# logs --json and parse print one schema: the same names, numbers as numbers, delays an array.
json_matches_parse() {
  fleet_cli logs --message-id "$1" --host h3 --status sent --json | python3 -c '
import json, subprocess, sys
stored = [json.loads(l) for l in sys.stdin]
assert stored, "no line"
for e in stored:
    parsed = json.loads(subprocess.run([sys.argv[1] + "/mailfleet", "parse"], input=e["raw"],
                                       capture_output=True, text=True, check=True).stdout)
    for k, v in parsed.items():
        if k in ("host", "time"): continue
        assert e.get(k) == v, f"{k}: logs --json has {e.get(k)!r}, parse has {v!r}"
    assert isinstance(e["delays"], list) and isinstance(e["pid"], int), e
' "$BIN"
}
check "logs --json: the same field names and types as mailfleet parse" json_matches_parse "$id"
mail_log_lines() { cat "$MFLAB_ROOT"/h*/log/mail.log "$MFLAB_ROOT"/h*/log/dovecot.log | wc -l; }
stored_lines() { fleet_cli logs --limit 100000 --json | wc -l; }
all_lines_stored() { test "$(stored_lines)" -eq "$(mail_log_lines)"; }
check "every line of every host's mail and Dovecot logs is stored" within 5 all_lines_stored

# --follow while all three hosts send at once: their streams commit in any order, and every
# line that arrives after the follow began is printed, once.
follow_sees_every_new_line() {
  local out=$WORK/follow.jsonl before after printed distinct pid k sends=()
  within 10 all_lines_stored || { echo "the logs were not all stored before the follow"; return 1; }
  before=$(stored_lines)
  fleet_cli logs --follow --json > "$out" 2>"$WORK/follow.err" &
  pid=$!
  sleep 1
  for k in 1 2 3; do
    "$LAB" send "h$k" "bob@h$(( k % 3 + 1 )).lab.test" --count 5 >/dev/null &
    sends+=($!)
  done
  wait "${sends[@]}"
  # Until the mail has settled: every log line stored, and no new one for a second.
  settled() { local n; n=$(stored_lines); sleep 1; all_lines_stored && [ "$(stored_lines)" -eq "$n" ]; }
  within 20 settled || { kill "$pid"; echo "the logs did not settle"; return 1; }
  sleep 1  # the follow's last look
  kill "$pid"; wait "$pid" 2>/dev/null
  after=$(stored_lines)
  printed=$(wc -l < "$out")
  distinct=$(sed 's/"id":[0-9]*,//' "$out" | sort -u | wc -l)
  [ "$printed" -eq $((after - before)) ] && [ "$distinct" -eq "$printed" ] ||
    { echo "$((after - before)) new lines stored, $printed printed ($distinct distinct)"; cat "$WORK/follow.err"; return 1; }
}
check "logs --follow prints every line that arrives from three hosts sending at once, once" follow_sees_every_new_line

stats_counts_traffic() {
  local json
  json=$(fleet_cli stats --json) || return 1
  echo "$json" | grep -q '"host":"h3"' && echo "$json" | grep -Eq '"delivered":"[1-9]' ||
    { echo "$json" | head -c 600; return 1; }
  # Mail from h1 to h3 passes h2: for the fleet each message is received once, and every hop
  # between the hosts is counted as relayed instead.
  echo "$json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
hosts = sum(int(h.get("received", 0)) for h in s["hosts"])
fleet, relayed = int(s["fleet"].get("received", 0)), int(s["fleet"].get("relayed", 0))
sys.exit(0 if relayed > 0 and fleet + relayed == hosts else
         print(f"hosts received {hosts}, fleet received {fleet}, relayed {relayed}") or 1)'
}
check "stats: per-host and fleet report counts the deliveries; the fleet counts relayed mail once" stats_counts_traffic
pipeline_health_reported() { fleet_cli hosts h1 | grep -q "log pipeline:"; }
check "hosts h1 shows the log pipeline's health" within 5 pipeline_health_reported

# --- The lab itself: routing and every fault, so later checks can trust it ---------------------
log_has() { grep -q -- "$2" "$MFLAB_ROOT/h$1/log/mail.log"; }

id=$("$LAB" send h1 alice@h3.lab.test)
check "mail h1 -> alice@h3 is delivered through h2" within 15 maildir_above 3 alice 0
check "h2 relayed it to h3" log_has 2 "to=<alice@h3.lab.test>, relay=h3.lab.test"

port_open() { "$LAB" exec "h$1" timeout 3 bash -c "exec 3<>/dev/tcp/198.18.0.1$2/$3"; }

"$LAB" fault postfix-stopped h2 >/dev/null
check "fault postfix-stopped: h2 port 25 closed" not port_open 1 2 25
"$LAB" heal postfix-stopped h2 >/dev/null
check "heal postfix-stopped: h2 port 25 open" within 10 port_open 1 2 25

"$LAB" fault dovecot-stopped h3 >/dev/null
check "fault dovecot-stopped: h3 IMAP closed" not port_open 3 3 143
"$LAB" heal dovecot-stopped h3 >/dev/null
check "heal dovecot-stopped: h3 IMAP open" within 10 port_open 3 3 143

"$LAB" fault port25-blocked h2 >/dev/null
check "fault port25-blocked: h1 cannot reach h2:25" not port_open 1 2 25
check "fault port25-blocked: h2 IMAP still reachable" port_open 1 2 143
"$LAB" heal port25-blocked h2 >/dev/null
check "heal port25-blocked: h1 reaches h2:25" port_open 1 2 25

"$LAB" fault dns-broken h1 >/dev/null
check "fault dns-broken: h1 cannot resolve h2.lab.test" not "$LAB" exec h1 getent hosts h2.lab.test
"$LAB" heal dns-broken h1 >/dev/null
check "heal dns-broken: h1 resolves h2.lab.test" "$LAB" exec h1 getent hosts h2.lab.test

"$LAB" fault bad-relayhost h3 >/dev/null
check "fault bad-relayhost: relayhost points nowhere" bash -c "postconf -c '$MFLAB_ROOT/h3/postfix' -h relayhost | grep -q 198.18.0.254"
"$LAB" heal bad-relayhost h3 >/dev/null
check "heal bad-relayhost: relayhost empty again" bash -c "test -z \"\$(postconf -c '$MFLAB_ROOT/h3/postfix' -h relayhost)\""

doveauth() { "$LAB" exec "h$1" doveadm -c "$MFLAB_ROOT/h$1/dovecot/dovecot.conf" auth test "$2" "$3"; }
"$LAB" fault auth-broken h2 >/dev/null
check "fault auth-broken: alice cannot log in on h2" not doveauth 2 alice alice-pass
check "fault auth-broken: bob still can" doveauth 2 bob bob-pass
"$LAB" heal auth-broken h2 >/dev/null
check "heal auth-broken: alice logs in on h2" doveauth 2 alice alice-pass

"$LAB" fault maildir-perms h3 >/dev/null
before=$(maildir_count 3 alice)
id=$("$LAB" send h3 alice@h3.lab.test --subject maildir-fault)
check "fault maildir-perms: delivery to alice@h3 is deferred" within 10 log_has 3 "to=<alice@h3.lab.test>.*status=deferred"
"$LAB" heal maildir-perms h3 >/dev/null
"$LAB" exec h3 postqueue -c "$MFLAB_ROOT/h3/postfix" -f
check "heal maildir-perms: the deferred mail arrives after a flush" within 10 maildir_above 3 alice "$before"

"$LAB" fault queue-stuck h1 >/dev/null
id=$("$LAB" send h1 bob@h2.lab.test --subject stuck)
check "fault queue-stuck: mail from h1 defers (deferred transport)" within 10 log_has 1 "to=<bob@h2.lab.test>.*deferred transport"
check "fault queue-stuck: h1's queue holds it" bash -c "'$LAB' exec h1 postqueue -c '$MFLAB_ROOT/h1/postfix' -j | grep -q deferred"
"$LAB" heal queue-stuck h1 >/dev/null
"$LAB" exec h1 postqueue -c "$MFLAB_ROOT/h1/postfix" -f
check "heal queue-stuck: a flush delivers it" within 15 maildir_above 2 bob 0
check "no fault left on" test -z "$("$LAB" faults)"

# --- Fleet queue control -----------------------------------------------------------------------
# With queue-stuck on h1 and h2, 20 messages defer: 12 to h3.lab.test (6 from each), 4 from h1
# to h2.lab.test and 4 from h2 to h1.lab.test.
# queue_count K QUEUE [DOMAIN]: messages in that queue on hK (to DOMAIN), from postqueue -j.
queue_count() {
  "$LAB" exec "h$1" postqueue -c "$MFLAB_ROOT/h$1/postfix" -j |
    python3 -c '
import json, sys
queue, domain = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
n = 0
for line in sys.stdin:
    m = json.loads(line)
    if m["queue_name"] == queue and (not domain or any(r["address"].endswith("@" + domain) for r in m["recipients"])):
        n += 1
print(n)' "${@:2}"
}
queue_is() { local want=$1; shift; local got; got=$(queue_count "$@"); [ "$got" = "$want" ] || { echo "h$1 $2 ${3:-}: $got messages, want $want"; return 1; }; }
"$LAB" fault queue-stuck h1 >/dev/null
"$LAB" fault queue-stuck h2 >/dev/null
a_h3=$(maildir_count 3 alice); b_h3=$(maildir_count 3 bob); a_h1=$(maildir_count 1 alice)
"$LAB" send h1 alice@h3.lab.test --count 6 --subject q >/dev/null
"$LAB" send h1 bob@h2.lab.test --count 4 --subject q >/dev/null
"$LAB" send h2 bob@h3.lab.test --count 6 --subject q >/dev/null
"$LAB" send h2 alice@h1.lab.test --count 4 --subject q >/dev/null
both_deferred() { queue_is 10 1 deferred && queue_is 10 2 deferred; }
check "queue-stuck on h1 and h2: 20 messages defer" within 15 both_deferred
by_domain_ok() {
  local out; out=$(fleet_cli queue --all --by domain --json) || return 1
  echo "$out" | python3 -c '
import json, sys
rows = {r["DOMAIN"]: r for r in json.load(sys.stdin)["rows"]}
assert rows["TOTAL"]["T"] == "20", rows["TOTAL"]
assert rows["h3.lab.test"]["T"] == "12" and rows["h3.lab.test"]["5"] == "12", rows["h3.lab.test"]
assert rows["  h1"]["T"] in ("6", "4") and rows["h2.lab.test"]["T"] == "4" and rows["h1.lab.test"]["T"] == "4", rows
' || { echo "$out"; return 1; }
}
check "queue --all --by domain: the 20 by domain and age, on both hosts" by_domain_ok
by_host_ok() { fleet_cli queue --by host --json | grep -q '"HOST":"h3","MESSAGES":"0"'; }
check "queue --by host --json lists h3 with an empty queue" by_host_ok
check "hold --all --to h3.lab.test succeeds" fleet_cli hold --all --to h3.lab.test
held_exactly() { queue_is 6 1 hold h3.lab.test && queue_is 6 2 hold h3.lab.test && queue_is 4 1 deferred && queue_is 4 2 deferred && queue_is 0 1 hold h2.lab.test; }
check "hold: exactly the 12 messages to h3.lab.test are held (postqueue -j)" held_exactly
check "release --all --queue hold succeeds" fleet_cli release --all --queue hold
released() { queue_is 0 1 hold && queue_is 0 2 hold && queue_is 10 1 deferred && queue_is 10 2 deferred; }
check "release: every message back in deferred" released
dry=$(fleet_cli delete --all --to h2.lab.test --dry-run 2>&1)
check "delete --dry-run: says 4 would go on h1" grep -q "h1 .*would have 4 messages deleted" <<<"$dry"
check "delete --dry-run: changes nothing" both_deferred
unconfirmed_delete() { fleet_cli delete --all --to h2.lab.test </dev/null; }
check "delete without --yes and no answer: refused" fails_saying "not confirmed" unconfirmed_delete
check "... still 20" both_deferred
check "delete --all --to h2.lab.test --yes" fleet_cli delete --all --to h2.lab.test --yes
deleted_exactly() { queue_is 6 1 deferred && queue_is 0 1 deferred h2.lab.test && queue_is 10 2 deferred; }
check "delete: exactly the 4 to h2.lab.test are gone" deleted_exactly
check "a malformed queue id is refused before anything is recorded" fails_saying "is not a Postfix queue id" fleet_cli hold --all --id 'ABC;rm -rf /'
"$LAB" heal queue-stuck h1 >/dev/null
"$LAB" heal queue-stuck h2 >/dev/null
check "flush --all after heal" fleet_cli flush --all
delivered_all() {
  [ "$(maildir_count 3 alice)" -ge $((a_h3 + 6)) ] && [ "$(maildir_count 3 bob)" -ge $((b_h3 + 6)) ] &&
    [ "$(maildir_count 1 alice)" -ge $((a_h1 + 4)) ]
}
check "flush: all 16 remaining messages are delivered to their Maildirs" within 20 delivered_all
queues_empty() { queue_is 0 1 deferred && queue_is 0 2 deferred; }
check "flush: the queues are empty" within 10 queues_empty
audit_ok() {
  local out; out=$(fleet_cli audit --since 30m --action queue. --json) || return 1
  local a; for a in queue.hold queue.release queue.delete queue.flush; do
    echo "$out" | grep -q "\"action\":\"$a\"" || { echo "no $a in: $out"; return 1; }
  done
  echo "$out" | grep -q '"requested_by":"[^"]*(CN=admin)"' || { echo "no requester: $out"; return 1; }
}
check "audit shows each command, who asked, and per-host results" audit_ok

# Rollout: with Postfix down on h1, a --canary flush fails there and stops.
"$LAB" fault postfix-stopped h1 >/dev/null
canary_out=$(fleet_cli flush --all --canary 2>&1); rc=$?
check "flush --canary: exits non-zero when the canary fails" test $rc -ne 0
# (check's own `local out` would hide a global of that name)
canary_stopped() {
  grep -q '^h1 .*failed' <<<"$canary_out" && grep -q '^h2 .*skipped' <<<"$canary_out" &&
    grep -q '^h3 .*skipped' <<<"$canary_out" || { echo "$canary_out"; return 1; }
}
check "flush --canary: h1 failed, h2 and h3 skipped" canary_stopped
"$LAB" heal postfix-stopped h1 >/dev/null
out=$(fleet_cli flush --all --batch 1 2>&1)
check "flush --batch 1: one host at a time, all ok" grep -q "done: 3 ok" <<<"$out"

# Recovery: temporary debug logging, the emergency configuration, snapshots, services.
pf_n() { postconf -c "$MFLAB_ROOT/h$1/postfix" -n; }
check "debug on --ttl 5s --host h2" fleet_cli debug on --host h2 --ttl 5s --peer 198.18.0.0/24
debug_on() { pf_n 2 | grep -q '^debug_peer_list = 198.18.0.0/24$' && doveconf -c "$MFLAB_ROOT/h2/dovecot/dovecot.conf" -h auth_debug | grep -qx yes; }
check "debug on: debug_peer_list and Dovecot auth_debug set on h2" debug_on
debug_off() { ! pf_n 2 | grep -q '^debug_peer' && doveconf -c "$MFLAB_ROOT/h2/dovecot/dovecot.conf" -h auth_debug | grep -qx no; }
check "debug: reverted by itself after the TTL" within 10 debug_off
pf_n 1 > "$WORK/h1-postconf-before"
check "config snapshot --all" fleet_cli config snapshot --all
unconfirmed_reset() { fleet_cli emergency reset --host h1 </dev/null; }
check "emergency reset without --yes and no answer: refused" fails_saying "not confirmed" unconfirmed_reset
check "emergency reset --host h1 --yes" fleet_cli emergency reset --host h1 --yes
minimal() { pf_n 1 | grep -qx 'inet_interfaces = loopback-only' && pf_n 1 | grep -qx 'mydestination = localhost' && not port_open 2 1 25; }
check "emergency reset: loopback-only, and h1's port 25 is closed to the fleet" within 10 minimal
diff_shows_reset() {
  local out rc; out=$(fleet_cli config diff --host h1 2>&1); rc=$?
  [ $rc -eq 1 ] && grep -qx -- '+inet_interfaces = loopback-only' <<<"$out" || { echo "exit $rc: $out"; return 1; }
}
check "config diff: exit 1 and the changed inet_interfaces" diff_shows_reset
check "emergency restore --host h1 --yes" fleet_cli emergency restore --host h1 --yes
restored() { pf_n 1 | cmp -s - "$WORK/h1-postconf-before"; }
check "emergency restore: postconf -n byte for byte as before" restored
check "emergency restore: h1's port 25 open again" within 10 port_open 2 1 25
check "config diff after restore: no change" fleet_cli config diff --host h1
check "service dovecot restart --host h3" fleet_cli service dovecot restart --host h3
check "service restart: h3 IMAP answers" within 10 port_open 3 3 143
audit_recovery() {
  local out; out=$(fleet_cli audit --since 10m --action emergency. --json) || return 1
  [ "$(grep -c '"action":"emergency\.' <<<"$out")" -eq 2 ] || { echo "$out"; return 1; }
  fleet_cli audit --since 10m --action debug.on --json | grep -q '"host":"h2","status":"ok"'
}
check "audit: the emergency reset and restore and the debug command" audit_recovery

# Policy: an agent that forbids destructive actions refuses them whatever the collector asks.
fleet_stop_agent h3
fleet_start_agent h3 --forbid-actions destructive
check "agent h3 back with --forbid-actions destructive" within 10 connected_is 3
out=$(fleet_cli delete --host h3 --everything --yes 2>&1)
check "h3 refuses delete by its own policy" grep -q "h3 .*refused .*forbids destructive" <<<"$out"
check "h3 still lists its queue (read is allowed)" fleet_cli queue --host h3

# Offline hosts: refused, or kept with --queue-offline and run when the host returns.
fleet_stop_agent h3
check "agent h3 stopped: shown disconnected" within 6 connected_is 2
check "flush --host h3 while it is offline says so" fails_saying "offline" fleet_cli flush --host h3
out=$(fleet_cli flush --host h3 --queue-offline 2>&1)
check "flush --host h3 --queue-offline: queued" grep -q "^h3 .*queued" <<<"$out"
fleet_start_agent h3
queued_ran() { fleet_cli audit --host h3 --action queue.flush --limit 1 --json | grep -q '"host":"h3","status":"ok"'; }
check "the queued flush runs when h3 returns" within 15 queued_ran

# --- Collector restarts are routine ----------------------------------------------------------
fleet_stop_collector
check "collector stopped: the CLI says it cannot reach it" fails_saying "cannot reach the collector" fleet_cli hosts
sleep 3
agents_alive() { local k; for k in 1 2 3; do fleet_pid_alive "$(cat "$RUN/agent-h$k.pid")" || return 1; done; }
check "collector away: all agents keep running" agents_alive
check "collector away: agents log their retries" grep -q "retrying in" "$RUN/agent-h1.log"
fleet_start_collector "$WORK/collector" --heartbeat-interval 1 --stale-after 5
check "collector back: all three reconnect within 15 s" within 15 connected_is 3
host_count_is() { test "$(fleet_cli hosts --json | grep -o '"name"' | wc -l)" -eq "$1"; }
check "collector back: the embedded database kept the hosts" host_count_is 3

fleet_stop_agent h3 KILL
check "agent h3 killed -9: shown disconnected within 6 s" within 6 connected_is 2
fleet_start_agent h3
check "agent h3 restarted: connected again" within 10 connected_is 3

# --- Identity and TLS ----------------------------------------------------------------------
"$REPO/deploy/pki/mailfleet-pki" "$WORK/otherpki" init >/dev/null
"$REPO/deploy/pki/mailfleet-pki" "$WORK/otherpki" issue agent rogue >/dev/null
"$REPO/deploy/pki/mailfleet-pki" "$WORK/otherpki" issue client mallory >/dev/null
"$LAB" exec h1 "$BIN/mailfleet-agent" --name rogue --collector "198.18.0.1:$PORT" \
  --postfix-config-dir "$MFLAB_ROOT/h1/postfix" --dovecot-config "$MFLAB_ROOT/h1/dovecot/dovecot.conf" \
  --state-dir "$WORK/rogue" --tls-ca "$PKI/ca.crt" --tls-cert "$WORK/otherpki/rogue.crt" \
  --tls-key "$WORK/otherpki/rogue.key" </dev/null >"$RUN/agent-rogue.log" 2>&1 &
echo $! > "$RUN/agent-rogue.pid"; disown $!
"$LAB" exec h2 "$BIN/mailfleet-agent" --name h9 --collector "198.18.0.1:$PORT" \
  --postfix-config-dir "$MFLAB_ROOT/h2/postfix" --dovecot-config "$MFLAB_ROOT/h2/dovecot/dovecot.conf" \
  --state-dir "$WORK/h9" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/h2.crt" --tls-key "$PKI/h2.key" \
  </dev/null >"$RUN/agent-h9.log" 2>&1 &
echo $! > "$RUN/agent-h9.pid"; disown $!
check "an agent certificate from another CA is refused" within 10 grep -q "refused this program's certificate" "$RUN/agent-rogue.log"
check "a certificate for h2 cannot connect as h9" within 10 grep -q "may not connect as agent 'h9'" "$RUN/agent-h9.log"
check "neither shows up as a host" host_count_is 3
fleet_stop "$RUN/agent-rogue.pid"
fleet_stop "$RUN/agent-h9.pid"

cli() { "$BIN/mailfleet" --collector "127.0.0.1:$PORT" "$@" hosts; }
check "CLI with another fleet's client certificate is refused" fails_saying "refused this program's certificate" \
  cli --tls-ca "$PKI/ca.crt" --tls-cert "$WORK/otherpki/mallory.crt" --tls-key "$WORK/otherpki/mallory.key"
check "CLI that does not trust the collector's CA says so" fails_saying "does not trust" \
  cli --tls-ca "$WORK/otherpki/ca.crt" --tls-cert "$PKI/admin.crt" --tls-key "$PKI/admin.key"
check "CLI with an agent certificate is refused the control API" fails_saying "takes a client certificate" \
  cli --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/h1.crt" --tls-key "$PKI/h1.key"

check "agent --insecure towards 198.18.0.1 is refused" fails_saying "--insecure refused" \
  "$LAB" exec h1 timeout 10 "$BIN/mailfleet-agent" --insecure --name h1 \
  --collector "198.18.0.1:$PORT" --state-dir "$WORK/insecure"
check "CLI --insecure towards 198.18.0.1 is refused" fails_saying "--insecure refused" \
  "$BIN/mailfleet" --insecure --collector "198.18.0.1:$PORT" hosts
check "collector --insecure on 198.18.0.1 is refused" fails_saying "--insecure refused" \
  timeout 10 "$BIN/mailfleet-collector" --insecure --listen 198.18.0.1:17999 --data-dir "$WORK/c2"

# --- mailfleet parse reads files, gzip files and standard input alike ---------------------------
parse_forms_agree() {
  local log=$WORK/parse.log
  cat "$MFLAB_ROOT"/h*/log/mail.log "$MFLAB_ROOT"/h*/log/dovecot.log > "$log"
  gzip -c "$log" > "$log.gz"
  local a b c
  a=$("$BIN/mailfleet" parse "$log" | md5sum)
  b=$("$BIN/mailfleet" parse "$log.gz" | md5sum)
  c=$("$BIN/mailfleet" parse < "$log" | md5sum)
  [ "$a" = "$b" ] && [ "$a" = "$c" ]
}
check "mailfleet parse: a file, its gzip and standard input give the same events" parse_forms_agree
# A gzip file cut short (a copy in progress, a full disk): its whole lines still come out,
# then an error names it.
parse_truncated_gzip() {
  local log=$WORK/parse.log cut=$WORK/cut.log.gz lines
  head -c "$(($(stat -c %s "$log.gz") / 2))" "$log.gz" > "$cut"
  lines=$("$BIN/mailfleet" parse "$cut" 2>/dev/null | wc -l)
  [ "$lines" -gt 0 ] && [ "$lines" -lt "$(wc -l < "$log")" ] || { echo "$lines lines"; return 1; }
  fails_saying "the gzip data ends early" "$BIN/mailfleet" parse --summary "$cut"
}
check "mailfleet parse: a truncated gzip file gives its lines, then an error" parse_truncated_gzip
check "mailfleet parse: a missing file is an error" \
  fails_saying "cannot read $WORK/missing.log" "$BIN/mailfleet" parse "$WORK/missing.log"
check "mailfleet parse: a folder is an error that says so" \
  fails_saying "$WORK is a folder; give the log files in it" "$BIN/mailfleet" parse "$WORK"
# /proc/self/mem opens, and its first read fails with EIO.
check "mailfleet parse: a read error names the system's reason" \
  fails_saying "reading /proc/self/mem: Input/output error" "$BIN/mailfleet" parse /proc/self/mem
check "agent: an empty --log-file is refused at start" \
  fails_saying "--log-file (logs.files) has an empty path" "$BIN/mailfleet-agent" --name x \
  --collector 127.0.0.1:1 --insecure --state-dir "$WORK/empty-log-file" --log-file ""

# --- Everything goes away -----------------------------------------------------------------
for k in 1 2 3; do fleet_stop_agent "h$k"; done
fleet_stop_collector
"$LAB" down >/dev/null 2>&1
check "down: no lab namespace left" bash -c "! ip netns list | grep -q '^mflab-'"
check "down: no lab interface left" bash -c "! ip link show mflab0 2>/dev/null"
check "down: no process of the lab or of mailfleet left" bash -c "! pgrep -af '$WORK' | grep -v pgrep"
if [ $netns_was_mounted -eq 0 ]; then
  check "down: /run/netns unmounted as it was before" bash -c "! mountpoint -q /run/netns"
fi

# --- The deploy/ examples are true to the programs ---------------------------------------------
check "deploy/agent.toml.example loads" "$BIN/mailfleet-agent" --config "$REPO/deploy/agent.toml.example" --help
check "deploy/collector.toml.example loads" "$BIN/mailfleet-collector" --config "$REPO/deploy/collector.toml.example" --help
