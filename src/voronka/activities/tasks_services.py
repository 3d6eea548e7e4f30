"""Every write to tasks: create, complete, reschedule (with a reason), reassign.

Each call keeps the maintained counters (TaskDayCounter, Deal.open_tasks /
next_task_deadline, DealUserCounter.without_task) in step and writes the audit row and the
domain event in the same transaction. The notifications of a task given to someone else or of a
deadline moved by someone else are the `notifications` consumer of those events
(activities/consumers.py, run by the worker).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.db.models import F, Min
from django.utils.translation import gettext as _

from voronka.activities.events import (
    TASK_COMPLETED,
    TASK_CREATED,
    TASK_RESCHEDULED,
    TASK_UPDATED,
)
from voronka.activities.inputs import TASK, TASK_COMPLETE, TASK_RESCHEDULE
from voronka.activities.models import (
    Notification,
    Task,
    TaskDayCounter,
    TaskDeadlineChange,
    TaskStatus,
    TaskType,
)
from voronka.contacts.models import Company, Contact
from voronka.deals.counters import DealState, deal_state_changed, local_day
from voronka.deals.models import Deal
from voronka.identity.models import User
from voronka.identity.permissions import get_for_write, require_active
from voronka.identity.scopes import resolve_responsible, scope_filter, visible_user_ids
from voronka.kernel import clock, dates
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff
from voronka.kernel.counters import upsert_add
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.events import emit
from voronka.kernel.fields import to_id
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


def _linked(actor: Actor, model: type[Any], raw: Any, field: str, entity: str) -> Any:
    if raw in (None, ""):
        return None
    try:
        pk = to_id(raw)
    except ValueError:
        raise ValidationError({field: _("Ожидается номер")}) from None
    qs = model.objects.filter(pk=pk)
    if actor.user is not None:
        qs = scope_filter(qs, actor.user, entity)
    obj = qs.first()
    if obj is None:
        raise ValidationError({field: _("Не найдено или нет доступа")})
    return obj


def _track_task(task: Task, sign: int) -> None:
    if task.status == TaskStatus.OPEN:
        upsert_add(
            TaskDayCounter,
            {
                "responsible": task.responsible_id,
                "link": task.link,
                "day": local_day(task.deadline),
            },
            sign,
        )


def _refresh_deal(deal_id: int | None, delta: int) -> None:
    """Keep Deal.open_tasks / next_task_deadline in step, and through them the deal counters
    ("needs a next task")."""
    if deal_id is None:
        return
    deal = Deal.objects.select_for_update().get(pk=deal_id)
    before = DealState.of(deal)
    after = max(0, before.open_tasks + delta)
    next_deadline = Task.objects.filter(deal_id=deal_id, status=TaskStatus.OPEN).aggregate(
        m=Min("deadline")
    )["m"]
    Deal.objects.filter(pk=deal_id).update(open_tasks=after, next_task_deadline=next_deadline)
    deal_state_changed(before, replace(before, open_tasks=after))


def _subject(task: Task) -> str:
    # `x is not None` reads no row when the id is empty, like `x_id` did.
    if task.deal is not None:
        return task.deal.title
    if task.company is not None:
        return task.company.name
    if task.contact is not None:
        return task.contact.full_name
    return ""


@transaction.atomic
def task_create(*, actor: Actor, data: Mapping[str, Any]) -> Task:
    require_active(actor)
    if not isinstance(data, Mapping):
        raise ValidationError({"body": _("Ожидается объект")})
    errors: dict[str, str] = {k: _("Поле нельзя изменить") for k in set(data) - TASK_INPUT}
    cleaned: dict[str, Any] = {}
    checks = [
        ("type", lambda: _task_type(data.get("type"))),
        ("deadline", lambda: parse_deadline(data.get("deadline"))),
        ("comment", lambda: _required_text(data.get("comment"), "comment")),
        ("responsible", lambda: _task_responsible(actor, data.get("responsible"))),
        ("deal", lambda: _linked(actor, Deal, data.get("deal"), "deal", "deal")),
        ("contact", lambda: _linked(actor, Contact, data.get("contact"), "contact", "contact")),
        ("company", lambda: _linked(actor, Company, data.get("company"), "company", "company")),
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
    deal: Deal | None = cleaned["deal"]
    if deal is not None and cleaned["company"] is None:
        cleaned["company"] = deal.company
    now = clock.now()
    task = Task.objects.create(created_by=actor.user, created_at=now, updated_at=now, **cleaned)
    _track_task(task, +1)
    _refresh_deal(task.deal_id, +1)
    audit(actor=actor, obj=task, action="created", changes=diff({}, _snapshot(task)))
    if deal is not None:
        audit(
            actor=actor,
            obj=deal,
            action="task_created",
            # The type as its code: the timeline shows its label in the reader's language.
            changes={"task": [None, {"type": task.type, "comment": task.comment[:100]}]},
        )
    emit(TASK_CREATED, obj=task, actor=actor, payload=_payload(task))
    return task


def _task_type(raw: Any) -> str:
    if raw not in TaskType.values:
        raise ValidationError({"type": _("Тип задачи: call, meeting, email или other")})
    return raw


def _task_responsible(actor: Actor, raw: Any) -> User:
    if raw in (None, ""):
        raise ValidationError({"responsible": _("Обязательное поле")})
    return resolve_responsible(actor.user, "task", raw)


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


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=[pk for pk in ids if 0 < pk < 2**63])  # others cannot exist
    return qs.update(read_at=clock.now())


def visible_responsibles(user: User) -> list[int] | None:
    return visible_user_ids(user, "task")
