from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import Field, StrictInt

from voronka.kernel.schemas import ErrorOut, Id, NextCursor, StrictIn, Version  # noqa: F401


class StageOut(Schema):
    id: int
    name: str
    sort: int
    semantic: str = Field(description="open | won | lost")
    color: str
    sla_days: int | None
    required_fields: list[str]


class PipelineOut(Schema):
    id: int
    name: str
    sort: int
    stages: list[StageOut]


class PipelineIn(StrictIn):
    name: str = Field(max_length=120)


class StageIn(StrictIn):
    name: str = Field(max_length=120)
    semantic: str = "open"
    color: str = "#3b82f6"
    sla_days: StrictInt | None = None
    required_fields: list[str] = []


class StagePatch(StrictIn):
    name: str | None = Field(default=None, max_length=120)
    semantic: str | None = None
    color: str | None = None
    sla_days: StrictInt | None = None
    required_fields: list[str] | None = None


class DealListItem(Schema):
    id: int
    title: str
    pipeline: int
    stage: int
    status: str
    amount: str
    currency: str
    responsible: int
    company: int
    company_name: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    stage_entered_at: dt.datetime
    version: int


class DealListOut(Schema):
    items: list[DealListItem]
    next_cursor: NextCursor


class DealOut(Schema):
    id: int
    title: str
    pipeline: int
    stage: int
    status: str
    amount: str
    currency: str
    responsible: int
    company: int
    company_name: str
    contacts: list[int]
    source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    comment: str
    custom: dict[str, Any]
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    stage_entered_at: dt.datetime
    loss_reason: int | None
    loss_comment: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class DealIn(StrictIn):
    title: str = Field(max_length=255)
    company: Id
    pipeline: Id | None = None
    stage: Id | None = None
    amount: Decimal | None = Field(default=None, ge=0, lt=Decimal("1e13"))
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    responsible: Id | None = None
    contacts: list[Id] | None = None
    source: str | None = Field(default=None, max_length=64)
    utm_source: str | None = Field(default=None, max_length=128)
    utm_medium: str | None = Field(default=None, max_length=128)
    utm_campaign: str | None = Field(default=None, max_length=128)
    utm_content: str | None = Field(default=None, max_length=128)
    utm_term: str | None = Field(default=None, max_length=128)
    comment: str | None = Field(default=None, max_length=10000)
    custom: dict[str, Any] | None = None
    loss_reason: Id | None = Field(
        default=None, description="Required when `stage` is a lost stage (as for a move)"
    )
    loss_comment: str | None = Field(default=None, max_length=1000)


class DealPatch(StrictIn):
    version: Version | None = None
    title: str | None = Field(default=None, max_length=255)
    company: Id | None = None
    amount: Decimal | None = Field(default=None, ge=0, lt=Decimal("1e13"))
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    responsible: Id | None = None
    contacts: list[Id] | None = None
    source: str | None = Field(default=None, max_length=64)
    utm_source: str | None = Field(default=None, max_length=128)
    utm_medium: str | None = Field(default=None, max_length=128)
    utm_campaign: str | None = Field(default=None, max_length=128)
    utm_content: str | None = Field(default=None, max_length=128)
    utm_term: str | None = Field(default=None, max_length=128)
    comment: str | None = Field(default=None, max_length=10000)
    custom: dict[str, Any] | None = None


class DealMoveIn(StrictIn):
    stage: Id
    version: Version | None = None
    fields: dict[str, Any] | None = Field(
        default=None, description="Values for the stage's required fields"
    )
    loss_reason: Id | None = None
    loss_comment: str | None = Field(default=None, max_length=1000)


class TimelineItemOut(Schema):
    kind: str = Field(description="stage | created | updated | deleted | comment")
    at: dt.datetime
    user: int | None
    user_name: str
    actor_kind: str
    text: str
    changes: list[dict[str, Any]]
    from_stage: int | None
    from_stage_name: str
    to_stage: int | None
    to_stage_name: str
    seconds_in_from: int | None


class CustomFieldOut(Schema):
    id: int
    entity: str
    key: str
    name: str
    type: str
    choices: list[str]
    sort: int
    is_active: bool


class CustomFieldIn(StrictIn):
    entity: str = "deal"
    key: str = Field(max_length=50)
    name: str = Field(max_length=120)
    type: str
    choices: list[str] = []


class LossReasonOut(Schema):
    id: int
    name: str
    warming_stage: int | None


class SearchItemOut(Schema):
    id: int
    label: str
    matched: list[str]  # "name", "title", "company", "phone", "email", "inn"
    rank: int  # 0 exact phone/INN/e-mail, 1 whole words, 2 prefix or part, 3 one letter off
    company: int | None = None
    company_name: str | None = None
    inn: str | None = None
    phone: str | None = None


class SearchMoreOut(Schema):
    deals: bool
    companies: bool
    contacts: bool


class SearchOut(Schema):
    q: str
    deals: list[SearchItemOut]
    companies: list[SearchItemOut]
    contacts: list[SearchItemOut]
    more: SearchMoreOut
