"""Configuration screens (role flag can_configure): pipelines, stages, custom fields."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from voronka.deals import services
from voronka.deals.models import Pipeline, Stage, StageSemantic
from voronka.deals.services import BUILTIN_REQUIRABLE
from voronka.identity.scopes import has_flag
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType


def configure_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not has_flag(request.user, "can_configure"):
            return render(request, "web/error.html", {"code": 403}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, request=request)


def _stage_form(post: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ("name", "semantic", "color"):
        if key in post:
            data[key] = post.get(key)
    if "sla_days" in post:
        data["sla_days"] = post.get("sla_days") or None
    if "required_fields__present" in post:
        data["required_fields"] = post.getlist("required_fields")
    return data


@configure_required
@require_http_methods(["GET", "POST"])
def pipelines(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            pipeline = services.pipeline_create(
                actor=_actor(request), name=request.POST.get("name", "")
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


def _pipeline_context(pipeline: Pipeline, **extra: Any) -> dict[str, Any]:
    requirable = [(k, str(v)) for k, v in BUILTIN_REQUIRABLE.items()] + [
        (f.key, f.name)
        for f in CustomField.objects.filter(entity=CustomFieldEntity.DEAL, is_active=True)
    ]
    context = {
        "pipeline": pipeline,
        "stages": list(pipeline.stages.all()),
        "semantics": StageSemantic.choices,
        "requirable": requirable,
        "builtin_count": len(BUILTIN_REQUIRABLE),
        "errors": {},
        "error_stage": None,
    }
    context.update(extra)
    return context


@configure_required
@require_http_methods(["GET", "POST"])
def pipeline_edit(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return render(request, "web/error.html", {"code": 404}, status=404)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "rename":
                services.pipeline_rename(
                    pipeline=pipeline, actor=_actor(request), name=request.POST.get("name", "")
                )
                messages.success(request, _("Воронка переименована"))
            else:
                services.stage_create(
                    pipeline=pipeline, actor=_actor(request), data=_stage_form(request.POST)
                )
                messages.success(request, _("Стадия добавлена"))
        except ApplicationError as exc:
            return render(
                request,
                "deals/settings_pipeline.html",
                _pipeline_context(pipeline, errors=exc.errors, message=exc.message),
                status=exc.status,
            )
        return redirect("deals:settings-pipeline", pipeline_id=pipeline.pk)
    return render(request, "deals/settings_pipeline.html", _pipeline_context(pipeline))


@configure_required
@require_POST
def stage_edit(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    stage = Stage.objects.filter(pk=stage_id, pipeline_id=pipeline_id).first()
    if stage is None:
        return render(request, "web/error.html", {"code": 404}, status=404)
    try:
        services.stage_update(stage=stage, actor=_actor(request), data=_stage_form(request.POST))
        messages.success(request, _("Стадия «%(name)s» сохранена") % {"name": stage.name})
    except ApplicationError as exc:
        return render(
            request,
            "deals/settings_pipeline.html",
            _pipeline_context(
                stage.pipeline, errors=exc.errors, message=exc.message, error_stage=stage.pk
            ),
            status=exc.status,
        )
    return redirect("deals:settings-pipeline", pipeline_id=pipeline_id)


@configure_required
@require_POST
def stage_delete(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    stage = Stage.objects.filter(pk=stage_id, pipeline_id=pipeline_id).first()
    if stage is None:
        return render(request, "web/error.html", {"code": 404}, status=404)
    try:
        services.stage_delete(stage=stage, actor=_actor(request))
        messages.success(request, _("Стадия удалена"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("deals:settings-pipeline", pipeline_id=pipeline_id)


@configure_required
@require_POST
def stages_reorder(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return render(request, "web/error.html", {"code": 404}, status=404)
    order = [int(x) for x in request.POST.getlist("order") if x.isdigit()]
    move = request.POST.get("move", "")
    if move and not order:  # the buttons ↑/↓ without JavaScript: "<id>:up" or "<id>:down"
        ids = list(pipeline.stages.values_list("pk", flat=True))
        sid, _sep, direction = move.partition(":")
        if sid.isdigit() and int(sid) in ids:
            i = ids.index(int(sid))
            j = i - 1 if direction == "up" else i + 1
            if 0 <= j < len(ids):
                ids[i], ids[j] = ids[j], ids[i]
        order = ids
    try:
        services.stages_reorder(pipeline=pipeline, actor=_actor(request), order=order)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("deals:settings-pipeline", pipeline_id=pipeline_id)


@configure_required
@require_http_methods(["GET", "POST"])
def custom_fields(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    message = ""
    if request.method == "POST":
        choices = [c.strip() for c in request.POST.get("choices", "").splitlines() if c.strip()]
        try:
            services.custom_field_create(
                actor=_actor(request),
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
        return render(request, "web/error.html", {"code": 404}, status=404)
    services.custom_field_update(
        field=field, actor=_actor(request), data={"is_active": not field.is_active}
    )
    return redirect("deals:settings-fields")
