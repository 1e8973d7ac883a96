#!/usr/bin/env bash
# Installs what the platform needs from Debian (bookworm): PostgreSQL 15 server and headers, Mosquitto 2
# and its clients, and TimescaleDB (Apache-2 edition) built from Debian's own trixie source package.
# Idempotent: a second run only checks and takes seconds. Needs root or sudo; never starts system services.
set -euo pipefail

log() { printf '[system-deps] %s\n' "$*" >&2; }
die() { printf '[system-deps] error: %s\n' "$*" >&2; exit 1; }

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this installer supports Debian 12 (bookworm) only; install PostgreSQL 15, TimescaleDB and Mosquitto 2 yourself and set ELDERCARE_* variables"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "run as root or install sudo"
  SUDO="sudo"
fi

PG=15
PG_CONFIG="/usr/lib/postgresql/$PG/bin/pg_config"
PACKAGES=(postgresql-$PG postgresql-server-dev-$PG postgresql-client-$PG mosquitto mosquitto-clients
          cmake gcc make dpkg-dev libssl-dev python3-venv python3-dev
          chromium fonts-wqy-zenhei)  # headless browser tests (Playwright drives the Debian chromium)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Never let package installation start the system's own PostgreSQL or Mosquitto: we run private ones.
with_no_service_start() {
  local had=0
  [ -e /usr/sbin/policy-rc.d ] && had=1
  if [ $had -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
  fi
  local rc=0
  "$@" || rc=$?
  [ $had -eq 0 ] && $SUDO rm -f /usr/sbin/policy-rc.d
  return $rc
}

if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  with_no_service_start $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

ext_dir="$($PG_CONFIG --sharedir)/extension"
if ls "$ext_dir"/timescaledb--*.sql >/dev/null 2>&1 && [ -e "$ext_dir/timescaledb.control" ]; then
  log "TimescaleDB present: $(grep default_version "$ext_dir/timescaledb.control" | tr -d "'" | awk '{print $3}')"
  exit 0
fi

# The Debian mirror is taken from this machine's own apt sources (deb822 or one-line format).
mirror=""
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  mirror=$(awk '/^URIs:/ {for (i=2;i<=NF;i++) print $i}' /etc/apt/sources.list.d/*.sources | grep -v -- '-security' | head -n1 || true)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list | grep -v -- '-security' | head -n1 || true)
fi
[ -n "$mirror" ] || die "could not find a Debian mirror in /etc/apt/sources.list*"

# Only a deb-src entry for trixie, in its own file: a binary entry could pull trixie's libc onto bookworm.
src_list=/etc/apt/sources.list.d/eldercare-trixie-src.list
line="deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main"
if [ ! -f "$src_list" ] || ! grep -qxF "$line" "$src_list"; then
  log "adding trixie deb-src from $mirror"
  echo "$line" | $SUDO tee "$src_list" >/dev/null
  $SUDO apt-get update -qq
fi

cache="${ELDERCARE_BUILD_CACHE:-/var/cache/eldercare}"
$SUDO mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching Debian's timescaledb source package"
apt-get source -qq timescaledb >/dev/null 2>&1 || apt-get source timescaledb
src=$(find . -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)
[ -n "$src" ] || die "apt-get source timescaledb gave no source tree"
log "building $src (Apache-2 edition) against PostgreSQL $PG: about a minute"
cd "$src"
cmake -S . -B build -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
      -DLINTER=OFF -DCMAKE_BUILD_TYPE=Release -DPG_CONFIG="$PG_CONFIG" >"$cache/cmake.log" 2>&1 \
  || { tail -n 30 "$cache/cmake.log" >&2; die "cmake failed (log: $cache/cmake.log)"; }
cmake --build build -j"$(nproc)" >"$cache/build.log" 2>&1 || { tail -n 30 "$cache/build.log" >&2; die "build failed (log: $cache/build.log)"; }
$SUDO cmake --install build >"$cache/install.log" 2>&1 || { tail -n 30 "$cache/install.log" >&2; die "install failed"; }
log "TimescaleDB installed into $ext_dir"
