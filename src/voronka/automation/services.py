"""Configuring the engine: rules are created, changed, deleted and their failed runs retried only
here, by people with the `can_configure` flag (decision 0014). The UI, the API and
`voronka automation import` all come through `rule_create` / `rule_update`, so a rule is
validated in one place: its kind's shape, its event, its monitor, its action's parameters and
its conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from pydantic import ValidationError as PydanticValidationError

from voronka.automation.actions.common import missing_references
from voronka.automation.conditions import check_references, parse_conditions
from voronka.automation.events import RULE_CHANGED, RULE_CREATED, RULE_DELETED
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.automation.registry import ACTIONS, MONITORS
from voronka.automation.schemas import RuleIn
from voronka.deals.models import Pipeline, Stage
from voronka.identity.permissions import require_actor_flag
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.events import EVENTS, emit
from voronka.kernel.outbox import head
from voronka.kernel.schemas import schema_errors
from voronka.kernel.versions import check_version

CONFIGURE = "can_configure"


FIELDS = tuple(RuleIn.model_fields)


def _errors(exc: PydanticValidationError, prefix: str = "") -> dict[str, str]:
    """Pydantic's errors in the user's language (kernel.schemas), under `prefix`."""
    return {
        (prefix + path if path != "body" else prefix.rstrip(".") or "body"): message
        for path, message in schema_errors(exc.errors()).items()
    }


def _condition_rows(errors: Mapping[str, str]) -> dict[str, str]:
    """A bad condition's message names its row ("Условие 2: …"), as the form lists them."""
    out = {}
    for key, message in errors.items():
        index = key.split(".")[1] if key.count(".") >= 1 else ""
        if index.isdigit():
            message = _("Условие %(n)s: %(message)s") % {"n": int(index) + 1, "message": message}
        out[key] = message
    return out


def _parts_errors(raw: Mapping[str, Any]) -> dict[str, str]:
    """When the rule's own fields are wrong, its action's parameters and its conditions are
    still checked, so the form shows every error at once, not in two rounds."""
    errors: dict[str, str] = {}
    name = raw.get("action")
    action = ACTIONS.get(name) if isinstance(name, str) else None
    if action is not None and isinstance(raw.get("params"), Mapping):
        try:
            action.params.model_validate(raw["params"])
        except PydanticValidationError as exc:
            errors.update(_errors(exc, "params."))
    try:
        parse_conditions(raw.get("conditions"))
    except PydanticValidationError as exc:
        errors.update(_condition_rows(_errors(exc, "conditions.")))
    except ValueError as exc:
        errors["conditions"] = str(exc)
    return errors


def rule_clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's columns from its input, or ValidationError naming every bad field."""
    if not isinstance(data, Mapping):
        raise ValidationError({"body": _("Ожидается объект")})
    try:
        rule = RuleIn.model_validate(dict(data))
    except PydanticValidationError as exc:
        raise ValidationError({**_parts_errors(data), **_errors(exc)}) from None
    errors: dict[str, str] = {}
    if "\x00" in rule.name:
        errors["name"] = _("Недопустимый символ")
    stage: Stage | None = None
    if rule.stage is not None:
        stage = Stage.objects.select_related("pipeline").filter(pk=rule.stage).first()
        if stage is None:
            errors["stage"] = _("Нет такой стадии")
    pipeline_id = stage.pipeline_id if stage is not None else rule.pipeline
    if rule.pipeline is not None and not Pipeline.objects.filter(pk=rule.pipeline).exists():
        errors["pipeline"] = _("Нет такой воронки")
    elif stage is not None and rule.pipeline not in (None, stage.pipeline_id):
        errors["stage"] = _("Стадия из другой воронки")
    if rule.event and rule.event not in EVENTS:
        errors["event"] = _("Нет такого события: %s") % rule.event
    action_name, params = rule.action, rule.params
    object_type = "deal"
    if rule.kind == RuleKind.ROBOT:
        if rule.stage is None:
            errors.setdefault("stage", _("Робот принадлежит стадии"))
    elif rule.kind == RuleKind.TRIGGER:
        if rule.stage is None:
            errors.setdefault("stage", _("Триггер переводит сделку в стадию: укажите её"))
        if not rule.event:
            errors["event"] = _("Укажите событие, на которое срабатывает триггер")
        action_name, params = "move_stage", {"stage": rule.stage}
    else:
        monitor = MONITORS.get(rule.monitor)
        if monitor is None:
            errors["monitor"] = _("Нет такого монитора: %s") % (rule.monitor or "—")
        else:
            object_type = monitor.object_type
            every = rule.monitor_params.get("every_minutes")
            try:
                monitor.params.model_validate(
                    {k: v for k, v in rule.monitor_params.items() if k != "every_minutes"}
                )
            except PydanticValidationError as exc:
                errors.update(_errors(exc, "monitor_params."))
            if every is not None and (
                not isinstance(every, int) or isinstance(every, bool) or not 1 <= every <= 10080
            ):
                errors["monitor_params.every_minutes"] = _("От 1 до 10080 минут")
    action = ACTIONS.get(action_name)
    if action is None:
        errors["action"] = _("Нет такого действия: %s") % (action_name or "—")
    else:
        if rule.kind != RuleKind.MONITOR and "deal" not in action.objects:
            errors["action"] = _("Это действие не работает со сделкой")
        elif object_type not in action.objects:
            errors["action"] = _("Это действие не работает с объектом монитора")
        if rule.kind != RuleKind.TRIGGER or rule.stage is not None:
            try:
                checked = action.params.model_validate(params)
            except PydanticValidationError as exc:
                errors.update(_errors(exc, "params."))
            else:
                params = checked.model_dump(mode="json", exclude_defaults=False)
                missing = missing_references(checked)
                errors.update({f"params.{k}": v for k, v in missing.items()})
    try:
        conditions, refused = check_references(
            parse_conditions(rule.conditions),
            pipeline=pipeline_id if rule.kind != RuleKind.MONITOR else None,
        )
        errors.update(refused)
    except PydanticValidationError as exc:
        errors.update(_condition_rows(_errors(exc, "conditions.")))
        conditions = []
    except ValueError as exc:
        errors["conditions"] = str(exc)
        conditions = []
    if errors:
        raise ValidationError(errors)
    return {
        "kind": rule.kind,
        "name": rule.name.strip(),
        "enabled": rule.enabled,
        "sort": rule.sort,
        "pipeline_id": pipeline_id if rule.kind != RuleKind.MONITOR else None,
        "stage_id": rule.stage if rule.kind != RuleKind.MONITOR else None,
        "event": rule.event,
        "monitor": rule.monitor if rule.kind == RuleKind.MONITOR else "",
        "monitor_params": rule.monitor_params if rule.kind == RuleKind.MONITOR else {},
        "conditions": conditions,
        "delay_seconds": rule.delay_seconds,
        "action": action_name,
        "params": params,
    }


def rule_input(rule: Rule) -> dict[str, Any]:
    """A stored rule as its input (the API's and the YAML's shape)."""
    return {
        "kind": rule.kind,
        "name": rule.name,
        "enabled": rule.enabled,
        "sort": rule.sort,
        "pipeline": rule.pipeline_id,
        "stage": rule.stage_id,
        "event": rule.event,
        "monitor": rule.monitor,
        "monitor_params": rule.monitor_params,
        "conditions": rule.conditions,
        "delay_seconds": rule.delay_seconds,
        "action": rule.action,
        "params": rule.params,
    }


def _snapshot(rule: Rule) -> dict[str, Any]:
    return {**rule_input(rule), "owner": rule.owner_id}


def rule_get_for_write(*, actor: Actor, rule_id: int) -> Rule:
    require_actor_flag(actor, CONFIGURE)
    rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("Правило не найдено"))
    return rule


@transaction.atomic
def rule_create(*, actor: Actor, data: Mapping[str, Any]) -> Rule:
    require_actor_flag(actor, CONFIGURE)
    now = clock.now()
    columns = rule_clean(data)
    if columns["kind"] == RuleKind.ROBOT and not columns["sort"]:
        columns["sort"] = _next_sort(columns["stage_id"])  # 0: the last of its stage
    rule = Rule.objects.create(
        owner=actor.user, created_at=now, updated_at=now, since_event=head(), **columns
    )
    audit(actor=actor, obj=rule, action="created", changes=diff({}, _snapshot(rule)))
    emit(RULE_CREATED, obj=rule, actor=actor)
    return rule


@transaction.atomic
def rule_update(*, actor: Actor, rule_id: int, data: Mapping[str, Any]) -> Rule:
    """Change a rule (a partial input is merged over the stored one). Whoever saves a rule
    becomes its owner: it acts with their rights from now on (decision 0014)."""
    rule = rule_get_for_write(actor=actor, rule_id=rule_id)
    if not isinstance(data, Mapping):
        raise ValidationError({"body": _("Ожидается объект")})
    data = dict(data)
    check_version(rule.version, data.pop("version", None))
    before = _snapshot(rule)
    merged = {**rule_input(rule), **data}
    if "stage" in data and "pipeline" not in data:
        merged["pipeline"] = None  # the stage names its pipeline
    was_enabled = rule.enabled
    was_stage = rule.stage_id
    for key, value in rule_clean(merged).items():
        setattr(rule, key, value)
    if rule.kind == RuleKind.ROBOT and rule.stage_id != was_stage and not data.get("sort"):
        rule.sort = _next_sort(rule.stage_id)  # moved to another stage: its last robot
    if rule.enabled and not was_enabled:
        rule.since_event = head()  # switched on: what happened while it was off does not fire it
    rule.owner = actor.user
    rule.version += 1
    rule.updated_at = clock.now()
    rule.save()
    audit(actor=actor, obj=rule, action="updated", changes=diff(before, _snapshot(rule)))
    emit(RULE_CHANGED, obj=rule, actor=actor)
    return rule


def _next_sort(stage_id: int | None) -> int:
    """The place after a stage's last robot."""
    if stage_id is None:
        return 0
    last = Rule.objects.robots_of(stage_id).aggregate(last=Max("sort"))["last"]
    return (last or 0) + 1


@transaction.atomic
def rule_move(*, actor: Actor, rule_id: int, step: int) -> Rule:
    """Move a robot one place earlier (`step` -1) or later (+1) among its stage's robots: they
    run in that order (the planner plans a stage's robots by `sort`, then id). The stage's
    robots are numbered 1…n again, so equal or sparse numbers (an API's or a file's) are
    settled by the order they ran in. The robot keeps its owner and version: the order is the
    stage's, not what the robot does."""
    rule = rule_get_for_write(actor=actor, rule_id=rule_id)
    if rule.kind != RuleKind.ROBOT or rule.stage_id is None:
        raise ValidationError({"sort": _("Порядок меняется только у роботов стадии")})
    if step not in (-1, 1):
        raise ValidationError({"step": _("Сдвиг — на одно место вверх или вниз")})
    robots = list(Rule.objects.robots_of(rule.stage_id).select_for_update())
    at = next(i for i, r in enumerate(robots) if r.pk == rule.pk)
    to = at + step
    if 0 <= to < len(robots):
        robots[at], robots[to] = robots[to], robots[at]
    before = {r.pk: r.sort for r in robots}
    changed = []
    for place, robot in enumerate(robots, start=1):
        if robot.sort != place:
            robot.sort = place
            changed.append(robot)
    if changed:
        Rule.objects.bulk_update(changed, ["sort"])
    moved = next(r for r in robots if r.pk == rule.pk)
    if before[moved.pk] != moved.sort:
        audit(
            actor=actor, obj=moved, action="moved", changes={"sort": [before[moved.pk], moved.sort]}
        )
    return moved


@transaction.atomic
def rule_delete(*, actor: Actor, rule_id: int) -> None:
    rule = rule_get_for_write(actor=actor, rule_id=rule_id)
    if rule.builtin:
        raise ValidationError({"builtin": _("Встроенное правило нельзя удалить — выключите его")})
    audit(actor=actor, obj=rule, action="deleted", changes=diff(_snapshot(rule), {}))
    emit(RULE_DELETED, obj=rule, actor=actor)
    rule.delete()


@transaction.atomic
def rule_run_retry(*, actor: Actor, run_id: int) -> RuleRun:
    """Run a failed run again, now (its error stays until the new attempt ends)."""
    require_actor_flag(actor, CONFIGURE)
    run = RuleRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        raise NotFound(_("Запуск не найден"))
    if run.status != RunStatus.FAILED:
        raise ValidationError({"status": _("Повторить можно только запуск с ошибкой")})
    run.status = RunStatus.PENDING
    run.due_at = clock.now()
    run.attempts = 0
    run.finished_at = None
    run.save(update_fields=["status", "due_at", "attempts", "finished_at"])
    audit(actor=actor, obj=run.rule, action="run_retried", changes={"run": [None, run.pk]})
    return run
