"""Every write to tasks: create, complete, reschedule (with a reason), reassign.

Each call keeps the maintained counters (TaskDayCounter, Deal.open_tasks /
next_task_deadline, DealUserCounter.without_task) in step and writes the audit row and the
domain event in the same transaction. The notifications of a task given to someone else or of a
deadline moved by someone else are the `notifications` consumer of those events
(activities/consumers.py, run by the worker).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Min, QuerySet
from django.utils.translation import gettext as _

from voronka.activities.events import (
    TASK_COMPLETED,
    TASK_CREATED,
    TASK_OVERDUE,
    TASK_RESCHEDULED,
    TASK_UPDATED,
)
from voronka.activities.inputs import TASK, TASK_COMPLETE, TASK_RESCHEDULE
from voronka.activities.models import (
    OVERDUE_DUE,
    Notification,
    Task,
    TaskDayCounter,
    TaskDeadlineChange,
    TaskStatus,
    TaskType,
)
from voronka.contacts.interactions import client_interaction_record
from voronka.contacts.models import Company, Contact
from voronka.deals.counters import DealState, deal_states_changed, local_day
from voronka.deals.models import Deal
from voronka.identity.models import User
from voronka.identity.permissions import get_for_write, require_active
from voronka.identity.scopes import resolve_responsible, scope_filter, visible_user_ids
from voronka.kernel import clock, dates
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, audit_entry, audit_many, diff
from voronka.kernel.bulk import insert_rows, update_rows
from voronka.kernel.counters import upsert_add
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.events import Cause, caused_by, emit, emit_many, event_row
from voronka.kernel.fields import to_id, to_id_or_none
from voronka.kernel.inputs import EntityInput
from voronka.kernel.normalize import clean_text
from voronka.kernel.versions import check_version

# Derived from the one declaration (activities/inputs.py); kept as names for their importers.
TASK_INPUT = TASK.keys(creating=True)


def parse_deadline(raw: Any, *, field: str = "deadline") -> dt.datetime:
    value = dates.parse_moment(raw, field=field)
    if not dates.FIRST_DEADLINE <= value <= dates.LAST_DEADLINE:
        raise ValidationError({field: _("Дата вне допустимого диапазона")})
    return value.astimezone(dt.UTC)


def not_in_the_past(value: dt.datetime, *, field: str = "deadline") -> dt.datetime:
    """A deadline moved to: now or later (to the minute — a form picks whole minutes). Every
    reschedule (the API, the task form, the calendar) goes through task_reschedule and this."""
    if value < clock.now().replace(second=0, microsecond=0):
        raise ValidationError({field: _("Новый срок уже прошёл — выберите время в будущем")})
    return value


def _required_text(raw: Any, field: str, *, entity: EntityInput = TASK) -> str:
    """A required text of a task input, limited as its declaration says (activities/inputs)."""
    max_length = entity.max_length(field)
    if not isinstance(raw, str):
        raise ValidationError({field: _("Обязательное поле")})
    try:
        text = clean_text(raw, max_length=max_length)
    except ValueError as exc:
        raise ValidationError({field: str(exc)}) from None
    if not text:
        raise ValidationError({field: _("Обязательное поле: не может быть пустым")})
    return text


class _Links:
    """The deals, contacts and companies a batch of task inputs names, read once per model and
    acting user (each actor's scope applied), so a batch costs a query per model, not per task."""

    MODELS: dict[str, type[Any]] = {"deal": Deal, "contact": Contact, "company": Company}

    def __init__(self, requests: Sequence[NewTask]) -> None:
        wanted: dict[tuple[str, int | None], set[int]] = {}
        users: dict[int | None, User | None] = {}
        for request in requests:
            if not isinstance(request.data, Mapping):
                continue
            users[request.actor.user_id] = request.actor.user
            for field in self.MODELS:
                pk = to_id_or_none(request.data.get(field))
                if pk is not None:
                    wanted.setdefault((field, request.actor.user_id), set()).add(pk)
        self.found: dict[tuple[str, int | None], dict[int, Any]] = {}
        for (field, user_id), ids in wanted.items():
            qs = self.MODELS[field].objects.filter(pk__in=ids)
            user = users[user_id]
            if user is not None:
                qs = scope_filter(qs, user, field)
            self.found[(field, user_id)] = qs.in_bulk()

    def get(self, actor: Actor, raw: Any, field: str) -> Any:
        if raw in (None, ""):
            return None
        try:
            pk = to_id(raw)
        except ValueError:
            raise ValidationError({field: _("Ожидается номер")}) from None
        obj = self.found.get((field, actor.user_id), {}).get(pk)
        if obj is None:
            raise ValidationError({field: _("Не найдено или нет доступа")})
        return obj


def _track_task(task: Task, sign: int) -> None:
    _track_tasks([task], sign)


def _track_tasks(tasks: Sequence[Task], sign: int) -> None:
    """TaskDayCounter of open tasks: one upsert per (responsible, link, day) cell."""
    cells: dict[tuple[int, str, dt.date], int] = {}
    for task in tasks:
        if task.status == TaskStatus.OPEN:
            key = (task.responsible_id, task.link, local_day(task.deadline))
            cells[key] = cells.get(key, 0) + sign
    for (responsible, link, day), delta in sorted(cells.items()):
        upsert_add(TaskDayCounter, {"responsible": responsible, "link": link, "day": day}, delta)


def _refresh_deal(deal_id: int | None, delta: int) -> None:
    if deal_id is not None:
        _refresh_deals({deal_id: delta})


def _refresh_deals(deltas: Mapping[int, int]) -> None:
    """Keep Deal.open_tasks / next_task_deadline in step, and through them the deal counters
    ("needs a next task"): `deltas` is deal id → open tasks added (or removed)."""
    if not deltas:
        return
    # Locked in id order: two batches sharing deals never wait for each other crosswise.
    deals = list(
        Deal.objects.select_for_update()
        .filter(pk__in=deltas)
        .only("id", "next_task_deadline", *DealState.columns())  # all this reads and writes
        .order_by("pk")
    )
    nearest = dict(
        Task.objects.filter(deal_id__in=deltas, status=TaskStatus.OPEN)
        .order_by()
        .values("deal_id")
        .annotate(m=Min("deadline"))
        .values_list("deal_id", "m")
    )
    changes = []
    for deal in deals:
        before = DealState.of(deal)
        deal.open_tasks = max(0, before.open_tasks + deltas[deal.pk])
        deal.next_task_deadline = nearest.get(deal.pk)
        changes.append((before, replace(before, open_tasks=deal.open_tasks)))
    update_rows(deals, ["open_tasks", "next_task_deadline"])
    deal_states_changed(changes)


def _subject(task: Task) -> str:
    # `x is not None` reads no row when the id is empty, like `x_id` did.
    if task.deal is not None:
        return task.deal.title
    if task.company is not None:
        return task.company.name
    if task.contact is not None:
        return task.contact.full_name
    return ""


@dataclass(frozen=True)
class NewTask:
    """One task to create: the input as task_create takes it, who creates it, and (a batch of
    automation runs) the cause its event names."""

    actor: Actor
    data: Mapping[str, Any]
    cause: Cause | None = None


def task_create(*, actor: Actor, data: Mapping[str, Any]) -> Task:
    return tasks_create([NewTask(actor, data)])[0]


@transaction.atomic
def tasks_create(requests: Sequence[NewTask]) -> list[Task]:
    """Create tasks, each checked as task_create checks it; all or none (the first refused input
    raises its ValidationError). The reads, the counters, the audit rows and the events of the
    batch are written a statement per kind, not per task (the automation's robots create tasks
    by the hundred)."""
    for request in requests:
        require_active(request.actor)
    links = _Links(requests)
    responsibles = _Responsibles(requests)
    rows: list[tuple[NewTask, Task, Deal | None]] = []
    now = clock.now()
    for request in requests:
        cleaned = _cleaned(request, links, responsibles)
        deal: Deal | None = cleaned["deal"]
        task = Task(created_by=request.actor.user, created_at=now, updated_at=now, **cleaned)
        if deal is not None and cleaned["company"] is None:
            task.company_id = deal.company_id
        rows.append((request, task, deal))
    tasks = [task for _request, task, _deal in rows]
    insert_rows(tasks)
    _track_tasks(tasks, +1)
    opened: dict[int, int] = {}
    for task in tasks:
        if task.deal_id is not None:
            opened[task.deal_id] = opened.get(task.deal_id, 0) + 1
    _refresh_deals(opened)
    entries = []
    events = []
    for request, task, deal in rows:
        actor = request.actor
        entries.append(
            audit_entry(actor=actor, obj=task, action="created", changes=diff({}, _snapshot(task)))
        )
        if deal is not None:
            entries.append(
                audit_entry(
                    actor=actor,
                    obj=deal,
                    action="task_created",
                    # The type as its code: the timeline shows its label in the reader's language.
                    changes={"task": [None, {"type": task.type, "comment": task.comment[:100]}]},
                )
            )
        cause = request.cause
        # Each task's event names its own cause (the run that created it), not the batch's.
        with caused_by(cause.causation_id, depth=cause.depth) if cause else nullcontext():
            events.append(event_row(TASK_CREATED, obj=task, actor=actor, payload=_payload(task)))
    audit_many(entries)
    emit_many(events)
    return tasks


class _Responsibles:
    """The responsibles a batch names, read in one query (resolve_responsible checks each)."""

    def __init__(self, requests: Sequence[NewTask]) -> None:
        ids = {
            pk
            for request in requests
            if isinstance(request.data, Mapping)
            and (pk := to_id_or_none(request.data.get("responsible"))) is not None
        }
        self.users = User.objects.in_bulk(ids) if ids else {}
        # One User per acting person in the batch: their scopes are cached on that object (the
        # runs of a batch carry copies of the same owner).
        self.acting: dict[int | None, User | None] = {}

    def get(self, actor: Actor, raw: Any) -> User:
        if raw in (None, ""):
            raise ValidationError({"responsible": _("Обязательное поле")})
        pk = to_id_or_none(raw)
        # A bool, an unknown id: resolve_responsible gives its own error.
        known = self.users.get(pk) if pk is not None and not isinstance(raw, bool) else None
        user = self.acting.setdefault(actor.user_id, actor.user)
        return resolve_responsible(user, "task", known if known is not None else raw)


def _cleaned(request: NewTask, links: _Links, responsibles: _Responsibles) -> dict[str, Any]:
    actor, data = request.actor, request.data
    if not isinstance(data, Mapping):
        raise ValidationError({"body": _("Ожидается объект")})
    errors: dict[str, str] = {k: _("Поле нельзя изменить") for k in set(data) - TASK_INPUT}
    cleaned: dict[str, Any] = {}
    checks = [
        ("type", lambda: _task_type(data.get("type"))),
        ("deadline", lambda: parse_deadline(data.get("deadline"))),
        ("comment", lambda: _required_text(data.get("comment"), "comment")),
        ("responsible", lambda: responsibles.get(actor, data.get("responsible"))),
        ("deal", lambda: links.get(actor, data.get("deal"), "deal")),
        ("contact", lambda: links.get(actor, data.get("contact"), "contact")),
        ("company", lambda: links.get(actor, data.get("company"), "company")),
    ]
    for key, check in checks:
        try:
            cleaned[key] = check()
        except ValidationError as exc:
            errors.update(exc.errors)
    if not errors and not (cleaned["deal"] or cleaned["contact"] or cleaned["company"]):
        errors["deal"] = _("Задача привязывается к сделке, контакту или компании")
    if errors:
        raise ValidationError(errors)
    return cleaned


def _task_responsible(actor: Actor, raw: Any) -> User:
    if raw in (None, ""):
        raise ValidationError({"responsible": _("Обязательное поле")})
    return resolve_responsible(actor.user, "task", raw)


def _task_type(raw: Any) -> str:
    if raw not in TaskType.values:
        raise ValidationError({"type": _("Тип задачи: call, meeting, email или other")})
    return raw


def _snapshot(task: Task) -> dict[str, Any]:
    return {
        "type": task.type,
        "responsible": task.responsible_id,
        "deadline": task.deadline,
        "comment": task.comment,
        "status": task.status,
        "deal": task.deal_id,
        "contact": task.contact_id,
        "company": task.company_id,
    }


def _payload(task: Task) -> dict[str, Any]:
    return {
        "responsible": task.responsible_id,
        "deadline": task.deadline,
        "deal": task.deal_id,
        "type": task.type,
        "status": task.status,
    }


def task_get_for_write(*, actor: Actor, task_id: int) -> Task:
    """Lock a task the actor may act on, or NotFound (outside the scope it does not exist)."""
    return get_for_write(
        Task.objects.all(), actor=actor, entity="task", pk=task_id, message=_("Задача не найдена")
    )


def _client_interaction(task: Task, at: dt.datetime) -> None:
    """A task done (a call, a meeting, an e-mail…) is an interaction with its client: the
    company it is on, or its contact's, or its deal's."""
    if task.company_id is not None:
        client_interaction_record(company_id=task.company_id, at=at)
    elif task.contact_id is not None:
        client_interaction_record(contact_id=task.contact_id, at=at)
    elif task.deal is not None:
        client_interaction_record(company_id=task.deal.company_id, at=at)


@transaction.atomic
def task_complete(
    *,
    task: Task,
    actor: Actor,
    result: Any,
    version: Any = None,
    next_task: Mapping[str, Any] | None = None,
) -> tuple[Task, Task | None]:
    """Complete with a result. Returns (task, next task created in the same transaction)."""
    task = task_get_for_write(actor=actor, task_id=task.pk)
    check_version(task.version, version)
    if task.status == TaskStatus.DONE:
        raise ApplicationError(_("Задача уже выполнена"), code=ErrorCode.CONFLICT)
    text = _required_text(result, "result", entity=TASK_COMPLETE)
    _track_task(task, -1)
    now = clock.now()
    Task.objects.filter(pk=task.pk).update(
        status=TaskStatus.DONE,
        result=text,
        completed_at=now,
        completed_by=actor.user,
        updated_at=now,
        version=F("version") + 1,
    )
    task.refresh_from_db()
    _refresh_deal(task.deal_id, -1)
    _client_interaction(task, now)
    audit(
        actor=actor,
        obj=task,
        action="completed",
        changes={"status": ["open", "done"], "result": [None, text]},
    )
    if task.deal is not None:
        audit(
            actor=actor,
            obj=task.deal,
            action="task_completed",
            changes={"task": [task.comment[:100], text[:200]]},
        )
    emit(TASK_COMPLETED, obj=task, actor=actor, payload=_payload(task))
    created = None
    if next_task:
        data = dict(next_task)
        for link in ("deal", "contact", "company"):
            data.setdefault(link, getattr(task, f"{link}_id"))
        try:
            created = task_create(actor=actor, data=data)
        except ValidationError as exc:
            raise ValidationError({f"next_task.{k}": v for k, v in exc.errors.items()}) from None
    return task, created


@transaction.atomic
def task_reschedule(
    *, task: Task, actor: Actor, deadline: Any, reason: Any, version: Any = None
) -> Task:
    task = task_get_for_write(actor=actor, task_id=task.pk)
    check_version(task.version, version)
    errors: dict[str, str] = {}
    new_deadline = reason_text = None
    try:
        new_deadline = not_in_the_past(parse_deadline(deadline))
    except ValidationError as exc:
        errors.update(exc.errors)
    try:
        reason_text = _required_text(reason, "reason", entity=TASK_RESCHEDULE)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    assert new_deadline is not None and reason_text is not None
    if task.status != TaskStatus.OPEN:
        raise ApplicationError(_("Срок выполненной задачи не переносится"), code=ErrorCode.CONFLICT)
    if new_deadline == task.deadline:
        raise ValidationError({"deadline": _("Новый срок совпадает с текущим")})
    old_deadline = task.deadline
    _track_task(task, -1)
    now = clock.now()
    Task.objects.filter(pk=task.pk).update(
        deadline=new_deadline, updated_at=now, version=F("version") + 1
    )
    task.refresh_from_db()
    _track_task(task, +1)
    _refresh_deal(task.deal_id, 0)
    TaskDeadlineChange.objects.create(
        task=task,
        old_deadline=old_deadline,
        new_deadline=new_deadline,
        reason=reason_text,
        by=actor.user,
        actor_kind=str(actor.kind),
        at=now,
    )
    changes = {"deadline": [old_deadline, new_deadline], "reason": [None, reason_text]}
    audit(actor=actor, obj=task, action="rescheduled", changes=changes)
    if task.deal is not None:
        audit(
            actor=actor,
            obj=task.deal,
            action="task_rescheduled",
            changes={"task_deadline": [old_deadline, new_deadline], "reason": [None, reason_text]},
        )
    emit(TASK_RESCHEDULED, obj=task, actor=actor, payload={**_payload(task), "reason": reason_text})
    return task


TASK_PATCH = TASK.keys(creating=False)


@transaction.atomic
def task_update(*, task: Task, actor: Actor, data: Mapping[str, Any]) -> Task:
    """Type, comment and responsible (reassign). The deadline moves only with a reason."""
    task = task_get_for_write(actor=actor, task_id=task.pk)
    if not isinstance(data, Mapping):
        raise ValidationError({"body": _("Ожидается объект")})
    if "deadline" in data:
        raise ValidationError(
            {"deadline": _("Срок переносится через перенос с причиной (reschedule)")}
        )
    errors: dict[str, str] = {k: _("Поле нельзя изменить") for k in set(data) - TASK_PATCH}
    if errors:
        raise ValidationError(errors)
    check_version(task.version, data.get("version"))
    if task.status != TaskStatus.OPEN:
        raise ApplicationError(_("Выполненную задачу изменить нельзя"), code=ErrorCode.CONFLICT)
    cleaned: dict[str, Any] = {}
    if "type" in data:
        cleaned["type"] = _task_type(data["type"])
    if "comment" in data:
        cleaned["comment"] = _required_text(data["comment"], "comment")
    if "responsible" in data:
        cleaned["responsible"] = _task_responsible(actor, data["responsible"])
    before = _snapshot(task)
    reassigned = "responsible" in cleaned and cleaned["responsible"].pk != task.responsible_id
    if reassigned:
        _track_task(task, -1)
    for key, value in cleaned.items():
        setattr(task, key, value)
    task.updated_at = clock.now()
    task.version = F("version") + 1
    task.save()
    task.refresh_from_db()
    if reassigned:
        _track_task(task, +1)
    changes = diff(before, _snapshot(task))
    if changes:
        audit(actor=actor, obj=task, action="updated", changes=changes)
        emit(TASK_UPDATED, obj=task, actor=actor, payload={**_payload(task), "changes": changes})
    return task


# A task overdue for longer when the sweep first sees it (the worker was down for days, tasks
# imported with old deadlines, the first sweep after an upgrade) is not announced: a trigger on
# task.overdue must not move a year's deals at once.
OVERDUE_WINDOW = dt.timedelta(days=3)
OVERDUE_BATCH = 1000


def tasks_overdue_emit(
    *, now: dt.datetime | None = None, batch: int = OVERDUE_BATCH, rounds: int = 1000
) -> int:
    """`task.overdue` for every open task whose deadline has passed (within OVERDUE_WINDOW) and
    has not had its event: once per task and deadline. A batch's tasks get their marker
    (`overdue_for` = the deadline) and their events in one transaction — a sweep killed midway
    leaves no event without its marker, nor a marker without its event. Two sweeps at once:
    PostgreSQL locks the batch's rows (`FOR UPDATE SKIP LOCKED`: the other sweep takes other
    tasks, and re-reads a row it waited for with its marker set), SQLite's write transaction
    serialises them. Set-based: per batch one indexed SELECT (task_overdue_due_idx holds only the
    tasks still owed an event), one UPDATE, one INSERT of the events. Returns the events
    emitted."""
    now = now or clock.db_now()
    actor = Actor.system()
    emitted = 0
    for _round in range(rounds):
        with transaction.atomic(), caused_by(f"job:tasks_overdue:{now.isoformat()}"[:96]):
            due = tasks_overdue_due(now)
            if connection.vendor == "postgresql":
                due = due.select_for_update(skip_locked=True, of=("self",))
            tasks = list(
                due.only("id", "responsible_id", "deadline", "deal_id", "type", "status")[:batch]
            )
            if not tasks:
                break
            overdue_mark([task.pk for task in tasks])
            emit_many(
                [
                    event_row(TASK_OVERDUE, obj=task, actor=actor, payload=_payload(task))
                    for task in tasks
                ]
            )
        emitted += len(tasks)
        if len(tasks) < batch:
            break
    return emitted


def tasks_overdue_due(now: dt.datetime) -> QuerySet[Task]:
    """The open tasks owed a task.overdue now, oldest deadline first (task_overdue_due_idx)."""
    return Task.objects.filter(
        OVERDUE_DUE, deadline__lt=now, deadline__gte=now - OVERDUE_WINDOW
    ).order_by("deadline", "id")


def overdue_mark(task_ids: list[int]) -> int:
    """The idempotency marker of tasks_overdue_emit: these tasks' current deadline has had its
    event (a negative control switches it off)."""
    return Task.objects.filter(pk__in=task_ids).update(overdue_for=F("deadline"))


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=[pk for pk in ids if 0 < pk < 2**63])  # others cannot exist
    return qs.update(read_at=clock.now())


def visible_responsibles(user: User) -> list[int] | None:
    return visible_user_ids(user, "task")
