"""A local stand-in for DaData's suggestions API (tests point RequisitesSettings.base_url at it).

Speaks the protocol of integrations/requisites/dadata: POST /suggestions/api/4_1/rs/{findById/
party, suggest/party, findById/bank} with `Authorization: Token KEY` and {"query": ...}, answered
by {"suggestions": [...]}. `mode` switches what it does: "ok", "timeout" (answers after `delay`
seconds), "malformed" (not JSON), "wrong_shape" (JSON without suggestions), "500". Requests are
recorded (path, headers, body) so tests can check what was sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "test-dadata-key"

PARTIES: dict[str, dict[str, Any]] = {
    "7707083893": {
        "value": "ПАО СБЕРБАНК",
        "unrestricted_value": "ПАО СБЕРБАНК",
        "data": {
            "inn": "7707083893",
            "kpp": "773601001",
            "ogrn": "1027700132195",
            "type": "LEGAL",
            "name": {
                "full_with_opf": "ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО «СБЕРБАНК РОССИИ»",
                "short_with_opf": "ПАО СБЕРБАНК",
            },
            "address": {
                "value": "г Москва, ул Вавилова, д 19",
                "unrestricted_value": "117312, г Москва, ул Вавилова, д 19",
                "data": {"postal_code": "117312"},
            },
            "management": {"name": "Греф Герман Оскарович", "post": "Президент"},
            "state": {"status": "ACTIVE"},
        },
    },
    "500100732259": {
        "value": "ИП Иванов Иван Иванович",
        "unrestricted_value": "ИП Иванов Иван Иванович",
        "data": {
            "inn": "500100732259",
            "ogrn": "304500116000157",
            "type": "INDIVIDUAL",
            "name": {
                "full_with_opf": "Индивидуальный предприниматель Иванов Иван Иванович",
                "short_with_opf": "ИП Иванов И.И.",
            },
            "address": {"value": "г Химки", "data": {"postal_code": "141400"}},
            "state": {"status": "ACTIVE"},
        },
    },
}
BANKS = {
    "044525225": {
        "value": "ПАО Сбербанк",
        "data": {
            "bic": "044525225",
            "name": {"payment": "ПАО СБЕРБАНК", "short": "СБЕРБАНК"},
            "correspondent_account": "30101810400000000225",
        },
    }
}


class StandIn(ThreadingHTTPServer):
    daemon_threads = True
    mode = "ok"
    delay = 2.0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 — http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        mode = self.server.mode
        if mode == "timeout":
            time.sleep(self.server.delay)
        if self.headers.get("Authorization") != f"Token {KEY}":
            return self._send(401, b'{"family":"CLIENT_ERROR","reason":"Forbidden"}')
        if mode == "malformed":
            return self._send(200, b"<html>not json", "text/html")
        if mode == "wrong_shape":
            return self._send(200, b'{"data": []}')
        if mode == "500":
            return self._send(500, b"{}")
        query = str((body or {}).get("query", ""))
        base = "/suggestions/api/4_1/rs/"
        if self.path == base + "findById/party":
            found = [PARTIES[query]] if query in PARTIES else []
        elif self.path == base + "suggest/party":
            found = [p for p in PARTIES.values() if query.lower() in p["value"].lower()]
        elif self.path == base + "findById/bank":
            found = [BANKS[query]] if query in BANKS else []
        else:
            return self._send(404, b"{}")
        self._send(200, json.dumps({"suggestions": found}, ensure_ascii=False).encode())


@contextmanager
def standin() -> Iterator[StandIn]:
    server = StandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
