"""Pruning the finished runs of events (planner.runs_prune, the hourly history job): a queue table
that only grows slows every claim. A monitor's runs are its ledger and stay."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.automation import test_engine as engine

from voronka.automation.jobs import history_prune
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.automation.planner import runs_prune
from voronka.deals.models import Deal
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db

# The engine tests' fixtures and helpers.
owner, deal = engine.owner, engine.deal
drain, move, robot = engine.drain, engine.move, engine.robot


def _aged(run: RuleRun, days: int) -> None:
    RuleRun.objects.filter(pk=run.pk).update(finished_at=clock.now() - dt.timedelta(days=days))


def test_old_finished_runs_of_events_go_the_rest_stay(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    rule = robot(owner, pipeline.stages["talks"])
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    drain()
    done = RuleRun.objects.get(rule=rule)
    assert done.status == RunStatus.DONE and done.event_id is not None
    # A monitor's run of the same age, a failed run of an event, a recent done run.
    monitor = Rule.objects.create(
        kind=RuleKind.MONITOR, name="m", monitor="deal_over_sla", action="notify", params={}
    )
    ledger = RuleRun.objects.create(
        rule=monitor,
        object_type="deal",
        object_id=deal.pk,
        key="s1",
        status=RunStatus.DONE,
        finished_at=clock.now(),
    )
    failed = RuleRun.objects.create(
        rule=rule,
        object_type="deal",
        object_id=deal.pk,
        key="e-1",
        event_id=done.event_id,
        status=RunStatus.FAILED,
        finished_at=clock.now(),
    )
    recent = RuleRun.objects.create(
        rule=rule,
        object_type="deal",
        object_id=deal.pk,
        key="e-2",
        event_id=done.event_id,
        status=RunStatus.SKIPPED,
        finished_at=clock.now(),
    )
    for run in (done, ledger, failed):
        _aged(run, 40)
    _aged(recent, 5)

    assert history_prune()["rule_runs"] == 1
    left = set(RuleRun.objects.values_list("pk", flat=True))
    assert done.pk not in left
    assert {ledger.pk, failed.pk, recent.pk} <= left


def test_a_run_whose_event_the_planner_has_not_passed_stays(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    rule = robot(owner, pipeline.stages["talks"])
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    drain()
    run = RuleRun.objects.get(rule=rule)
    _aged(run, 40)
    # Negative control of the guard: the same run with an event above the planner's position
    # (not delivered yet: it could still come) is kept.
    RuleRun.objects.filter(pk=run.pk).update(event_id=10**12)
    assert runs_prune(older_than=clock.now() - dt.timedelta(days=30)) == 0
    RuleRun.objects.filter(pk=run.pk).update(event_id=run.event_id)
    events_dispatch("automation", respect_backoff=False)
    assert runs_prune(older_than=clock.now() - dt.timedelta(days=30)) == 1
