"""The pipeline settings screen saves as one form (decision 0009): the pipeline's name, every
stage row, a new stage, the order, a deletion — in one transaction, through the same services
as the API (`pipeline_rename`, `stage_update`, `stage_create`, `stages_reorder`,
`stage_delete`). Every row is checked; if any row is refused, nothing is written and the errors
come back per row.

Optimistic locking per row, without a version column: each row carries a token of the values it
was shown with (the name and the order carry theirs too). A row the user did not change is left
alone — whatever someone else saved in it meanwhile stays. A row the user changed is written only
if it still holds what they saw; otherwise it is a conflict for that row."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from voronka.deals.models import Pipeline, Stage
from voronka.deals.services.pipelines import (
    _clean_stage,
    pipeline_get_for_write,
    pipeline_rename,
    stage_create,
    stage_delete,
    stage_update,
    stages_reorder,
)
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ErrorCode

TOKEN_FIELDS = ("name", "semantic", "color", "sla_days", "required_fields")


def _token(values: Mapping[str, Any]) -> str:
    raw = json.dumps(
        [values.get(k) for k in TOKEN_FIELDS], ensure_ascii=False, sort_keys=True, default=str
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def stage_token(stage: Stage) -> str:
    """A fingerprint of the stage's editable values (what the form showed)."""
    return _token({k: getattr(stage, k) for k in TOKEN_FIELDS})


def order_token(stage_ids: Sequence[int]) -> str:
    return ",".join(str(pk) for pk in stage_ids)


def _posted_token(data: Mapping[str, Any], stage: Stage | None) -> str | None:
    """The token of the posted row, as the service would store it (None: it does not clean,
    so it was certainly edited)."""
    try:
        cleaned = _clean_stage(data, partial=True)
    except ApplicationError:
        return None
    current = {k: getattr(stage, k) for k in TOKEN_FIELDS} if stage is not None else {}
    return _token({**current, **cleaned})


@dataclass(frozen=True)
class StageRow:
    """One stage row of the form: its id, the token it was shown with and the posted values."""

    id: int
    token: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SettingsSaved:
    created: Stage | None = None
    deleted: int | None = None
    changed: bool = False


class SettingsRefused(ApplicationError):
    """Nothing was written. `errors` keys: "name", "stages.<id>" (the row), "stages.<id>.<field>",
    "new.<field>"; `conflicts` lists the rows someone else changed (or deleted) meanwhile."""

    def __init__(self, errors: dict[str, str], conflicts: list[int]) -> None:
        code = ErrorCode.CONFLICT if conflicts else ErrorCode.VALIDATION
        message = (
            _("Часть стадий уже изменил другой пользователь — ничего не сохранено")
            if conflicts
            else _("Проверьте отмеченные строки — ничего не сохранено")
        )
        super().__init__(message, code=code, errors=errors, extra={"conflicts": conflicts})
        self.conflicts = conflicts


def _row_errors(prefix: str, exc: ApplicationError) -> dict[str, str]:
    if exc.errors:
        return {f"{prefix}.{key}": value for key, value in exc.errors.items()}
    return {prefix: exc.message}


@transaction.atomic
def pipeline_settings_save(
    *,
    pipeline: Pipeline,
    actor: Actor,
    name: str | None = None,
    name_shown: str | None = None,
    rows: Sequence[StageRow] = (),
    new_stage: Mapping[str, Any] | None = None,
    order: Sequence[int] | None = None,
    order_shown: str | None = None,
    delete: int | None = None,
) -> SettingsSaved:
    """Apply the whole settings form or nothing (SettingsRefused with every row's error).
    `name_shown` / `order_shown` are what the form showed (None: not known, apply as given)."""
    # The right is checked here, not in the row services: their refusals become row errors.
    pipeline = pipeline_get_for_write(actor=actor, pipeline_id=pipeline.pk)
    stages = {s.pk: s for s in Stage.objects.select_for_update().filter(pipeline=pipeline)}
    errors: dict[str, str] = {}
    conflicts: list[int] = []
    result = SettingsSaved()

    def attempt(prefix: str, call: Any) -> None:
        """Run one service in a savepoint; a refusal becomes errors under `prefix`."""
        try:
            with transaction.atomic():
                call()
        except ApplicationError as exc:
            errors.update(_row_errors(prefix, exc))

    if name is not None and name != name_shown:
        if name_shown is not None and pipeline.name != name_shown:
            errors["name"] = _("Название воронки уже изменил другой пользователь: «%(name)s»") % {
                "name": pipeline.name
            }
            conflicts.append(0)
        else:
            renamed: list[Pipeline] = []
            attempt(
                "pipeline",
                lambda: renamed.append(pipeline_rename(pipeline=pipeline, actor=actor, name=name)),
            )
            if "pipeline.name" in errors:
                errors["name"] = errors.pop("pipeline.name")
            result.changed = bool(renamed) and renamed[0].name != name_shown
    for row in rows:
        stage = stages.get(row.id)
        edited = row.id == delete or _posted_token(row.data, stage) != row.token
        if not edited:
            continue  # untouched: someone else's changes to it (or its deletion) stay
        if stage is None:
            errors[f"stages.{row.id}"] = _("Эту стадию уже удалил другой пользователь")
            conflicts.append(row.id)
        elif stage_token(stage) != row.token:
            errors[f"stages.{row.id}"] = _(
                "Эту стадию уже изменил другой пользователь: показаны её новые значения"
            )
            conflicts.append(row.id)
        elif row.id != delete:
            attempt(
                f"stages.{row.id}",
                lambda stage=stage, row=row: stage_update(stage=stage, actor=actor, data=row.data),
            )
            result.changed = True
    if delete is not None and delete not in conflicts:
        stage = stages.get(delete)
        if stage is None:
            errors[f"stages.{delete}"] = _("Эту стадию уже удалил другой пользователь")
            conflicts.append(delete)
        else:
            attempt(f"stages.{delete}", lambda: stage_delete(stage=stage, actor=actor))
            if f"stages.{delete}" not in errors:
                result.deleted = delete
    if order is not None:
        result.changed |= _reorder(
            pipeline, actor, stages, list(order), order_shown, result.deleted, errors, conflicts
        )
    if new_stage is not None:
        created: list[Stage] = []
        attempt(
            "new",
            lambda: created.append(stage_create(pipeline=pipeline, actor=actor, data=new_stage)),
        )
        result.created = created[0] if created else None
    if errors:
        raise SettingsRefused(errors, conflicts)  # the outer transaction rolls everything back
    result.changed |= result.created is not None or result.deleted is not None
    return result


def _reorder(
    pipeline: Pipeline,
    actor: Actor,
    stages: dict[int, Stage],
    order: list[int],
    order_shown: str | None,
    deleted: int | None,
    errors: dict[str, str],
    conflicts: list[int],
) -> bool:
    """The form's order, if the user changed it — and only over the order they saw."""
    if order_shown is not None and order_token(order) == order_shown:
        return False  # not reordered here: a reorder saved meanwhile by someone else stays
    current = [pk for pk in stages if pk != deleted]  # the rows come in sort order
    shown = [int(x) for x in (order_shown or "").split(",") if x.isdigit()]
    still = [pk for pk in shown if pk in stages]
    if order_shown is not None and [pk for pk in stages if pk in shown] != still:
        errors["order"] = _("Порядок стадий уже изменил другой пользователь")
        conflicts.append(0)
        return False
    wanted = [pk for pk in dict.fromkeys(order) if pk in stages and pk != deleted]
    wanted += [pk for pk in current if pk not in wanted]  # stages the form did not show
    if wanted == current:
        return False
    try:
        with transaction.atomic():
            stages_reorder(pipeline=pipeline, actor=actor, order=wanted)
    except ApplicationError as exc:
        errors.update(_row_errors("order", exc))
    return True
