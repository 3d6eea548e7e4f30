"""Monitors → rule runs: every enabled monitor rule, once per its period however many workers
tick (a unique ScheduledRun per rule and period), turns what its finder finds into runs. The
claim and the runs commit together: a sweep killed half-way leaves no claim, and the next tick
sweeps that period again; what it had planned is not planned twice (the runs' unique key)."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction

from voronka.automation.models import Rule, RuleKind, RuleRun, ScheduledRun
from voronka.automation.registry import MONITORS
from voronka.automation.schedule import period_key
from voronka.kernel import clock
from voronka.kernel.events import caused_by

logger = logging.getLogger(__name__)
INSERT_BATCH = 2000


def monitor_job(rule: Rule) -> str:
    return f"monitor:{rule.pk}"


def monitor_every(rule: Rule) -> dt.timedelta:
    minutes = (rule.monitor_params or {}).get("every_minutes")
    if isinstance(minutes, int) and not isinstance(minutes, bool) and 1 <= minutes <= 60 * 24 * 7:
        return dt.timedelta(minutes=minutes)
    return MONITORS[rule.monitor].every


def sweep_rule(rule: Rule, *, now: dt.datetime) -> int | None:
    """Plan the runs of one monitor for the current period; None when another process has it."""
    kind = MONITORS.get(rule.monitor)
    if kind is None:
        logger.error("monitor rule %s: unknown monitor %r", rule.pk, rule.monitor)
        return 0
    params = kind.params.model_validate(
        {k: v for k, v in (rule.monitor_params or {}).items() if k != "every_minutes"}
    )
    period = period_key(now, monitor_every(rule))
    planned = 0
    try:
        with transaction.atomic(), caused_by(f"job:{monitor_job(rule)}:{period}"):
            ScheduledRun.objects.create(job=monitor_job(rule), period=period, created_at=now)
            batch: list[RuleRun] = []
            for object_id, key in kind.find(params, now):
                batch.append(
                    RuleRun(
                        rule=rule,
                        object_type=kind.object_type,
                        object_id=object_id,
                        key=key[:96],
                        due_at=now + dt.timedelta(seconds=rule.delay_seconds),
                        created_at=now,
                    )
                )
                if len(batch) >= INSERT_BATCH:
                    planned += _insert(batch)
                    batch = []
            planned += _insert(batch)
    except IntegrityError:
        return None  # this period is another process's
    return planned


def _insert(batch: list[RuleRun]) -> int:
    if not batch:
        return 0
    RuleRun.objects.bulk_create(batch, ignore_conflicts=True)
    return len(batch)


def monitors_sweep(*, now: dt.datetime | None = None) -> dict[int, int]:
    """Sweep every enabled monitor whose period has come. {rule id: runs found}."""
    now = now or clock.now()
    found: dict[int, int] = {}
    for rule in Rule.objects.enabled().filter(kind=RuleKind.MONITOR).order_by("id"):
        try:
            planned = sweep_rule(rule, now=now)
        except Exception:  # one broken monitor must not stop the others
            logger.exception("monitor rule %s failed", rule.pk)
            continue
        if planned is not None:
            found[rule.pk] = planned
    return found
