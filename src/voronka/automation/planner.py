"""Events → rule runs (the `automation` consumer of the outbox, decision 0015).

The planner decides, per event, which rules owe a run and writes them (unique per rule, object
and occurrence) in the consumer's transaction, together with the event's delivery mark: a run is
planned exactly once however often the event is delivered. It does no action itself: the
executor claims the runs when they are due (after a robot's delay, or at once).

* A deal entering a stage (deal.created, deal.stage_changed): the stage's robots. A robot that
  waits for an event gets a `waiting` run; its runs for the stage the deal left are skipped.
* Any event about a deal or a deal's task: the triggers listening for it in the deal's pipeline,
  and the waiting robots of that deal waiting for it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q

from voronka.activities.models import Task
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.deals.events import DEAL_CREATED, DEAL_STAGE_CHANGED
from voronka.deals.models import Deal
from voronka.kernel import clock
from voronka.kernel.bulk import insert_rows
from voronka.kernel.models import DomainEvent, EventDelivery
from voronka.kernel.outbox import position_for

ENTRY_EVENTS = frozenset({DEAL_CREATED.name, DEAL_STAGE_CHANGED.name})


@dataclass
class RuleBook:
    """The enabled robots and triggers, read once per batch of events (rules are few; events
    many): most events then cost the planner no query at all."""

    robots: dict[int, list[Rule]] = field(default_factory=dict)  # stage id → robots
    triggers: dict[str, list[Rule]] = field(default_factory=dict)  # event name → triggers
    awaited: frozenset[str] = frozenset()  # events some robot waits for
    # Runs planned in this batch, written together when the batch ends (or before anything
    # reads runs back): one INSERT per batch of events instead of one per event.
    planned: list[RuleRun] = field(default_factory=list)

    def flush(self) -> int:
        rows, self.planned = self.planned, []
        return _insert(rows)

    @classmethod
    def load(cls) -> RuleBook:
        book = cls()
        awaited = set()
        rules = Rule.objects.enabled().filter(kind__in=[RuleKind.ROBOT, RuleKind.TRIGGER])
        for rule in rules.select_related("stage").order_by("sort", "id"):
            if rule.kind == RuleKind.ROBOT and rule.stage_id is not None:
                book.robots.setdefault(rule.stage_id, []).append(rule)
                if rule.event:
                    awaited.add(rule.event)
            elif rule.kind == RuleKind.TRIGGER:
                book.triggers.setdefault(rule.event, []).append(rule)
        book.awaited = frozenset(awaited)
        return book


_book: contextvars.ContextVar[RuleBook | None] = contextvars.ContextVar(
    "voronka_rule_book", default=None
)


@contextmanager
def rules_for_batch(events: list[DomainEvent] | None = None) -> Iterator[RuleBook]:
    """The consumer's batch context: the rule book for the events of this batch only."""
    book = RuleBook.load()
    token = _book.set(book)
    try:
        yield book
        book.flush()  # in the batch's transaction, before the events' delivery marks
    finally:
        _book.reset(token)


def _rules() -> RuleBook:
    return _book.get() or RuleBook.load()


def _on_before(rules: list[Rule], event: DomainEvent) -> list[Rule]:
    """The rules that existed (switched on) when the event happened."""
    return [rule for rule in rules if event.pk > rule.since_event]


def event_key(event: DomainEvent) -> str:
    return f"e{event.pk}"


def deal_of(event: DomainEvent, payload: Any) -> tuple[int | None, int | None]:
    """(deal id, pipeline id) the event is about: the deal itself, or a task's deal."""
    if event.object_type == "deal":
        return event.object_id, getattr(payload, "pipeline", None)
    if event.object_type == "task":
        deal_id = getattr(payload, "deal", None)
        if deal_id is None:
            deal_id = (
                Task.objects.filter(pk=event.object_id).values_list("deal_id", flat=True).first()
            )
        if deal_id is None:
            return None, None
        pipeline = Deal.objects.filter(pk=deal_id).values_list("pipeline_id", flat=True).first()
        return deal_id, pipeline
    return None, None


def _run(
    rule: Rule, *, object_type: str, object_id: int, event: DomainEvent, **fields: Any
) -> RuleRun:
    return RuleRun(
        rule=rule,
        object_type=object_type,
        object_id=object_id,
        key=event_key(event),
        event_id=event.pk,
        depth=event.depth,
        created_at=clock.now(),
        **fields,
    )


def _entry_runs(event: DomainEvent, payload: Any, book: RuleBook) -> list[RuleRun]:
    stage_id = payload.stage
    entered_at: dt.datetime = payload.stage_entered_at
    if book.awaited:
        book.flush()  # the runs planned so far are among those this reads
        # Robots still waiting in the stage the deal left will not act (the executor checks too;
        # this keeps the waiting list short).
        RuleRun.objects.filter(
            object_type="deal", object_id=event.object_id, status=RunStatus.WAITING
        ).exclude(rule__stage_id=stage_id).update(
            status=RunStatus.SKIPPED,
            result={"skipped": "left_stage"},
            finished_at=clock.now(),
        )
    runs = []
    for rule in _on_before(book.robots.get(stage_id, []), event):
        waiting = bool(rule.event)
        runs.append(
            _run(
                rule,
                object_type="deal",
                object_id=event.object_id,
                event=event,
                status=RunStatus.WAITING if waiting else RunStatus.PENDING,
                due_at=entered_at + dt.timedelta(seconds=rule.delay_seconds),
                context={"stage": stage_id, "entered_at": entered_at.isoformat()},
            )
        )
    return runs


def _trigger_runs(
    event: DomainEvent, deal_id: int, pipeline_id: int | None, book: RuleBook
) -> list[RuleRun]:
    triggers = [
        rule
        for rule in _on_before(book.triggers.get(event.name, []), event)
        if pipeline_id is None
        or pipeline_id == rule.pipeline_id
        or (rule.stage is not None and pipeline_id == rule.stage.pipeline_id)
    ]
    return [
        _run(
            rule,
            object_type=event.object_type,
            object_id=event.object_id,
            event=event,
            due_at=event.occurred_at + dt.timedelta(seconds=rule.delay_seconds),
            context={"deal": deal_id},
        )
        for rule in triggers
    ]


def _wake_waiting(event: DomainEvent, deal_id: int) -> int:
    """Robots of the deal's stage waiting for this event run now (after their delay)."""
    woken = 0
    waiting = RuleRun.objects.filter(
        object_type="deal", object_id=deal_id, status=RunStatus.WAITING, rule__event=event.name
    ).select_related("rule")
    for run in waiting:
        run.status = RunStatus.PENDING
        run.due_at = event.occurred_at + dt.timedelta(seconds=run.rule.delay_seconds)
        run.context = {**run.context, "woken_by": event.pk}
        run.save(update_fields=["status", "due_at", "context"])
        woken += 1
    return woken


def plan(event: DomainEvent, payload: Any) -> int:
    """Write the runs this event owes. Returns how many were planned or woken."""
    book = _rules()
    runs: list[RuleRun] = []
    if event.name in ENTRY_EVENTS:
        runs.extend(_entry_runs(event, payload, book))
    listened = event.name in book.triggers
    awaited = event.name in book.awaited
    woken = 0
    if listened or awaited:
        deal_id, pipeline_id = deal_of(event, payload)
        if deal_id is not None:
            if listened:
                runs.extend(_trigger_runs(event, deal_id, pipeline_id, book))
            if awaited:
                book.flush()
                woken = _wake_waiting(event, deal_id)
    if _book.get() is book:
        book.planned.extend(runs)  # written when the batch ends
        return len(runs) + woken
    return _insert(runs) + woken


def runs_prune(*, older_than: dt.datetime, batch: int = 5000) -> int:
    """Delete finished runs planned for events, finished before `older_than`, once the planner
    has handled their event (passed it, or marked it delivered: it is never delivered to the
    planner again, so the ledger row no longer guards anything). A monitor's runs stay: its finder finds a lasting occurrence (a
    deal over its SLA) again at every sweep, and only the ledger keeps it from acting twice.
    Failed runs stay for the screen that lists them until they are finished."""
    passed = position_for("automation").position
    delivered = EventDelivery.objects.filter(consumer="automation", event_id=OuterRef("event_id"))
    finished = RuleRun.objects.filter(
        Q(event_id__lte=passed) | Q(Exists(delivered)),
        status__in=[RunStatus.DONE, RunStatus.SKIPPED],
        event_id__isnull=False,
        finished_at__lt=older_than,
    )
    deleted = 0
    while True:
        ids = list(finished.order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += RuleRun.objects.filter(id__in=ids).delete()[0]
        if len(ids) < batch:
            return deleted


def _insert(runs: Iterable[RuleRun]) -> int:
    rows = list(runs)
    if rows:
        # A second delivery of the event finds its runs there already: nothing doubles.
        insert_rows(rows, ignore_conflicts=True)
    return len(rows)
