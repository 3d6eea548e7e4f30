#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite: initdb + pg_ctl in a directory of its own,
# listening only on 127.0.0.1 on a free port, trust auth, no fsync (it is deleted afterwards).
#
#   scripts/pg-throwaway.sh start DIR   # creates DIR, starts the cluster, prints its DATABASE_URL
#   scripts/pg-throwaway.sh stop DIR    # stops the cluster and deletes DIR
#
# As root, initdb refuses to run: the cluster then runs as the Debian `postgres` user when it
# exists, otherwise as a system user `voronka-pg` created here. Exit 3 means "no PostgreSQL
# server binaries on this machine" (the caller reports that as SKIPPED, or fails on CI).
set -euo pipefail

die() { echo "pg-throwaway: $*" >&2; exit 1; }

find_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0
  fi
  return 1
}

run_as() {  # run a command as the cluster's owner
  if [ -n "$PGUSER_OS" ]; then runuser -u "$PGUSER_OS" -- "$@"; else "$@"; fi
}

pick_os_user() {
  PGUSER_OS=""
  [ "$(id -u)" != 0 ] && return 0
  if id -u postgres >/dev/null 2>&1; then
    PGUSER_OS=postgres
  else
    id -u voronka-pg >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin voronka-pg
    PGUSER_OS=voronka-pg
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop DIR"

case "$cmd" in
  start)
    bindir=$(find_bindir) || { echo "pg-throwaway: no PostgreSQL server binaries (initdb/pg_ctl)" >&2; exit 3; }
    pick_os_user
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -n "$PGUSER_OS" ] && chown "$PGUSER_OS" "$dir"
    chmod 700 "$dir"
    run_as "$bindir/initdb" -D "$dir/data" -U voronka --auth=trust -E UTF8 --no-locale --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    started=""
    for _ in 1 2 3 4 5; do  # another process may take the port between the probe and the bind
      port=$(free_port)
      if run_as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
          -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
          start >/dev/null 2>&1; then
        started=$port; break
      fi
    done
    [ -n "$started" ] || { tail -n 30 "$dir/server.log" >&2 || true; die "pg_ctl start failed"; }
    echo "$bindir" >"$dir/bindir"
    echo "$PGUSER_OS" >"$dir/osuser"
    run_as "$bindir/createdb" -h 127.0.0.1 -p "$started" -U voronka voronka
    version=$("$bindir/postgres" --version | awk '{print $3}')
    echo "$version" >"$dir/version"
    echo "postgres://voronka@127.0.0.1:$started/voronka"
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    if [ -f "$dir/bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
      bindir=$(cat "$dir/bindir")
      PGUSER_OS=$(cat "$dir/osuser" 2>/dev/null || true)
      run_as "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
