#!/usr/bin/env bash
# Installs the Debian packages the test suite uses when they are missing: Chromium for the
# browser tests and the PostgreSQL server for the PostgreSQL run. Without root (or apt) it
# says what is missing; those tests then report themselves as skipped.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "Missing Debian packages (install them to run every test): ${need[*]}" >&2
fi
