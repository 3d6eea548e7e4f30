"""Consumers of the outbox (issue 8, "Events with consumers"; decision 0012): each consumer keeps
its own position, sees every event once, fails alone; the handler's effects and its mark commit
together; a late-committed event below a handled one is not skipped; a cascade is bounded; the
`notifications` consumer writes what the services used to write inline; the REAL worker
(`voronka worker` subprocesses on the test database) runs the consumers.

Effects of the test consumers are Comment rows (object_type "effect", object_id = event id,
text = consumer name): a table without a unique key, so a doubled effect would show."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError
from django.utils import timezone

from factories import make_company
from voronka.activities.models import Comment, Notification, NotificationKind, Task
from voronka.activities.tasks_services import task_create
from voronka.contacts.events import COMPANY_CREATED, COMPANY_UPDATED
from voronka.kernel import clock, events, outbox
from voronka.kernel.actor import Actor
from voronka.kernel.events import Consumer, emit, register_consumer, unregister_consumer
from voronka.kernel.models import ConsumerPosition, DomainEvent, EventDelivery
from voronka.kernel.outbox import events_dispatch, head, positions_ensure
from workers import VORONKA, start_worker, stop, wait_for, worker_env


def effects(name: str) -> Counter[int]:
    return Counter(
        Comment.objects.filter(object_type="effect", text=name).values_list("object_id", flat=True)
    )


def write_effect(name: str) -> Callable[[DomainEvent, Any], None]:
    def handler(event: DomainEvent, payload: Any) -> None:
        Comment.objects.create(object_type="effect", object_id=event.pk, text=name)

    return handler


@pytest.fixture
def register() -> Iterator[Callable[..., Consumer]]:
    """register(name, handler, *event_types): a consumer for this test only, starting now."""
    names: list[str] = []

    def make(name: str, handler: Callable[[DomainEvent, Any], None], *types: Any) -> Consumer:
        item = register_consumer(name, types or (COMPANY_CREATED, COMPANY_UPDATED), handler)
        names.append(name)
        positions_ensure([name])
        return item

    yield make
    for name in names:
        unregister_consumer(name)


@pytest.fixture
def company(personas: Any) -> Any:
    return make_company(responsible=personas["a1"].user, name="ООО Потребитель")


def changed(company: Any, n: int) -> list[DomainEvent]:
    return [
        emit(COMPANY_UPDATED, obj=company, actor=Actor.system(), payload={"changes": {"n": [i, i]}})
        for i in range(n)
    ]


def position(name: str) -> ConsumerPosition:
    return ConsumerPosition.objects.get(consumer=name)


# --- independent positions, failures that stay with their consumer -------------------------------


@pytest.mark.django_db
def test_two_consumers_keep_their_own_positions_and_a_failure_blocks_only_its_own(
    register: Any, company: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {"on": True}
    failing: dict[str, int] = {}

    def flaky(event: DomainEvent, payload: Any) -> None:
        Comment.objects.create(object_type="effect", object_id=event.pk, text="test.flaky")
        if broken["on"] and event.pk == failing.get("id"):  # fails after writing its effect
            raise RuntimeError("flaky handler")

    register("test.flaky", flaky)
    register("test.recorder", write_effect("test.recorder"))
    e1, e2, e3 = changed(company, 3)
    failing["id"] = e2.pk  # the second event fails

    with caplog.at_level(logging.ERROR, logger="voronka.kernel.outbox"):
        report = events_dispatch()
    assert report.handled["test.recorder"] == 3 and report.handled["test.flaky"] == 1
    assert report.failed == {"test.flaky": e2.pk}
    assert f"consumer test.flaky failed on event {e2.pk} (company.updated)" in caplog.text
    assert effects("test.recorder") == Counter({e1.pk: 1, e2.pk: 1, e3.pk: 1})
    assert effects("test.flaky") == Counter({e1.pk: 1})  # the failed event's effect rolled back
    assert position("test.recorder").position == e3.pk
    flaky_row = position("test.flaky")
    assert flaky_row.position < e2.pk and flaky_row.failed_event_id == e2.pk
    assert "flaky handler" in flaky_row.last_error and flaky_row.retry_at > timezone.now()

    # Within the pause the failing consumer is left alone; the other has nothing new.
    again = events_dispatch()
    assert again.handled == {
        "automation": 0,
        "notifications": 0,
        "test.flaky": 0,
        "test.recorder": 0,
    }

    broken["on"] = False
    retried = events_dispatch(respect_backoff=False)
    assert retried.handled["test.flaky"] == 2 and retried.handled["test.recorder"] == 0
    assert effects("test.flaky") == Counter({e1.pk: 1, e2.pk: 1, e3.pk: 1})
    assert effects("test.recorder") == Counter({e1.pk: 1, e2.pk: 1, e3.pk: 1})
    healed = position("test.flaky")
    assert healed.position == e3.pk and healed.failures == 0 and healed.retry_at is None
    assert not EventDelivery.objects.filter(consumer__startswith="test.").exists()  # passed


@pytest.mark.django_db
def test_negative_control_an_uncontained_failure_stops_the_other_consumer(
    register: Any, company: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a failure were not kept to its consumer (re-raised), the consumer after it in the round
    would get nothing — what the test above would see."""

    def fail(event: DomainEvent, payload: Any) -> None:
        raise RuntimeError("always")

    def reraise(name: str, event_id: int, exc: BaseException) -> None:
        raise exc

    register("test.a_failing", fail)
    register("test.recorder", write_effect("test.recorder"))
    changed(company, 2)
    monkeypatch.setattr(outbox, "_record_failure", reraise)
    with pytest.raises(RuntimeError):
        events_dispatch()
    assert effects("test.recorder") == Counter()


# --- one transaction: effects and the mark -------------------------------------------------------


def _fail_first_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """The record that the consumer handled the events (its position or marks) fails once."""
    real = outbox._record_handled
    calls = {"n": 0}

    def record(item: Any, row: Any, event_ids: list[int]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise DatabaseError("the mark could not be written")
        real(item, row, event_ids)

    monkeypatch.setattr(outbox, "_record_handled", record)


@pytest.mark.django_db
def test_the_effect_and_the_mark_commit_together_so_a_redelivery_does_not_repeat_it(
    register: Any, company: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    register("test.once", write_effect("test.once"))
    (event,) = changed(company, 1)
    _fail_first_mark(monkeypatch)
    assert events_dispatch("test.once").failed == {"test.once": event.pk}
    assert effects("test.once") == Counter()  # rolled back with the missing mark
    assert events_dispatch("test.once", respect_backoff=False).handled["test.once"] == 1
    assert events_dispatch("test.once", respect_backoff=False).handled["test.once"] == 0
    assert effects("test.once") == Counter({event.pk: 1})


@pytest.mark.django_db
def test_negative_control_effects_outside_the_transaction_are_repeated(
    register: Any, company: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    register("test.once", write_effect("test.once"))
    (event,) = changed(company, 1)
    _fail_first_mark(monkeypatch)
    monkeypatch.setattr(outbox, "transaction", SimpleNamespace(atomic=nullcontext))
    events_dispatch("test.once")
    events_dispatch("test.once", respect_backoff=False)
    assert effects("test.once") == Counter({event.pk: 2})  # the same count sees the double


@pytest.mark.django_db
def test_a_stale_delivery_is_recognised_under_the_lock_and_the_unique_mark_is_the_last_guard(
    register: Any, company: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers read the same pending list; the one that comes second finds the event handled
    (checked under the lock) and does nothing. With that check off, the unique mark refuses the
    second delivery and its effect rolls back."""
    item = register("test.once", write_effect("test.once"))
    (event,) = changed(company, 1)
    stale = outbox._pending(item, position("test.once").position, 10)
    events_dispatch("test.once")
    assert [e.pk for e in stale] == [event.pk]
    ConsumerPosition.objects.filter(consumer="test.once").update(position=0)  # marks decide
    EventDelivery.objects.get_or_create(consumer="test.once", event_id=event.pk)
    assert outbox._deliver(item, stale[0]) is False
    assert effects("test.once") == Counter({event.pk: 1})

    monkeypatch.setattr(outbox, "_handled_among", lambda row, event_ids: set())
    with pytest.raises(IntegrityError):
        outbox._deliver(item, stale[0])
    assert effects("test.once") == Counter({event.pk: 1})


# --- ids that commit out of order ----------------------------------------------------------------


def _row(pk: int, company: Any, *, age: dt.timedelta = dt.timedelta(0)) -> DomainEvent:
    """An event with a chosen id: what a transaction that took `pk` commits (maybe late)."""
    return DomainEvent.objects.create(
        id=pk,
        name="company.updated",
        object_type="company",
        object_id=company.pk,
        payload={"changes": {}},
        actor_kind="system",
        recorded_at=timezone.now() - age,
    )


@pytest.fixture
def gaps(register: Any, company: Any) -> SimpleNamespace:
    """A consumer at position `base`; event base+2 is visible, base+1 is still "in flight"."""
    seen: list[int] = []
    register("test.gaps", lambda event, payload: seen.append(event.pk))
    base = head() + 1000  # above any id the sequence has handed out in this test
    ConsumerPosition.objects.filter(consumer="test.gaps").update(position=base)
    _row(base + 2, company)
    return SimpleNamespace(base=base, seen=seen, company=company)


@pytest.mark.django_db
def test_events_handled_in_order_move_the_position_and_leave_no_mark(
    register: Any, company: Any
) -> None:
    register("test.once", write_effect("test.once"))
    written = changed(company, 3)
    assert events_dispatch("test.once").handled["test.once"] == 3
    assert position("test.once").position >= written[-1].pk
    assert not EventDelivery.objects.filter(consumer="test.once").exists()


@pytest.mark.django_db
def test_an_event_committed_late_below_a_handled_one_is_not_skipped(gaps: Any) -> None:
    base = gaps.base
    events_dispatch("test.gaps")
    assert gaps.seen == [base + 2]  # handled at once: the gap does not hold it up
    assert position("test.gaps").position == base  # but the position waits at the young gap
    # ...so the handled event above it is marked (and the mark goes once the position passes).
    assert list(
        EventDelivery.objects.filter(consumer="test.gaps").values_list("event_id", flat=True)
    ) == [base + 2]
    _row(base + 1, gaps.company)  # the late commit
    events_dispatch("test.gaps")
    assert gaps.seen == [base + 2, base + 1]
    assert position("test.gaps").position == base + 2
    assert not EventDelivery.objects.filter(consumer="test.gaps").exists()
    events_dispatch("test.gaps")
    assert gaps.seen == [base + 2, base + 1]  # each once


@pytest.mark.django_db
def test_negative_control_without_the_gap_wait_the_late_event_is_skipped(
    gaps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "gap_is_settled", lambda after, now: True)
    events_dispatch("test.gaps")
    assert position("test.gaps").position == gaps.base + 2  # moved over the gap at once
    _row(gaps.base + 1, gaps.company)
    events_dispatch("test.gaps")
    assert gaps.seen == [gaps.base + 2]  # the late event is lost: what the test above guards


@pytest.mark.django_db
def test_an_old_gap_is_a_rolled_back_transaction_and_is_passed(register: Any, company: Any) -> None:
    seen: list[int] = []
    register("test.gaps", lambda event, payload: seen.append(event.pk))
    base = head() + 1000
    ConsumerPosition.objects.filter(consumer="test.gaps").update(position=base)
    old = outbox.LATE_COMMIT_HORIZON + dt.timedelta(seconds=5)
    _row(base + 3, company, age=old)  # base+1 and base+2 never commit
    _row(base + 4, company)
    events_dispatch("test.gaps")
    assert seen == [base + 3, base + 4]
    assert position("test.gaps").position == base + 4
    assert not EventDelivery.objects.filter(consumer="test.gaps").exists()


# --- causation through the consumers, and the cascade bound --------------------------------------


@pytest.mark.django_db
def test_an_event_emitted_by_a_consumer_names_its_cause_and_a_cascade_stops_at_the_bound(
    register: Any, company: Any
) -> None:
    def echo(event: DomainEvent, payload: Any) -> None:  # every change causes another
        emit(COMPANY_UPDATED, obj=company, actor=Actor.system(), payload={"changes": {}})

    register("test.echo", echo, COMPANY_UPDATED)
    (start,) = changed(company, 1)
    failures = []
    for _round in range(events.MAX_DEPTH + 3):
        failures.append(events_dispatch("test.echo", respect_backoff=False).failed)
    chain = list(DomainEvent.objects.filter(name="company.updated", id__gte=start.pk))
    assert [e.depth for e in chain] == list(range(events.MAX_DEPTH + 1))
    for parent, child in zip(chain, chain[1:], strict=False):
        assert child.causation_id == f"event:{parent.pk}"
    assert failures[-1] == {"test.echo": chain[-1].pk}  # the event at the bound cannot echo


@pytest.mark.django_db
def test_negative_control_without_the_bound_the_cascade_goes_on(
    register: Any, company: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "MAX_DEPTH", 1000)

    def echo(event: DomainEvent, payload: Any) -> None:
        emit(COMPANY_UPDATED, obj=company, actor=Actor.system(), payload={"changes": {}})

    register("test.echo", echo, COMPANY_UPDATED)
    (start,) = changed(company, 1)
    for _round in range(12):
        events_dispatch("test.echo")
    depths = DomainEvent.objects.filter(name="company.updated", id__gte=start.pk)
    assert max(e.depth for e in depths) == 12 > 8


# --- the notifications consumer ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_web_process_writes_no_notification_the_notifications_consumer_does_once(
    api: Any, records: Any, personas: Any
) -> None:
    a1 = personas["a1"].user
    response = api("head_a").post_json(
        "/api/v1/tasks",
        {
            "type": "call",
            "responsible": a1.pk,
            "deadline": (clock.now() + dt.timedelta(days=1)).isoformat(),
            "comment": "Позвонить по счёту",
            "company": records["a1"].company.pk,
        },
    )
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    mine = Notification.objects.filter(user=a1, task_id=task_id)
    assert not mine.exists()  # nothing inline in the request
    assert events_dispatch("notifications").handled["notifications"] == 1
    events_dispatch("notifications")
    assert [(n.kind, n.params["message"]) for n in mine] == [
        (NotificationKind.TASK_ASSIGNED, "task_new")
    ]
    event = DomainEvent.objects.get(name="task.created", object_id=task_id)
    # Handled — the position itself may wait at a gap: PostgreSQL keeps its id sequence
    # between tests, so the first event of a test sits after ids no one will commit.
    assert outbox.is_handled("notifications", event.pk)
    assert event.causation_id.startswith("request:") and event.depth == 0


@pytest.mark.django_db
def test_the_notifications_consumer_leaves_out_ones_own_acts_and_vanished_tasks(
    records: Any, personas: Any
) -> None:
    a1 = personas["a1"].user
    before = Notification.objects.count()
    data = {
        "type": "call",
        "responsible": a1.pk,
        "deadline": (clock.now() + dt.timedelta(days=1)).isoformat(),
        "comment": "Сам себе",
        "company": records["a1"].company.pk,
    }
    task_create(actor=Actor.for_user(a1), data=data)  # one's own task
    gone = task_create(actor=Actor.for_user(personas["head_a"].user), data=data)
    Task.objects.filter(pk=gone.pk).delete()  # gone before the worker got to it
    report = events_dispatch("notifications")
    assert report.handled["notifications"] == 2 and not report.failed
    assert Notification.objects.count() == before


# --- the real worker -----------------------------------------------------------------------------


# Ids from 1, as on a new database: a flushed test database keeps its id sequence, so the
# first event would sit after a gap the position waits LATE_COMMIT_HORIZON to pass.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_real_worker_hands_events_to_the_notifications_consumer_once(
    personas: Any, tmp_path: Path
) -> None:
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    assert VORONKA.exists(), VORONKA
    a1, head_a = personas["a1"].user, personas["head_a"].user
    company = make_company(responsible=a1, name="ООО Воркер")
    data = {
        "type": "call",
        "responsible": a1.pk,
        "deadline": (clock.now() + dt.timedelta(days=2)).isoformat(),
        "company": company.pk,
    }
    given = [
        task_create(actor=Actor.for_user(head_a), data={**data, "comment": f"Задача {i}"})
        for i in range(3)
    ]
    task_create(actor=Actor.for_user(a1), data={**data, "comment": "Своя"})
    last = DomainEvent.objects.filter(name="task.created").latest("id")
    assigned = Notification.objects.filter(user=a1, kind=NotificationKind.TASK_ASSIGNED)
    assert not assigned.exists()

    env = worker_env(tmp_path / "data")
    # Control: a worker without the dispatcher runs its jobs (the schedule's sweep) and writes
    # no notification — it is the dispatcher that does.
    quiet = start_worker("no-events", env, tmp_path, "--no-events")
    try:
        swept = DBTaskResult.objects.filter(
            task_path__endswith="sweep_monitors", status=TaskResultStatus.SUCCESSFUL
        )
        waited = wait_for(swept.exists, 90, [quiet])
        assert swept.exists(), f"no job ran in {waited:.0f}s"
        time.sleep(2.0)
        assert not assigned.exists()
    finally:
        stop(quiet)

    workers = [start_worker(f"events-{i}", env, tmp_path) for i in (1, 2)]
    try:

        def done() -> bool:
            row = ConsumerPosition.objects.filter(consumer="notifications").first()
            return assigned.count() >= 3 and row is not None and row.position >= last.pk

        waited = wait_for(done, 90, workers)
        time.sleep(2.0)  # room for a duplicate to show up
    finally:
        for worker in workers:
            stop(worker)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log"))
    assert done(), f"not delivered within {waited:.0f}s\n{logs}"
    assert sorted(n.task_id for n in assigned) == sorted(t.pk for t in given), logs
    assert not EventDelivery.objects.filter(consumer="notifications").exists()
    assert position("notifications").failures == 0
