"""Duplicate control screens: the «Возможно, это…» panel of the client forms, the «Такой клиент
уже есть» panel of a refused create, and the review screen «Дубли» (the scan's groups).

Thin, as every view: the check is duplicate_selectors.duplicate_check (bounded, scoped: a
candidate outside the user's scope comes masked), the refusal is the create service's
DuplicateFound, the groups are duplicate_selectors.duplicate_groups (a group is listed to a user
who sees all of its records), «Не дубли» is services.duplicate_group_dismiss and «Проверить
базу» is services.duplicates_scan_request (the scan itself runs in the worker; the screen polls
its progress). htmx only chooses the partial; every action works as a plain form post too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from voronka.contacts import duplicate_selectors, selectors, services
from voronka.contacts.models import ClientEntity, DuplicateGroup, DuplicateScan
from voronka.identity.models import User
from voronka.kernel.errors import ApplicationError, NotFound, ValidationError
from voronka.kernel.fields import to_id_or_none
from voronka.web.http import error_status, htmx_target, is_htmx, not_found, ui_actor

# What matched, as a person reads it (dedup/matching name the fields in English).
MATCHED = {
    "phone": _lazy("Телефон"),
    "email": _lazy("E-mail"),
    "inn": _lazy("ИНН"),
    "name": pgettext_lazy("matched field", "Имя"),  # a person's or a company's name
    "birthday": _lazy("День рождения"),
    "address": _lazy("Адрес"),
    "company": _lazy("Компания"),
}
# The fields a form sends to the check, per entity (the names the forms post).
CHECK_FIELDS: dict[str, tuple[str, ...]] = {
    ClientEntity.CONTACT: ("last_name", "first_name", "middle_name", "birthday"),
    ClientEntity.COMPANY: ("name", "inn"),
}
CHECK_LISTS = ("phone", "email")
PAGE = 20
# The hidden field of «Всё равно создать»: the create view then skips the duplicate refusal.
CONFIRM_FIELD = "duplicate_confirmed"


def user_of(request: HttpRequest) -> User:
    """The signed-in user (the login middleware lets no anonymous request reach these views)."""
    return cast(User, request.user)


def entity_of(raw: Any) -> str:
    return str(raw) if raw in ClientEntity.values else ClientEntity.CONTACT


def score_level(score: float, exact: bool = False) -> str:
    """How sure: «high» (red), «medium» (orange), «low» (blue) — the badge's colour."""
    if exact or score >= 0.95:
        return "high"
    if score >= 0.85:
        return "medium"
    return "low"


def matched_labels(matched: Iterable[str]) -> list[str]:
    return [str(MATCHED.get(m, m)) for m in matched]


def merge_url(entity: str, ids: Sequence[int]) -> str:
    """The merge screen (contacts/views_merge.py) for these records."""
    query = urlencode({"entity": entity, "ids": [str(i) for i in ids]}, doseq=True)
    return f"{reverse('contacts:merge')}?{query}"


def deal_url(company_id: int | None, contact_id: int | None = None) -> str:
    params: dict[str, int] = {}
    if company_id:
        params["company"] = company_id
    if contact_id:
        params["contacts"] = contact_id
    return f"{reverse('deals:deal-create')}?{urlencode(params)}"


def decorate(
    request: HttpRequest, candidates: Sequence[dict[str, Any]], *, links: bool
) -> list[dict[str, Any]]:
    """Candidate dicts (duplicate_selectors.candidates_out) with what the panel shows: the
    level, the matched fields in words, the card's address and — with `links`, for the visible
    exact ones — «Новая сделка на нём» (the deal form with the company and contact chosen)."""
    result = []
    for candidate in candidates:
        item = dict(candidate)
        item["level"] = score_level(item["score"], item["exact"])
        item["percent"] = round(item["score"] * 100)
        item["matched_labels"] = matched_labels(item["matched"])
        item["url"] = item["deal_url"] = None
        if item["visible"] and item.get("id"):
            if item["entity"] == ClientEntity.CONTACT:
                item["url"] = reverse("contacts:contact-detail", args=[item["id"]])
                if links and item["exact"]:
                    try:
                        contact = selectors.contact_get(
                            user=user_of(request), contact_id=item["id"]
                        )
                    except NotFound:  # deleted since the check: no deal link
                        contact = None
                    if contact is not None:
                        item["deal_url"] = deal_url(contact.company_id, contact.pk)
            else:
                item["url"] = reverse("contacts:company-detail", args=[item["id"]])
                if links and item["exact"]:
                    item["deal_url"] = deal_url(item["id"])
        result.append(item)
    return result


def duplicate_context(request: HttpRequest, exc: ApplicationError) -> dict[str, Any]:
    """For a create form refused by DuplicateFound: the «Такой клиент уже есть» panel."""
    if not isinstance(exc, services.DuplicateFound):
        return {}
    return {"existing": decorate(request, exc.existing, links=True), "confirm_field": CONFIRM_FIELD}


def check_wanted(request: HttpRequest) -> bool:
    """False when the person pressed «Всё равно создать» (the create is not refused)."""
    return request.POST.get(CONFIRM_FIELD) != "1"


def _check_data(query: QueryDict, entity: str) -> dict[str, Any]:
    data: dict[str, Any] = {k: query.get(k, "") for k in CHECK_FIELDS[entity]}
    if "new_company_name" in query:  # the picker's inline «new company» panel
        data["name"] = query.get("new_company_name", "")
    for key in CHECK_LISTS:
        data[key] = query.getlist(key)[:20]
    return data


# --- the form panel ------------------------------------------------------------------------------


@require_GET
def duplicate_check(request: HttpRequest) -> HttpResponse:
    """The «Возможно, это…» panel for what the form holds so far (htmx, as the person types).
    `exclude` is the record being edited; `pick` (the id of a company picker) shows the
    candidates as options that picker can choose (the inline «new company» of the deal form)."""
    entity = entity_of(request.GET.get("entity"))
    exclude = to_id_or_none(request.GET.get("exclude", ""))
    pick = request.GET.get("pick", "")
    if not pick.replace("-", "").replace("_", "").isalnum():
        pick = ""
    try:
        found = duplicate_selectors.duplicate_check(
            user=user_of(request),
            data=_check_data(request.GET, entity),
            entity=entity,
            exclude=exclude,
        )
    except ValidationError:
        found = []  # a field too long: the form's own validation names it
    template = "contacts/duplicates/_pick_panel.html" if pick else "contacts/duplicates/_panel.html"
    return render(
        request,
        template,
        {
            "candidates": decorate(request, found, links=not exclude and not pick),
            "entity": entity,
            "editing": exclude is not None,
            "pick": pick,
        },
    )


# --- the review screen ---------------------------------------------------------------------------


def _status_of(raw: Any) -> str:
    return raw if raw in (DuplicateGroup.Status.OPEN, DuplicateGroup.Status.DISMISSED) else "open"


def _cards(groups: Sequence[DuplicateGroup], entity: str) -> list[dict[str, Any]]:
    records = duplicate_selectors.group_records(groups, entity)
    cards = []
    for group in groups:
        members = [records.get(i) for i in group.ids]
        cards.append(
            {
                "group": group,
                "records": members,
                "percent": round(group.score * 100),
                "level": score_level(group.score),
                "matched": matched_labels(group.matched),
                "merge_url": merge_url(entity, [r.pk for r in members if r is not None])
                if sum(r is not None for r in members) > 1
                else None,
            }
        )
    return cards


def _scan_context(scan: DuplicateScan | None) -> dict[str, Any]:
    running = scan is not None and scan.status == DuplicateScan.Status.RUNNING
    percent = 0
    if scan is not None and scan.total:
        percent = min(100, round(scan.records * 100 / scan.total))
    return {"scan": scan, "running": running, "scan_percent": percent}


def _list_url(entity: str) -> str:
    return f"{reverse('contacts:duplicates')}?{urlencode({'entity': entity})}"


@require_GET
def duplicates(request: HttpRequest) -> HttpResponse:
    """«Дубли»: the groups the scan found, best first, a page at a time (the «Показать ещё»
    button asks for the next offset and gets the cards only)."""
    entity = entity_of(request.GET.get("entity"))
    status = _status_of(request.GET.get("status"))
    offset = to_id_or_none(request.GET.get("offset", "")) or 0
    groups, next_offset = duplicate_selectors.duplicate_groups(
        user=user_of(request), entity=entity, status=status, offset=offset, limit=PAGE
    )
    context: dict[str, Any] = {
        "entity": entity,
        "status": status,
        "cards": _cards(groups, entity),
        "next_offset": next_offset,
        "next_query": urlencode(
            {"entity": entity, "status": status, "offset": str(next_offset or 0)}
        ),
        "is_first": offset == 0,
        "entities": ClientEntity.choices,
        "statuses": [
            (DuplicateGroup.Status.OPEN, _("Не разобрано")),
            (DuplicateGroup.Status.DISMISSED, _("Не дубли")),
        ],
        **_scan_context(duplicate_selectors.scan_latest(entity)),
    }
    if htmx_target(request).startswith("dup-more"):
        return render(request, "contacts/duplicates/_cards.html", context)
    return render(request, "contacts/duplicates/list.html", context)


@require_POST
def duplicate_dismiss(request: HttpRequest, group_id: int) -> HttpResponse:
    """«Не дубли»: the card is replaced by the message (htmx) or the list is shown again. A group
    outside the scope is a 404; one already decided a 409 (the card says so in place: the form
    is marked data-swap-errors)."""
    try:
        group = services.duplicate_group_dismiss(actor=ui_actor(request), group_id=group_id)
    except ApplicationError as exc:
        if is_htmx(request):
            return render(
                request,
                "contacts/duplicates/_dismissed.html",
                {"message": exc.message, "failed": True},
                status=error_status(exc),
            )
        if isinstance(exc, NotFound):
            return not_found(request)
        messages.error(request, exc.message)
        return redirect(_list_url(entity_of(request.POST.get("entity"))))
    message = _("Отмечено: это разные клиенты. Следующие проверки эту группу не покажут.")
    if is_htmx(request):
        return render(request, "contacts/duplicates/_dismissed.html", {"message": message})
    messages.success(request, message)
    return redirect(_list_url(group.entity))


@require_POST
def duplicate_scan(request: HttpRequest) -> HttpResponse:
    """«Проверить базу»: a scan in the worker (or the one already running); the bar polls it."""
    entity = entity_of(request.POST.get("entity"))
    try:
        scan = services.duplicates_scan_request(actor=ui_actor(request), entity=entity)
    except ApplicationError as exc:
        if is_htmx(request):
            return render(
                request,
                "contacts/duplicates/_scan.html",
                {"entity": entity, "error": exc.message, **_scan_context(None)},
                status=error_status(exc),
            )
        messages.error(request, exc.message)
        return redirect(_list_url(entity))
    if is_htmx(request):
        return render(
            request, "contacts/duplicates/_scan.html", {"entity": entity, **_scan_context(scan)}
        )
    return redirect(_list_url(entity))


@require_GET
def duplicate_scan_status(request: HttpRequest, scan_id: int) -> HttpResponse:
    """The progress bar's poll. Once the scan has finished the page reloads (HX-Refresh) to
    list what it found."""
    try:
        scan = duplicate_selectors.scan_get(scan_id=scan_id)
    except NotFound:
        return not_found(request)
    context = {"entity": scan.entity, **_scan_context(scan)}
    response = render(request, "contacts/duplicates/_scan.html", context)
    if not context["running"] and is_htmx(request):
        response["HX-Refresh"] = "true"
    return response
