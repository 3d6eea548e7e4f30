"""The automation's input and output shapes: `RuleIn` is the one declaration of a rule's input —
the API's body, the YAML file's entries and the services' validation (services.rule_clean) read it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from voronka.kernel.schemas import Id, NextCursor, StrictIn, Version

MAX_DELAY = 366 * 24 * 3600


class RuleIn(StrictIn):
    """A rule: a robot (its `stage`'s action on entry), a trigger (`event` moves deals into
    `stage`) or a monitor (a periodic sweep `monitor` with `monitor_params`)."""

    kind: Literal["robot", "trigger", "monitor"]
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    sort: int = Field(default=0, ge=0, le=10_000, strict=True)
    pipeline: Id | None = None
    stage: Id | None = None
    event: str = Field(default="", max_length=64, description="An event name (docs/events.md)")
    monitor: str = Field(default="", max_length=64)
    monitor_params: dict[str, Any] = Field(default_factory=dict)
    conditions: list[Any] = Field(
        default_factory=list,
        max_length=20,
        description='[{"field": "amount", "op": "gte", "value": "100000"}] — all must hold',
    )
    delay_seconds: int = Field(default=0, ge=0, le=MAX_DELAY, strict=True)
    action: str = Field(default="", max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class RulePatch(StrictIn):
    """Any fields of RuleIn; `version` refuses a stale write (409)."""

    kind: Literal["robot", "trigger", "monitor"] | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    sort: int | None = Field(default=None, ge=0, le=10_000, strict=True)
    pipeline: Id | None = None
    stage: Id | None = None
    event: str | None = Field(default=None, max_length=64)
    monitor: str | None = Field(default=None, max_length=64)
    monitor_params: dict[str, Any] | None = None
    conditions: list[Any] | None = Field(default=None, max_length=20)
    delay_seconds: int | None = Field(default=None, ge=0, le=MAX_DELAY, strict=True)
    action: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] | None = None
    version: Version | None = None


class RuleOut(Schema):
    id: int
    kind: str
    name: str
    enabled: bool
    sort: int
    owner: int | None
    pipeline: int | None
    stage: int | None
    event: str
    monitor: str
    monitor_params: dict[str, Any]
    conditions: list[Any]
    delay_seconds: int
    action: str
    params: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleListOut(Schema):
    items: list[RuleOut]


class RunOut(Schema):
    id: int
    rule: int
    rule_name: str
    object_type: str
    object_id: int
    key: str
    status: str
    due_at: dt.datetime
    attempts: int
    event_id: int | None
    depth: int
    result: dict[str, Any]
    error: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class RunListOut(Schema):
    items: list[RunOut]
    next_cursor: NextCursor = None
