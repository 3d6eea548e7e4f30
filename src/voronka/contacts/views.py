"""Company and contact screens: lists with search, cards with deals and timeline, create/edit.

Thin: the posted form becomes the plain dict the services take (they validate and normalize
everything: INN/KPP/OGRN/BIK/account, phones to E.164, e-mails); a refusal re-renders the form
with the service's messages (422, or 409 when someone else saved the record first). Records are
loaded through the scoped selectors, so a record outside the user's scope is a 404. The list
pages answer htmx requests (the search box) with their results partial."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from voronka.activities.selectors import object_timeline
from voronka.contacts import selectors, services, views_duplicates
from voronka.contacts.inputs import COMPANY, CONTACT
from voronka.contacts.models import Company, CompanyAddress, CompanyType, Contact
from voronka.deals.forms import custom_from_post, uploaded_files
from voronka.deals.selectors import deal_stats, deals_visible
from voronka.identity.scopes import assignable_users
from voronka.kernel import clock
from voronka.kernel.customfields import definitions
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError
from voronka.kernel.fields import to_id_or_none
from voronka.kernel.files import file_store, files_of_record
from voronka.kernel.inputs import Kind
from voronka.kernel.models import CustomField
from voronka.web.http import htmx_target, not_found, ui_actor

# The single-value fields a form posts, from the one declaration (contacts/inputs.py); lists,
# objects and the consent flags are read apart.
COMPANY_TEXT = [k for k, f in COMPANY.fields.items() if f.kind not in (Kind.LIST, Kind.OBJECT)]
CONTACT_TEXT = [
    k for k, f in CONTACT.fields.items() if f.kind not in (Kind.LIST, Kind.OBJECT, Kind.BOOL)
]
MESSENGERS = ["telegram", "whatsapp", "vk"]
# The company list's sort menu (selectors.COMPANY_ORDERINGS holds what each means).
COMPANY_SORTS = [
    ("-id", _lazy("Сначала новые")),
    ("-ltv", _lazy("LTV: больше")),
    ("ltv", _lazy("LTV: меньше")),
    ("-deals_count", _lazy("Больше сделок")),
    ("-won_count", _lazy("Больше покупок")),
    ("-last_purchase_at", _lazy("Недавно покупали")),
    ("last_purchase_at", _lazy("Давно не покупали")),
    ("-last_interaction_at", _lazy("Недавний контакт")),
    ("last_interaction_at", _lazy("Давно без контакта")),
    ("name", _lazy("По названию")),
]
PAGE = 50


def _with_current(choices: list[Any], current: Any) -> list[Any]:
    """A select's choices plus the record's current value, which the user may not be able to pick
    (a deactivated responsible): unchanged values are not sent to the service (see the edit views)."""
    if current is not None and all(c.pk != current.pk for c in choices):
        return [*choices, current]
    return choices


def _drop_unchanged(data: dict[str, Any], **current: Any) -> None:
    """Relations sent back unchanged are not passed to the service, so a value the user could
    not pick (another manager's company, a deactivated responsible) is kept, not re-validated."""
    for key, value in current.items():
        if data.get(key) == str(value):
            data.pop(key)


def _fields(entity: str) -> list[CustomField]:
    return list(definitions(entity).values())


def _store_uploads(
    request: HttpRequest, entity: str, fields: list[CustomField], values: dict[str, Any]
) -> None:
    for key, upload in uploaded_files(fields, request.FILES).items():
        values[key] = file_store(
            upload=upload, entity=entity, actor=ui_actor(request), field=f"custom.{key}"
        ).token  # attached to the record by the service (kernel.files.files_attach)


# --- lists ---------------------------------------------------------------------------------------


@require_GET
def company_list(request: HttpRequest) -> HttpResponse:
    error = None
    ctype = request.GET.get("type") or None
    if ctype not in (None, *CompanyType.values):
        ctype = None
    cursor = request.GET.get("cursor") or None
    rows: list[Company] = []
    next_cursor = None
    ordering = request.GET.get("ordering") or None
    try:
        page = selectors.company_list(
            user=request.user,
            q=request.GET.get("q"),
            type=ctype,
            cursor=cursor,
            limit=PAGE,
            metrics=selectors.CompanyMetrics.parse(request.GET),
            ordering=ordering,
        )
        rows, next_cursor = page.items, page.next_cursor
    except ValidationError as exc:
        error = exc
    params = request.GET.copy()
    params.pop("cursor", None)
    type_params = params.copy()
    type_params.pop("type", None)
    context = {
        "orderings": COMPANY_SORTS,
        "ordering": ordering or "-id",
        "metrics": {k: request.GET.get(k, "") for k in selectors.CompanyMetrics.FIELDS},
        "companies": rows,
        "next_cursor": next_cursor,
        "query": params.urlencode(),
        "error": error,
        "types": CompanyType.choices,
        "type": ctype,
        "q": request.GET.get("q", ""),
        "type_query": type_params.urlencode(),
        "is_first": cursor is None,
    }
    status = 422 if error else 200
    if htmx_target(request) == "company-results":
        return render(request, "contacts/_company_results.html", context, status=status)
    return render(request, "contacts/company_list.html", context, status=status)


@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    error = None
    cursor = request.GET.get("cursor") or None
    rows: list[Contact] = []
    next_cursor = None
    try:
        page = selectors.contact_list(
            user=request.user, q=request.GET.get("q"), cursor=cursor, limit=PAGE
        )
        rows, next_cursor = page.items, page.next_cursor
    except ValidationError as exc:
        error = exc
    params = request.GET.copy()
    params.pop("cursor", None)
    context = {
        "contacts": rows,
        "next_cursor": next_cursor,
        "query": params.urlencode(),
        "error": error,
        "q": request.GET.get("q", ""),
        "is_first": cursor is None,
    }
    status = 422 if error else 200
    if htmx_target(request) == "contact-results":
        return render(request, "contacts/_contact_results.html", context, status=status)
    return render(request, "contacts/contact_list.html", context, status=status)


# --- companies -----------------------------------------------------------------------------------


def _company_data(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    data: dict[str, Any] = {k: post.get(k) for k in COMPANY_TEXT if k in post}
    texts, kinds = post.getlist("address_text"), post.getlist("address_kind")
    data["addresses"] = [
        {"text": t, "kind": kinds[i] if i < len(kinds) else "actual"}
        for i, t in enumerate(texts)
        if t.strip()
    ]
    data["custom"] = custom_from_post(_fields("company"), post)
    return data


def _posted_addresses(request: HttpRequest) -> list[dict[str, str]]:
    texts, kinds = request.POST.getlist("address_text"), request.POST.getlist("address_kind")
    return [
        {"text": t, "kind": kinds[i] if i < len(kinds) else "actual"} for i, t in enumerate(texts)
    ]


def _company_form(request: HttpRequest, company: Company | None, **extra: Any) -> dict[str, Any]:
    fields = _fields("company")
    context = {
        "company": company,
        "types": CompanyType.choices,
        "address_kinds": CompanyAddress.Kind.choices,
        "people": _with_current(
            list(assignable_users(request.user, "company")),
            company.responsible if company else None,
        ),
        "fields": fields,
        "addresses": list(company.addresses.all()) if company else [],
        "files": files_of_record(entity="company", record=company, fields=fields)
        if company
        else {},
        "errors": {},
        "post": None,
        "default_type": request.GET.get("type")
        if request.GET.get("type") in CompanyType.values
        else CompanyType.LEGAL,
    }
    context.update(extra)
    if not context["addresses"]:
        context["addresses"] = [{"text": "", "kind": CompanyAddress.Kind.LEGAL}]
    return context


@require_http_methods(["GET", "POST"])
def company_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        data = _company_data(request)
        try:
            _store_uploads(request, "company", _fields("company"), data["custom"])
            company = services.company_create(
                actor=ui_actor(request),
                data=data,
                check_duplicates=views_duplicates.check_wanted(request),
            )
        except ApplicationError as exc:
            return render(
                request,
                "contacts/company_form.html",
                _company_form(
                    request,
                    None,
                    errors=exc.errors,
                    message=exc.message,
                    post=request.POST,
                    addresses=_posted_addresses(request),
                    **views_duplicates.duplicate_context(request, exc),
                ),
                status=exc.status,
            )
        messages.success(request, _("Компания создана"))
        return redirect("contacts:company-detail", company_id=company.pk)
    return render(request, "contacts/company_form.html", _company_form(request, None))


@require_http_methods(["GET", "POST"])
def company_edit(request: HttpRequest, company_id: int) -> HttpResponse:
    try:
        company = selectors.company_get(user=request.user, company_id=company_id)
    except NotFound:
        return not_found(request)
    if request.method == "POST":
        data = _company_data(request)
        _drop_unchanged(data, responsible=company.responsible_id)
        try:
            _store_uploads(request, "company", _fields("company"), data["custom"])
            services.company_update(company=company, actor=ui_actor(request), data=data)
        except ApplicationError as exc:
            conflict = exc.code == ErrorCode.CONFLICT
            company = selectors.company_get(user=request.user, company_id=company_id)
            extra: dict[str, Any] = {
                "errors": exc.errors,
                "message": exc.message,
                "conflict": conflict,
            }
            if not conflict:  # keep what was typed; on a conflict show the fresh record
                extra.update(post=request.POST, addresses=_posted_addresses(request))
            return render(
                request,
                "contacts/company_form.html",
                _company_form(request, company, **extra),
                status=exc.status,
            )
        messages.success(request, _("Компания сохранена"))
        return redirect("contacts:company-detail", company_id=company.pk)
    return render(request, "contacts/company_form.html", _company_form(request, company))


@require_GET
def company_detail(request: HttpRequest, company_id: int) -> HttpResponse:
    try:
        company = selectors.company_get(user=request.user, company_id=company_id)
    except NotFound:
        return not_found(request)
    deals_qs = deals_visible(request.user).filter(company=company)
    stats = deal_stats(deals_qs)
    fields = _fields("company")
    return render(
        request,
        "contacts/company_detail.html",
        {
            "company": company,
            "contacts": list(
                selectors.contacts_visible(request.user)
                .filter(company=company)
                .select_related("responsible")
                .prefetch_related("phones", "emails")[:100]
            ),
            "deals": list(
                deals_qs.select_related("stage", "responsible", "pipeline").order_by("-id")[:50]
            ),
            "stats": stats,
            "timeline": object_timeline(object_type="company", object_id=company.pk),
            "fields": fields,
            "files": files_of_record(entity="company", record=company, fields=fields),
            "now": clock.now(),
        },
    )


# --- contacts ------------------------------------------------------------------------------------


def _contact_data(request: HttpRequest, contact: Contact | None) -> dict[str, Any]:
    post = request.POST
    data: dict[str, Any] = {k: post.get(k) for k in CONTACT_TEXT if k in post}
    if data.get("company") == "":
        data.pop("company")
    if data.get("birthday") == "":
        data["birthday"] = None
    data["phones"] = [p for p in post.getlist("phone") if p.strip()]
    data["emails"] = [e for e in post.getlist("email") if e.strip()]
    for flag in ("consent_calls", "consent_mailing"):
        data[flag] = flag in post
    # Messengers the form does not show (set through the API) are kept.
    messengers = {
        k: v for k, v in (contact.messengers if contact else {}).items() if k not in MESSENGERS
    }
    for key in MESSENGERS:
        value = post.get(f"messenger_{key}", "").strip()
        if value:
            messengers[key] = value
    data["messengers"] = messengers
    data["custom"] = custom_from_post(_fields("contact"), post)
    return data


def _contact_form(request: HttpRequest, contact: Contact | None, **extra: Any) -> dict[str, Any]:
    fields = _fields("contact")
    context: dict[str, Any] = {
        "contact": contact,
        "people": _with_current(
            list(assignable_users(request.user, "contact")),
            contact.responsible if contact else None,
        ),
        "company_types": CompanyType.choices,
        "fields": fields,
        "files": files_of_record(entity="contact", record=contact, fields=fields)
        if contact
        else {},
        "phones": [p.number for p in contact.phones.all()] if contact else [],
        "emails": [e.address for e in contact.emails.all()] if contact else [],
        "messengers": [(k, (contact.messengers if contact else {}).get(k, "")) for k in MESSENGERS],
        "errors": {},
        "post": None,
    }
    context.update(extra)
    # The company picker: the posted choice after a refusal, the contact's company, or the
    # company the form was opened from (?company=); kept even if the user could not pick it.
    post = context["post"]
    picked = to_id_or_none((post or request.GET).get("company", ""))
    if contact is not None and (post is None or picked == contact.company_id):
        context["company_value"], context["company_label"] = (
            contact.company_id,
            contact.company.name,
        )
    else:
        label = selectors.company_name(user=request.user, company_id=picked)
        context["company_value"], context["company_label"] = (
            (picked, label) if label else (None, "")
        )
    context["phones"] = context["phones"] or [""]
    context["emails"] = context["emails"] or [""]
    return context


def _posted_channels(request: HttpRequest) -> dict[str, Any]:
    return {
        "phones": request.POST.getlist("phone"),
        "emails": request.POST.getlist("email"),
        "messengers": [(k, request.POST.get(f"messenger_{k}", "")) for k in MESSENGERS],
    }


@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        data = _contact_data(request, None)
        try:
            _store_uploads(request, "contact", _fields("contact"), data["custom"])
            contact = services.contact_create(
                actor=ui_actor(request),
                data=data,
                check_duplicates=views_duplicates.check_wanted(request),
            )
        except ApplicationError as exc:
            return render(
                request,
                "contacts/contact_form.html",
                _contact_form(
                    request,
                    None,
                    errors=exc.errors,
                    message=exc.message,
                    post=request.POST,
                    **_posted_channels(request),
                    **views_duplicates.duplicate_context(request, exc),
                ),
                status=exc.status,
            )
        messages.success(request, _("Контакт создан"))
        return redirect("contacts:contact-detail", contact_id=contact.pk)
    return render(request, "contacts/contact_form.html", _contact_form(request, None))


@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    try:
        contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    except NotFound:
        return not_found(request)
    if request.method == "POST":
        data = _contact_data(request, contact)
        _drop_unchanged(data, company=contact.company_id, responsible=contact.responsible_id)
        try:
            _store_uploads(request, "contact", _fields("contact"), data["custom"])
            services.contact_update(contact=contact, actor=ui_actor(request), data=data)
        except ApplicationError as exc:
            conflict = exc.code == ErrorCode.CONFLICT
            contact = selectors.contact_get(user=request.user, contact_id=contact_id)
            extra: dict[str, Any] = {
                "errors": exc.errors,
                "message": exc.message,
                "conflict": conflict,
            }
            if not conflict:
                extra.update(post=request.POST, **_posted_channels(request))
            return render(
                request,
                "contacts/contact_form.html",
                _contact_form(request, contact, **extra),
                status=exc.status,
            )
        messages.success(request, _("Контакт сохранён"))
        return redirect("contacts:contact-detail", contact_id=contact.pk)
    return render(request, "contacts/contact_form.html", _contact_form(request, contact))


@require_GET
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    try:
        contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    except NotFound:
        return not_found(request)
    fields = _fields("contact")
    return render(
        request,
        "contacts/contact_detail.html",
        {
            "contact": contact,
            "deals": list(
                deals_visible(request.user)
                .filter(contacts=contact)
                .select_related("stage", "responsible", "pipeline")
                .order_by("-id")[:50]
            ),
            "timeline": object_timeline(object_type="contact", object_id=contact.pk),
            "fields": fields,
            "files": files_of_record(entity="contact", record=contact, fields=fields),
            "now": clock.now(),
        },
    )


# --- the company picker (type-ahead with an inline "new company") -----------------------------------


def _picker_options(request: HttpRequest, template: str, **context: Any) -> HttpResponse:
    """A picker's options for the typed text (htmx partial): `context` names the options got
    from the text (`name=lambda q: …`) and anything else the template needs."""
    q = request.GET.get("q", "")[:200]
    picker = request.GET.get("picker", "")
    return render(
        request,
        template,
        {
            **{k: v(q) if callable(v) else v for k, v in context.items()},
            "q": q.strip(),
            "picker": picker if picker.replace("-", "").replace("_", "").isalnum() else "picker",
        },
    )


@require_GET
def company_picker(request: HttpRequest) -> HttpResponse:
    """The options of a company picker for the typed text (htmx partial)."""
    return _picker_options(
        request,
        "contacts/_company_options.html",
        companies=lambda q: selectors.company_picker_options(user=request.user, q=q),
        no_create=request.GET.get("create") == "0",
    )


@require_GET
def contact_picker(request: HttpRequest) -> HttpResponse:
    """The options of a contact picker ("find the client" on the deal form) for the typed text
    (htmx partial): each carries its company, which the form takes with it."""
    return _picker_options(
        request,
        "contacts/_contact_options.html",
        contacts=lambda q: selectors.contact_picker_options(user=request.user, q=q),
    )


@require_POST
def company_quick_create(request: HttpRequest) -> HttpResponse:
    """The picker's "new company": name and type through the same service as the full form;
    answers the panel again — with the new company to pick (201) or the refusal (422)."""
    post = request.POST
    data = {"name": post.get("new_company_name", ""), "type": post.get("new_company_type", "")}
    context: dict[str, Any] = {"company_types": CompanyType.choices, "post": post, "errors": {}}
    try:
        company = services.company_create(actor=ui_actor(request), data=data)
    except ApplicationError as exc:
        context.update(errors=exc.errors, message=exc.message if not exc.errors else "")
        return render(
            request, "contacts/_company_quick_create.html", context, status=_client_status(exc)
        )
    context.update(created=company, post={}, hidden=True)
    return render(request, "contacts/_company_quick_create.html", context, status=201)


def _client_status(exc: ApplicationError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


# --- requisites auto-fill (the company form's «Заполнить по ИНН») -----------------------------------


@require_POST
def company_requisites(request: HttpRequest) -> HttpResponse:
    """The company form asks the configured provider (integrations.requisites) by INN, name or
    BIK; the panel lists what was found with «Подставить» (app.js fills the form). A provider
    that fails or is not configured gives its message in the panel — the form still saves."""
    from voronka.identity.permissions import actor_has_flag
    from voronka.integrations.requisites.services import requisites_lookup

    by = request.POST.get("by", "inn")
    value = request.POST.get({"inn": "inn", "name": "name", "bik": "bank_bik"}.get(by, "inn"), "")
    context: dict[str, Any] = {"by": by, "value": value.strip()[:200]}
    try:
        result = requisites_lookup(
            actor=ui_actor(request),
            inn=value if by == "inn" else None,
            query=value if by == "name" else None,
            bik=value if by == "bik" else None,
        )
    except ApplicationError as exc:
        context["error"] = exc.errors and next(iter(exc.errors.values())) or exc.message
        context["not_configured"] = exc.code == ErrorCode.PROVIDER_NOT_CONFIGURED
        context["can_configure"] = actor_has_flag(ui_actor(request), "can_configure")
        return render(request, "contacts/_requisites_panel.html", context)
    context["parties"] = [
        {"party": p, "fill": json.dumps(p.company_fields(), ensure_ascii=False)}
        for p in result.parties
    ]
    context["banks"] = [
        {
            "bank": b,
            "fill": json.dumps({"bank_bik": b.bik, "bank_name": b.name}, ensure_ascii=False),
        }
        for b in result.banks
    ]
    return render(request, "contacts/_requisites_panel.html", context)


# --- families (seed 002): «Возможные семьи» ----------------------------------------------------------


@require_http_methods(["GET", "POST"])
def families(request: HttpRequest) -> HttpResponse:
    """Family companies sharing an address, suggested as one family; «Объединить в семью»
    (confirmed in the browser) moves the chosen contacts into one family company."""
    from voronka.contacts.families import family_merge, family_suggestions

    message = ""
    status = 200
    if request.method == "POST":
        try:
            family = family_merge(
                actor=ui_actor(request),
                contact_ids=request.POST.getlist("contact"),
                target=request.POST.get("target", ""),
                name=request.POST.get("name", ""),
                address=request.POST.get("address", ""),
            )
        except ApplicationError as exc:
            message = next(iter(exc.errors.values()), exc.message) if exc.errors else exc.message
            status = exc.status if 400 <= exc.status < 500 else 400
        else:
            messages.success(
                request, _("Контакты объединены в семью «%(name)s»") % {"name": family.name}
            )
            return redirect("contacts:company-detail", company_id=family.pk)
    return render(
        request,
        "contacts/families.html",
        {"groups": family_suggestions(user=request.user), "message": message},
        status=status,
    )
