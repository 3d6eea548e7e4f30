"""Notification texts, rendered when they are read, in the reader's language.

A notification stores which message it is and its values (`Notification.params`: the task's
comment, the deadline as an ISO date-time, the reason…), never only a finished sentence: a text
built at write time comes out in the language of whoever caused it (an English-speaking manager
reassigning a task to a Russian-speaking colleague, a worker without a request) and keeps the
server's time zone. The screens, the API and the e-mail call `notification_text`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from voronka.activities.models import Notification, Task
from voronka.kernel.audit import jsonable
from voronka.kernel.bulk import insert_rows

MESSAGES = {
    "task_new": gettext_noop("Новая задача: %(comment)s"),
    "task_reassigned": gettext_noop("Вам передана задача: %(comment)s"),
    "task_overdue": gettext_noop("Просрочена задача (срок %(when)s): %(comment)s"),
    "task_overdue_head": gettext_noop("%(user)s просрочил задачу (срок %(when)s): %(comment)s"),
    "deadline_moved": gettext_noop("Срок задачи перенесён на %(when)s: %(reason)s"),
    # A robot's or monitor's own text, written by whoever configured it (automation notify).
    "rule_text": gettext_noop("%(text)s"),
}
# Values that are moments: stored as ISO 8601, shown in the reader's zone.
MOMENTS = ("when",)


def _shown(key: str, value: Any) -> str:
    if key in MOMENTS and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return moment.strftime("%d.%m.%Y %H:%M")
    return str(value)


def render_message(message: str, values: dict[str, Any]) -> str:
    """One of MESSAGES in the active language with `values` filled in."""
    template = _(MESSAGES[message])
    return template % {k: _shown(k, v) for k, v in values.items()}


def notification_text(notification: Notification) -> str:
    """The text in the active language; rows written before `params` existed keep their text."""
    params = notification.params or {}
    message = params.get("message")
    if message not in MESSAGES:
        return notification.text
    try:
        return render_message(message, params.get("values") or {})
    except (KeyError, TypeError, ValueError):
        return notification.text


def text_for(user: Any, message: str, values: dict[str, Any]) -> str:
    """The stored fallback text: the message in the recipient's language."""
    with translation.override(getattr(user, "language", "") or settings.LANGUAGE_CODE):
        return render_message(message, values)


# --- writes ------------------------------------------------------------------------------------


def notify(
    *,
    user: Any,
    kind: str,
    task: Task | None,
    message: str,
    values: dict[str, Any],
    key: str = "",
    deal_id: int | None = None,
    email: bool = True,
) -> Notification | None:
    """Idempotent by (user, kind, task, key) for a task's notification, and by (user, kind, key)
    for one without a task when it has a key (an automation run's: "run:<id>"); e-mail is sent
    after commit by the worker unless `email` is False. The text is rendered when read, in the reader's language (`notification_text`).
    Called by the `notifications` consumer (activities/consumers.py) and the automation's
    notify action and overdue monitors."""
    values = jsonable(values)
    text = text_for(user, message, values)
    if (task is not None or key) and Notification.objects.filter(
        user=user, kind=kind, task=task, dedup_key=key
    ).exists():
        return None
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin loses on the unique key
            notification = Notification.objects.create(
                user=user,
                kind=kind,
                task=task,
                deal_id=task.deal_id if task is not None else deal_id,
                text=text[:500],
                params={"message": message, "values": values},
                dedup_key=key,
            )
    except IntegrityError:
        return None
    if email:
        transaction.on_commit(lambda: _enqueue_email(notification.pk))
    return notification


def notify_many(items: list[dict[str, Any]]) -> int:
    """notify(**item) for each item, the ones without e-mail written in one statement (a batch
    of robots' tasks, a robot's notification to a role); the same deduplication (the unique key
    drops a twin; without a task, the key read first). Returns how many notifications were
    written."""
    written = 0
    quiet = []
    for item in items:
        if item.get("email", True) or (item.get("task") is None and not item.get("key")):
            written += notify(**item) is not None
        else:
            quiet.append(item)
    if not quiet:
        return written
    tasks = [item["task"] for item in quiet if item["task"] is not None]
    seen: set[tuple[int, str, int | None, str]] = set(
        Notification.objects.filter(
            Q(task__in=tasks)
            | Q(task__isnull=True, dedup_key__in={i.get("key", "") for i in quiet}),
            user__in=[item["user"] for item in quiet],
        ).values_list("user_id", "kind", "task_id", "dedup_key")
    )
    rows = []
    for item in quiet:
        user, task, key = item["user"], item["task"], item.get("key", "")
        identity = (user.pk, item["kind"], task.pk if task is not None else None, key)
        if identity in seen:
            continue
        seen.add(identity)
        values = jsonable(item["values"])
        rows.append(
            Notification(
                user=user,
                kind=item["kind"],
                task=task,
                deal_id=task.deal_id if task is not None else item.get("deal_id"),
                text=text_for(user, item["message"], values)[:500],
                params={"message": item["message"], "values": values},
                dedup_key=key,
            )
        )
    insert_rows(rows, ignore_conflicts=True)
    return written + len(rows)


def _enqueue_email(notification_id: int) -> None:
    from voronka.activities.jobs import send_notification_email

    send_notification_email.enqueue(notification_id)


# --- reads ---------------------------------------------------------------------------------------

NOTIFICATIONS_PAGE = 50


def notification_list(*, user: Any, limit: int = NOTIFICATIONS_PAGE) -> list[Notification]:
    """The user's newest notifications with what they are about (the deal's title, else the
    task's company or contact) and `display_text` in the active language."""
    items = list(
        Notification.objects.filter(user=user)
        .select_related("deal", "task__company", "task__contact")
        .order_by("-created_at", "-id")[:limit]
    )
    for item in items:
        item.display_text = notification_text(item)
    return items


def unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
