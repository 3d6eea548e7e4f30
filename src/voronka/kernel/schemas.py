from __future__ import annotations

from typing import Any

from ninja import Schema
from pydantic import ConfigDict


class StrictIn(Schema):
    """Input schemas refuse unknown fields (422 naming them) — no mass assignment."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    detail: str
    code: str
    errors: dict[str, str] | None = None
    missing_fields: list[dict[str, str]] | None = None
    current_version: int | None = None


ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}
