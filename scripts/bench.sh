#!/usr/bin/env bash
# `make bench`: the benchmarks of issue 2 on PostgreSQL (docs/benchmarks.md says what each
# figure means). Prints figures and targets; asserts nothing on time.
#
#   1. a PostgreSQL cluster of its own (scripts/pg-throwaway.sh) on a free 127.0.0.1 port,
#      cached in $BENCH_CACHE_DIR (default var/bench) per deal count and seed, so a rerun skips
#      the seed: the data directory is kept and started again (or used as it is when its
#      server is already running — then it is left running); a changed generator seeds again
#   2. voronka migrate; voronka seed --deals $BENCH_DEALS (default 1000000) when not cached
#   3. bench/timings.py   — server-side median/p95 of the board, the list API, the deal card,
#                            owner and manager, against the bare SQL of each page
#   4. bench/counters.py  — issue 3: the counters and the control screen (when present)
#   4b. bench/search.py   — issue 10: the one search (header box, API) over 1M deals and 1M
#                            contacts (bench/search_topup.py adds the contacts once, cached),
#                            owner and manager, against the bare SQL of its candidate queries
#   5. bench/throughput.py — req/s of the list API vs a plain Django JSON view under gunicorn
#                            (2 sync workers, 127.0.0.1), wrk with 8 connections for 15 s
#   6. bench/automation.py — issue 9: events → tasks with 1 and 2 real workers, commit-to-task
#                            latency, throughput after 200k events (on a throwaway cluster of its
#                            own), one monitor sweep over this cluster (temporary tables)
#   7. bench/dedup.py     — issue 10: the duplicate check of one record (p99), the full scan
#                            (seconds, peak memory), precision/recall on the labelled sets
#   8. bench/import.py    — issue 10: importing 100,000 contact rows with dedup, rows/s (first run
#                            and re-run), on a throwaway cluster of its own
#   9. bench/report.py    — the table, and a JSON record in bench/out/
#
# Environment: BENCH_DEALS (1000000), BENCH_SEED (1), BENCH_CACHE_DIR (var/bench),
# BENCH_KEEP=0 deletes the cluster afterwards, BENCH_FRESH=1 seeds again, BENCH_ITER (30),
# BENCH_DURATION (15 s), BENCH_CONNECTIONS (8), BENCH_CONTACTS (1000000: bench/search_topup.py).
set -euo pipefail

# Everything is in main(), read whole before it runs: editing this file during a run is safe.
main() {

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
DEALS=${BENCH_DEALS:-1000000}
SEED=${BENCH_SEED:-1}
CACHE=${BENCH_CACHE_DIR:-$ROOT/var/bench}
KEEP=${BENCH_KEEP:-1}
CLUSTER="$CACHE/pg-$DEALS-s$SEED"
OUT="$ROOT/bench/out"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN="$OUT/run-$STAMP"
mkdir -p "$CACHE" "$RUN"

# -- the cluster -----------------------------------------------------------------------------
[ -d /usr/lib/postgresql ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
  command -v initdb >/dev/null 2>&1 || { echo "bench: PostgreSQL server binaries are needed (make sysdeps)" >&2; exit 3; }

run_as() {
  local osuser
  osuser=$(cat "$CLUSTER/osuser" 2>/dev/null || true)
  if [ -n "$osuser" ]; then runuser -u "$osuser" -- "$@"; else "$@"; fi
}

STARTED_HERE=0

pg_running_url() {  # the URL of the cluster when its server is already up (started elsewhere)
  local pid
  [ -f "$CLUSTER/data/postmaster.pid" ] || return 1
  pid=$(head -n 1 "$CLUSTER/data/postmaster.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "postgres://voronka@127.0.0.1:$(sed -n 4p "$CLUSTER/data/postmaster.pid")/voronka"
}

pg_stop() {
  [ -f "$CLUSTER/data/postmaster.pid" ] || return 0
  run_as "$(cat "$CLUSTER/bindir")/pg_ctl" -D "$CLUSTER/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# Benchmark settings of the server (a small production-like tuning for a 2-core, 23 GB box;
# the throwaway defaults of fsync=off etc. stay: they do not change read timings).
pg_tune() {
  "$BIN/python" - "$DATABASE_URL" <<'EOF'
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    for name, value in [("shared_buffers", "2GB"), ("work_mem", "32MB"),
                        ("maintenance_work_mem", "1GB"), ("effective_cache_size", "8GB"),
                        ("max_wal_size", "8GB"), ("random_page_cost", "1.1"),
                        ("checkpoint_timeout", "30min"), ("jit", "off")]:
        conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
EOF
}

pg_start_existing() {  # start a cached cluster again on a free port
  local bindir port
  bindir=$(cat "$CLUSTER/bindir")
  pg_stop
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if run_as "$bindir/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -w -t 120 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $CLUSTER -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null 2>&1; then
      echo "postgres://voronka@127.0.0.1:$port/voronka"
      return 0
    fi
  done
  tail -n 30 "$CLUSTER/server.log" >&2 || true
  return 1
}

cleanup() {
  if [ "$STARTED_HERE" = 1 ]; then pg_stop; fi
  if [ "$KEEP" = 0 ]; then "$ROOT/scripts/pg-throwaway.sh" stop "$CLUSTER" || true; fi
}
trap cleanup EXIT
trap 'echo; echo "bench: interrupted"; exit 130' INT TERM

# The cache is valid for one version of the generator: a changed `voronka seed` seeds again.
GENERATOR=$(cat "$ROOT"/src/voronka/demo/{seeder,bulk,vocabulary}.py "$ROOT/src/voronka/demo/management/commands/voronka_seed.py" | sha256sum | cut -c1-12)
if [ -f "$CLUSTER/seeded" ] && ! grep -q "generator=$GENERATOR" "$CLUSTER/seeded"; then
  echo "== the cached cluster was seeded by another version of voronka seed: seeding again"
  BENCH_FRESH=1
fi

if [ "${BENCH_FRESH:-0}" = 1 ] || [ ! -f "$CLUSTER/seeded" ]; then
  "$ROOT/scripts/pg-throwaway.sh" stop "$CLUSTER" >/dev/null 2>&1 || true
  echo "== PostgreSQL: a new cluster in $CLUSTER"
  STARTED_HERE=1
  DATABASE_URL=$("$ROOT/scripts/pg-throwaway.sh" start "$CLUSTER")
  export DATABASE_URL
  pg_tune
  DATABASE_URL=$(pg_start_existing)
elif DATABASE_URL=$(pg_running_url); then
  echo "== PostgreSQL: the cached cluster in $CLUSTER, already running (left running afterwards)"
else
  echo "== PostgreSQL: the cached cluster in $CLUSTER ($(cat "$CLUSTER/seeded"))"
  DATABASE_URL=$(pg_start_existing)
  STARTED_HERE=1
fi
export DATABASE_URL
echo "   $DATABASE_URL (PostgreSQL $(cat "$CLUSTER/version" 2>/dev/null || echo '?'))"

# -- the application ---------------------------------------------------------------------------
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export DJANGO_SETTINGS_MODULE=bench.settings
export VORONKA_DATA_DIR="$CACHE/data"
export VORONKA_DEBUG=0
export VORONKA_LOG_LEVEL=ERROR
mkdir -p "$VORONKA_DATA_DIR/static"

echo "== migrate"
"$BIN/voronka" migrate --noinput -v 0

if [ ! -f "$CLUSTER/seeded" ]; then
  echo "== voronka seed --deals $DEALS --seed $SEED"
  start=$(date +%s)
  timeout 1800 "$BIN/voronka" seed --deals "$DEALS" --seed "$SEED" | tee "$RUN/seed.log"
  end=$(date +%s)
  echo "deals=$DEALS seed=$SEED seconds=$((end - start)) at=$STAMP generator=$GENERATOR" >"$CLUSTER/seeded"
  cp "$RUN/seed.log" "$CLUSTER/seed.log"
else
  cp "$CLUSTER/seed.log" "$RUN/seed.log" 2>/dev/null || true
fi

echo "== server-side timings (in-process)"
timeout 900 "$BIN/python" bench/timings.py --out "$RUN/timings.json" --iterations "${BENCH_ITER:-30}"

if [ -f bench/counters.py ]; then  # issue 3: the counters and the control screen
  echo "== counters and control (in-process)"
  timeout 600 "$BIN/python" bench/counters.py --out "$RUN/counters.json" --iterations "${BENCH_ITER:-30}"
fi

if [ -f bench/search.py ]; then  # issue 10: the one search
  echo "== search: contacts topped up to ${BENCH_CONTACTS:-1000000} (cached), the query mix (in-process)"
  timeout 1800 "$BIN/python" bench/search_topup.py --contacts "${BENCH_CONTACTS:-1000000}"
  timeout 900 "$BIN/python" bench/search.py --out "$RUN/search.json" --iterations "${BENCH_ITER:-30}" ||
    echo "bench: search failed"
fi

echo "== throughput (gunicorn, 2 sync workers, 127.0.0.1)"
timeout 600 "$BIN/python" bench/throughput.py --out "$RUN/throughput.json" \
  --duration "${BENCH_DURATION:-15}" --connections "${BENCH_CONNECTIONS:-8}"

if [ -f bench/automation.py ]; then  # issue 9: the automation engine
  echo "== automation: events → tasks with real workers (a throwaway cluster of its own)"
  AUTO_PG=$(mktemp -d /tmp/voronka-bench-auto.XXXXXX)
  if AUTO_URL=$("$ROOT/scripts/pg-throwaway.sh" start "$AUTO_PG"); then
    DATABASE_URL="$AUTO_URL" VORONKA_DATA_DIR="$AUTO_PG/data-dir" timeout 1800 \
      "$BIN/python" bench/automation.py --phase throughput --out "$RUN/automation-throughput.json" \
      --logs "$RUN/automation-logs" || echo "bench: automation throughput failed"
  fi
  "$ROOT/scripts/pg-throwaway.sh" stop "$AUTO_PG" || true
  echo "== automation: one monitor sweep over the cluster (temporary tables: nothing written)"
  timeout 900 "$BIN/python" bench/automation.py --phase sweep --out "$RUN/automation-sweep.json" ||
    echo "bench: automation sweep failed"
  "$BIN/python" bench/automation.py --report "$RUN"/automation-*.json --out "$RUN/automation.json" |
    head -n 12
fi

if [ -f bench/dedup.py ]; then  # issue 10: duplicate control
  echo "== duplicate control: the check of a new record, the full scan, precision/recall"
  # search_topup.py brings the cluster to 1,000,000 contacts (cached); dedup.py builds the keys
  # once (cached in the cluster too).
  [ -f bench/search_topup.py ] && timeout 1800 "$BIN/python" bench/search_topup.py
  timeout 3600 "$BIN/python" bench/dedup.py --out "$RUN/dedup.json" ||
    echo "bench: duplicate control failed"
fi

if [ -f bench/import.py ]; then  # issue 10: import of 100,000 rows with dedup
  echo "== import: 100,000 Bitrix24-format contact rows with dedup (a throwaway cluster of its own)"
  IMPORT_PG=$(mktemp -d /tmp/voronka-bench-import.XXXXXX)
  if IMPORT_URL=$("$ROOT/scripts/pg-throwaway.sh" start "$IMPORT_PG"); then
    DATABASE_URL="$IMPORT_URL" VORONKA_DATA_DIR="$IMPORT_PG/data-dir" timeout 1800 \
      "$BIN/python" bench/import.py --out "$RUN/import.json" || echo "bench: import failed"
  fi
  "$ROOT/scripts/pg-throwaway.sh" stop "$IMPORT_PG" || true
fi

"$BIN/python" bench/report.py --run "$RUN" --cluster "$CLUSTER" --out "$OUT/bench-$STAMP.json"
}

main "$@"
exit $?
