"""Every write to tasks: create, complete, reschedule (with a reason), reassign.

Each call keeps the maintained counters (TaskDayCounter, Deal.open_tasks /
next_task_deadline, DealUserCounter.without_task) in step, writes the audit row, the domain
event and the notifications in the same transaction; e-mails go out after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils.translation import gettext as _

from voronka.activities.models import (
    Notification,
    NotificationKind,
    Task,
    TaskDayCounter,
    TaskDeadlineChange,
    TaskStatus,
    TaskType,
)
from voronka.contacts.models import Company, Contact
from voronka.deals.counters import local_day, track_task_count_change
from voronka.deals.models import Deal
from voronka.identity.models import User
from voronka.identity.scopes import resolve_responsible, scope_filter, visible_user_ids
from voronka.kernel import clock, dates
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff, emit, jsonable
from voronka.kernel.counters import upsert_add
from voronka.kernel.errors import ApplicationError, Conflict, ErrorCode, NotFound, ValidationError
from voronka.kernel.fields import to_id, to_int
from voronka.kernel.normalize import clean_text

TASK_INPUT = {"type", "responsible", "deadline", "comment", "deal", "contact", "company"}
# A switch for the negative control of the concurrent-reschedule test. Never set outside tests.
VERSION_CHECK_DISABLED = False


def parse_deadline(raw: Any, *, field: str = "deadline") -> dt.datetime:
    value = dates.parse_moment(raw, field=field)
    if not (
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC) <= value <= dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    ):
        raise ValidationError({field: _("Дата вне допустимого диапазона")})
    return value.astimezone(dt.UTC)


def not_in_the_past(value: dt.datetime, *, field: str = "deadline") -> dt.datetime:
    """A deadline moved to: now or later (to the minute — a form picks whole minutes). Every
    reschedule (the API, the task form, the calendar) goes through task_reschedule and this."""
    if value < clock.now().replace(second=0, microsecond=0):
        raise ValidationError({field: _("Новый срок уже прошёл — выберите время в будущем")})
    return value


def _required_text(raw: Any, field: str, *, max_length: int = 5000) -> str:
    if not isinstance(raw, str):
        raise ValidationError({field: _("Обязательное поле")})
    try:
        text = clean_text(raw, max_length=max_length)
    except ValueError as exc:
        raise ValidationError({field: str(exc)}) from None
    if not text:
        raise ValidationError({field: _("Обязательное поле: не может быть пустым")})
    return text


def _linked(actor: Actor, model: type, raw: Any, field: str, entity: str) -> Any:
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
    """Keep Deal.open_tasks / next_task_deadline and the without-task counter in step."""
    if deal_id is None:
        return
    deal = Deal.objects.select_for_update().get(pk=deal_id)
    before = deal.open_tasks
    after = max(0, before + delta)
    next_deadline = Task.objects.filter(deal_id=deal_id, status=TaskStatus.OPEN).aggregate(
        m=Min("deadline")
    )["m"]
    Deal.objects.filter(pk=deal_id).update(open_tasks=after, next_task_deadline=next_deadline)
    deal.open_tasks = after
    track_task_count_change(deal, before, after)


def _notify(
    *, user: User, kind: str, task: Task, message: str, values: dict[str, Any], key: str = ""
) -> Notification | None:
    """Idempotent by (user, kind, task, key); e-mail is sent after commit by the worker. The
    text is rendered when read, in the reader's language (activities.notifications)."""
    from voronka.activities.notifications import text_for

    values = jsonable(values)
    text = text_for(user, message, values)
    if Notification.objects.filter(user=user, kind=kind, task=task, dedup_key=key).exists():
        return None
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin loses on the unique key
            notification = Notification.objects.create(
                user=user,
                kind=kind,
                task=task,
                deal_id=task.deal_id,
                text=text[:500],
                params={"message": message, "values": values},
                dedup_key=key,
            )
    except IntegrityError:
        return None
    transaction.on_commit(lambda: _enqueue_email(notification.pk))
    return notification


def _enqueue_email(notification_id: int) -> None:
    from voronka.activities.jobs import send_notification_email

    send_notification_email.enqueue(notification_id)


def _subject(task: Task) -> str:
    if task.deal_id:
        return task.deal.title
    if task.company_id:
        return task.company.name
    if task.contact_id:
        return task.contact.full_name
    return ""


@transaction.atomic
def task_create(*, actor: Actor, data: Mapping[str, Any]) -> Task:
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
    emit(name="task.created", obj=task, actor=actor, payload=_payload(task))
    if actor.user is None or task.responsible_id != actor.user_id:
        _notify(
            user=task.responsible,
            kind=NotificationKind.TASK_ASSIGNED,
            task=task,
            message="task_new",
            values={"comment": task.comment[:200]},
        )
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
    qs = Task.objects.select_for_update().filter(pk=task_id)
    if actor.user is not None:
        qs = scope_filter(qs, actor.user, "task")
    task = qs.first()
    if task is None:
        raise NotFound(_("Задача не найдена"))
    return task


def _check_version(task: Task, version: Any) -> None:
    if version is None or VERSION_CHECK_DISABLED:
        return
    try:
        expected = to_int(version)
    except ValueError:
        raise ValidationError({"version": _("Ожидается целое число")}) from None
    if expected != task.version:
        raise Conflict(current_version=task.version)


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
    _check_version(task, version)
    if task.status == TaskStatus.DONE:
        raise ApplicationError(_("Задача уже выполнена"), code=ErrorCode.CONFLICT)
    text = _required_text(result, "result")
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
    if task.deal_id:
        audit(
            actor=actor,
            obj=task.deal,
            action="task_completed",
            changes={"task": [task.comment[:100], text[:200]]},
        )
    emit(name="task.completed", obj=task, actor=actor, payload=_payload(task))
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
    _check_version(task, version)
    errors: dict[str, str] = {}
    new_deadline = reason_text = None
    try:
        new_deadline = not_in_the_past(parse_deadline(deadline))
    except ValidationError as exc:
        errors.update(exc.errors)
    try:
        reason_text = _required_text(reason, "reason", max_length=2000)
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
    if task.deal_id:
        audit(
            actor=actor,
            obj=task.deal,
            action="task_rescheduled",
            changes={"task_deadline": [old_deadline, new_deadline], "reason": [None, reason_text]},
        )
    emit(name="task.rescheduled", obj=task, actor=actor, payload=_payload(task))
    if actor.user_id != task.responsible_id:
        _notify(
            user=task.responsible,
            kind=NotificationKind.DEADLINE_MOVED,
            task=task,
            key=f"{now.timestamp():.0f}",
            message="deadline_moved",
            values={"when": new_deadline, "reason": reason_text[:200]},
        )
    return task


TASK_PATCH = {"type", "comment", "responsible", "version"}


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
    _check_version(task, data.get("version"))
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
        emit(name="task.updated", obj=task, actor=actor, payload=_payload(task))
    if reassigned and actor.user_id != task.responsible_id:
        _notify(
            user=task.responsible,
            kind=NotificationKind.TASK_ASSIGNED,
            task=task,
            key=f"reassign-{task.version}",
            message="task_reassigned",
            values={"comment": task.comment[:200]},
        )
    return task


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=[pk for pk in ids if 0 < pk < 2**63])  # others cannot exist
    return qs.update(read_at=clock.now())


def visible_responsibles(user: User) -> list[int] | None:
    return visible_user_ids(user, "task")
