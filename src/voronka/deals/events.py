"""Events of deals and pipelines (the catalogue: kernel.events, docs/events.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from voronka.kernel.events import EventPayload, NoPayload, declare

SERVICES = "deals.services"


class DealPayload(EventPayload):
    """The deal as it is after the change (an amount never travels without its currency)."""

    pipeline: int
    stage: int
    responsible: int
    company: int
    amount: Decimal
    currency: str
    # When the deal entered its current stage: a robot acts only while the deal is still in the
    # stage entry that started it (automation).
    stage_entered_at: dt.datetime


class DealMovePayload(DealPayload):
    from_stage: int | None  # None: the deal was created in this stage
    to_stage: int


class DealLostPayload(DealMovePayload):
    loss_reason: int | None


class DealUpdatedPayload(DealPayload):
    # field → [old, new], as in the audit row
    changes: dict[str, list[Any]]


class DealDeletedPayload(DealPayload):
    title: str


DEAL_CREATED = declare(
    "deal.created",
    DealPayload,
    description="A deal was created (followed by deal.won / deal.lost when created closed).",
    emitted_by=f"{SERVICES}.deal.deal_create",
)
DEAL_UPDATED = declare(
    "deal.updated",
    DealUpdatedPayload,
    description="A deal's fields changed, not its stage (only when something did).",
    emitted_by=f"{SERVICES}.deal.deal_update",
)
DEAL_RESPONSIBLE_CHANGED = declare(
    "deal.responsible_changed",
    DealPayload,
    description="A deal was given to another responsible (after its deal.updated).",
    emitted_by=f"{SERVICES}.deal.deal_update",
)
DEAL_STAGE_CHANGED = declare(
    "deal.stage_changed",
    DealMovePayload,
    description="A deal moved to another stage or pipeline.",
    emitted_by=f"{SERVICES}.moves.deal_move_to_stage",
)
DEAL_WON = declare(
    "deal.won",
    DealMovePayload,
    description="A deal entered a won stage (after its deal.created / deal.stage_changed).",
    emitted_by=f"{SERVICES}.stage_entry (deal_create, deal_move_to_stage)",
)
DEAL_LOST = declare(
    "deal.lost",
    DealLostPayload,
    description="A deal entered a lost stage, with its loss reason.",
    emitted_by=f"{SERVICES}.stage_entry (deal_create, deal_move_to_stage)",
)
DEAL_REOPENED = declare(
    "deal.reopened",
    DealMovePayload,
    description="A closed (won or lost) deal was moved back to an open stage.",
    emitted_by=f"{SERVICES}.stage_entry (deal_move_to_stage)",
)
DEAL_DELETED = declare(
    "deal.deleted",
    DealDeletedPayload,
    description="A deal was deleted (the row is gone; its last state stays in the event).",
    emitted_by=f"{SERVICES}.deal.deal_delete",
)
PIPELINE_CREATED = declare(
    "pipeline.created",
    NoPayload,
    description="A pipeline was created with its default stages.",
    emitted_by=f"{SERVICES}.pipelines.pipeline_create",
)
