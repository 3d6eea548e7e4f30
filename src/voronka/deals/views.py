"""Deal screens: the kanban, the list, the deal card, create/edit/move, comments, files.

Thin: parse the request, call the service or selector, render. A refused action re-renders
its form with the service's messages (422 validation, 409 conflict); records are loaded only
through the scoped selectors, so a deal outside the user's scope is a 404. An htmx request
(header HX-Request) gets the page's partial template instead of the whole page."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from voronka.activities.models import TaskStatus
from voronka.activities.selectors import object_timeline
from voronka.activities.services import comment_add
from voronka.activities.task_selectors import deal_marks
from voronka.contacts.models import Company, Contact
from voronka.contacts.selectors import companies_visible, contacts_visible
from voronka.deals import selectors, services
from voronka.deals.forms import custom_from_post, deal_from_post, uploaded_files
from voronka.deals.models import Deal, LossReason, Stage, StageSemantic
from voronka.identity.scopes import assignable_users, has_flag, scope_filter
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.customfields import definitions
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError
from voronka.kernel.files import file_store
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType, StoredFile

CURRENCIES = ["RUB", "USD", "EUR", "KZT", "BYN"]
COMPANY_CHOICES = 500  # companies offered in a select; the current one is always included


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, request=request)


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _status(exc: ApplicationError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"code": 404}, status=404)


def _deal_fields() -> list[CustomField]:
    return list(definitions(CustomFieldEntity.DEAL).values())


def _int_param(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 18 else None


def _store_uploads(request: HttpRequest, fields: list[CustomField], values: dict[str, Any]) -> None:
    """Uploaded files of file custom fields → StoredFile ids in `values` (errors name the field)."""
    for key, upload in uploaded_files(fields, request.FILES).items():
        values[key] = file_store(
            upload=upload, entity="deal", actor=_actor(request), field=f"custom.{key}"
        ).pk


# --- board --------------------------------------------------------------------------------


def _board_filters(request: HttpRequest) -> tuple[int | None, str, str]:
    responsible = _int_param(request.GET.get("responsible"))
    q = request.GET.get("q", "").strip()[:200]
    query = QueryDict(mutable=True)
    if responsible:
        query["responsible"] = str(responsible)
    if q:
        query["q"] = q
    return responsible, q, query.urlencode()


@require_GET
def pipeline_board(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    try:
        pipeline = selectors.pipeline_get(pipeline_id)
    except NotFound:
        return _not_found(request)
    responsible, q, query = _board_filters(request)
    columns = selectors.pipeline_board(
        pipeline=pipeline, user=request.user, responsible=responsible, q=q
    )
    now = clock.now()
    cards = [c for col in columns for c in col.cards]
    deal_marks(cards, now, stages=[col.stage for col in columns])
    for col in columns:
        col.hidden_count = col.count - len(col.cards)
        col.hidden_sum = col.total - sum(d.amount for d in col.cards)
    context = {
        "pipeline": pipeline,
        "columns": columns,
        "people": assignable_users(request.user, "deal"),
        "responsible": responsible,
        "q": q,
        "query": query,
        "now": now,
        "open_count": sum(c.count for c in columns if c.stage.semantic == StageSemantic.OPEN),
        "open_sum": sum(c.total for c in columns if c.stage.semantic == StageSemantic.OPEN),
        "attention": sum(1 for d in cards if d.mark_no_task or d.mark_overdue),
    }
    if _htmx(request):
        return render(request, "deals/_board_partial.html", context)
    return render(request, "deals/board.html", context)


@require_GET
def board_column_more(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    try:
        pipeline = selectors.pipeline_get(pipeline_id)
    except NotFound:
        return _not_found(request)
    stage = next((s for s in pipeline.stages.all() if s.pk == stage_id), None)
    if stage is None:
        return _not_found(request)
    offset = min(_int_param(request.GET.get("offset")) or 0, 10**6)
    responsible, q, query = _board_filters(request)
    cards = selectors.board_column_page(
        pipeline=pipeline,
        stage=stage,
        user=request.user,
        offset=offset,
        responsible=responsible,
        q=q,
    )
    deal_marks(cards)
    return render(
        request,
        "deals/_cards_more.html",
        {
            "cards": cards,
            "stage": stage,
            "pipeline": pipeline,
            "now": clock.now(),
            "query": query,
            "next_offset": offset + len(cards)
            if len(cards) == selectors.BOARD_CARDS_PER_STAGE
            else None,
        },
    )


# --- moves --------------------------------------------------------------------------------


@require_POST
def deal_move(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Drag on the board, a click on the card's stage bar, or the required-fields form."""
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
    except NotFound:
        return _not_found(request)
    stage_raw = request.POST.get("stage", "")
    target = (
        Stage.objects.filter(pk=int(stage_raw)).first()
        if stage_raw.isdigit() and len(stage_raw) < 18
        else None
    )
    fields_def = _deal_fields()
    fields = custom_from_post(fields_def, request.POST)
    for key in ("amount", "comment"):
        if key in request.POST:
            fields[key] = request.POST.get(key)
    if "contacts__present" in request.POST:
        fields["contacts"] = [x for x in request.POST.getlist("contacts") if x]
    try:
        _store_uploads(request, fields_def, fields)
        deal = services.deal_move_to_stage(
            deal=deal,
            stage=target.pk if target else stage_raw,
            actor=_actor(request),
            version=request.POST.get("version") or None,
            fields=fields,
            loss_reason=request.POST.get("loss_reason") or None,
            loss_comment=request.POST.get("loss_comment", ""),
        )
    except ApplicationError as exc:
        return _move_error(request, deal, target, exc)
    if _htmx(request):
        deal = selectors.deal_get(user=request.user, deal_id=deal.pk)
        deal_marks([deal])
        return render(
            request, "deals/_card.html", {"deal": deal, "stage": deal.stage, "now": clock.now()}
        )
    messages.success(
        request, _("Сделка перемещена на стадию «%(stage)s»") % {"stage": deal.stage.name}
    )
    return redirect(_safe_next(request, reverse("deals:deal-detail", args=[deal.pk])))


def _move_error(
    request: HttpRequest, deal: Deal, target: Stage | None, exc: ApplicationError
) -> HttpResponse:
    needs_form = exc.code in (
        ErrorCode.REQUIRED_FIELDS_MISSING,
        ErrorCode.LOSS_REASON_REQUIRED,
    ) or (
        exc.code == ErrorCode.VALIDATION
        and target is not None
        and any(
            k.startswith("custom.") or k in ("amount", "comment", "contacts", "loss_reason")
            for k in exc.errors
        )
    )
    if needs_form and target is not None and target.pipeline_id == deal.pipeline_id:
        keys = list(target.required_fields or [])
        context = {
            "deal": deal,
            "stage": target,
            "fields": [f for f in _deal_fields() if f.key in keys],
            "need_amount": "amount" in keys,
            "need_comment": "comment" in keys,
            "need_contacts": "contacts" in keys,
            "company_contacts": list(
                contacts_visible(request.user).filter(company_id=deal.company_id)[:200]
            )
            if "contacts" in keys
            else [],
            "need_reason": target.semantic == StageSemantic.LOST,
            "reasons": LossReason.objects.filter(is_active=True),
            "errors": exc.errors,
            "message": exc.message,
            "post": request.POST,
            "values": deal.custom,
            "next": request.POST.get("next", ""),
        }
        template = "deals/_move_form.html" if _htmx(request) else "deals/move.html"
        return render(request, template, context, status=422)
    status = _status(exc)
    if _htmx(request):
        fresh = None
        if exc.code == ErrorCode.CONFLICT:
            fresh = selectors.deal_get(user=request.user, deal_id=deal.pk)
            deal_marks([fresh])
        return render(
            request,
            "deals/_move_refused.html",
            {
                "message": exc.message,
                "conflict": exc.code == ErrorCode.CONFLICT,
                "deal": fresh,
                "stage": fresh.stage if fresh else None,
            },
            status=status,
        )
    messages.error(request, exc.message)
    return redirect(_safe_next(request, reverse("deals:deal-detail", args=[deal.pk])))


def _safe_next(request: HttpRequest, default: str) -> str:
    nxt = request.POST.get("next") or ""
    return nxt if nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else default


# --- list -----------------------------------------------------------------------------------

PAGE = 50


@require_GET
def deal_list(request: HttpRequest) -> HttpResponse:
    error = None
    try:
        filters = selectors.DealFilter.from_params(request.GET)
    except ValidationError as exc:
        filters, error = selectors.DealFilter(), exc
    cursor = request.GET.get("cursor") or None
    rows: list[Deal] = []
    if error is None:
        try:
            rows = list(
                selectors.deal_list(
                    user=request.user, filters=filters, limit=PAGE, cursor=cursor
                ).for_list()
            )
        except ValidationError as exc:
            error = exc
    next_cursor = selectors.next_cursor(rows, filters.sort, PAGE)
    rows = rows[:PAGE]
    deal_marks(rows)
    params = request.GET.copy()
    params.pop("cursor", None)
    sort_params = params.copy()
    sort_params.pop("sort", None)
    pipelines = selectors.pipelines_list()
    board_pipeline = filters.pipeline or (pipelines[0].pk if pipelines else None)
    context = {
        "deals": rows,
        "filters": filters,
        "error": error,
        "next_cursor": next_cursor,
        "query": params.urlencode(),
        "sort_query": sort_params.urlencode(),
        "pipelines": pipelines,
        "stages": [
            s
            for p in pipelines
            for s in p.stages.all()
            if not filters.pipeline or p.pk == filters.pipeline
        ],
        "people": assignable_users(request.user, "deal"),
        "now": clock.now(),
        "is_first": not cursor,
        "board_pipeline": board_pipeline,
        "sort_links": _sort_links(filters.sort, sort_params.urlencode()),
    }
    status = 422 if error else 200
    if _htmx(request) and request.headers.get("HX-Target") == "deal-results":
        return render(request, "deals/_list_results.html", context, status=status)
    return render(request, "deals/list.html", context, status=status)


def _sort_links(current: str, base: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the URL that sorts by it (toggling direction) and the arrow to show."""
    links = {}
    for column, first in (
        ("title", "title"),
        ("amount", "-amount"),
        ("opened_at", "-opened_at"),
        ("stage_entered_at", "stage_entered_at"),
    ):
        if current == column:
            target, arrow = f"-{column}", "↑"
        elif current == f"-{column}":
            target, arrow = column, "↓"
        else:
            target, arrow = first, ""
        links[column] = {"href": f"?{base}{'&' if base else ''}sort={target}", "arrow": arrow}
    return links


# --- card -----------------------------------------------------------------------------------


def _company_choices(request: HttpRequest, current: int | None) -> list[Company]:
    qs = companies_visible(request.user).only("id", "name").order_by("name")
    choices = list(qs[:COMPANY_CHOICES])
    if current and all(c.pk != current for c in choices):
        choices += list(qs.filter(pk=current))
    return choices


def _with(choices: list[Any], current: list[Any]) -> list[Any]:
    """The choices plus the record's current values (which the user may not be able to pick)."""
    have = {c.pk for c in choices}
    return choices + [c for c in current if c.pk not in have]


def _timeline(deal: Deal) -> list[Any]:
    timeline = object_timeline(
        object_type="deal", object_id=deal.pk, stage_changes=deal.stage_changes.all()
    )
    colours = {s.pk: s.color for s in deal.pipeline.stages.all()}
    for item in timeline:
        if item.to_stage is not None:
            item.color = colours.get(item.to_stage.pk, "#3b82f6")
            item.from_color = (
                colours.get(item.from_stage.pk, "#94a3b8") if item.from_stage else "#94a3b8"
            )
    return timeline


def _card_context(request: HttpRequest, deal: Deal, **extra: Any) -> dict[str, Any]:
    fields = _deal_fields()
    stages = list(deal.pipeline.stages.all())
    current_index = next((i for i, s in enumerate(stages) if s.pk == deal.stage_id), 0)
    tasks = list(
        deal.tasks.select_related("responsible", "deal").order_by("-status", "deadline")[:50]
    )
    file_ids = [
        deal.custom.get(f.key)
        for f in fields
        if f.type == CustomFieldType.FILE and deal.custom.get(f.key)
    ]
    deal_marks([deal])
    editing = bool(extra.get("editing"))
    contacts = list(deal.contacts.all().prefetch_related("phones", "emails"))
    context = {
        "deal": deal,
        "fields": fields,
        "timeline": _timeline(deal),
        "stages": stages,
        "current_index": current_index,
        "open_stages": [s for s in stages if s.semantic == StageSemantic.OPEN],
        "closed_stages": [s for s in stages if s.semantic != StageSemantic.OPEN],
        "contacts": contacts,
        "contact_ids": {c.pk for c in contacts},
        # The current company/responsible/contacts stay selectable even when the user could not
        # pick them (another manager's company, a deactivated user): see _changed_only.
        "company_contacts": _with(
            list(contacts_visible(request.user).filter(company=deal.company)[:200]), contacts
        )
        if editing
        else [],
        "companies": _with(_company_choices(request, deal.company_id), [deal.company])
        if editing
        else [],
        "people": _with(list(assignable_users(request.user, "deal")), [deal.responsible])
        if editing
        else [],
        "currencies": CURRENCIES,
        "tasks": tasks,
        "now": clock.now(),
        "files": {f.pk: f for f in StoredFile.objects.filter(pk__in=file_ids)} if file_ids else {},
        "open_tasks": [t for t in tasks if t.status == TaskStatus.OPEN],
        "can_delete": has_flag(request.user, "can_delete"),
        "days_in_stage": selectors.days_in_stage(deal),
        "errors": {},
        "post": None,
        "editing": editing,
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
        data = _changed_only(deal, deal_from_post(request.POST))
        data.pop("pipeline", None)
        data.pop("stage", None)
        fields = _deal_fields()
        data["custom"] = custom_from_post(fields, request.POST)
        try:
            _store_uploads(request, fields, data["custom"])
            services.deal_update(deal=deal, actor=_actor(request), data=data)
        except ApplicationError as exc:
            deal = selectors.deal_get(user=request.user, deal_id=deal_id)
            conflict = exc.code == ErrorCode.CONFLICT
            return render(
                request,
                "deals/card.html",
                _card_context(
                    request,
                    deal,
                    errors=exc.errors,
                    message=exc.message,
                    editing=True,
                    conflict=conflict,
                    # On a conflict the form shows the fresh record (the other user's values) with the
                    # new version, and lists what this user typed, so nothing is lost or overwritten.
                    post=None if conflict else request.POST,
                    unsaved=_unsaved(deal, request.POST) if conflict else [],
                ),
                status=_status(exc),
            )
        messages.success(request, _("Сделка сохранена"))
        return redirect("deals:deal-detail", deal_id=deal.pk)
    return render(
        request,
        "deals/card.html",
        _card_context(request, deal, editing=request.GET.get("edit") == "1"),
    )


def _changed_only(deal: Deal, data: dict[str, Any]) -> dict[str, Any]:
    """Drop the relations the form sends back unchanged. A select offers only what the user may
    assign, so an unchanged company/responsible/contact outside that list (another manager's
    company, a deactivated responsible) is neither re-validated nor silently replaced."""
    if data.get("company") == str(deal.company_id):
        data.pop("company")
    if data.get("responsible") == str(deal.responsible_id):
        data.pop("responsible")
    if "contacts" in data:
        current = {str(pk) for pk in deal.contacts.values_list("pk", flat=True)}
        if set(data["contacts"]) == current:
            data.pop("contacts")
    return data


def _unsaved(deal: Deal, post: QueryDict) -> list[tuple[str, str]]:
    """The posted values of the main fields that differ from the stored deal."""
    labels = {
        "title": _("Название"),
        "amount": _("Сумма"),
        "currency": _("Валюта"),
        "source": _("Источник"),
        "comment": _("Комментарий"),
    }
    rows = []
    for key, label in labels.items():
        if key not in post:
            continue
        posted = post.get(key, "").strip()
        stored = deal.amount if key == "amount" else getattr(deal, key)
        if key == "amount":
            try:
                same = Decimal(posted.replace(" ", "").replace(",", ".") or "0") == stored
            except InvalidOperation:
                same = False
        else:
            same = posted == str(stored).strip()
        if not same:
            rows.append((label, posted))
    return rows


@require_POST
def deal_comment(request: HttpRequest, deal_id: int) -> HttpResponse:
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
    except NotFound:
        return _not_found(request)
    error = None
    try:
        comment_add(obj=deal, actor=_actor(request), text=request.POST.get("text", ""))
    except ApplicationError as exc:
        error = exc
    if _htmx(request):
        return render(
            request,
            "deals/_timeline.html",
            {
                "deal": deal,
                "timeline": _timeline(deal),
                "comment_error": error.message if error else "",
                "comment_text": request.POST.get("text", "") if error else "",
            },
            status=_status(error) if error else 200,
        )
    if error is not None:
        messages.error(request, error.message)
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
    source = request.POST if request.method == "POST" else request.GET
    company_id = _int_param(source.get("company"))
    company_contacts: list[Contact] = []
    if company_id:
        company_contacts = list(contacts_visible(request.user).filter(company_id=company_id)[:200])
    if (
        request.method == "GET"
        and _htmx(request)
        and request.headers.get("HX-Target") == "deal-contacts"
    ):
        # The company select changed: offer that company's contacts.
        return render(
            request,
            "deals/_contacts_field.html",
            {
                "company_contacts": company_contacts,
                "selected": set(),
                "company_id": company_id,
            },
        )
    pipeline_id = _int_param(source.get("pipeline"))
    context: dict[str, Any] = {
        "pipelines": pipelines,
        "fields": [f for f in fields if f.type != CustomFieldType.FILE],
        "people": assignable_users(request.user, "deal"),
        "currencies": CURRENCIES,
        "companies": _company_choices(request, company_id),
        "company_contacts": company_contacts,
        "selected": {int(x) for x in source.getlist("contacts") if x.isdigit() and len(x) < 18},
        "errors": {},
        "post": source,
        "pipeline_id": pipeline_id or (pipelines[0].pk if pipelines else None),
        "company_id": company_id,
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


@require_GET
def file_download(request: HttpRequest, file_id: int) -> HttpResponse:
    """Files are served only to users who can see the record that holds them, always as an
    attachment (never rendered by the browser)."""
    stored = StoredFile.objects.filter(pk=file_id).first()
    if stored is None or stored.entity not in ("deal", "company", "contact"):
        raise Http404
    model = {"deal": Deal, "company": Company, "contact": Contact}[stored.entity]
    keys = CustomField.objects.filter(entity=stored.entity, type=CustomFieldType.FILE).values_list(
        "key", flat=True
    )
    cond = Q(pk__in=[])
    for key in keys:
        cond |= Q(**{f"custom__{key}": stored.pk})
    if not scope_filter(model.objects.all(), request.user, stored.entity).filter(cond).exists():
        raise Http404
    response = FileResponse(stored.file.open("rb"), as_attachment=True, filename=stored.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
