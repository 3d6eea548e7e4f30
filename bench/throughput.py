"""Requests/s of the deal list API against a plain Django JSON view returning the same rows.

gunicorn serves bench.settings (the application's URLs plus /api/bench/plain-deals, see
bench/urls.py) with 2 sync workers on 127.0.0.1 and persistent database connections
(VORONKA_CONN_MAX_AGE=600). The load generator is wrk (Debian package) with 8 connections for
15 s per round, or, without wrk, a Python client with 8 threads on keep-alive connections.

  api    GET /api/v1/deals?limit=50          Bearer token of the owner: the first 50 deals
  plain  GET /api/bench/plain-deals           no auth, no scope, one ORM query, JsonResponse

Both return the same 50 rows (checked before the load). The rounds alternate plain/api, twice,
after a warm-up of each; the figure is the mean of the rounds and the ratio api/plain. Each
round also records the CPU time the gunicorn workers and their PostgreSQL backends spent per
request (from /proc): on a machine busy with other work req/s drop, CPU per request does not,
so plain/api of CPU per request is the load-independent form of the same ratio.
gunicorn's sync workers answer "Connection: close", so every request opens a new TCP
connection for both views alike.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from voronka.identity.models import User  # noqa: E402
from voronka.identity.services import api_token_create  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
API = "/api/v1/deals?limit=50"
PLAIN = "/api/bench/plain-deals"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 (loopback only)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_gunicorn(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VORONKA_CONN_MAX_AGE": os.environ.get("VORONKA_CONN_MAX_AGE", "600"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "voronka.config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=str(ROOT),
        start_new_session=True,
    )


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            if get(port, "/healthz", {})[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def run_wrk(
    port: int, path: str, headers: dict[str, str], seconds: int, connections: int
) -> dict[str, Any]:
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    latency = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        "rps": round(rps, 1),
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
        "latency": latency,
        "client": "wrk",
    }


def run_threads(
    port: int, path: str, headers: dict[str, str], seconds: int, connections: int
) -> dict[str, Any]:
    """Fallback client: `connections` threads, each with one HTTP/1.1 connection (reopened when
    the server closes it)."""
    stop = time.monotonic() + seconds
    counts = [0] * connections
    bad = [0] * connections

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                counts[index] += 1
                if response.status != 200:
                    bad[index] += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (OSError, http.client.HTTPException):
                bad[index] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.monotonic() - started
    return {
        "rps": round(sum(counts) / elapsed, 1),
        "requests": sum(counts),
        "non_2xx": sum(bad),
        "socket_errors": "",
        "latency": {},
        "client": "python-threads",
    }


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (from /proc; a process that ended counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    return found


def db_backends(since: float) -> list[int]:
    """The PostgreSQL backends of gunicorn's workers (persistent connections opened since)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND backend_start >= to_timestamp(%s)",
            [since],
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    return pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args()

    owner = (
        User.objects.filter(is_active=True, roles__code="owner").order_by("id").first()
        or User.objects.filter(is_active=True, is_superuser=True).order_by("id").first()
    )
    if owner is None:
        raise SystemExit("No active owner: seed first (voronka seed)")
    token = api_token_create(user=owner, name="bench throughput")[1]
    connection.close()  # gunicorn's workers open their own
    auth = {"Authorization": f"Bearer {token}"}
    load = run_wrk if shutil.which("wrk") else run_threads
    port = free_port()
    started_at = time.time() - 1
    proc = start_gunicorn(port, opts.workers)
    result: dict[str, Any] = {
        "workers": opts.workers,
        "connections": opts.connections,
        "duration_s": opts.duration,
        "conn_max_age": os.environ.get("VORONKA_CONN_MAX_AGE", "600"),
    }
    try:
        wait_ready(port, proc)
        status_api, body_api = get(port, API, auth)
        status_plain, body_plain = get(port, PLAIN, {})
        if status_api != 200 or status_plain != 200:
            raise SystemExit(
                f"api {status_api}, plain {status_plain}: {body_api[:200]!r} {body_plain[:200]!r}"
            )
        ids_api = [r["id"] for r in json.loads(body_api)["items"]]
        ids_plain = [r["id"] for r in json.loads(body_plain)["items"]]
        if ids_api != ids_plain or len(ids_api) != 50:
            raise SystemExit("the API and the plain view do not return the same 50 rows")
        result["bytes"] = {"api": len(body_api), "plain": len(body_plain)}
        for path, headers in ((PLAIN, {}), (API, auth)):  # warm-up: imports, connections, caches
            load(port, path, headers, 3, opts.connections)
        app_pids, db_pids = children(proc.pid), db_backends(started_at)
        result["processes"] = {"gunicorn_workers": len(app_pids), "db_backends": len(db_pids)}
        rounds: dict[str, list[dict[str, Any]]] = {"plain": [], "api": []}
        for _ in range(opts.rounds):
            for name, path, headers in (("plain", PLAIN, {}), ("api", API, auth)):
                app0, db0 = cpu_seconds(app_pids), cpu_seconds(db_pids)
                figure = load(port, path, headers, opts.duration, opts.connections)
                requests = max(figure["requests"], 1)
                figure["app_cpu_ms_per_req"] = round(
                    (cpu_seconds(app_pids) - app0) * 1000 / requests, 2
                )
                figure["db_cpu_ms_per_req"] = round(
                    (cpu_seconds(db_pids) - db0) * 1000 / requests, 2
                )
                rounds[name].append(figure)
                print(
                    f"  {name:<6} {figure['rps']:8.1f} req/s  ({figure['requests']} requests, "
                    f"{figure['non_2xx']} not 200, p50 {figure['latency'].get('50', '?')}, "
                    f"p99 {figure['latency'].get('99', '?')}; CPU per request: app "
                    f"{figure['app_cpu_ms_per_req']} ms, db {figure['db_cpu_ms_per_req']} ms; "
                    f"{figure['client']})",
                    flush=True,
                )
        for name, figures in rounds.items():
            if any(f["non_2xx"] for f in figures):
                raise SystemExit(f"{name}: responses other than 200 under load")
        result["rounds"] = rounds
        result["rps"] = {
            name: round(sum(f["rps"] for f in figures) / len(figures), 1)
            for name, figures in rounds.items()
        }
        result["ratio"] = round(result["rps"]["api"] / result["rps"]["plain"], 3)
        # Load elsewhere on the machine lowers req/s; CPU per request does not depend on it.
        result["cpu_ms_per_req"] = {
            name: round(
                sum(f["app_cpu_ms_per_req"] + f["db_cpu_ms_per_req"] for f in figures)
                / len(figures),
                2,
            )
            for name, figures in rounds.items()
        }
        result["cpu_ratio"] = round(
            result["cpu_ms_per_req"]["plain"] / result["cpu_ms_per_req"]["api"], 3
        )
        print(
            f"  mean: plain {result['rps']['plain']} req/s, api {result['rps']['api']} req/s, "
            f"api/plain {result['ratio'] * 100:.0f} % (target >= 80 %); CPU per request (app + db): "
            f"plain {result['cpu_ms_per_req']['plain']} ms, api {result['cpu_ms_per_req']['api']} ms "
            f"-> {result['cpu_ratio'] * 100:.0f} %"
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
