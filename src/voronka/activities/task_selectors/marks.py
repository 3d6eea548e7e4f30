"""The marks a deal carries on the board and in lists: no next task, overdue task, over the
stage SLA."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from voronka.deals.models import Stage, StageSemantic, is_over_stage_sla, needs_next_task
from voronka.kernel import clock


def deal_marks(
    deals: Sequence[Any], now: dt.datetime | None = None, stages: list[Stage] | None = None
) -> None:
    """Annotate board/list deals (Deal rows or board cards, which carry the same columns) in
    place: mark_no_task, mark_overdue, mark_over_sla. One query for the
    stages' limits unless the caller has the stages already."""
    now = now or clock.now()
    if stages is None:
        stages = list(Stage.objects.filter(pk__in={d.stage_id for d in deals}))
    sla_of = {s.pk: s.sla_days for s in stages}
    for deal in deals:
        is_open = deal.status == StageSemantic.OPEN
        deal.mark_no_task = needs_next_task(deal)
        deal.mark_overdue = (
            is_open and deal.next_task_deadline is not None and deal.next_task_deadline < now
        )
        deal.mark_over_sla = is_over_stage_sla(deal, sla_of.get(deal.stage_id), now)
