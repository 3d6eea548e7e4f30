"""Deal screens: the kanban, the list, the deal card, create/edit/move, comments, files.

Thin: parse the request, call the service or selector, render. A refused action re-renders
its form with the service's messages (422 validation, 409 conflict); records are loaded only
through the scoped selectors, so a deal outside the user's scope is a 404. An htmx request
(header HX-Request) gets the page's partial template instead of the whole page."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from voronka.activities.models import TaskStatus
from voronka.activities.selectors import object_timeline
from voronka.activities.services import comment_add
from voronka.activities.task_selectors import deal_marks
from voronka.contacts.models import CompanyType, Contact
from voronka.contacts.selectors import company_name, contacts_visible
from voronka.deals import selectors, services
from voronka.deals.forms import custom_from_post, deal_from_post, uploaded_files
from voronka.deals.models import Deal, Stage, StageSemantic
from voronka.identity.scopes import assignable_people, assignable_users, has_flag
from voronka.identity.selectors import department_name
from voronka.kernel import clock
from voronka.kernel.currencies import currency_choices
from voronka.kernel.customfields import definitions
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError
from voronka.kernel.fields import to_id_or_none
from voronka.kernel.files import file_store, files_of_record
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType
from voronka.kernel.money import MoneySums, sum_by_currency
from voronka.web.http import error_status, htmx_target, is_htmx, next_url, not_found, ui_actor


def _deal_fields() -> list[CustomField]:
    return list(definitions(CustomFieldEntity.DEAL).values())


def _int_param(raw: str | None) -> int | None:
    return to_id_or_none((raw or "").strip())


def _store_uploads(request: HttpRequest, fields: list[CustomField], values: dict[str, Any]) -> None:
    """Uploaded files of file custom fields → their tokens in `values` (errors name the field).
    The service attaches them to the deal (kernel.files.files_attach)."""
    for key, upload in uploaded_files(fields, request.FILES).items():
        values[key] = file_store(
            upload=upload, entity="deal", actor=ui_actor(request), field=f"custom.{key}"
        ).token


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
        pipeline, stages = selectors.board_pipeline(pipeline_id)
    except NotFound:
        return not_found(request)
    responsible, q, query = _board_filters(request)
    columns = selectors.pipeline_board(
        pipeline=pipeline, user=request.user, responsible=responsible, q=q, stages=stages
    )
    now = clock.now()
    cards = [c for col in columns for c in col.cards]
    deal_marks(cards, now, stages=[col.stage for col in columns])
    for col in columns:
        col.hidden_count = col.count - len(col.cards)
        # Per currency: app.js adds the cards on screen to these after a drag.
        col.hidden_sums = col.sums - sum_by_currency(col.cards)
    context = {
        "pipeline": pipeline,
        "columns": columns,
        "people": assignable_people(request.user, "deal"),
        "responsible": responsible,
        "q": q,
        "query": query,
        "now": now,
        "open_count": sum(c.count for c in columns if c.stage.semantic == StageSemantic.OPEN),
        "open_sums": sum(
            (c.sums for c in columns if c.stage.semantic == StageSemantic.OPEN), MoneySums()
        ),
        "attention": sum(1 for d in cards if d.mark_no_task or d.mark_overdue),
    }
    if is_htmx(request):
        return render(request, "deals/_board_partial.html", context)
    return render(request, "deals/board.html", context)


@require_GET
def board_column_more(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    try:
        pipeline, stages = selectors.board_pipeline(pipeline_id)
    except NotFound:
        return not_found(request)
    stage = next((s for s in stages if s.pk == stage_id), None)
    if stage is None:
        return not_found(request)
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
        return not_found(request)
    stage_raw = request.POST.get("stage", "")
    stage_id = to_id_or_none(stage_raw)
    target = selectors.stage_get_or_none(stage_id)
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
            actor=ui_actor(request),
            version=request.POST.get("version") or None,
            fields=fields,
            loss_reason=request.POST.get("loss_reason") or None,
            loss_comment=request.POST.get("loss_comment", ""),
        )
    except ApplicationError as exc:
        return _move_error(request, deal, target, exc)
    if is_htmx(request):
        deal = selectors.deal_get(user=request.user, deal_id=deal.pk)
        deal_marks([deal])
        return render(
            request, "deals/_card.html", {"deal": deal, "stage": deal.stage, "now": clock.now()}
        )
    messages.success(
        request, _("Сделка перемещена на стадию «%(stage)s»") % {"stage": deal.stage.name}
    )
    return redirect(next_url(request, reverse("deals:deal-detail", args=[deal.pk])))


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
            k.startswith("custom.")
            or k in ("amount", "comment", "contacts", "loss_reason", "loss_comment")
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
            "reasons": selectors.loss_reasons_active(),
            "errors": exc.errors,
            "message": exc.message,
            "post": request.POST,
            "values": deal.custom,
            "files": files_of_record(entity="deal", record=deal),
            "next": next_url(request, ""),
        }
        template = "deals/_move_form.html" if is_htmx(request) else "deals/move.html"
        return render(request, template, context, status=422)
    status = error_status(exc)
    if is_htmx(request):
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
    return redirect(next_url(request, reverse("deals:deal-detail", args=[deal.pk])))


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
    next_cursor = None
    if error is None:
        try:
            page = selectors.deal_list(
                user=request.user, filters=filters, limit=PAGE, cursor=cursor
            )
            rows, next_cursor = page.items, page.next_cursor
        except ValidationError as exc:
            error = exc
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
        "department_name": department_name(filters.department),
    }
    status = 422 if error else 200
    if htmx_target(request) == "deal-results":
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


def _with(choices: list[Any], current: list[Any]) -> list[Any]:
    """The choices plus the record's current values (which the user may not be able to pick)."""
    have = {c.pk for c in choices}
    return choices + [c for c in current if c.pk not in have]


def _timeline(deal: Deal, stages: list[Stage] | None = None) -> list[Any]:
    """The deal's timeline; `stages` (the pipeline's, when the caller has them) for the colours."""
    timeline = object_timeline(
        object_type="deal", object_id=deal.pk, stage_changes=deal.stage_changes.all()
    )
    stages = list(deal.pipeline.stages.all()) if stages is None else stages
    colours = {s.pk: s.color for s in stages}
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
    deal_marks([deal], stages=stages)  # the stages' limits: no query of its own
    editing = bool(extra.get("editing"))
    contacts = list(deal.contacts.all().prefetch_related("phones", "emails"))
    context: dict[str, Any] = {
        "deal": deal,
        "fields": fields,
        "timeline": _timeline(deal, stages),
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
        "company_types": CompanyType.choices,
        "people": _with(list(assignable_users(request.user, "deal")), [deal.responsible])
        if editing
        else [],
        "currencies": currency_choices(deal.currency),
        "tasks": tasks,
        "now": clock.now(),
        "files": files_of_record(entity="deal", record=deal, fields=fields),
        "open_tasks": [t for t in tasks if t.status == TaskStatus.OPEN],
        "can_delete": has_flag(request.user, "can_delete"),
        "days_in_stage": selectors.days_in_stage(deal),
        "errors": {},
        "post": None,
        "editing": editing,
    }
    context.update(extra)
    # The company picker: the posted choice after a refused save, else the deal's company.
    post = context["post"]
    picked = to_id_or_none(post.get("company")) if post else None
    if picked and picked != deal.company_id:
        context["company_value"] = picked
        context["company_label"] = company_name(user=request.user, company_id=picked)
    else:
        context["company_value"], context["company_label"] = deal.company_id, deal.company.name
    return context


@require_http_methods(["GET", "POST"])
def deal_detail(request: HttpRequest, deal_id: int) -> HttpResponse:
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
    except NotFound:
        return not_found(request)
    if request.method == "POST":
        data = _changed_only(deal, deal_from_post(request.POST))
        data.pop("pipeline", None)
        data.pop("stage", None)
        fields = _deal_fields()
        data["custom"] = custom_from_post(fields, request.POST)
        try:
            _store_uploads(request, fields, data["custom"])
            services.deal_update(deal=deal, actor=ui_actor(request), data=data)
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
                status=error_status(exc),
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
        return not_found(request)
    error = None
    try:
        comment_add(obj=deal, actor=ui_actor(request), text=request.POST.get("text", ""))
    except ApplicationError as exc:
        error = exc
    if is_htmx(request):
        return render(
            request,
            "deals/_timeline.html",
            {
                "deal": deal,
                "timeline": _timeline(deal),
                "comment_error": error.message if error else "",
                "comment_text": request.POST.get("text", "") if error else "",
            },
            status=error_status(error) if error else 200,
        )
    if error is not None:
        messages.error(request, error.message)
    return redirect(reverse("deals:deal-detail", args=[deal_id]) + "#timeline")


@require_POST
def deal_delete(request: HttpRequest, deal_id: int) -> HttpResponse:
    try:
        deal = selectors.deal_get(user=request.user, deal_id=deal_id)
    except NotFound:
        return not_found(request)
    try:
        services.deal_delete(deal=deal, actor=ui_actor(request))
    except ApplicationError as exc:
        if exc.status in (403, 404):  # the service's refusal: no right, or not in scope
            return render(request, "web/error.html", {"code": exc.status}, status=exc.status)
        messages.error(request, exc.message)
        return redirect("deals:deal-detail", deal_id=deal_id)
    messages.success(request, _("Сделка удалена"))
    return redirect("deals:pipeline-board", pipeline_id=deal.pipeline_id)


def _create_stage_part(source: QueryDict, pipelines: list[Any]) -> dict[str, Any]:
    """The new-deal form's stage: the chosen pipeline's stages, the chosen one, and what entering
    it asks for (deals.services.stage_entry decides; this only shows it in advance)."""
    pipeline_id = _int_param(source.get("pipeline"))
    pipeline = next((p for p in pipelines if p.pk == pipeline_id), None)
    pipeline = pipeline or (pipelines[0] if pipelines else None)
    stages = list(pipeline.stages.all()) if pipeline else []
    stage_id = _int_param(source.get("stage"))
    stage = next((st for st in stages if st.pk == stage_id), None)
    required = list(stage.required_fields or []) if stage else []
    need_reason = stage is not None and stage.semantic == StageSemantic.LOST
    return {
        "pipeline_id": pipeline.pk if pipeline else None,
        "stage_groups": [
            (label, [st for st in stages if st.semantic == value])
            for value, label in StageSemantic.choices
            if any(st.semantic == value for st in stages)
        ],
        "stage_id": stage.pk if stage else None,
        "required_keys": required,
        "required_labels": list(services.required_field_labels(required).values()),
        "need_reason": need_reason,
        "reasons": selectors.loss_reasons_active() if need_reason else [],
    }


@require_http_methods(["GET", "POST"])
def deal_create(request: HttpRequest) -> HttpResponse:
    pipelines = selectors.pipelines_list()
    fields = _deal_fields()
    source = request.POST if request.method == "POST" else request.GET
    company_id = _int_param(source.get("company"))
    company_contacts: list[Contact] = []
    if company_id:
        company_contacts = list(contacts_visible(request.user).filter(company_id=company_id)[:200])
    # Ticked: the contacts sent, and the one "find the client" chose (client_contact).
    selected = {
        pk
        for pk in map(to_id_or_none, [*source.getlist("contacts"), source.get("client_contact")])
        if pk
    }
    if request.method == "GET" and htmx_target(request) == "deal-contacts":
        # The company picker changed: offer that company's contacts.
        return render(
            request,
            "deals/_contacts_field.html",
            {
                "company_contacts": company_contacts,
                "selected": selected,
                "company_id": company_id,
            },
        )
    stage_part = _create_stage_part(source, pipelines)
    if request.method == "GET" and htmx_target(request) == "deal-stage":
        # The pipeline or the stage changed: that pipeline's stages and what the stage asks for.
        return render(
            request, "deals/_create_stage.html", {**stage_part, "errors": {}, "post": source}
        )
    context: dict[str, Any] = {
        **stage_part,
        "pipelines": pipelines,
        "fields": [f for f in fields if f.type != CustomFieldType.FILE],
        "people": assignable_users(request.user, "deal"),
        "currencies": currency_choices(source.get("currency", "")),
        # The picker shows the chosen company's name (a type-ahead, not a list of every company).
        "company_label": company_name(user=request.user, company_id=company_id),
        "company_types": CompanyType.choices,
        "company_contacts": company_contacts,
        "selected": selected,
        "errors": {},
        "post": source,
        "values": {},
        "company_id": company_id,
    }
    if request.method == "POST":
        data = deal_from_post(request.POST)
        data["custom"] = custom_from_post(fields, request.POST)
        context["values"] = data["custom"]  # a refused form keeps what was typed
        for key in ("loss_reason", "loss_comment"):  # created in a lost stage: as a move there
            data[key] = request.POST.get(key)
        data = {k: v for k, v in data.items() if v not in ("", None) or k == "custom"}
        try:
            deal = services.deal_create(actor=ui_actor(request), data=data)
        except ApplicationError as exc:
            # A stage's required custom field is named by its key; its input reads custom.<key>.
            errors = {
                **exc.errors,
                **{f"custom.{f.key}": exc.errors[f.key] for f in fields if f.key in exc.errors},
            }
            context.update(errors=errors, message=exc.message)
            return render(request, "deals/create.html", context, status=error_status(exc))
        messages.success(request, _("Сделка создана"))
        return redirect("deals:deal-detail", deal_id=deal.pk)
    return render(request, "deals/create.html", context)
