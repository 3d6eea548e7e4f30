#!/usr/bin/env bash
# `make battery`: the tier-B rows of ../shared/RELIABILITY.md (pytest marker `battery`, left out
# of `make test`), on SQLite and on a throwaway PostgreSQL cluster (scripts/pg-throwaway.sh).
# Each row prints its figures and writes them as JSON lines (VORONKA_BATTERY_DIR, default
# bench/out/battery-<UTC stamp>/). Each phase is capped at BATTERY_TIMEOUT seconds (default 900).
# A phase that cannot run (no PostgreSQL binaries) is SKIPPED, never counted as passed; with
# CI=true it fails. Extra arguments go to every pytest run (e.g. `scripts/battery.sh -k week`).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
ON_CI=false
case "${CI:-}" in true | 1 | yes) ON_CI=true ;; esac
CAP=${BATTERY_TIMEOUT:-900}
EXTRA=("$@")
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export VORONKA_BATTERY_DIR=${VORONKA_BATTERY_DIR:-$ROOT/bench/out/battery-$STAMP}
mkdir -p "$VORONKA_BATTERY_DIR"

TMP=$(mktemp -d /tmp/voronka-battery.XXXXXX)
PG_DIR=""
cleanup() {
  if [ -n "$PG_DIR" ]; then "$ROOT/scripts/pg-throwaway.sh" stop "$PG_DIR" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

export VORONKA_ENV=test
export PYTHONDONTWRITEBYTECODE=1
unset DATABASE_URL
for phase in sqlite pg; do mkdir -p "$TMP/$phase/static"; done

NAMES=() STATUSES=() DETAILS=()
FAILED=0
record() { NAMES+=("$1") STATUSES+=("$2") DETAILS+=("$3"); [ "$2" = FAILED ] && FAILED=$((FAILED + 1)); }

run_phase() {  # name log args...
  local name=$1 log=$2 rc line
  shift 2
  printf '\n==== %s ====\n' "$name"
  timeout "$CAP" "$BIN/python" -m pytest -m battery -q -rfEs -p no:cacheprovider "$@" "${EXTRA[@]}" \
    2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '(passed|failed|error|no tests ran)' "$log" | tail -n 1)
  case $rc in
    0) record "$name" PASSED "$line" ;;
    124) record "$name" FAILED "timed out after ${CAP}s (a timeout is a failure); $line" ;;
    *) record "$name" FAILED "pytest exit $rc; $line" ;;
  esac
}

VORONKA_DATA_DIR="$TMP/sqlite" run_phase "battery SQLite" "$TMP/sqlite.log" tests

PG_DIR=$(mktemp -d /tmp/voronka-battery-pg.XXXXXX)
if pg_url=$("$ROOT/scripts/pg-throwaway.sh" start "$PG_DIR"); then
  DATABASE_URL="$pg_url" VORONKA_DATA_DIR="$TMP/pg" \
    run_phase "battery PostgreSQL $(cat "$PG_DIR/version" 2>/dev/null)" "$TMP/pg.log" tests
  "$ROOT/scripts/pg-throwaway.sh" stop "$PG_DIR" || true
else
  rc=$?
  if [ $rc = 3 ] && ! $ON_CI; then
    record "battery PostgreSQL" SKIPPED "no PostgreSQL server binaries"
  else
    record "battery PostgreSQL" FAILED "could not start the throwaway PostgreSQL cluster"
  fi
fi
PG_DIR=""

printf '\n==== summary ====\n'
for i in "${!NAMES[@]}"; do printf '%-32s %-8s %s\n' "${NAMES[$i]}" "${STATUSES[$i]}" "${DETAILS[$i]}"; done
echo "figures: $VORONKA_BATTERY_DIR"
[ "$FAILED" = 0 ]
