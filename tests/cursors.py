"""Cursors for tests: the real ones (kernel.pagination.encode_cursor) and *signed* ones carrying
raw values the paginator would never hand out (edge dates, huge numbers, wrong types) — what a
client holding the key could send, so the decoder's typing and date clamps are tested behind
a good MAC too."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import models

from voronka.kernel import pagination


def signed_cursor(model: type[models.Model], order: Sequence[str], raw: Any) -> str:
    """A correctly signed cursor whose payload is the JSON of `raw`, whatever it is."""
    keys = pagination._keys(model, order)
    payload = pagination._b64(json.dumps(raw).encode())
    mac = pagination._mac(pagination._signature(model, keys), payload)
    return f"{pagination.VERSION}.{payload}.{mac}"


def tampered(cursor: str) -> str:
    """The same cursor with one character of its payload changed."""
    version, payload, mac = cursor.split(".")
    flipped = ("A" if payload[0] != "A" else "B") + payload[1:]
    return f"{version}.{flipped}.{mac}"
