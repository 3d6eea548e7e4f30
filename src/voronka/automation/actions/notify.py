"""notify: tell a person (the deal's responsible, their head, a named user) or everyone of a role
who may see the object — in the app, and by e-mail when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext_lazy as _
from pydantic import Field

from voronka.activities.models import NotificationKind, Task
from voronka.activities.notifications import notify as notification_add
from voronka.activities.notifications import notify_many
from voronka.automation.actions.common import Recipients, resolve_recipients
from voronka.automation.context import render_text
from voronka.automation.registry import Params, action
from voronka.identity.selectors import head_of

if TYPE_CHECKING:
    from voronka.automation.context import RunContext


class Notify(Params):
    to: Recipients = Recipients()
    text: str = Field(min_length=1, max_length=500)
    channel: Literal["in_app", "email"] = "in_app"


def run_key(ctx: RunContext) -> str:
    """The notifications' idempotency key: one per run and recipient (a run done again — a
    retry, a redelivery — finds them written and writes none)."""
    return f"run:{ctx.run.pk}" if ctx.run is not None else ""


@action("notify", Notify, label=_("Уведомить"), objects=("deal", "task", "company", "contact"))
def notify(ctx: RunContext, p: Notify) -> dict[str, Any]:
    users = resolve_recipients(ctx, p.to)
    text = render_text(p.text, ctx.values())
    plan: dict[str, Any] = {"text": text[:200], "channel": p.channel}
    if p.to.kind == "role":
        plan.update(role=p.to.role, users=[u.pk for u in users])
        if not users:
            return {**plan, "skipped": "no_recipients"}
    else:
        plan["user"] = users[0].pk
    if ctx.dry:
        return plan
    task = ctx.obj if ctx.object_type == "task" else None
    items: list[dict[str, Any]] = [
        {
            "user": user,
            "kind": NotificationKind.AUTOMATION,
            "task": task,
            "message": "rule_text",
            "values": {"text": text},
            "key": run_key(ctx),
            "deal_id": ctx.deal.pk if ctx.deal is not None else None,
            "email": p.channel == "email",
        }
        for user in users
    ]
    if p.to.kind == "role":
        return {**plan, "notified": notify_many(items)}
    notification = notification_add(**items[0])
    return {**plan, "notification": notification.pk if notification else None}


class NotifyOverdue(Params):
    """The overdue task's responsible, or their head (the escalation after a grace period)."""

    to: Literal["responsible", "head"] = "responsible"


@action("notify_overdue", NotifyOverdue, label=_("Уведомить о просрочке"), objects=("task",))
def notify_overdue(ctx: RunContext, p: NotifyOverdue) -> dict[str, Any]:
    """The overdue notifications of the task screens (their own kinds and texts): once per
    task, deadline and recipient."""
    task = ctx.obj
    assert isinstance(task, Task)
    responsible = task.responsible
    user = responsible if p.to == "responsible" else head_of(responsible)
    if user is None:
        return {"skipped": "no_head", "task": task.pk}
    plan: dict[str, Any] = {"user": user.pk, "task": task.pk, "to": p.to}
    if ctx.dry:
        return plan
    values: dict[str, Any] = {"when": task.deadline, "comment": task.comment[:200]}
    if p.to == "head":
        values = {"user": responsible.display_name, **values}
    notification = notification_add(
        user=user,
        kind=NotificationKind.TASK_OVERDUE
        if p.to == "responsible"
        else NotificationKind.TASK_OVERDUE_HEAD,
        task=task,
        message="task_overdue" if p.to == "responsible" else "task_overdue_head",
        values=values,
        key=task.deadline.isoformat(),
    )
    return {**plan, "notification": notification.pk if notification else None}
