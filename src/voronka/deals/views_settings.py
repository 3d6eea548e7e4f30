"""Configuration screens (role flag can_configure): pipelines, stages, custom fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from voronka.customfields import services as customfield_services
from voronka.deals import services
from voronka.deals.models import Pipeline, Stage, StageSemantic
from voronka.deals.services.pipeline_settings import (
    SettingsRefused,
    StageRow,
    order_token,
    pipeline_settings_save,
    stage_token,
)
from voronka.identity.permissions import actor_has_flag
from voronka.kernel.customfields import BUILTIN_REQUIRABLE
from voronka.kernel.errors import ApplicationError
from voronka.kernel.fields import to_id_or_none
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType
from voronka.web.http import not_found, ui_actor


def configure_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The screens are reads; every write they post is checked again by its service.
        if not actor_has_flag(ui_actor(request), "can_configure"):
            return render(request, "web/error.html", {"code": 403}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _stage_form(post: Any, prefix: str = "") -> dict[str, Any]:
    """One stage row of the settings form (fields named "<prefix>name", "<prefix>color"…)."""
    data: dict[str, Any] = {}
    for key in ("name", "semantic", "color"):
        if prefix + key in post:
            data[key] = post.get(prefix + key)
    if prefix + "sla_days" in post:
        data["sla_days"] = post.get(prefix + "sla_days") or None
    if prefix + "required_fields__present" in post:
        data["required_fields"] = post.getlist(prefix + "required_fields")
    return data


@configure_required
@require_http_methods(["GET", "POST"])
def pipelines(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            pipeline = services.pipeline_create(
                actor=ui_actor(request), name=request.POST.get("name", "")
            )
            messages.success(request, _("Воронка создана"))
            return redirect("deals:settings-pipeline", pipeline_id=pipeline.pk)
        except ApplicationError as exc:
            errors = exc.errors
    return render(
        request,
        "deals/settings_pipelines.html",
        {
            "pipelines": Pipeline.objects.prefetch_related("stages"),
            "errors": errors,
            "post": request.POST if errors else None,
        },
        status=422 if errors else 200,
    )


@dataclass
class _RowView:
    """What one stage row of the form shows: the stored stage, or what was typed into it."""

    pk: int | None
    name: str = ""
    semantic: str = StageSemantic.OPEN
    color: str = "#3b82f6"
    sla_days: Any = None
    required_fields: list[str] = field(default_factory=list)
    token: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    conflict: bool = False
    unsaved: dict[str, Any] = field(default_factory=dict)  # typed into a row changed meanwhile

    @property
    def prefix(self) -> str:
        return f"s{self.pk}-" if self.pk else "new-"

    @classmethod
    def of(cls, stage: Stage) -> _RowView:
        return cls(
            pk=stage.pk,
            name=stage.name,
            semantic=stage.semantic,
            color=stage.color,
            sla_days=stage.sla_days,
            required_fields=list(stage.required_fields or []),
            token=stage_token(stage),
        )

    def typed(self, data: dict[str, Any]) -> _RowView:
        self.name = data.get("name", self.name)
        self.semantic = data.get("semantic", self.semantic)
        self.color = data.get("color", self.color)
        self.sla_days = data.get("sla_days", self.sla_days)
        self.required_fields = data.get("required_fields", self.required_fields)
        return self


def _requirable() -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in BUILTIN_REQUIRABLE.items()] + [
        (f.key, f.name)
        for f in CustomField.objects.filter(entity=CustomFieldEntity.DEAL, is_active=True)
    ]


def _pipeline_context(
    pipeline: Pipeline, rows: list[_RowView] | None = None, **extra: Any
) -> dict[str, Any]:
    stages = list(pipeline.stages.all())
    requirable = _requirable()
    context = {
        "pipeline": pipeline,
        "rows": rows if rows is not None else [_RowView.of(s) for s in stages],
        "new_row": _RowView(pk=None),
        "pipeline_name": pipeline.name,
        "name_shown": pipeline.name,
        "order_shown": order_token([s.pk for s in stages]),
        "semantics": StageSemantic.choices,
        "requirable": requirable,
        "builtin_count": len(BUILTIN_REQUIRABLE),
        "errors": {},
    }
    context.update(extra)
    return context


def _move(order: list[int], move: str) -> list[int]:
    """The ▲/▼ buttons (without JavaScript): "<id>:up" or "<id>:down"."""
    sid, _sep, direction = move.partition(":")
    pk = to_id_or_none(sid)
    if pk in order:
        i = order.index(pk)
        j = i - 1 if direction == "up" else i + 1
        if 0 <= j < len(order):
            order[i], order[j] = order[j], order[i]
    return order


@configure_required
@require_http_methods(["GET", "POST"])
def pipeline_edit(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    """The pipeline's settings as one form: its name, every stage row, a new stage, the order
    (drag or ▲/▼) and a deletion are saved together or not at all (decision 0009)."""
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return not_found(request)
    if request.method == "GET":
        return render(request, "deals/settings_pipeline.html", _pipeline_context(pipeline))
    post = request.POST
    order = [pk for pk in map(to_id_or_none, post.getlist("stage")) if pk]
    rows = [
        StageRow(id=pk, token=post.get(f"s{pk}-token", ""), data=_stage_form(post, f"s{pk}-"))
        for pk in order
    ]
    new_data = _stage_form(post, "new-")
    delete = to_id_or_none(post.get("delete"))
    try:
        saved = pipeline_settings_save(
            pipeline=pipeline,
            actor=ui_actor(request),
            name=post.get("pipeline_name") if "pipeline_name" in post else None,
            name_shown=post.get("name_shown") if "name_shown" in post else None,
            rows=rows,
            # A new stage when its name is filled (or "Add" was pressed: then a blank name is
            # refused with a message rather than ignored).
            new_stage=new_data
            if str(new_data.get("name") or "").strip() or "add" in post
            else None,
            order=_move(order, post.get("move", "")),
            order_shown=post.get("order_shown") if "order_shown" in post else None,
            delete=delete,
        )
    except SettingsRefused as exc:
        return _refused(request, pipeline, rows, new_data, exc)
    if saved.deleted:
        messages.success(request, _("Стадия удалена, изменения сохранены"))
    elif saved.created is not None:
        messages.success(request, _("Стадия добавлена, изменения сохранены"))
    else:
        messages.success(request, _("Изменения сохранены"))
    return redirect("deals:settings-pipeline", pipeline_id=pipeline.pk)


def _refused(
    request: HttpRequest,
    pipeline: Pipeline,
    rows: list[StageRow],
    new_data: dict[str, Any],
    exc: SettingsRefused,
) -> HttpResponse:
    """The form again, nothing lost: every row shows what was typed, with its errors; a row
    someone else changed shows their values (and is marked) so it is not overwritten blindly."""
    pipeline.refresh_from_db()
    stored = {s.pk: s for s in pipeline.stages.all()}
    views = []
    for row in rows:
        stage = stored.get(row.id)
        if stage is None:
            continue  # deleted meanwhile: the message says so
        view = _RowView.of(stage)
        if row.id in exc.conflicts:
            view.conflict, view.unsaved = True, dict(row.data)
        else:
            view.typed(dict(row.data))
            view.token = row.token
        prefix = f"stages.{row.id}"
        view.message = exc.errors.get(prefix, "")
        view.errors = {
            k[len(prefix) + 1 :]: v for k, v in exc.errors.items() if k.startswith(prefix + ".")
        }
        views.append(view)
    shown = {r.id for r in rows}
    views += [_RowView.of(s) for pk, s in stored.items() if pk not in shown]  # added meanwhile
    new_row = _RowView(pk=None).typed(new_data)
    new_row.errors = {k[4:]: v for k, v in exc.errors.items() if k.startswith("new.")}
    gone = [pk for pk in exc.conflicts if pk not in stored]
    post = request.POST
    extra: dict[str, Any] = {}
    if pipeline.name != post.get("name_shown", pipeline.name):  # renamed meanwhile: show it
        extra.update(pipeline_name=pipeline.name, name_shown=pipeline.name)
    else:
        extra.update(pipeline_name=post.get("pipeline_name", pipeline.name))
        extra.update(name_shown=post.get("name_shown", pipeline.name))
    if "order" in exc.errors:  # reordered meanwhile: the rows in the stored order
        position = {pk: i for i, pk in enumerate(stored)}
        views.sort(key=lambda v: position.get(v.pk, len(position)))
    else:
        extra["order_shown"] = post.get("order_shown", "")
    return render(
        request,
        "deals/settings_pipeline.html",
        _pipeline_context(
            pipeline,
            rows=views,
            new_row=new_row,
            **extra,
            errors=exc.errors,
            message=exc.message,
            conflict=bool(exc.conflicts),
            gone=gone,
            order_error=exc.errors.get("order", ""),
        ),
        status=exc.status,
    )


@configure_required
@require_http_methods(["GET", "POST"])
def custom_fields(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    message = ""
    if request.method == "POST":
        choices = [c.strip() for c in request.POST.get("choices", "").splitlines() if c.strip()]
        try:
            customfield_services.custom_field_create(
                actor=ui_actor(request),
                data={
                    "entity": request.POST.get("entity", "deal"),
                    "key": request.POST.get("key", ""),
                    "name": request.POST.get("name", ""),
                    "type": request.POST.get("type", ""),
                    "choices": choices,
                },
            )
            messages.success(request, _("Поле добавлено"))
            return redirect("deals:settings-fields")
        except ApplicationError as exc:
            errors, message = exc.errors, exc.message
    entity = request.GET.get("entity", "")
    entity = entity if entity in CustomFieldEntity.values else ""
    fields = CustomField.objects.order_by("entity", "sort", "id")
    if entity:
        fields = fields.filter(entity=entity)
    return render(
        request,
        "deals/settings_fields.html",
        {
            "fields": fields,
            "entities": CustomFieldEntity.choices,
            "entity": entity,
            "types": CustomFieldType.choices,
            "errors": errors,
            "message": message,
            "post": request.POST,
        },
        status=422 if errors else 200,
    )


@configure_required
@require_POST
def custom_field_toggle(request: HttpRequest, field_id: int) -> HttpResponse:
    field = CustomField.objects.filter(pk=field_id).first()
    if field is None:
        return not_found(request)
    customfield_services.custom_field_update(
        field=field, actor=ui_actor(request), data={"is_active": not field.is_active}
    )
    return redirect("deals:settings-fields")
