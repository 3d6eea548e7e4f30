"""create_task: the robot of seed 000 — "call: confirm the proposal was received", due the next
working day, for the deal's responsible (or their head, or a named user)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext_lazy as _
from pydantic import Field

from voronka.activities.tasks_services import NewTask, tasks_create
from voronka.automation.actions.common import When, Who, resolve_when, resolve_who
from voronka.automation.context import render_text
from voronka.automation.registry import Params, action, action_many

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
    return create_tasks([(ctx, p)])[0]


@action_many("create_task")
def create_tasks(items: list[tuple[RunContext, CreateTask]]) -> list[dict[str, Any]]:
    """The tasks of a batch of runs, created by one tasks_create call (checked one by one)."""
    plans: list[dict[str, Any]] = []
    requests: list[NewTask] = []
    for ctx, p in items:
        responsible = resolve_who(ctx, p.responsible)
        deadline = resolve_when(ctx, p.deadline)
        comment = render_text(p.comment, ctx.values())
        plans.append(
            {
                "type": p.type,
                "responsible": responsible.pk,
                "deadline": deadline.isoformat(),
                "comment": comment[:200],
            }
        )
        link: dict[str, Any] = {}
        if ctx.deal is not None:
            link["deal"] = ctx.deal.pk
        elif ctx.object_type in ("company", "contact"):
            link[ctx.object_type] = ctx.obj.pk
        data = {
            "type": p.type,
            "comment": comment,
            "responsible": responsible,
            "deadline": deadline.isoformat(),
            **link,
        }
        requests.append(NewTask(ctx.actor, data, cause=ctx.cause))
    if any(ctx.dry for ctx, _p in items):
        return plans
    tasks = tasks_create(requests)
    return [{**plan, "task": task.pk} for plan, task in zip(plans, tasks, strict=True)]
