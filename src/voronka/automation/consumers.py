"""The automation engine as a consumer of the outbox: every declared event goes to the planner
(kernel.events.discover() imports every app's events before any consumer, so the list is
complete, including events declared by apps above this one)."""

from __future__ import annotations

from typing import Any

from voronka.automation.planner import plan, rules_for_batch
from voronka.kernel.events import EVENTS, register_consumer
from voronka.kernel.models import DomainEvent


def plan_runs(event: DomainEvent, payload: Any) -> None:
    """Plan the runs of the robots, triggers and waiting robots an event calls for."""
    plan(event, payload)


register_consumer("automation", list(EVENTS.values()), plan_runs, on_batch=rules_for_batch)
