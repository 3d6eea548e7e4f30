"""Domain events: the typed catalogue, `emit()` into the outbox, causation and consumers.

* Each app declares the events it emits in its own `events.py` with `declare(name, Payload,
  description=…, emitted_by=…)`; the kernel imports no app (decision 0012). Services pass the
  declared `EventType` object to `emit()`, never a string: an unknown name is a NameError at
  import, a type that was not declared is refused, and the payload is validated (strict JSON
  semantics, no unknown keys) against its schema before the row is written.
* Every event carries its cause: `causation_id` ("request:<id>", "event:<id>", "job:<name>:…")
  and `depth` (0 for a person's request; an event emitted while a consumer handles event E has
  depth E.depth + 1). The cause comes from `caused_by()` / `handling()` (a contextvar), else from
  the actor's request id. A cascade deeper than MAX_DEPTH is refused.
* Consumers register by name for a list of event types (`@consumer(name, EVENT, …)` in the
  consuming app's `consumers.py`, discovered at start-up by `discover()`). Delivery — each
  consumer with its own position — is `voronka.kernel.outbox.events_dispatch`, run by the worker.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

if TYPE_CHECKING:
    from django.db import models

    from voronka.kernel.actor import Actor
    from voronka.kernel.models import DomainEvent

NAME_RE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
MAX_DEPTH = 8  # a robot moving a deal that triggers a robot … stops here (the event is refused)
# Every app's events first (a consumer may take any declared event), then the rest.
# `relinks`: what each app moves when two clients merge (contacts.relinks, decision 0021).
DISCOVERED_MODULES = ("events", "consumers", "jobs", "actions", "monitors", "relinks")


class EventError(TypeError):
    """A programming error at an emit() call: unknown type, bad payload, runaway cascade."""


class EventPayload(BaseModel):
    """Base of every payload schema: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoPayload(EventPayload):
    """An event whose row says everything (name, object, actor)."""


@dataclass(frozen=True, eq=False)
class EventType:
    name: str
    payload: type[EventPayload]
    description: str
    emitted_by: str
    module: str

    def __repr__(self) -> str:
        return f"<EventType {self.name}>"

    def parse(self, data: Mapping[str, Any]) -> EventPayload:
        """The stored (JSON) payload as its typed model."""
        return self.payload.model_validate_json(json.dumps(data))


EVENTS: dict[str, EventType] = {}


def declare(
    name: str, payload: type[EventPayload] = NoPayload, *, description: str, emitted_by: str
) -> EventType:
    """Add an event type to the catalogue (called at import of an app's `events.py`)."""
    if not NAME_RE.match(name) or len(name) > 64:
        raise ImproperlyConfigured(f"event name {name!r}: expected 'object.verb', ≤ 64 chars")
    if name in EVENTS:
        raise ImproperlyConfigured(f"event {name!r} is declared twice")
    if not (isinstance(payload, type) and issubclass(payload, EventPayload)):
        raise ImproperlyConfigured(f"event {name!r}: payload must subclass EventPayload")
    if not description.strip() or "\n" in description:
        raise ImproperlyConfigured(f"event {name!r}: a one-line description is required")
    module = sys._getframe(1).f_globals.get("__name__", "")
    event = EventType(name, payload, description.strip(), emitted_by, module)
    EVENTS[name] = event
    return event


# --- causation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    causation_id: str
    depth: int


_cause: contextvars.ContextVar[Cause | None] = contextvars.ContextVar(
    "voronka_event_cause", default=None
)


@contextmanager
def caused_by(causation_id: str, *, depth: int = 0) -> Iterator[Cause]:
    """Events emitted inside the block name this cause ("job:<name>:<period>", …)."""
    cause = Cause(causation_id[:96], depth)
    token = _cause.set(cause)
    try:
        yield cause
    finally:
        _cause.reset(token)


def handling(event: DomainEvent) -> AbstractContextManager[Cause]:
    """The cause of whatever a consumer emits while it handles `event`."""
    return caused_by(f"event:{event.pk}", depth=event.depth + 1)


def current_cause(actor: Actor) -> Cause:
    cause = _cause.get()
    if cause is not None:
        return cause
    if actor.request_id:
        return Cause(f"request:{actor.request_id}"[:96], 0)
    return Cause("", 0)


# --- emit ---------------------------------------------------------------------------------------


def validated_payload(event: EventType, payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload as it is stored (JSON values), refused unless it matches the schema."""
    from voronka.kernel.audit import jsonable

    data = jsonable(dict(payload or {}))
    try:
        event.payload.model_validate_json(json.dumps(data))
    except PydanticValidationError as exc:
        raise EventError(f"{event.name}: payload does not match its schema: {exc}") from None
    except TypeError as exc:  # a value JSON cannot hold
        raise EventError(f"{event.name}: payload is not JSON: {exc}") from None
    return data


def emit(
    event: EventType,
    *,
    obj: models.Model,
    actor: Actor,
    payload: Mapping[str, Any] | None = None,
) -> DomainEvent:
    """Write a declared event to the outbox, in the caller's transaction."""
    from voronka.kernel.models import DomainEvent

    row = DomainEvent(**event_row(event, obj=obj, actor=actor, payload=payload)._asdict())
    row.save(force_insert=True)
    return row


def emit_many(rows: list[EventRow]) -> None:
    """Write events built by event_row in one statement, in the caller's transaction (a batch
    service's)."""
    from voronka.kernel.bulk import insert_values
    from voronka.kernel.models import DomainEvent

    insert_values(DomainEvent, EventRow._fields, rows)


class EventRow(NamedTuple):
    """An outbox row not written yet, as plain values: a batch writes thousands (an import's
    contacts), and a model object each was a tenth of the import's CPU."""

    name: str
    object_type: str
    object_id: int
    payload: dict[str, Any]
    actor_kind: str
    actor_user_id: int | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    causation_id: str
    depth: int


def event_row(
    event: EventType,
    *,
    obj: models.Model,
    actor: Actor,
    payload: Mapping[str, Any] | None = None,
) -> EventRow:
    """A declared event checked against its schema and its cascade depth, not written yet."""
    from django.utils import timezone

    from voronka.kernel import clock

    if not isinstance(event, EventType) or EVENTS.get(event.name) is not event:
        raise EventError(f"emit() takes a declared EventType, not {event!r}")
    data = validated_payload(event, payload)
    cause = current_cause(actor)
    if cause.depth > MAX_DEPTH:
        raise EventError(
            f"{event.name}: cascade depth {cause.depth} > {MAX_DEPTH} ({cause.causation_id})"
        )
    return EventRow(
        name=event.name,
        object_type=obj._meta.model_name or "",
        object_id=obj.pk,
        payload=data,
        actor_kind=str(actor.kind),
        actor_user_id=actor.user_id,
        occurred_at=clock.now(),  # the model's defaults
        recorded_at=timezone.now(),
        causation_id=cause.causation_id,
        depth=cause.depth,
    )


# --- consumers ----------------------------------------------------------------------------------

Handler = Callable[["DomainEvent", Any], None]
BatchContext = Callable[[list["DomainEvent"]], AbstractContextManager[object]]


@dataclass(frozen=True, eq=False)
class Consumer:
    name: str
    events: tuple[EventType, ...]
    handler: Handler
    description: str
    module: str
    # A context around each batch, in its transaction, around the handler's calls for its events,
    # given the batch's events: the automation reads its rules once per batch instead of once per
    # event and writes the batch's runs together; the notifications read their tasks together.
    on_batch: BatchContext | None = None

    @cached_property  # read per event when the position moves on
    def names(self) -> frozenset[str]:
        return frozenset(e.name for e in self.events)


CONSUMERS: dict[str, Consumer] = {}


def register_consumer(
    name: str,
    events: Iterable[EventType],
    handler: Handler,
    *,
    description: str = "",
    on_batch: BatchContext | None = None,
) -> Consumer:
    """Register `handler(event_row, typed_payload)` for `events` under a unique name (its
    position in the outbox is kept under that name: renaming a consumer starts it afresh)."""
    types = tuple(events)
    if not name or len(name) > 64:
        raise ImproperlyConfigured(f"consumer name {name!r}: 1–64 characters")
    if name in CONSUMERS:
        raise ImproperlyConfigured(f"consumer {name!r} is registered twice")
    if not types:
        raise ImproperlyConfigured(f"consumer {name!r} consumes no event")
    for event in types:
        if not isinstance(event, EventType) or EVENTS.get(event.name) is not event:
            raise ImproperlyConfigured(f"consumer {name!r}: {event!r} is not a declared event")
    doc = description or (handler.__doc__ or "").strip().split("\n\n")[0]
    item = Consumer(
        name=name,
        events=types,
        handler=handler,
        description=" ".join(doc.split()),
        module=getattr(handler, "__module__", ""),
        on_batch=on_batch,
    )
    CONSUMERS[name] = item
    return item


def unregister_consumer(name: str) -> None:
    """Tests only: take a consumer registered by the test away again."""
    CONSUMERS.pop(name, None)


def consumer(
    name: str, *events: EventType, description: str = "", on_batch: BatchContext | None = None
) -> Callable[[Handler], Handler]:
    """Decorator form of register_consumer (in an app's `consumers.py`)."""

    def register(handler: Handler) -> Handler:
        register_consumer(name, events, handler, description=description, on_batch=on_batch)
        return handler

    return register


def consumers_of(event: EventType) -> list[Consumer]:
    return [c for c in CONSUMERS.values() if event.name in c.names]


# --- discovery ----------------------------------------------------------------------------------


def discover() -> None:
    """Import `events`, then `consumers`, `jobs`, `actions`, `monitors` and `relinks` of every
    Voronka app (KernelConfig.ready): the catalogue, the consumers, the periodic jobs, the
    automation's actions and monitors and the merge's relinkers are complete before anything
    runs."""
    from django.apps import apps

    names = [a.name for a in apps.get_app_configs() if a.name.startswith("voronka.")]
    for module in DISCOVERED_MODULES:
        for app in names:
            dotted = f"{app}.{module}"
            if importlib.util.find_spec(dotted) is not None:
                importlib.import_module(dotted)
