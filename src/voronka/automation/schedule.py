"""The schedule of periodic jobs. Every worker process ticks it; the unique (job, period)
row decides which process enqueues each run, so N workers never double a run. The jobs are
the registry kernel.jobs.PERIODIC (`@periodic(name, every=…)` in the app owning each job)."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction

from voronka.automation.models import ScheduledRun
from voronka.kernel import clock
from voronka.kernel.jobs import PERIODIC, PeriodicJob

logger = logging.getLogger(__name__)

__all__ = ["PeriodicJob", "period_key", "schedule_tick", "scheduled_runs_prune"]


def _jobs() -> list[PeriodicJob]:
    return [PERIODIC[name] for name in sorted(PERIODIC)]


def period_key(now: dt.datetime, every: dt.timedelta) -> str:
    return str(int(now.timestamp() // every.total_seconds()))


def schedule_tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue every job whose current period has not been claimed yet. Returns their names."""
    now = now or clock.db_now()
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


def scheduled_runs_prune(*, older_than: dt.datetime, now: dt.datetime | None = None) -> int:
    """Delete the claims of finished periods created before `older_than`. A registered job's
    current period keeps its row whatever its age (a job running every 30 days must not be
    claimed twice in one period)."""
    now = now or clock.now()
    old = ScheduledRun.objects.filter(created_at__lt=older_than)
    for job in PERIODIC.values():
        old = old.exclude(job=job.name, period=period_key(now, job.every))
    return old.delete()[0]
