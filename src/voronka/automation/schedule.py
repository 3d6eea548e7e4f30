"""The schedule of periodic jobs. Every worker process ticks it; the unique (job, period)
row decides which process enqueues each run, so N workers never double a run."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from voronka.automation.models import ScheduledRun
from voronka.kernel import clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: dt.timedelta
    enqueue: Callable[[], object]


def _jobs() -> list[PeriodicJob]:
    from voronka.activities.jobs import sweep_overdue_tasks

    return [
        PeriodicJob("overdue_tasks_sweep", dt.timedelta(minutes=1), sweep_overdue_tasks.enqueue),
    ]


def period_key(now: dt.datetime, every: dt.timedelta) -> str:
    return str(int(now.timestamp() // every.total_seconds()))


def schedule_tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue every job whose current period has not been claimed yet. Returns their names."""
    now = now or clock.now()
    started = []
    for job in _jobs():
        key = period_key(now, job.every)
        try:
            with transaction.atomic():
                ScheduledRun.objects.create(job=job.name, period=key, created_at=now)
                job.enqueue()
        except IntegrityError:
            continue  # another process claimed this period
        started.append(job.name)
    return started
