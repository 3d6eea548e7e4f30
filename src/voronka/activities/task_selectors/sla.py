"""Deals over their stage's SLA, counted from the maintained day buckets (badges and the
control screen count them the same way)."""

from __future__ import annotations

import datetime as dt
from functools import reduce
from operator import or_

from django.db.models import Q

from voronka.deals.counters import local_day
from voronka.deals.models import Stage, stage_sla_cutoffs
from voronka.kernel import dates


def sla_stages() -> list[Stage]:
    return list(Stage.objects.with_sla().only("id", "sla_days"))


def over_sla_queries(now: dt.datetime, stages: list[Stage]) -> tuple[Q, Q]:
    """`Deal.objects.over_stage_sla(now)` read from the day buckets: (buckets of whole days
    before each cutoff's day, deals that entered on the cutoff's day before the cutoff)."""
    bucket_parts, deal_parts = [], []
    for ids, cutoff in stage_sla_cutoffs(now, stages):
        cutoff_day = local_day(cutoff)
        bucket_parts.append(Q(stage_id__in=ids, day__lt=cutoff_day))
        deal_parts.append(
            Q(
                stage_id__in=ids,
                stage_entered_at__gte=dates.day_start(cutoff_day),
                stage_entered_at__lt=cutoff,
            )
        )
    if not bucket_parts:
        return Q(pk__in=[]), Q(pk__in=[])
    return reduce(or_, bucket_parts), reduce(or_, deal_parts)
