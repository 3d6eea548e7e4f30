"""The real worker process in tests: `voronka worker` subprocesses on the test database, started
and stopped by the test that owns them (never anything else on the machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
VORONKA = ROOT / ".venv" / "bin" / "voronka"


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not the developer's)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VORONKA_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="voronka.config.settings",
        DATABASE_URL=database_url(),
        VORONKA_ENV="test",
        VORONKA_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def start_worker(name: str, env: dict[str, str], logs: Path, *extra: str) -> Any:
    out = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(
        [str(VORONKA), "worker", "--interval", "0.3", "--no-startup-delay", "--worker-id", name]
        + list(extra),
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: Any) -> None:
    """Only the processes this test started, by their own process group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def kill(process: Any) -> None:
    """SIGKILL: no clean-up, no finally — what a crash or the OOM killer does."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(check: Callable[[], bool], bound: float, processes: list[Any]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if check() or any(p.poll() is not None for p in processes):
            break
        time.sleep(0.2)
    return time.monotonic() - started


def logs_of(directory: Path, tail: int = 2000) -> str:
    return "\n".join(p.read_text(errors="replace")[-tail:] for p in directory.glob("*.log"))
