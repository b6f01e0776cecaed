#!/usr/bin/env bash
# Runs every mailfleet test on a Debian 12 machine, as root: installs the dependencies, builds,
# starts what the tests need (a throwaway PostgreSQL server, the lab fleet), runs the unit,
# integration and lab tests, and stops everything it started.
#
#   tests/run.sh                    everything
#   tests/run.sh unit integration   only those suites (unit, integration, faults, lab)
# Environment: MAILFLEET_BUILD_DIR (default build/), MAILFLEET_SKIP_DEPS=1 skips apt-get.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MAILFLEET_BUILD_DIR:-$REPO/build}
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit integration faults lab)
for s in "${suites[@]}"; do
  case $s in unit|integration|faults|lab) ;; *) echo "tests/run.sh: unknown suite '$s' (unit, integration, faults, lab)" >&2; exit 2 ;; esac
done
wants() { [[ " ${suites[*]} " == *" $1 "* ]]; }

[ "$(id -u)" -eq 0 ] || { echo "tests/run.sh: run as root (apt-get, PostgreSQL as its own user, network namespaces)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/mailfleet-tests.XXXXXX)
chmod 711 "$TMP"
PG=$TMP/pg
passed=0
failed=0
started_pg=0

cleanup() {
  if [ $started_pg -eq 1 ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

step() { echo; echo "=== $*"; }

if [ "${MAILFLEET_SKIP_DEPS:-0}" != 1 ]; then
  step "dependencies"
  "$REPO/deploy/install-deps.sh" || exit 1
fi

step "build ($BUILD)"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILFLEET_BUILD_TESTS=ON >/dev/null || exit 1
cmake --build "$BUILD" -j2 2>&1 | grep -E "error|warning|Error" ; [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build failed" >&2; exit 1; }

# Adds the counts from a ctest run's summary line to the totals.
count_ctest() {
  local log=$1 total fails
  total=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\2/p' "$log" | tail -n 1)
  fails=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [ -z "$total" ]; then failed=$((failed + 1)); return; fi
  passed=$((passed + total - fails))
  failed=$((failed + fails))
}

# Real Postfix and Dovecot log lines from public projects, for the parser tests: shared/ lies
# beside the checkout (CI puts a copy there too).
export MAILFLEET_CORPORA=${MAILFLEET_CORPORA:-$(cd "$REPO/.." && pwd)/shared/corpora}

if wants unit; then
  step "format (clang-format, Google style)"
  if (cd "$REPO" && git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror) >"$TMP/format.log" 2>&1; then
    echo "ok - every .cc and .h file is clang-formatted"
    passed=$((passed + 1))
  else
    head -n 30 "$TMP/format.log"
    echo "not ok - run: git ls-files '*.cc' '*.h' | xargs clang-format -i"
    failed=$((failed + 1))
  fi

  step "unit tests"
  ctest --test-dir "$BUILD" -L unit --output-on-failure -j2 2>&1 | tee "$TMP/unit.log" | grep -vE "^ *([0-9]+/[0-9]+ Test +#[0-9]+: .* Passed|Start +[0-9]+:)"
  count_ctest "$TMP/unit.log"
fi

if wants integration; then
  step "integration tests (PostgreSQL in $PG)"
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  install -d -o postgres -m 700 "$PG"
  if runuser -u postgres -- "$PGBIN/initdb" -D "$PG" -U mailfleet --auth=trust -E UTF8 --locale=C.UTF-8 >"$TMP/initdb.log" 2>&1 &&
     runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG" -l "$PG/server.log" -w \
       -o "-c listen_addresses='' -c unix_socket_directories='$PG' -c fsync=off" start >/dev/null; then
    started_pg=1
    export MAILFLEET_TEST_DATABASE="host=$PG user=mailfleet dbname=postgres"
    ctest --test-dir "$BUILD" -L integration --output-on-failure 2>&1 | tee "$TMP/integration.log" | grep -vE "^ *([0-9]+/[0-9]+ Test +#[0-9]+: .* Passed|Start +[0-9]+:)"
    count_ctest "$TMP/integration.log"
  else
    cat "$TMP/initdb.log" "$PG/server.log" 2>/dev/null
    echo "integration: could not start PostgreSQL for the tests" >&2
    failed=$((failed + 1))
  fi
fi

# Adds "NAME: N passed, M failed" from a script's last such line to the totals.
count_script() {
  local name=$1 log=$2 line
  line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed$" "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$name: the tests did not finish" >&2
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + $(echo "$line" | sed 's/.*: \([0-9]*\) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed 's/.* \([0-9]*\) failed$/\1/')))
}

if wants faults; then
  step "fault tests (kill -9 of agent and collector, PostgreSQL restart, rotation while away)"
  MAILFLEET_BIN=$BUILD/bin "$REPO/tests/faults/pipeline_faults.sh" \
    --iterations "${MAILFLEET_FAULT_ITERATIONS:-50}" 2>&1 | tee "$TMP/faults.log"
  count_script faults "$TMP/faults.log"
fi

if wants lab; then
  step "lab tests"
  MAILFLEET_BIN=$BUILD/bin "$REPO/tests/lab/lab_test.sh" 2>&1 | tee "$TMP/lab.log"
  count_script lab "$TMP/lab.log"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
