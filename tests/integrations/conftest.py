"""Fixtures of the outgoing-webhook tests (RELIABILITY row 10).

`receiver` is a scripted HTTP receiver on 127.0.0.1 (http.server in a thread): each POST takes
the next reply of `receiver.script` (then `receiver.default`) — a status with headers, a sleep
(a receiver that times out), a redirect, or an endless body — and every request is recorded
(path, headers, body, arrival time). The test server is only on the loopback interface, so the
tests switch VORONKA_WEBHOOK_ALLOW_PRIVATE on (`allow_private`); the SSRF tests keep it off and
stub the resolver instead."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MAX_SLEEP = 3.0  # bounded: a "timeout" reply never holds a thread longer than this
HUGE_BYTES = 8 * 1024 * 1024  # an "endless" body stops here at the latest


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    sleep: float = 0.0  # seconds before answering (a timeout when longer than the client waits)
    huge: bool = False  # stream HUGE_BYTES of body


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.default = Reply(200)
        self.requests: list[Captured] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver.lock:
                    receiver.requests.append(
                        Captured(
                            self.command, self.path, dict(self.headers.items()), body, time.time()
                        )
                    )
                    reply = receiver.script.pop(0) if receiver.script else receiver.default
                try:
                    if reply.sleep:
                        time.sleep(min(reply.sleep, MAX_SLEEP))
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if reply.huge:
                        self.send_header("Content-Length", str(HUGE_BYTES))
                        self.end_headers()
                        chunk = b"x" * 65536
                        for _ in range(HUGE_BYTES // len(chunk)):
                            self.wfile.write(chunk)
                        return
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    return

            do_POST = _handle
            do_GET = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def posts(self, path: str | None = None) -> list[Captured]:
        return [r for r in self.requests if path is None or r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def allow_private(settings: Any) -> None:
    """The receiver is on 127.0.0.1: private addresses allowed (the pinning still applies)."""
    settings.VORONKA_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def configurer(db: None) -> Any:
    """A user with can_configure (role owner) and an administrator, both active."""
    from voronka.identity.models import User
    from voronka.identity.services import roles_ensure_defaults

    roles = roles_ensure_defaults()
    owner = User.objects.create_user(username="wh_owner", first_name="Вера", last_name="Вебхукова")
    owner.roles.add(roles["owner"])
    admin = User.objects.create_user(username="wh_admin", first_name="Адам", last_name="Админов")
    admin.roles.add(roles["admin"])
    manager = User.objects.create_user(username="wh_manager", first_name="Мария", last_name="М")
    manager.roles.add(roles["manager"])
    return {"owner": owner, "admin": admin, "manager": manager}


@pytest.fixture
def make_endpoint(configurer: Any) -> Any:
    from voronka.integrations.webhooks.services import endpoint_create
    from voronka.kernel.actor import Actor

    def make(url: str, name: str = "Приёмник") -> Any:
        return endpoint_create(
            actor=Actor.for_user(configurer["owner"]), data={"name": name, "url": url}
        )

    return make
