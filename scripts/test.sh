#!/usr/bin/env bash
# The whole test run behind `make test` (the venv and system packages are set up by make):
#   1. lint: ruff check; the import contract (lint-imports); mypy; missing-migration check
#      (makemigrations --check --dry-run)
#   2. pytest on SQLite, -n 2, everything except the browser tests and the tier-B battery; then
#      the tests marked `alone` (latency against a bar) by themselves
#   3. the same suite on a throwaway PostgreSQL cluster (scripts/pg-throwaway.sh)
#   4. the browser tests (-m e2e) once, on SQLite, with Debian's Chromium
# A phase that cannot run here (no PostgreSQL, no Chromium) is reported as SKIPPED, never as
# passed; with CI=true it is a failure instead. Exits non-zero when any phase failed.
# Extra arguments are passed to every pytest run (e.g. `scripts/test.sh -k deals`).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
ON_CI=false
case "${CI:-}" in true | 1 | yes) ON_CI=true ;; esac
WORKERS=${VORONKA_TEST_WORKERS:-2}
EXTRA=("$@")

TMP=$(mktemp -d /tmp/voronka-test.XXXXXX)
PG_DIR=""
cleanup() {
  if [ -n "$PG_DIR" ]; then "$ROOT/scripts/pg-throwaway.sh" stop "$PG_DIR" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

# Tests never touch var/ (the developer's data).
export VORONKA_ENV=test
export PYTHONDONTWRITEBYTECODE=1
unset DATABASE_URL

# Each phase gets its own data directory (with the static/ folder WhiteNoise expects).
for phase in sqlite pg e2e migrations-check; do mkdir -p "$TMP/$phase/static"; done

NAMES=() STATUSES=() SECONDS_TAKEN=() DETAILS=()
FAILED=0 SKIPPED=0 TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0

record() {  # name status seconds detail
  NAMES+=("$1") STATUSES+=("$2") SECONDS_TAKEN+=("$3") DETAILS+=("$4")
  case "$2" in
    FAILED) FAILED=$((FAILED + 1)) ;;
    SKIPPED) SKIPPED=$((SKIPPED + 1)) ;;
  esac
}

banner() { printf '\n==== %s ====\n' "$*"; }

# count WORD LINE -> the number before WORD in pytest's closing line ("3 failed, 10 passed ...")
count() { echo "$2" | grep -oE "[0-9]+ $1" | head -n 1 | awk '{print $1}' || true; }

# run_pytest NAME LOG ARGS... ; pytest exit codes: 0 ok, 1 failures, 5 no tests (an error here)
run_pytest() {
  local name=$1 log=$2 rc start line passed failed errors skipped status detail
  shift 2
  start=$(date +%s)
  "$BIN/python" -m pytest "$@" "${EXTRA[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^(=+ )?([0-9]+ [a-z]+|no tests ran).* in [0-9.]+s( \([0-9:]+\))?( =+)?$' "$log" |
    tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
  passed=$(count passed "$line"); failed=$(count failed "$line"); errors=$(count error "$line")
  skipped=$(count skipped "$line")
  TOTAL_PASSED=$((TOTAL_PASSED + ${passed:-0}))
  TOTAL_FAILED=$((TOTAL_FAILED + ${failed:-0} + ${errors:-0}))
  TOTAL_SKIPPED=$((TOTAL_SKIPPED + ${skipped:-0}))
  detail=${line:-no pytest summary line}
  case $rc in
    0) status=PASSED ;;
    5)  # nothing collected: an error — unless the caller's own filter (extra arguments) left
        # this phase empty
        if [ ${#EXTRA[@]} -gt 0 ]; then status=SKIPPED; else status=FAILED; fi
        detail="no tests collected (pytest exit 5); $detail" ;;
    *) status=FAILED; detail="pytest exit $rc; $detail" ;;
  esac
  if [ "$rc" = 0 ] && [ "${passed:-0}" = 0 ]; then status=FAILED; detail="no test passed; $detail"; fi
  record "$name" "$status" $(($(date +%s) - start)) "$detail"
}

skip_or_fail() {  # name reason: SKIPPED locally, FAILED on CI
  if $ON_CI; then
    echo "FAILED: $1: $2 (required on CI)"
    record "$1" FAILED 0 "$2 (required on CI)"
  else
    echo "SKIPPED: $1: $2"
    record "$1" SKIPPED 0 "$2"
  fi
}

# ---- 1. lint and migrations --------------------------------------------------------------
banner "ruff check"
start=$(date +%s)
lint_paths=(src tests)
[ -d bench ] && lint_paths+=(bench)
if "$BIN/ruff" check "${lint_paths[@]}"; then
  record "ruff check" PASSED $(($(date +%s) - start)) "${lint_paths[*]}"
else
  record "ruff check" FAILED $(($(date +%s) - start)) "ruff found problems"
fi

banner "import contract (lint-imports, .importlinter)"
start=$(date +%s)
if "$BIN/lint-imports" --no-cache; then
  record "import contract" PASSED $(($(date +%s) - start)) "layers, interfaces, selectors"
else
  record "import contract" FAILED $(($(date +%s) - start)) "an import breaks .importlinter"
fi

banner "mypy (src/voronka, django-stubs)"
start=$(date +%s)
if VORONKA_DATA_DIR="$TMP/migrations-check" "$BIN/mypy" --cache-dir "$TMP/mypy-cache"; then
  record "mypy" PASSED $(($(date +%s) - start)) "src/voronka"
else
  record "mypy" FAILED $(($(date +%s) - start)) "mypy found type errors"
fi

banner "missing migrations (makemigrations --check --dry-run)"
start=$(date +%s)
if VORONKA_DATA_DIR="$TMP/migrations-check" "$BIN/voronka" makemigrations --check --dry-run; then
  record "migrations check" PASSED $(($(date +%s) - start)) "models match migrations"
else
  record "migrations check" FAILED $(($(date +%s) - start)) "a model change has no migration"
fi

# ---- 2. SQLite ---------------------------------------------------------------------------
banner "pytest on SQLite (-n $WORKERS, not e2e)"
VORONKA_DATA_DIR="$TMP/sqlite" run_pytest "pytest SQLite" "$TMP/sqlite.log" \
  -n "$WORKERS" -m "not e2e and not battery and not alone" -q -rfEs --durations=15
# The tests that measure latency against a bar (marker `alone`): one at a time, nothing beside.
VORONKA_DATA_DIR="$TMP/sqlite" run_pytest "pytest SQLite (alone)" "$TMP/sqlite-alone.log" \
  -m "alone and not e2e and not battery" -q -rfEs

# ---- 3. PostgreSQL -----------------------------------------------------------------------
banner "pytest on PostgreSQL (-n $WORKERS, not e2e)"
PG_DIR=$(mktemp -d /tmp/voronka-pg.XXXXXX)
pg_url=$("$ROOT/scripts/pg-throwaway.sh" start "$PG_DIR")
pg_rc=$?
if [ $pg_rc = 0 ]; then
  pg_version=$(cat "$PG_DIR/version" 2>/dev/null || echo "?")
  echo "throwaway PostgreSQL $pg_version at ${pg_url}"
  DATABASE_URL="$pg_url" VORONKA_DATA_DIR="$TMP/pg" run_pytest "pytest PostgreSQL $pg_version" \
    "$TMP/pg.log" -n "$WORKERS" -m "not e2e and not battery and not alone" -q -rfEs --durations=15
  DATABASE_URL="$pg_url" VORONKA_DATA_DIR="$TMP/pg" run_pytest "pytest PostgreSQL (alone)" \
    "$TMP/pg-alone.log" -m "alone and not e2e and not battery" -q -rfEs
  "$ROOT/scripts/pg-throwaway.sh" stop "$PG_DIR" || true
elif [ $pg_rc = 3 ]; then
  skip_or_fail "pytest PostgreSQL" "no PostgreSQL server binaries (apt-get install postgresql, or make sysdeps as root)"
else
  record "pytest PostgreSQL" FAILED 0 "could not start the throwaway PostgreSQL cluster"
fi
PG_DIR=""

# ---- 4. browser tests --------------------------------------------------------------------
banner "browser tests (-m e2e, SQLite, Chromium)"
if [ -x /usr/bin/chromium ]; then
  VORONKA_DATA_DIR="$TMP/e2e" run_pytest "browser tests (e2e)" "$TMP/e2e.log" -m e2e -q -rfEs
else
  skip_or_fail "browser tests (e2e)" "/usr/bin/chromium not found (apt-get install chromium, or make sysdeps as root)"
fi

# ---- summary -----------------------------------------------------------------------------
banner "summary"
for i in "${!NAMES[@]}"; do
  printf '%-32s %-8s %5ss  %s\n' "${NAMES[$i]}" "${STATUSES[$i]}" "${SECONDS_TAKEN[$i]}" "${DETAILS[$i]}"
done
echo
echo "tests: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
if [ "$FAILED" -gt 0 ]; then
  echo "RESULT: FAILED ($FAILED of ${#NAMES[@]} phases failed, $SKIPPED skipped)"
  exit 1
fi
if [ "$SKIPPED" -gt 0 ]; then
  echo "RESULT: PASSED with $SKIPPED phase(s) SKIPPED (not run, not counted as passed)"
else
  echo "RESULT: PASSED (all ${#NAMES[@]} phases)"
fi
exit 0
