"""The merge screen, the banner with its undo, and the history of merges (decision 0021).

The screen compares the records side by side, one row per field: a radio per record where they
differ (the default checked is the value the service keeps without a choice), phones, e-mails
and addresses shown united, the kept record chosen by a link per column, and what will move
(N deals, N tasks…). Confirming posts to contacts.merge's service; the kept card then shows
"Объединено. Отменить". Thin: records through the scoped selectors, every rule in the service."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from voronka.contacts import merge as merging
from voronka.contacts import selectors
from voronka.contacts.models import ClientEntity, Company, Contact
from voronka.kernel.errors import ApplicationError, NotFound
from voronka.kernel.fields import to_id, to_id_or_none
from voronka.kernel.labels import field_label
from voronka.kernel.pagination import Page
from voronka.web.http import is_safe_url, not_found, ui_actor

MAX_IDS = merging.MAX_MERGED + 1


def _entity(raw: str | None) -> str:
    return ClientEntity.COMPANY if raw == ClientEntity.COMPANY else ClientEntity.CONTACT


def _ids(values: list[str]) -> list[int]:
    ids: list[int] = []
    for raw in values:
        for part in raw.split(","):
            pk = to_id_or_none(part.strip())
            if pk is not None and pk not in ids:
                ids.append(pk)
    return ids[:MAX_IDS]


def _records(request: HttpRequest, entity: str, ids: list[int]) -> list[Any]:
    """The records, each through the user's scope (NotFound for one outside it)."""
    if entity == ClientEntity.COMPANY:
        return [selectors.company_get(user=request.user, company_id=pk) for pk in ids]
    return [selectors.contact_get(user=request.user, contact_id=pk) for pk in ids]


def _title(obj: Any) -> str:
    return obj.name if isinstance(obj, Company) else obj.full_name


def _card_url(entity: str, pk: int) -> str:
    name = (
        "contacts:company-detail" if entity == ClientEntity.COMPANY else "contacts:contact-detail"
    )
    return reverse(name, args=[pk])


def _display(obj: Any, name: str) -> str:
    value = merging.field_value(obj, name)
    if name == "company":
        return obj.company.name
    if name == "responsible":
        return obj.responsible.get_full_name() or obj.responsible.username
    if name == "type":
        return str(obj.get_type_display())
    if isinstance(value, bool):
        return _("Да") if value else _("Нет")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _united(entity: str, records: list[Any]) -> list[dict[str, Any]]:
    """Rows whose values are all kept (united, without duplicates)."""
    if entity == ClientEntity.COMPANY:
        addresses = list(dict.fromkeys(a.text for r in records for a in r.addresses.all()))
        return [{"label": _("Адреса"), "values": addresses}]
    phones = list(dict.fromkeys(p.number for r in records for p in r.phones.all()))
    emails = list(dict.fromkeys(e.address for r in records for e in r.emails.all()))
    return [
        {"label": _("Телефоны"), "values": phones},
        {"label": _("E-mail"), "values": emails},
    ]


def _rows(entity: str, kept: Any, records: list[Any], chosen: dict[str, str]) -> list[Any]:
    merged = [r for r in records if r.pk != kept.pk]
    rows = []
    for name in merging.merge_fields(entity):
        cells = [{"id": r.pk, "text": _display(r, name)} for r in records]
        texts = {c["text"] for c in cells}
        if texts == {""}:
            continue  # empty everywhere: nothing to show or choose
        default = merging.default_source(name, kept, merged).pk
        checked = chosen.get(name) or str(default)
        for cell in cells:
            cell["checked"] = checked == str(cell["id"])
        rows.append(
            {
                "name": name,
                "label": field_label(name) or name,
                "cells": cells,
                "differs": len(texts) > 1,
                "concat": name == "comment" and len({t for t in texts if t}) > 1,
                "concat_checked": checked == merging.CONCAT,
            }
        )
    return rows


def _chosen(post: Any, entity: str) -> dict[str, str]:
    """The radios as posted: {field: source id or "concat"}."""
    return {
        name: post[f"f:{name}"] for name in merging.merge_fields(entity) if post.get(f"f:{name}")
    }


def _fields_for_service(chosen: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in chosen.items():
        out[name] = value if value == merging.CONCAT else to_id_or_none(value) or value
    return out


def _picker(request: HttpRequest, entity: str, records: list[Any]) -> list[Any]:
    """Other records to merge with (the card's "Объединить с…"): a search among visible ones."""
    q = request.GET.get("q", "").strip()[:200]
    if not q:
        return []
    taken = {r.pk for r in records}
    page: Page[Any]
    if entity == ClientEntity.COMPANY:
        page = selectors.company_list(user=request.user, q=q, limit=11)
    else:
        page = selectors.contact_list(user=request.user, q=q, limit=11)
    return [r for r in page.items if r.pk not in taken][:10]


@require_http_methods(["GET", "POST"])
def merge(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    entity = _entity(source.get("entity"))
    ids = _ids(source.getlist("ids"))
    try:
        records = _records(request, entity, ids)
    except NotFound:
        return not_found(request)
    keep = to_id_or_none(source.get("keep"))
    kept = next((r for r in records if r.pk == keep), records[0] if records else None)
    chosen = _chosen(request.POST, entity) if request.method == "POST" else {}
    error: ApplicationError | None = None
    if request.method == "POST" and kept is not None:
        merge_ids = [r.pk for r in records if r.pk != kept.pk]
        try:
            record, _kept = (
                merging.company_merge if entity == ClientEntity.COMPANY else merging.contact_merge
            )(
                actor=ui_actor(request),
                keep_id=kept.pk,
                merge_ids=merge_ids,
                fields=_fields_for_service(chosen),
            )
        except ApplicationError as exc:
            error = exc
        else:
            return redirect(f"{_card_url(entity, kept.pk)}?{urlencode({'merged': record.pk})}")
    merged = [r for r in records if kept is not None and r.pk != kept.pk]
    context = {
        "entity": entity,
        "records": records,
        "kept": kept,
        "kept_title": _title(kept) if kept is not None else "",
        "ids": [r.pk for r in records],
        "columns": [
            {
                "record": r,
                "title": _title(r),
                "url": _card_url(entity, r.pk),
                "is_kept": kept is not None and r.pk == kept.pk,
                "keep_url": "?"
                + urlencode(
                    {"entity": entity, "ids": [x.pk for x in records], "keep": r.pk}, doseq=True
                ),
            }
            for r in records
        ],
        "rows": _rows(entity, kept, records, chosen) if len(records) > 1 else [],
        "united": _united(entity, records) if len(records) > 1 else [],
        "summary": selectors.merge_summary(entity, [r.pk for r in merged]) if merged else [],
        "too_many": len(records) > MAX_IDS - 1,
        "found": _picker(request, entity, records) if len(records) < MAX_IDS - 1 else [],
        "q": request.GET.get("q", "")[:200],
        "error": error,
        "cancel_url": _card_url(entity, records[0].pk)
        if records
        else reverse("contacts:duplicates"),
    }
    status = error.status if error is not None else 200
    return render(request, "contacts/merge/merge.html", context, status=status)


@require_POST
def merge_undo(request: HttpRequest) -> HttpResponse:
    """The banner's and the history's "Отменить"."""
    try:
        merge_id = to_id(request.POST.get("merge"))
    except ValueError:
        return not_found(request)
    back = request.POST.get("next")
    try:
        record = merging.merge_undo(actor=ui_actor(request), merge_id=merge_id)
    except ApplicationError as exc:
        if exc.status in (403, 404):  # no right / outside the scope: the error page
            return render(request, "web/error.html", {"code": exc.status}, status=exc.status)
        messages.error(request, exc.message)  # 409: refused, with the reason
        return redirect(back if back and is_safe_url(back, request) else reverse("contacts:merges"))
    messages.success(request, _("Объединение отменено: записи восстановлены"))
    return redirect(_card_url(record.entity, record.kept_id))


@require_GET
def merges(request: HttpRequest) -> HttpResponse:
    """The history of merges of the records the user sees, each undoable while it may be."""
    entity = _entity(request.GET.get("entity"))
    page = selectors.merge_list(
        user=request.user,
        entity=entity,
        kept=to_id_or_none(request.GET.get("kept")),
        cursor=request.GET.get("cursor") or None,
        limit=50,
    )
    model = Company if entity == ClientEntity.COMPANY else Contact
    kept = {r.pk: r for r in model.objects.filter(pk__in=[m.kept_id for m in page.items])}
    items = [
        {
            "merge": m,
            "kept": kept.get(m.kept_id),
            "kept_title": _title(kept[m.kept_id]) if m.kept_id in kept else f"№{m.kept_id}",
            "kept_url": _card_url(entity, m.kept_id),
            "merged": selectors.merge_merged_titles(m),
        }
        for m in page.items
    ]
    return render(
        request,
        "contacts/merge/history.html",
        {"entity": entity, "items": items, "next_cursor": page.next_cursor},
    )
