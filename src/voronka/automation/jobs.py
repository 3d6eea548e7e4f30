"""Periodic jobs of the automation app (registered with kernel.jobs.periodic)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from voronka.automation.planner import runs_prune
from voronka.automation.schedule import scheduled_runs_prune
from voronka.kernel import clock
from voronka.kernel.jobs import periodic
from voronka.kernel.outbox import events_prune


def history_prune() -> dict[str, int]:
    """Delete finished schedule claims older than VORONKA_SCHEDULED_RUN_RETENTION_DAYS, events
    older than VORONKA_EVENT_RETENTION_DAYS that every consumer has passed, and the finished
    runs of events older than VORONKA_RULE_RUN_RETENTION_DAYS (planner.runs_prune: a claimed
    queue table that only grows slows every claim — measured 3–6× after 200k runs)."""
    runs_before = clock.now() - dt.timedelta(days=settings.VORONKA_SCHEDULED_RUN_RETENTION_DAYS)
    events_before = timezone.now() - dt.timedelta(days=settings.VORONKA_EVENT_RETENTION_DAYS)
    rule_runs_before = timezone.now() - dt.timedelta(days=settings.VORONKA_RULE_RUN_RETENTION_DAYS)
    return {
        "scheduled_runs": scheduled_runs_prune(older_than=runs_before),
        "events": events_prune(older_than=events_before),
        "rule_runs": runs_prune(older_than=rule_runs_before),
    }


@periodic("history_prune", every=dt.timedelta(hours=1))
@task()
def prune_history() -> dict[str, int]:
    """Delete old schedule claims and consumed events (retention settings)."""
    return history_prune()


@periodic("automation_monitors", every=dt.timedelta(minutes=1))
@task()
def sweep_monitors() -> dict[str, int]:
    """Sweep the enabled monitor rules whose period has come (each once per period)."""
    from voronka.automation.sweeps import monitors_sweep

    return {str(k): v for k, v in monitors_sweep().items()}
