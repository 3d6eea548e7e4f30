"""create_task: the robot of seed 000 — "call: confirm the proposal was received", due the next
working day, for the deal's responsible (or their head, or a named user)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext_lazy as _
from pydantic import Field

from voronka.activities.tasks_services import task_create
from voronka.automation.actions.common import When, Who, resolve_when, resolve_who
from voronka.automation.context import render_text
from voronka.automation.registry import Params, action

if TYPE_CHECKING:
    from voronka.automation.context import RunContext


class CreateTask(Params):
    type: Literal["call", "meeting", "email", "other"] = "call"
    comment: str = Field(min_length=1, max_length=2000)
    responsible: Who = Who()
    deadline: When = When()


@action(
    "create_task",
    CreateTask,
    label=_("Создать задачу"),
    objects=("deal", "task", "company", "contact"),
)
def create_task(ctx: RunContext, p: CreateTask) -> dict[str, Any]:
    responsible = resolve_who(ctx, p.responsible)
    deadline = resolve_when(ctx, p.deadline)
    comment = render_text(p.comment, ctx.values())
    plan: dict[str, Any] = {
        "type": p.type,
        "responsible": responsible.pk,
        "deadline": deadline.isoformat(),
        "comment": comment[:200],
    }
    if ctx.dry:
        return plan
    link: dict[str, Any] = {}
    if ctx.deal is not None:
        link["deal"] = ctx.deal.pk
    elif ctx.object_type in ("company", "contact"):
        link[ctx.object_type] = ctx.obj.pk
    task = task_create(
        actor=ctx.actor,
        data={
            "type": p.type,
            "comment": comment,
            "responsible": responsible.pk,
            "deadline": deadline.isoformat(),
            **link,
        },
    )
    return {**plan, "task": task.pk}
