"""Pipelines and their stages (configuration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from voronka.deals.events import PIPELINE_CREATED
from voronka.deals.inputs import PIPELINE, STAGE
from voronka.deals.models import Pipeline, Stage, StageChange, StageSemantic
from voronka.identity.permissions import require_actor_flag
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff, emit
from voronka.kernel.customfields import BUILTIN_REQUIRABLE, definitions
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError
from voronka.kernel.fields import FieldCleaner, to_id, to_int
from voronka.kernel.models import CustomFieldEntity

STAGE_FIELDS = set(STAGE.fields)  # the declaration (deals/inputs.py); the order is a reorder


def _clean_stage(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    c = FieldCleaner(data, STAGE.keys(creating=not partial))
    STAGE.clean_texts(c, creating=not partial)  # one rule for create and update
    if "semantic" in data:
        if data["semantic"] not in StageSemantic.values:
            c.error("semantic", _("Семантика: open, won или lost"))
        else:
            c.cleaned["semantic"] = data["semantic"]
    if "color" in data:
        color = str(data["color"] or "")
        import re

        if not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
            c.error("color", _("Цвет в формате #RRGGBB"))
        else:
            c.cleaned["color"] = color.lower()
    if "sla_days" in data:
        raw = data["sla_days"]
        if raw in (None, ""):
            c.cleaned["sla_days"] = None
        else:
            try:
                days = to_int(raw)
                if days < 0 or days > 3650:
                    raise ValueError
                c.cleaned["sla_days"] = days
            except (TypeError, ValueError):
                c.error("sla_days", _("Число дней от 0 до 3650"))
    if "required_fields" in data:
        raw = data["required_fields"]
        allowed = set(BUILTIN_REQUIRABLE) | set(definitions(CustomFieldEntity.DEAL))
        if not isinstance(raw, list) or any(k not in allowed for k in raw):
            c.error("required_fields", _("Только существующие поля сделки"))
        else:
            c.cleaned["required_fields"] = list(dict.fromkeys(raw))
    c.raise_if_errors()
    return c.cleaned


def _clean_pipeline_name(raw: Any) -> str:
    """A pipeline's name, for create and rename alike (a non-text is refused, not str()-ed)."""
    c = FieldCleaner({"name": raw}, {"name"})
    PIPELINE.clean_texts(c, creating=True)
    c.raise_if_errors()
    return c.cleaned["name"]


def pipeline_get_for_write(*, actor: Actor, pipeline_id: int) -> Pipeline:
    """Lock a pipeline for a settings change: the actor may configure (403), it exists (404)."""
    require_actor_flag(actor, "can_configure")
    pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline_id).first()
    if pipeline is None:
        raise NotFound(_("Воронка не найдена"))
    return pipeline


def stage_get_for_write(*, actor: Actor, stage_id: int, pipeline_id: int | None = None) -> Stage:
    """Lock a stage (of `pipeline_id` when given) for a settings change, as above."""
    require_actor_flag(actor, "can_configure")
    qs = Stage.objects.select_for_update().filter(pk=stage_id)
    if pipeline_id is not None:
        qs = qs.filter(pipeline_id=pipeline_id)
    stage = qs.first()
    if stage is None:
        raise NotFound(_("Стадия не найдена"))
    return stage


@transaction.atomic
def pipeline_create(
    *, actor: Actor, name: str, stages: Sequence[Mapping[str, Any]] = ()
) -> Pipeline:
    require_actor_flag(actor, "can_configure")

    name = _clean_pipeline_name(name)
    sort = (Pipeline.objects.aggregate(m=Max("sort"))["m"] or 0) + 1
    pipeline = Pipeline.objects.create(name=name, sort=sort)
    specs = list(stages) or [
        {"name": _("Новая"), "semantic": "open"},
        {"name": _("В работе"), "semantic": "open"},
        {"name": _("Успешно"), "semantic": "won", "color": "#16a34a"},
        {"name": _("Отказ"), "semantic": "lost", "color": "#dc2626"},
    ]
    for index, spec in enumerate(specs):
        cleaned = _clean_stage(spec, partial=False)
        cleaned.setdefault("sort", index)
        Stage.objects.create(pipeline=pipeline, **cleaned)
    audit(actor=actor, obj=pipeline, action="created", changes={"name": [None, name]})
    emit(PIPELINE_CREATED, obj=pipeline, actor=actor)
    return pipeline


@transaction.atomic
def pipeline_rename(*, pipeline: Pipeline, actor: Actor, name: str) -> Pipeline:
    pipeline = pipeline_get_for_write(actor=actor, pipeline_id=pipeline.pk)

    name = _clean_pipeline_name(name)
    old = pipeline.name
    if name == old:
        return pipeline
    pipeline.name = name
    pipeline.save(update_fields=["name", "updated_at"])
    audit(actor=actor, obj=pipeline, action="updated", changes={"name": [old, name]})
    return pipeline


@transaction.atomic
def stage_create(*, pipeline: Pipeline, actor: Actor, data: Mapping[str, Any]) -> Stage:
    pipeline = pipeline_get_for_write(actor=actor, pipeline_id=pipeline.pk)
    cleaned = _clean_stage(data, partial=False)
    if "sort" not in cleaned:
        cleaned["sort"] = (pipeline.stages.aggregate(m=Max("sort"))["m"] or 0) + 1
    stage = Stage.objects.create(pipeline=pipeline, **cleaned)
    audit(actor=actor, obj=stage, action="created", changes=diff({}, cleaned))
    return stage


@transaction.atomic
def stage_update(*, stage: Stage, actor: Actor, data: Mapping[str, Any]) -> Stage:
    stage = stage_get_for_write(actor=actor, stage_id=stage.pk)
    cleaned = _clean_stage(data, partial=True)
    before = {k: getattr(stage, k) for k in cleaned}
    changes = diff(before, cleaned)
    if not changes:
        return stage  # an unchanged row of the settings form writes nothing
    if "semantic" in cleaned and cleaned["semantic"] != stage.semantic and stage.deals.exists():
        raise ApplicationError(
            _("На стадии есть сделки — семантику менять нельзя"), code=ErrorCode.IN_USE
        )
    for key, value in cleaned.items():
        setattr(stage, key, value)
    stage.save()
    audit(actor=actor, obj=stage, action="updated", changes=changes)
    return stage


@transaction.atomic
def stages_reorder(*, pipeline: Pipeline, actor: Actor, order: Sequence[int]) -> None:
    pipeline = pipeline_get_for_write(actor=actor, pipeline_id=pipeline.pk)
    ids = list(pipeline.stages.values_list("pk", flat=True))
    try:
        order = [to_id(x) for x in order]
    except (TypeError, ValueError):
        raise ValidationError({"order": _("Ожидается список стадий")}) from None
    if sorted(order) != sorted(ids):
        raise ValidationError({"order": _("Порядок должен перечислять все стадии воронки")})
    for index, stage_id in enumerate(order):
        Stage.objects.filter(pk=stage_id).update(sort=index)
    audit(actor=actor, obj=pipeline, action="stages_reordered", changes={"order": [ids, order]})


@transaction.atomic
def stage_delete(*, stage: Stage, actor: Actor) -> None:
    stage = stage_get_for_write(actor=actor, stage_id=stage.pk)
    if stage.deals.exists():
        raise ApplicationError(
            _("На стадии есть сделки — сначала перенесите их"), code=ErrorCode.IN_USE
        )
    if stage.pipeline.stages.filter(semantic=StageSemantic.OPEN).exclude(pk=stage.pk).count() == 0:
        raise ApplicationError(
            _("В воронке должна остаться открытая стадия"), code=ErrorCode.IN_USE
        )
    if (
        StageChange.objects.filter(to_stage=stage).exists()
        or StageChange.objects.filter(from_stage=stage).exists()
    ):
        raise ApplicationError(
            _("Стадия есть в истории сделок — удалить нельзя"), code=ErrorCode.IN_USE
        )
    audit(actor=actor, obj=stage, action="deleted", changes={"name": [stage.name, None]})
    stage.delete()
