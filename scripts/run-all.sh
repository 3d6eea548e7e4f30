#!/usr/bin/env bash
# `make run` after migrate + demo: the web server and the background worker together, in the
# foreground. Ctrl-C (or SIGTERM) stops both; if either one dies, the other is stopped too.
# Expects migrate + demo to have run (the Makefile does that).
set -uo pipefail

cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${PORT:-8000}
HOST=${VORONKA_HOST:-127.0.0.1}

web_pid="" worker_pid=""
stop_all() {
  trap - INT TERM EXIT
  for pid in $web_pid $worker_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do  # up to 10 s for a graceful stop
    alive=""
    for pid in $web_pid $worker_pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.2
  done
  for pid in $web_pid $worker_pid; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'echo; echo "Stopping web and worker..."; stop_all; exit 0' INT TERM
trap stop_all EXIT

# Each child runs in a session of its own, so a Ctrl-C in the terminal reaches only this script,
# which then stops both with one SIGTERM each (graceful for gunicorn and for the task worker).
setsid "$BIN/voronka" serve --host "$HOST" --port "$PORT" &
web_pid=$!
setsid "$BIN/voronka" worker &
worker_pid=$!

# Wait until the web server answers before printing the URL.
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://$HOST:$PORT/healthz', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$web_pid" 2>/dev/null || break
  sleep 0.3
done

cat <<EOF

  Voronka is running: http://$HOST:$PORT/

  Demo logins (password: demo)
    owner     — owner, sees everything
    head      — head of sales (department of manager1 and manager2)
    manager1  — manager
    manager2  — manager

  Web (gunicorn) pid $web_pid, worker pid $worker_pid. Press Ctrl-C to stop both.

EOF

# Return as soon as either process exits; then stop the other one.
wait -n "$web_pid" "$worker_pid"
rc=$?
echo "A process exited (status $rc); stopping the other one."
exit "$rc"
