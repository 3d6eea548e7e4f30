"""Deal screens: the kanban, the list, the deal card, create/edit/move, comments, files.
Thin: parse the request, call the service or selector, render; errors re-render with 4xx."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from voronka.activities.models import TaskStatus
from voronka.activities.selectors import object_timeline
from voronka.activities.services import comment_add
from voronka.activities.task_selectors import deal_marks
from voronka.contacts.selectors import companies_visible, contacts_visible
from voronka.deals import selectors, services
from voronka.deals.forms import custom_from_post, deal_from_post, uploaded_files
from voronka.deals.models import Deal, LossReason, Stage, StageSemantic
from voronka.identity.scopes import assignable_users, has_flag
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.customfields import definitions
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError
from voronka.kernel.files import file_store
from voronka.kernel.models import CustomFieldEntity, StoredFile


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, request=request)


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _status(exc: ApplicationError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"code": 404}, status=404)


def _deal_fields() -> list[Any]:
    return list(definitions(CustomFieldEntity.DEAL).values())


# --- board --------------------------------------------------------------------------------


def pipeline_board(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    try:
        pipeline = selectors.pipeline_get(pipeline_id)
    except NotFound:
        return _not_found(request)
    responsible = request.GET.get("responsible", "")
    responsible_id = int(responsible) if responsible.isdigit() else None
    q = request.GET.get("q", "").strip()[:200]
    columns = selectors.pipeline_board(pipeline=pipeline, user=request.user, responsible=responsible_id, q=q)
    now = clock.now()
    cards = [c for col in columns for c in col.cards]
    deal_marks(cards, now)
    total_count = sum(c.count for c in columns if c.stage.semantic == StageSemantic.OPEN)
    total_sum = sum(c.total for c in columns if c.stage.semantic == StageSemantic.OPEN)
    for col in columns:
        shown = sum(d.amount for d in col.cards)
        col.hidden_count = col.count - len(col.cards)
        col.hidden_sum = col.total - shown
    return render(request, "deals/board.html", {
        "pipeline": pipeline, "columns": columns, "people": assignable_users(request.user, "deal"),
        "responsible": responsible_id, "q": q, "now": now,
        "open_count": total_count, "open_sum": total_sum,
        "attention": sum(1 for d in cards if d.mark_no_task or d.mark_overdue),
    })


def board_column_more(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    try:
        pipeline = selectors.pipeline_get(pipeline_id)
    except NotFound:
        return _not_found(request)
    stage = Stage.objects.filter(pk=stage_id, pipeline=pipeline).first()
    if stage is None:
        return _not_found(request)
    offset = request.GET.get("offset", "0")
    offset_n = min(int(offset), 10**6) if offset.isdigit() else 0
    responsible = request.GET.get("responsible", "")
    cards = selectors.board_column_page(
        pipeline=pipeline, stage=stage, user=request.user, offset=offset_n,
        responsible=int(responsible) if responsible.isdigit() else None, q=request.GET.get("q", "")[:200],
    )
    deal_marks(cards)
    return render(request, "deals/_cards_more.html", {
        "cards": cards, "stage": stage, "pipeline": pipeline, "now": clock.now(),
        "next_offset": offset_n + len(cards) if len(cards) == selectors.BOARD_CARDS_PER_STAGE else None,
        "query": request.GET.urlencode(),
    })


# --- moves --------------------------------------------------------------------------------


@require_POST
def deal_move(request: HttpRequest, deal_id: int) -> HttpResponse:
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
    except NotFound:
        return _not_found(request)
    stage_raw = request.POST.get("stage", "")
    target = Stage.objects.filter(pk=int(stage_raw)).first() if stage_raw.isdigit() else None
    fields = custom_from_post(_deal_fields(), request.POST)
    for key in ("amount", "comment"):
        if key in request.POST:
            fields[key] = request.POST.get(key)
    try:
        uploads = uploaded_files(_deal_fields(), request.FILES)
        for key, upload in uploads.items():
            fields[key] = file_store(upload=upload, entity="deal", actor=_actor(request), field=key).pk
        deal = services.deal_move_to_stage(
            deal=deal, stage=target.pk if target else stage_raw, actor=_actor(request),
            version=request.POST.get("version") or None, fields=fields,
            loss_reason=request.POST.get("loss_reason") or None, loss_comment=request.POST.get("loss_comment", ""),
        )
    except ApplicationError as exc:
        return _move_error(request, deal, target, exc)
    if _htmx(request):
        deal = selectors.deal_get(user=request.user, deal_id=deal.pk)
        deal_marks([deal])
        return render(request, "deals/_card.html", {"deal": deal, "now": clock.now()})
    messages.success(request, _("Сделка перемещена на стадию «%(stage)s»") % {"stage": deal.stage.name})
    return redirect(_safe_next(request, reverse("deals:deal-detail", args=[deal.pk])))


def _move_error(request: HttpRequest, deal: Deal, target: Stage | None, exc: ApplicationError) -> HttpResponse:
    needs_form = exc.code in (ErrorCode.REQUIRED_FIELDS_MISSING, ErrorCode.LOSS_REASON_REQUIRED) or (
        exc.code == ErrorCode.VALIDATION and target is not None and any(
            k.startswith("custom.") or k in ("amount", "loss_reason") for k in exc.errors)
    )
    if needs_form and target is not None:
        keys = list(target.required_fields or [])
        fields = [f for f in _deal_fields() if f.key in keys]
        context = {
            "deal": deal, "stage": target, "fields": fields, "need_amount": "amount" in keys,
            "need_comment": "comment" in keys,
            "need_reason": target.semantic == StageSemantic.LOST,
            "reasons": LossReason.objects.filter(is_active=True), "errors": exc.errors, "message": exc.message,
            "post": request.POST, "values": deal.custom, "next": request.POST.get("next", ""),
        }
        template = "deals/_move_form.html" if _htmx(request) else "deals/move.html"
        return render(request, template, context, status=422)
    status = _status(exc)
    if _htmx(request):
        return render(request, "deals/_error.html", {"message": exc.message}, status=status)
    messages.error(request, exc.message)
    return redirect(reverse("deals:deal-detail", args=[deal.pk]))


def _safe_next(request: HttpRequest, default: str) -> str:
    nxt = request.POST.get("next") or ""
    return nxt if nxt.startswith("/") and not nxt.startswith("//") else default


# --- list -----------------------------------------------------------------------------------

LIST_COLUMNS = [("title", "Название"), ("amount", "Сумма"), ("opened_at", "Открыта"), ("stage_entered_at", "На стадии с")]


def deal_list(request: HttpRequest) -> HttpResponse:
    error = None
    try:
        filters = selectors.DealFilter.from_params(request.GET)
    except ValidationError as exc:
        filters, error = selectors.DealFilter(), exc
    cursor = request.GET.get("cursor") or None
    try:
        rows = list(selectors.deal_list(user=request.user, filters=filters, limit=50, cursor=cursor).for_list())
    except ValidationError as exc:
        rows, error = [], exc
    next_cursor = selectors.next_cursor(rows, filters.sort, 50)
    rows = rows[:50]
    deal_marks(rows)
    params = request.GET.copy()
    params.pop("cursor", None)
    sort_params = params.copy()
    sort_params.pop("sort", None)
    pipelines = selectors.pipelines_list()
    return render(request, "deals/list.html", {
        "deals": rows, "filters": filters, "error": error, "next_cursor": next_cursor,
        "query": params.urlencode(), "sort_query": sort_params.urlencode(), "pipelines": pipelines,
        "stages": [s for p in pipelines for s in p.stages.all()],
        "people": assignable_users(request.user, "deal"), "now": clock.now(),
        "is_first": not cursor,
    }, status=422 if error else 200)


# --- card -----------------------------------------------------------------------------------


def _card_context(request: HttpRequest, deal: Deal, **extra: Any) -> dict[str, Any]:
    fields = _deal_fields()
    timeline = object_timeline(object_type="deal", object_id=deal.pk, stage_changes=deal.stage_changes.all())
    stage_colors = {s.pk: s.color for s in deal.pipeline.stages.all()}
    for item in timeline:
        if item.to_stage is not None:
            item.color = stage_colors.get(item.to_stage.pk, "#3b82f6")
    stages = list(deal.pipeline.stages.all())
    current_index = next((i for i, s in enumerate(stages) if s.pk == deal.stage_id), 0)
    tasks = list(deal.tasks.select_related("responsible", "deal").order_by("-status", "deadline")[:50])
    files = {f.pk: f for f in StoredFile.objects.filter(
        pk__in=[deal.custom.get(f.key) for f in fields if f.type == "file" and deal.custom.get(f.key)])}
    deal_marks([deal])
    context = {
        "deal": deal, "fields": fields, "timeline": timeline, "stages": stages, "current_index": current_index,
        "contacts": list(deal.contacts.all().prefetch_related("phones", "emails")),
        "company_contacts": list(contacts_visible(request.user).filter(company=deal.company)),
        "people": assignable_users(request.user, "deal"), "tasks": tasks, "now": clock.now(),
        "files": files, "reasons": LossReason.objects.filter(is_active=True),
        "open_tasks": [t for t in tasks if t.status == TaskStatus.OPEN],
        "can_delete": has_flag(request.user, "can_delete"),
        "days_in_stage": selectors.days_in_stage(deal),
        "errors": {}, "post": None,
    }
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
def deal_detail(request: HttpRequest, deal_id: int) -> HttpResponse:
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
    except NotFound:
        return _not_found(request)
    if request.method == "POST":
        data = deal_from_post(request.POST)
        data.pop("pipeline", None)
        data.pop("stage", None)
        fields = _deal_fields()
        data["custom"] = custom_from_post(fields, request.POST)
        try:
            for key, upload in uploaded_files(fields, request.FILES).items():
                data["custom"][key] = file_store(upload=upload, entity="deal", actor=_actor(request), field=key).pk
            services.deal_update(deal=deal, actor=_actor(request), data=data)
        except ApplicationError as exc:
            deal = selectors.deal_get(user=request.user, deal_id=deal_id)
            conflict = exc.code == ErrorCode.CONFLICT
            return render(request, "deals/card.html", _card_context(
                request, deal, errors=exc.errors, message=exc.message, post=request.POST, editing=True,
                conflict=conflict,
            ), status=_status(exc))
        messages.success(request, _("Сделка сохранена"))
        return redirect("deals:deal-detail", deal_id=deal.pk)
    return render(request, "deals/card.html", _card_context(request, deal, editing=request.GET.get("edit") == "1"))


@require_POST
def deal_comment(request: HttpRequest, deal_id: int) -> HttpResponse:
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
        comment_add(obj=deal, actor=_actor(request), text=request.POST.get("text", ""))
    except NotFound:
        return _not_found(request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("deals:deal-detail", args=[deal_id]) + "#timeline")


@require_POST
def deal_delete(request: HttpRequest, deal_id: int) -> HttpResponse:
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
    except NotFound:
        return _not_found(request)
    if not has_flag(request.user, "can_delete"):
        return render(request, "web/error.html", {"code": 403}, status=403)
    try:
        services.deal_delete(deal=deal, actor=_actor(request))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("deals:deal-detail", deal_id=deal_id)
    messages.success(request, _("Сделка удалена"))
    return redirect("deals:pipeline-board", pipeline_id=deal.pipeline_id)


@require_http_methods(["GET", "POST"])
def deal_create(request: HttpRequest) -> HttpResponse:
    pipelines = selectors.pipelines_list()
    fields = _deal_fields()
    context: dict[str, Any] = {
        "pipelines": pipelines, "fields": fields, "people": assignable_users(request.user, "deal"),
        "companies": list(companies_visible(request.user).order_by("name")[:500]),
        "errors": {}, "post": request.POST if request.method == "POST" else request.GET,
    }
    if request.method == "POST":
        data = deal_from_post(request.POST)
        data["custom"] = custom_from_post(fields, request.POST)
        data = {k: v for k, v in data.items() if v not in ("", None) or k == "custom"}
        try:
            deal = services.deal_create(actor=_actor(request), data=data)
        except ApplicationError as exc:
            context.update(errors=exc.errors, message=exc.message)
            return render(request, "deals/create.html", context, status=_status(exc))
        messages.success(request, _("Сделка создана"))
        return redirect("deals:deal-detail", deal_id=deal.pk)
    return render(request, "deals/create.html", context)


def file_download(request: HttpRequest, file_id: int) -> HttpResponse:
    """Files are served only to users who can see the record that holds them."""
    stored = StoredFile.objects.filter(pk=file_id).first()
    if stored is None:
        raise Http404
    from django.db.models import Q

    from voronka.contacts.models import Company, Contact
    from voronka.identity.scopes import scope_filter
    from voronka.kernel.models import CustomField

    model = {"deal": Deal, "company": Company, "contact": Contact}[stored.entity]
    keys = CustomField.objects.filter(entity=stored.entity, type="file").values_list("key", flat=True)
    cond = Q(pk__in=[])
    for key in keys:
        cond |= Q(**{f"custom__{key}": stored.pk})
    if not scope_filter(model.objects.all(), request.user, stored.entity).filter(cond).exists():
        raise Http404
    response = FileResponse(stored.file.open("rb"), as_attachment=True, filename=stored.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
