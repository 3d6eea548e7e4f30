"""Reads of the automation's configuration and run log. Rules and runs are configuration: only
people who may configure (can_configure) read them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from voronka.activities.models import Task
from voronka.automation.conditions import REF_KINDS, field_kind
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.contacts.models import Company
from voronka.deals.models import LossReason, Pipeline, Stage
from voronka.identity.models import Department, Role, User
from voronka.identity.permissions import require_actor_flag
from voronka.kernel.actor import Actor
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType
from voronka.kernel.pagination import Page, keyset_page

CONFIGURE = "can_configure"


def rules_list(*, actor: Actor, kind: str | None = None, stage: int | None = None) -> list[Rule]:
    require_actor_flag(actor, CONFIGURE)
    qs = Rule.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    if stage is not None:
        qs = qs.filter(stage_id=stage)
    return list(qs.order_by("kind", "stage_id", "sort", "id"))


def rule_get(*, actor: Actor, rule_id: int) -> Rule:
    require_actor_flag(actor, CONFIGURE)
    rule = Rule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound()
    return rule


def runs_page(
    *,
    actor: Actor,
    status: str | None = None,
    rule: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[RuleRun]:
    """The run log, newest first (failed runs: `status="failed"`)."""
    require_actor_flag(actor, CONFIGURE)
    qs: QuerySet[RuleRun] = RuleRun.objects.select_related("rule")
    if status:
        if status not in RunStatus.values:
            raise ValidationError({"status": ", ".join(RunStatus.values)})
        qs = qs.filter(status=status)
    if rule is not None:
        qs = qs.filter(rule_id=rule)
    return keyset_page(qs, order=("-id",), cursor=cursor, limit=limit)


# --- the automation screens (automation/views.py) ------------------------------------------------


@dataclass(frozen=True)
class RunCounts:
    """A rule's finished runs over a recent window (the badges of a robot's card)."""

    done: int = 0
    failed: int = 0


def run_counts(
    *, actor: Actor, rule_ids: Iterable[int], since: dt.datetime
) -> dict[int, RunCounts]:
    """Done and failed runs per rule finished since `since` (one grouped query)."""
    require_actor_flag(actor, CONFIGURE)
    ids = list(rule_ids)
    if not ids:
        return {}
    rows = (
        RuleRun.objects.filter(
            rule_id__in=ids,
            status__in=[RunStatus.DONE, RunStatus.FAILED],
            finished_at__gte=since,
        )
        .values("rule_id")
        .annotate(
            done=Count("id", filter=Q(status=RunStatus.DONE)),
            failed=Count("id", filter=Q(status=RunStatus.FAILED)),
        )
    )
    return {row["rule_id"]: RunCounts(row["done"], row["failed"]) for row in rows}


def runs_failed_count(*, actor: Actor, rule: int | None = None) -> int:
    """How many runs are failed now (the red count of the run log's first tab)."""
    require_actor_flag(actor, CONFIGURE)
    qs = RuleRun.objects.failed()
    if rule is not None:
        qs = qs.filter(rule_id=rule)
    return qs.count()


def pipeline_rules(*, actor: Actor, pipeline_id: int) -> list[Rule]:
    """The robots and triggers of a pipeline's stages, in their order."""
    require_actor_flag(actor, CONFIGURE)
    return list(
        Rule.objects.filter(
            kind__in=[RuleKind.ROBOT, RuleKind.TRIGGER], stage__pipeline_id=pipeline_id
        ).order_by("stage_id", "sort", "id")
    )


def stage_robots(*, actor: Actor, stage_id: int) -> list[Rule]:
    """A stage's robots in the order they run."""
    require_actor_flag(actor, CONFIGURE)
    return list(Rule.objects.robots_of(stage_id))


def run_deals(runs: Iterable[RuleRun]) -> dict[tuple[str, int], int]:
    """The deal each run's object belongs to, for links: a deal is its own; a task its deal's."""
    runs = list(runs)
    out: dict[tuple[str, int], int] = {
        ("deal", r.object_id): r.object_id for r in runs if r.object_type == "deal"
    }
    task_ids = {r.object_id for r in runs if r.object_type == "task"}
    if task_ids:
        rows = Task.objects.filter(pk__in=task_ids, deal__isnull=False).values_list("pk", "deal_id")
        out.update({("task", pk): deal for pk, deal in rows})
    return out


@dataclass(frozen=True)
class Choice:
    value: int | str
    label: str


@dataclass(frozen=True)
class StageGroup:
    """A pipeline's stages for a grouped select (a target stage of any pipeline)."""

    pipeline: Choice
    stages: list[Choice]


@dataclass(frozen=True)
class OptionGroup:
    """Options under a heading (a select's optgroup): people by department."""

    label: str
    options: list[Choice]


@dataclass(frozen=True)
class RuleFormChoices:
    """What the rule form offers: people, departments, every stage by pipeline, the deal's
    custom fields (conditions on `custom.<key>`, set_field, a deadline before a date field)."""

    users: list[Choice]
    departments: list[Choice]
    stages: list[StageGroup]
    deal_fields: list[Choice]
    date_fields: list[Choice]
    roles: list[Choice] = field(default_factory=list)
    # Condition values: active people by department, loss reasons, a list field's options.
    people: list[OptionGroup] = field(default_factory=list)
    loss_reasons: list[Choice] = field(default_factory=list)
    field_options: dict[str, list[str]] = field(default_factory=dict)
    field_types: dict[str, str] = field(default_factory=dict)


def rule_form_choices(*, actor: Actor) -> RuleFormChoices:
    require_actor_flag(actor, CONFIGURE)
    users = [
        Choice(u.pk, u.display_name)
        for u in User.objects.filter(is_active=True).order_by("last_name", "first_name", "pk")
    ]
    departments = [
        Choice(pk, name)
        for pk, name in Department.objects.order_by("path").values_list("pk", "name")
    ]
    groups = [
        StageGroup(Choice(p.pk, p.name), [Choice(s.pk, s.name) for s in p.stages.all()])
        for p in Pipeline.objects.filter(is_active=True).prefetch_related("stages")
    ]
    custom = list(
        CustomField.objects.filter(entity=CustomFieldEntity.DEAL, is_active=True).order_by(
            "sort", "id"
        )
    )
    fields = [(f.key, f.name, f.type) for f in custom]
    people: dict[str, list[Choice]] = {}
    for user in (
        User.objects.filter(is_active=True)
        .select_related("department")
        .order_by("department__path", "last_name", "first_name", "pk")
    ):
        dept = user.department.name if user.department is not None else _("Без отдела")
        people.setdefault(dept, []).append(Choice(user.pk, user.display_name))
    return RuleFormChoices(
        users=users,
        departments=departments,
        stages=groups,
        deal_fields=[Choice(key, name) for key, name, _type in fields],
        date_fields=[
            Choice(key, name)
            for key, name, ftype in fields
            if ftype in (CustomFieldType.DATE, CustomFieldType.DATETIME)
        ],
        roles=[
            Choice(pk, name) for pk, name in Role.objects.order_by("name").values_list("pk", "name")
        ],
        people=[OptionGroup(label, options) for label, options in people.items()],
        loss_reasons=[
            Choice(r.pk, r.name if r.is_active else _("%s (не используется)") % r.name)
            for r in LossReason.objects.order_by("-is_active", "sort", "id")
        ],
        field_options={
            f.key: [str(c) for c in f.choices or []]
            for f in custom
            if f.type in (CustomFieldType.LIST, CustomFieldType.MULTI)
        },
        field_types={f.key: f.type for f in custom},
    )


def condition_names(conditions: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """What the ids of conditions name — {(kind, id as text): name}, a query per kind present
    (people, companies, stages, loss reasons): the cards and the form show names, not ids.
    Also the deal custom fields' names, under ("custom", key)."""
    wanted: dict[str, set[int]] = {}
    custom = False
    for condition in conditions:
        name = str(condition.get("field") or "")
        custom = custom or name.startswith("custom.")
        kind = field_kind(name)
        if kind not in REF_KINDS:
            continue
        value = condition.get("value")
        for item in value if isinstance(value, list) else [value]:
            if str(item).isdigit() and len(str(item)) <= 18:
                wanted.setdefault(kind, set()).add(int(item))
    out: dict[tuple[str, str], str] = {}
    if wanted.get("user"):
        for user in User.objects.filter(pk__in=wanted["user"]):
            label = user.display_name if user.is_active else _("%s (уволен)") % user.display_name
            out[("user", str(user.pk))] = label
    tables: list[tuple[str, Any]] = [
        ("company", Company.objects),
        ("stage", Stage.objects),
        ("loss_reason", LossReason.objects),
    ]
    for kind, manager in tables:
        if wanted.get(kind):
            for pk, name in manager.filter(pk__in=wanted[kind]).values_list("pk", "name"):
                out[(kind, str(pk))] = name
    if custom:
        for key, name in CustomField.objects.filter(entity=CustomFieldEntity.DEAL).values_list(
            "key", "name"
        ):
            out[("custom", key)] = name
    return out
