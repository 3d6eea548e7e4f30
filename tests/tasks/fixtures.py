"""Fixtures of the tasks-and-control tests, registered for the package by tests/tasks/conftest.py.
Personas, the pipeline, the API clients and the audit unlock for transactional tests come from
tests/conftest.py (file-based SQLite test database per xdist worker, so threads and worker
subprocesses share it)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import pytest

from tasks.support import World, build_world


@pytest.fixture
def world(personas: dict[str, Any], pipeline: Any) -> World:
    """The hand-built counters world (tasks/support.py: build_world)."""
    return build_world(personas, pipeline)


@pytest.fixture
def users(personas: dict[str, Any]) -> dict[str, Any]:
    return {k: p.user for k, p in personas.items() if p.user is not None and k != "integration"}


# --- a real SMTP server on 127.0.0.1 ------------------------------------------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    subject: str
    body: str


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Mail]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float) -> list[Mail]:
        """Wait (bounded) until at least `count` messages arrived; returns what arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received()) >= count:
                break
            time.sleep(0.1)
        return self.received()


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.original_content or envelope.content)
        part = msg if not msg.is_multipart() else msg.get_payload(0)
        payload = part.get_payload(decode=True)
        charset = part.get_content_charset() or "utf-8"
        body = payload.decode(charset) if isinstance(payload, bytes) else str(payload)
        mail = Mail(
            sender=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
            subject=str(make_header(decode_header(msg.get("Subject", "")))),
            body=body,
        )
        with self.sink.lock:
            self.sink.messages.append(mail)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """aiosmtpd on 127.0.0.1 on a free port, collecting every message it accepts."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink(host="127.0.0.1", port=free_port())
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port, ready_timeout=10)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
