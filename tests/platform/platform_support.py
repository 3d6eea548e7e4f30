"""Helpers for the platform tests: real servers (gunicorn) on 127.0.0.1 in subprocesses, each with
a database of its own, and a tiny raw HTTP client.

Blast radius (RELIABILITY §8.6): servers bind 127.0.0.1 only, every process is started here in a
session of its own and only that process group is signalled, loops are bounded, and data lives
in temporary directories (or a throwaway database on the test PostgreSQL cluster).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
VORONKA = str(VENV_BIN / "voronka")
HOST = "127.0.0.1"


def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def engine_label() -> str:
    if on_postgres():
        return "postgresql"
    return f"sqlite {sqlite3.sqlite_version}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def production_secret() -> str:
    return secrets.token_urlsafe(64)[:60]


def server_env(data_dir: Path, *, production: bool, **extra: str) -> dict[str, str]:
    """The environment of a server subprocess: nothing VORONKA_* or DATABASE_URL is inherited."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VORONKA_", "DJANGO_", "PYTEST_")) and k != "DATABASE_URL"
    }
    env["DJANGO_SETTINGS_MODULE"] = "voronka.config.settings"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["VORONKA_DATA_DIR"] = str(data_dir)
    if production:
        env.update(
            VORONKA_ENV="production",
            VORONKA_SECRET_KEY=production_secret(),
            VORONKA_ALLOWED_HOSTS=HOST,
            VORONKA_SSL_REDIRECT="0",
        )
    else:
        env["VORONKA_ENV"] = "test"
    env.update(extra)
    return env


def run_cli(
    env: Mapping[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [VORONKA, *args], env=dict(env), cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"voronka {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


_PRELUDE = """
import json, sys, django
django.setup()
result = None
"""


def run_django(env: Mapping[str, str], code: str, timeout: float = 180) -> Any:
    """Run `code` in a fresh Django process with `env`; it sets `result`, returned here as JSON."""
    script = _PRELUDE + code + "\nprint('@@RESULT@@' + json.dumps(result, default=str))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"setup script failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@") :])
    raise AssertionError(f"setup script printed no result:\n{proc.stdout}\n{proc.stderr}")


# --- databases for server subprocesses ----------------------------------------------------------


def _pg_url_with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        _pg_url_with_db(os.environ["DATABASE_URL"], "postgres"), autocommit=True
    ) as conn:
        conn.execute(sql)


@dataclass
class DatabaseFactory:
    """Migrated databases for server subprocesses, one per test, cheap after the first.

    SQLite: the first call migrates a template file; later ones copy it with the online backup API.
    PostgreSQL (when the suite runs with DATABASE_URL=postgres://…): a template database is migrated
    once, each test gets CREATE DATABASE … TEMPLATE and a DROP at the end.
    """

    root: Path
    _sqlite_template: Path | None = None
    _pg_template: str | None = None
    _created: list[str] = field(default_factory=list)

    def _migrate(self, env: Mapping[str, str]) -> None:
        run_cli(env, "migrate", "--noinput", timeout=300)

    @contextlib.contextmanager
    def database(
        self, env: dict[str, str], *, sqlite_only: bool = False
    ) -> Iterator[dict[str, str]]:
        """Give `env` a freshly migrated database (in its VORONKA_DATA_DIR for SQLite)."""
        data_dir = Path(env["VORONKA_DATA_DIR"])
        data_dir.mkdir(parents=True, exist_ok=True)
        if on_postgres() and not sqlite_only:
            if self._pg_template is None:
                name = f"vk_tpl_{uuid.uuid4().hex[:10]}"
                _pg_admin(f'CREATE DATABASE "{name}"')
                self._created.append(name)
                tpl_env = {**env, "DATABASE_URL": _pg_url_with_db(os.environ["DATABASE_URL"], name)}
                self._migrate(tpl_env)
                self._pg_template = name
            name = f"vk_srv_{uuid.uuid4().hex[:10]}"
            _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"')
            env["DATABASE_URL"] = _pg_url_with_db(os.environ["DATABASE_URL"], name)
            try:
                yield env
            finally:
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        env.pop("DATABASE_URL", None)
        if self._sqlite_template is None:
            tpl_dir = self.root / "sqlite-template"
            tpl_dir.mkdir(parents=True, exist_ok=True)
            self._migrate({**env, "VORONKA_DATA_DIR": str(tpl_dir)})
            self._sqlite_template = tpl_dir / "voronka.sqlite3"
        target = data_dir / "voronka.sqlite3"
        src = sqlite3.connect(self._sqlite_template)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # never a plain copy of a WAL database
        finally:
            dst.close()
            src.close()
        yield env

    def close(self) -> None:
        for name in self._created:
            with contextlib.suppress(Exception):
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(self.root, ignore_errors=True)


# --- gunicorn -----------------------------------------------------------------------------------


class Gunicorn:
    """gunicorn serving the product's WSGI app on 127.0.0.1:port, in a process group of its own."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        log_path: Path,
        port: int | None = None,
        workers: int = 2,
        preload: bool = False,
    ) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self.workers = workers
        self.preload = preload
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60) -> Gunicorn:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "voronka.config.wsgi:application",
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "30",
                "--graceful-timeout",
                "3",
                "--log-level",
                "warning",
                *(["--preload"] if self.preload else []),
            ],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                status, _, _ = http_request(self.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(
            f"gunicorn did not answer /healthz within {timeout}s:\n{self.log_tail()}"
        )

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)  # the group of the master we started (start_new_session)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once."""
        self._signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        self._reap_group()

    def _reap_group(self, timeout: float = 5) -> None:
        # Workers are not our children; wait until the group is gone before the next start.
        if self.proc is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(state == "Z" for state in _group_states(self.proc.pid)):
                return  # dead processes (zombies wait for init to reap them) hold no fd or port
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._signal_group(signal.SIGKILL)
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._signal_group(signal.SIGKILL)  # any worker left behind
        self._reap_group()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _group_states(pgid: int) -> list[str]:
    """The states (R, S, Z, …) of the processes in process group `pgid`, from /proc."""
    states = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            states.append(fields[0])
    return states


# --- raw HTTP -----------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float = 10,
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def fetch(port: int, method: str, path: str, **kwargs: Any) -> Response:
    status, headers, body = http_request(port, method, path, **kwargs)
    return Response(status, headers, body)


def figures(row: str, **values: Any) -> None:
    """Print a row's figures (raw numerators and denominators) and keep them as JSON lines."""
    record = {"row": row, "engine": engine_label(), **values}
    print(f"\nFIGURES {row}: " + json.dumps(record, ensure_ascii=False, default=str))
    out = os.environ.get("VORONKA_FIGURES_FILE")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


_SEED_USERS = """
from voronka.identity.models import User
from voronka.identity.services import api_token_create, department_create, roles_ensure_defaults
roles = roles_ensure_defaults()
dept = department_create(name="Отдел продаж")
result = {}
for username, role, password in SPEC:
    user = User.objects.create_user(username=username, password=password, department=dept,
                                    first_name=username.title(), email=f"{username}@example.test")
    user.roles.add(roles[role])
    _token, raw = api_token_create(user=user, name="tests")
    result[username] = {"id": user.pk, "token": raw, "role": role}
"""


def seed_users(
    env: Mapping[str, str], spec: list[tuple[str, str, str]]
) -> dict[str, dict[str, Any]]:
    """Create users (username, role code, password) in one department; return ids and API tokens."""
    return run_django(env, f"SPEC = {spec!r}\n" + _SEED_USERS)


# --- URL patterns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str  # the full pattern, as ResolverMatch.route reports it
    name: str
    params: tuple[str, ...]
    is_api: bool

    def path(self, values: Mapping[str, object] | None = None) -> str:
        """A concrete path: parameters from `values` by name, else a placeholder ("1")."""
        import re

        values = values or {}

        def route_param(m: re.Match[str]) -> str:
            converter, name = m.group(1), m.group(2)
            if name in values:
                return str(values[name])
            return "00000000-0000-0000-0000-000000000001" if converter == "uuid" else "1"

        def regex_param(m: re.Match[str]) -> str:
            name, body = m.group(1), m.group(2)
            if name in values:
                return str(values[name])
            return body.split("|")[0] if "|" in body else "1"

        text = re.sub(r"\(\?P<(\w+)>([^()]*)\)", regex_param, self.route)
        text = re.sub(r"<(?:(\w+):)?(\w+)>", route_param, text)
        text = text.replace("^", "").replace("$", "").replace("\\", "")
        return "/" + text


def iter_routes() -> list[Route]:
    """Every URL pattern of the project (walked from the root resolver, so new routes count)."""
    import re

    from django.urls import URLPattern, URLResolver, get_resolver

    routes: dict[str, Route] = {}

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = (
                    f"{namespace}:{p.namespace}"
                    if p.namespace and namespace
                    else (p.namespace or namespace)
                )
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                full = prefix + str(p.pattern)
                params = tuple(
                    re.findall(r"<(?:\w+:)?(\w+)>", full) + re.findall(r"\(\?P<(\w+)>", full)
                )
                name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "")
                routes.setdefault(full, Route(full, name, params, full.startswith("api/")))

    walk(get_resolver().url_patterns, "", "")
    return list(routes.values())


_SEED_CRM = """
import datetime as dt
from decimal import Decimal
from voronka.identity.models import User
from voronka.kernel.actor import Actor
from voronka.contacts.services import company_create, contact_create
from django.core.files.uploadedfile import SimpleUploadedFile
from voronka.customfields.services import custom_field_create
from voronka.deals.services import deal_create, deal_update, pipeline_create
from voronka.kernel.files import file_store
from voronka.activities.tasks_services import task_create
from voronka.activities.services import comment_add
result = {}
for username in USERNAMES:
    user = User.objects.get(username=username)
    actor = Actor.for_user(user)
    if "pipeline_id" not in result:
        pipeline = pipeline_create(actor=actor, name="Продажа", stages=[
            {"name": "Новая", "semantic": "open", "sla_days": 3},
            {"name": "КП отправлено", "semantic": "open", "required_fields": ["amount"]},
            {"name": "Успешно", "semantic": "won"},
            {"name": "Отказ", "semantic": "lost"},
        ])
        stages = list(pipeline.stages.order_by("sort"))
        result.update(pipeline_id=pipeline.pk, stage_id=stages[0].pk, stage_ids=[s.pk for s in stages])
        field = custom_field_create(actor=actor, data={"entity": "deal", "key": "contract_scan",
                                                       "name": "Скан договора", "type": "file"})
        result["field_id"] = field.pk
    company = company_create(actor=actor, data={"name": f"ООО Ромашка {username}", "type": "legal",
                                                "inn": "7707083893", "phone": "+7 495 123-45-67"})
    contact = contact_create(actor=actor, data={"first_name": "Иван", "last_name": "Петров",
                                                "company": company.pk, "phones": ["+7 916 123-45-67"],
                                                "emails": [f"{username}@example.test"]})
    deal = deal_create(actor=actor, data={"title": f"Поставка {username}", "company": company.pk,
                                          "stage": result["stage_id"], "amount": "150000.00",
                                          "contacts": [contact.pk]})
    comment_add(obj=deal, actor=actor, text="Позвонить в понедельник")
    if "file_id" not in result:
        stored = file_store(upload=SimpleUploadedFile("dogovor.pdf", b"%PDF-1.4 test", "application/pdf"),
                            entity="deal", actor=actor)
        deal = deal_update(deal=deal, actor=actor, data={"custom": {"contract_scan": stored.token}})
        result["file_id"] = stored.pk
        result["file_token"] = stored.token
    task = task_create(actor=actor, data={"type": "call", "comment": "Перезвонить",
                                          "deadline": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
                                          "responsible": user.pk, "deal": deal.pk})
    result.setdefault("by_user", {})[username] = {
        "company_id": company.pk, "contact_id": contact.pk, "deal_id": deal.pk, "task_id": task.pk}
"""


def seed_crm(env: Mapping[str, str], usernames: list[str]) -> dict[str, Any]:
    """Through the services: one pipeline with stages; per user a company, contact, deal, task."""
    return run_django(env, f"USERNAMES = {usernames!r}\n" + _SEED_CRM)
