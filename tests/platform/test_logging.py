"""Logs of `make run` (issue 7, item 18): the task worker writes one line per job, the gunicorn
master, its web workers and the task worker write the same format in one zone (UTC), and the
access log leaves out the 5-second counters poll (and the health check).

Real processes (`voronka worker`, `voronka serve`) on a database of their own; only the
processes started here are signalled. Negative controls: django-tasks' own worker command
(`db_worker`, the same jobs) still logs each job twice, and the filter and the formatter are
shown to make the difference."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from platform_support import (
    HOST,
    REPO,
    VORONKA,
    DatabaseFactory,
    free_port,
    http_request,
    run_django,
    server_env,
)

from voronka.config.logs import QuietPathsFilter, UTCFormatter

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"\[(?P<pid>\d+)\] (?P<logger>[\w.]+): (?P<message>.*)$"
)
ENQUEUE = """
from voronka.automation.jobs import sweep_monitors
result = [str(sweep_monitors.enqueue().id) for _ in range(3)]
"""


def run_worker(env: dict[str, str], command: str) -> str:
    proc = subprocess.run(
        [VORONKA, command, "--batch", "--no-startup-delay"]
        + (["--no-schedule"] if command == "worker" else []),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def lines_per_job(output: str, ids: list[str]) -> dict[str, int]:
    return {job: sum(job in line for line in output.splitlines()) for job in ids}


def test_the_task_worker_logs_one_line_per_job_in_the_shared_format(
    server_databases: DatabaseFactory, tmp_path: Path
) -> None:
    env = server_env(tmp_path / "data", production=False)
    with server_databases.database(env, sqlite_only=True) as env:
        ids = run_django(env, ENQUEUE)
        output = run_worker(env, "worker")
        assert lines_per_job(output, ids) == dict.fromkeys(ids, 1), output
        lines = [line for line in output.splitlines() if line.strip()]
        assert lines and all(LINE.match(line) for line in lines), output
        assert all("state=SUCCESSFUL" in line for line in lines if any(i in line for i in ids))

        # Negative control: the upstream command on the same kind of jobs logs each twice.
        more = run_django(env, ENQUEUE)
        upstream = run_worker(env, "db_worker")
        assert lines_per_job(upstream, more) == dict.fromkeys(more, 2), upstream


def test_serve_logs_master_workers_and_access_in_one_zone_without_the_poll(
    server_databases: DatabaseFactory, tmp_path: Path
) -> None:
    env = server_env(tmp_path / "data", production=False, TZ="Asia/Vladivostok")
    port = free_port()
    log_path = tmp_path / "serve.log"
    with server_databases.database(env, sqlite_only=True) as env:
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [VORONKA, "serve", "--host", HOST, "--port", str(port), "--workers", "2"],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if http_request(port, "GET", "/healthz", timeout=2)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            for _ in range(3):
                http_request(port, "GET", "/counters/")  # the navigation's poll
            assert http_request(port, "GET", "/login/")[0] == 200
            time.sleep(0.5)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    parsed = [LINE.match(line) for line in lines]
    assert lines and all(parsed), "\n".join(lines)
    by_logger = Counter(m["logger"] for m in parsed if m)
    access = [m["message"] for m in parsed if m and m["logger"] == "gunicorn.access"]
    assert [a for a in access if '"GET /login/"' in a] and len(access) == 1, access
    assert not [a for a in access if "/counters/" in a or "/healthz" in a]
    # The master and both workers wrote, all in the same (UTC) format.
    pids = {m["pid"] for m in parsed if m and m["logger"] == "gunicorn.error"}
    assert str(proc.pid) in pids and len(pids) >= 3, lines
    assert by_logger["gunicorn.error"] >= 3


def _record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, "%(U)s", ({"U": path, "s": "200"},), None
    )


def test_the_access_filter_drops_only_the_polled_paths() -> None:
    quiet = QuietPathsFilter()
    assert not quiet.filter(_record("/counters/"))
    assert not quiet.filter(_record("/healthz"))
    assert quiet.filter(_record("/tasks/")) and quiet.filter(_record("/deals/1/"))
    # Negative control: without the filter the poll is a line like any other.
    assert logging.Filter().filter(_record("/counters/"))


def test_the_format_is_utc_whatever_the_process_zone(monkeypatch: Any) -> None:
    monkeypatch.setenv("TZ", "Europe/Moscow")
    time.tzset()
    try:
        record = _record("/tasks/")
        record.created = 1_780_000_000.0  # 2026-05-28T20:26:40Z
        record.msecs = 0
        assert UTCFormatter("%(asctime)s").format(record) == "2026-05-28T20:26:40.000Z"
        # Negative control: the plain formatter writes the process's local time (+3 h).
        assert logging.Formatter("%(asctime)s", "%H:%M").format(record) == "23:26"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


assert pytest  # the module is collected by pytest
