"""Delivering the outbox to its consumers (run by `voronka worker`, never by the web process).

Each consumer has a ConsumerPosition (a low-water mark) and EventDelivery marks for the events it
handled above it. A batch of events is handled per transaction: the handlers' effects and the
record that they were handled — the position moved over them, or (for events it cannot pass yet:
above a gap, or after an event still to handle) their marks — commit together, so an effect
happens once however often delivery is attempted (at-least-once delivery, exactly-once effect).
A failing handler rolls back (its batch is then handled one event per transaction), is logged with
the event id, leaves the event unhandled for a retry after a pause, and does not hold up the other
consumers.

Ids are taken at insert but transactions commit in any order (PostgreSQL sequences), so an event
can become visible after one with a higher id. A consumer therefore handles every unmarked event
above its position, and the position only moves over a gap in the ids (an id not visible yet)
once the event after the gap was written more than LATE_COMMIT_HORIZON ago: a gap that old is a
rolled-back transaction (sequences keep those gaps for ever), not one still to commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, Max, Min, OuterRef
from django.utils import timezone

from voronka.kernel.events import CONSUMERS, EVENTS, Consumer, handling
from voronka.kernel.models import ConsumerPosition, DomainEvent, EventDelivery

logger = logging.getLogger(__name__)

LATE_COMMIT_HORIZON = dt.timedelta(minutes=5)
ADVANCE_SCAN = 2000  # ids looked at per step when the position moves on
MAX_RETRY_PAUSE = dt.timedelta(minutes=5)
BATCH = 100  # events handled per transaction (each in its own savepoint)


@dataclass
class DispatchReport:
    handled: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)  # consumer → the event id that failed

    @property
    def total(self) -> int:
        return sum(self.handled.values())


# --- positions ----------------------------------------------------------------------------------


def head() -> int:
    """The highest event id written (0: none)."""
    return DomainEvent.objects.aggregate(m=Max("id"))["m"] or 0


def position_for(name: str) -> ConsumerPosition:
    """The consumer's position row. A consumer seen for the first time starts after the events
    already written: installing a consumer does not replay the history to it."""
    row = ConsumerPosition.objects.filter(consumer=name).first()
    if row is not None:
        return row
    row, _created = ConsumerPosition.objects.get_or_create(
        consumer=name, defaults={"position": head()}
    )
    return row


def positions_ensure(names: Iterable[str] | None = None) -> None:
    for name in sorted(CONSUMERS) if names is None else names:
        position_for(name)


def positions_ensure_after_migrate(**kwargs: Any) -> None:
    """post_migrate of the kernel app: every registered consumer has its position row from the
    moment the schema is in place (so the events written after `migrate` all reach it)."""
    using = kwargs.get("using", "default")
    if using != "default" or ConsumerPosition._meta.db_table not in (
        connection.introspection.table_names()
    ):
        return
    positions_ensure()


# --- dispatch -----------------------------------------------------------------------------------


def events_dispatch(
    consumer: str | None = None, *, limit: int = 500, respect_backoff: bool = True
) -> DispatchReport:
    """Hand every consumer (or one) up to `limit` events it has not handled yet."""
    report = DispatchReport()
    names = [consumer] if consumer is not None else sorted(CONSUMERS)
    for name in names:
        item = CONSUMERS[name]
        handled, failed = _dispatch_one(item, limit=limit, respect_backoff=respect_backoff)
        report.handled[name] = handled
        if failed is not None:
            report.failed[name] = failed
    return report


def _pending(item: Consumer, position: int, limit: int) -> list[DomainEvent]:
    marked = EventDelivery.objects.filter(consumer=item.name, event_id=OuterRef("pk"))
    return list(
        DomainEvent.objects.filter(id__gt=position, name__in=item.names)
        .filter(~Exists(marked))
        .order_by("id")[:limit]
    )


def _dispatch_one(item: Consumer, *, limit: int, respect_backoff: bool) -> tuple[int, int | None]:
    row = position_for(item.name)
    if respect_backoff and row.retry_at is not None and row.retry_at > timezone.now():
        return 0, None
    handled = 0
    failed: int | None = None
    pending = _pending(item, row.position, limit)
    for start in range(0, len(pending), BATCH):
        done, failure = _deliver_batch(item, pending[start : start + BATCH])
        handled += done
        if failure is not None:
            event, exc = failure
            logger.error(
                "consumer %s failed on event %s (%s)",
                item.name,
                event.pk,
                event.name,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            _record_failure(item.name, event.pk, exc)
            failed = event.pk
            break  # the next round retries it, in order, after the pause
    if failed is None and (handled or row.failures):
        _clear_failure(item.name)
    if not handled:  # else each batch has moved the position as far as it could
        advance(item)
    return handled, failed


def _deliver_batch(
    item: Consumer, events: list[DomainEvent]
) -> tuple[int, tuple[DomainEvent, Exception] | None]:
    """Handle events in order in ONE transaction with their marks: a batch commits once instead
    of once per event (the automation's throughput). When a handler fails, the whole batch rolls
    back and is handled again one event per transaction, so the events before the failing one
    commit and the failure is that event's."""
    try:
        with transaction.atomic():
            # The row lock serialises the consumer across worker processes (on SQLite the write
            # transaction itself does).
            row = ConsumerPosition.objects.select_for_update().get(consumer=item.name)
            done = _handled_among(row, [e.pk for e in events])
            todo = [e for e in events if e.pk not in done]  # others: handled by another worker
            with item.on_batch(todo) if todo and item.on_batch is not None else nullcontext():
                for event in todo:
                    payload = EVENTS[event.name].parse(event.payload)
                    with handling(event):
                        item.handler(event, payload)
            _record_handled(item, row, [e.pk for e in todo])
        return len(todo), None
    except Exception as exc:
        if len(events) == 1:
            return 0, (events[0], exc)
    handled = 0
    for event in events:
        one, failure = _deliver_batch(item, [event])
        handled += one
        if failure is not None:
            return handled, failure
    return handled, None


def _deliver(item: Consumer, event: DomainEvent) -> bool:
    """Handle one event (a batch of one). False: handled meanwhile elsewhere."""
    handled, failure = _deliver_batch(item, [event])
    if failure is not None:
        raise failure[1]
    return handled == 1


def _handled_among(row: ConsumerPosition, event_ids: list[int]) -> set[int]:
    """Checked under the lock: which of these events the consumer has handled (another worker
    may have since the list was read)."""
    done = {i for i in event_ids if i <= row.position}
    rest = [i for i in event_ids if i > row.position]
    if rest:
        done |= set(
            EventDelivery.objects.filter(consumer=row.consumer, event_id__in=rest).values_list(
                "event_id", flat=True
            )
        )
    return done


def _already_handled(row: ConsumerPosition, event_id: int) -> bool:
    return event_id in _handled_among(row, [event_id])


def is_handled(consumer: str, event_id: int) -> bool:
    """Whether the consumer has handled the event (at or below its position, or marked)."""
    return _already_handled(position_for(consumer), event_id)


def _record_handled(item: Consumer, row: ConsumerPosition, event_ids: list[int]) -> None:
    """The consumer handled the events, in the handler's transaction (under the position row's
    lock). The position moves over what it can at once (events handled in order: the usual
    case); only the events it cannot pass yet — above a gap, or after an event still to handle
    — are marked, so no mark is written only for the next advance to delete it."""
    if not event_ids:
        return
    position = _advance_locked(item, row, handled=event_ids)
    _mark(item.name, [pk for pk in event_ids if pk > position])


def _mark(name: str, event_ids: list[int]) -> None:
    """The consumer handled the events: unique per (consumer, event), in the handler's
    transaction — a second delivery that got this far fails here and its effects roll back."""
    EventDelivery.objects.bulk_create(
        [EventDelivery(consumer=name, event_id=event_id) for event_id in event_ids]
    )


def _record_failure(name: str, event_id: int, exc: BaseException) -> None:
    try:
        with transaction.atomic():
            row = ConsumerPosition.objects.select_for_update().get(consumer=name)
            row.failures = (row.failures if row.failed_event_id == event_id else 0) + 1
            row.failed_event_id = event_id
            row.last_error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            pause = min(dt.timedelta(seconds=2 ** min(row.failures, 16)), MAX_RETRY_PAUSE)
            row.retry_at = timezone.now() + pause
            row.updated_at = timezone.now()
            row.save()
    except DatabaseError:  # the failure is in the log already; the next round tries again
        logger.exception("could not record the failure of consumer %s", name)


def _clear_failure(name: str) -> None:
    ConsumerPosition.objects.filter(consumer=name).update(
        failures=0, failed_event_id=None, last_error="", retry_at=None
    )


def gap_is_settled(after: DomainEvent | Any, now: dt.datetime) -> bool:
    """A gap in the ids before `after` (an event written after the missing id was taken) can be
    passed once `after` is older than the horizon: by then the missing transaction has
    committed (and was handled) or rolled back."""
    return after.recorded_at <= now - LATE_COMMIT_HORIZON


@dataclass
class _Row:
    id: int
    name: str

    @property
    def recorded_at(self) -> dt.datetime:
        """Read only at a gap (rare): the scan reads ids and names, not a moment per row."""
        return DomainEvent.objects.values_list("recorded_at", flat=True).get(pk=self.id)


def advance(item: Consumer) -> int:
    """Move the consumer's position over handled events, events not for it and settled gaps;
    drop the marks it no longer needs. Returns the position."""
    current = ConsumerPosition.objects.filter(consumer=item.name).values_list("position", flat=True)
    known = current.first()
    if known is not None and not DomainEvent.objects.filter(id__gt=known).exists():
        return known  # at the head: no write transaction (SQLite would lock the file for it)
    with transaction.atomic():
        row = ConsumerPosition.objects.select_for_update().get(consumer=item.name)
        return _advance_locked(item, row)


def _advance_locked(item: Consumer, row: ConsumerPosition, *, handled: Iterable[int] = ()) -> int:
    """advance() under the position row's lock, in the caller's transaction; `handled`: events
    the caller has just handled in it (not marked). One of them at or below the position, or
    marked already, was handled before: IntegrityError rolls this second delivery back (the last
    guard after the check under the lock, as the unique mark is for the events still marked)."""
    start = position = row.position
    just = set(handled)
    stale = False  # marks read that the position may now have passed
    if just and min(just) <= position:
        raise IntegrityError(f"consumer {item.name}: event {min(just)} was handled before")
    now = timezone.now()
    while True:
        rows = [
            _Row(*values)
            for values in DomainEvent.objects.filter(id__gt=position)
            .order_by("id")
            .values_list("id", "name")[:ADVANCE_SCAN]
        ]
        if not rows:
            break
        marked = set(
            EventDelivery.objects.filter(
                consumer=item.name,
                event_id__gt=position,
                event_id__lte=max(rows[-1].id, max(just, default=0)),
            ).values_list("event_id", flat=True)
        )
        stale = stale or bool(marked)
        if twice := marked & just:
            raise IntegrityError(f"consumer {item.name}: event {min(twice)} was handled before")
        marked |= just
        moved = position
        for event in rows:
            if event.id != moved + 1 and not gap_is_settled(event, now):
                break
            if event.name in item.names and event.id not in marked:
                break
            moved = event.id
        stopped = moved != rows[-1].id
        position = moved
        if stopped or len(rows) < ADVANCE_SCAN:
            break
    if position != start:
        row.position = position
        row.updated_at = now
        row.save(update_fields=["position", "updated_at"])
        if stale:
            EventDelivery.objects.filter(consumer=item.name, event_id__lte=position).delete()
    return position


# --- pruning ------------------------------------------------------------------------------------


def passed_by_every_consumer() -> int:
    """The lowest position of the registered consumers: every event at or below it has been
    handled by each (or was not for it). Positions of consumers no longer registered do not
    hold events back."""
    if not CONSUMERS:
        return head()  # no consumer: nobody is owed any event
    positions_ensure()
    positions = ConsumerPosition.objects.filter(consumer__in=list(CONSUMERS))
    return positions.aggregate(m=Min("position"))["m"] or 0


def events_prune(*, older_than: dt.datetime, batch: int = 5000) -> int:
    """Delete events written before `older_than` that every registered consumer has passed.
    Nothing reads the outbox as history (the timeline and the audit screens read AuditEntry)."""
    passed = passed_by_every_consumer()
    deleted = 0
    while True:
        ids = list(
            DomainEvent.objects.filter(id__lte=passed, recorded_at__lt=older_than)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += DomainEvent.objects.filter(id__in=ids).delete()[0]
        if len(ids) < batch:
            return deleted
