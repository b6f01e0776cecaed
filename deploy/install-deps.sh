#!/usr/bin/env bash
# Installs every Debian 12 package mailfleet needs to build, run and test.
# Idempotent: packages already present are left as they are. Run as root.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (it calls apt-get); try: sudo $0" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; mailfleet targets Debian 12 (bookworm)" >&2
  exit 1
fi

packages=(
  # build
  build-essential cmake pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libpqxx-dev libpq-dev
  libgtest-dev libgmock-dev libcli11-dev libtomlplusplus-dev libssl-dev clang-format
  # run: the embedded database and the TLS tooling
  postgresql postgresql-client openssl ca-certificates
  # the lab fleet
  postfix dovecot-core dovecot-imapd dovecot-lmtpd dnsmasq-base nftables iproute2
  swaks util-linux procps
  # benchmarks (tests/bench): the anchors they measure against
  pflogsumm time rsyslog rsyslog-pgsql
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks debconf questions on install; answer them so the install is unattended.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
if ! apt-get update -q; then
  echo "install-deps: apt-get update failed; check the machine's Debian mirror access" >&2
  exit 1
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  echo "install-deps: apt-get install failed for: ${missing[*]}" >&2
  echo "install-deps: see apt's message above; on a non-Debian-12 system install the equivalents by hand" >&2
  exit 1
fi
echo "install-deps: done"
