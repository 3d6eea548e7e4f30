"""notify: tell a person (the deal's responsible, their head, a named user) — in the app, and by
e-mail when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext_lazy as _
from pydantic import Field

from voronka.activities.models import NotificationKind, Task
from voronka.activities.notifications import notify as notification_add
from voronka.automation.actions.common import Who, resolve_who
from voronka.automation.context import render_text
from voronka.automation.registry import Params, action
from voronka.identity.selectors import head_of

if TYPE_CHECKING:
    from voronka.automation.context import RunContext


class Notify(Params):
    to: Who = Who()
    text: str = Field(min_length=1, max_length=500)
    channel: Literal["in_app", "email"] = "in_app"


@action("notify", Notify, label=_("Уведомить"), objects=("deal", "task", "company", "contact"))
def notify(ctx: RunContext, p: Notify) -> dict[str, Any]:
    user = resolve_who(ctx, p.to)
    text = render_text(p.text, ctx.values())
    plan: dict[str, Any] = {"user": user.pk, "text": text[:200], "channel": p.channel}
    if ctx.dry:
        return plan
    task = ctx.obj if ctx.object_type == "task" else None
    notification = notification_add(
        user=user,
        kind=NotificationKind.AUTOMATION,
        task=task,  # type: ignore[arg-type]
        message="rule_text",
        values={"text": text},
        key=f"run:{ctx.run.pk}" if ctx.run is not None else "",
        deal_id=ctx.deal.pk if ctx.deal is not None else None,
        email=p.channel == "email",
    )
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
