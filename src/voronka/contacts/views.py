"""Company and contact screens: lists with search, cards with timeline, create/edit forms."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from voronka.activities.selectors import object_timeline
from voronka.contacts import selectors, services
from voronka.contacts.models import Company, CompanyAddress, CompanyType, Contact
from voronka.deals.forms import custom_from_post
from voronka.deals.selectors import deals_visible
from voronka.identity.scopes import assignable_users
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.customfields import definitions
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError

COMPANY_TEXT = ["name", "type", "inn", "kpp", "ogrn", "bank_bik", "bank_account", "bank_name", "phone",
                "email", "website", "comment", "responsible", "version"]
CONTACT_TEXT = ["company", "last_name", "first_name", "middle_name", "position", "birthday", "comment",
                "responsible", "version"]


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, request=request)


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"code": 404}, status=404)


def _page(request: HttpRequest, rows: list[Any]) -> tuple[list[Any], int | None]:
    if len(rows) > 50:
        return rows[:50], rows[49].pk
    return rows, None


def _after(request: HttpRequest) -> int | None:
    raw = request.GET.get("after", "")
    return int(raw) if raw.isdigit() and len(raw) < 18 else None


def company_list(request: HttpRequest) -> HttpResponse:
    error = None
    ctype = request.GET.get("type") or None
    try:
        rows = selectors.company_list(user=request.user, q=request.GET.get("q"), type=ctype, after=_after(request), limit=50)
    except ValidationError as exc:
        rows, error = [], exc
    rows, next_after = _page(request, rows)
    params = request.GET.copy()
    params.pop("after", None)
    return render(request, "contacts/company_list.html", {
        "companies": rows, "next_after": next_after, "query": params.urlencode(), "error": error,
        "types": CompanyType.choices, "type": ctype, "q": request.GET.get("q", ""),
    }, status=422 if error else 200)


def contact_list(request: HttpRequest) -> HttpResponse:
    error = None
    try:
        rows = selectors.contact_list(user=request.user, q=request.GET.get("q"), after=_after(request), limit=50)
    except ValidationError as exc:
        rows, error = [], exc
    rows, next_after = _page(request, rows)
    params = request.GET.copy()
    params.pop("after", None)
    return render(request, "contacts/contact_list.html", {
        "contacts": rows, "next_after": next_after, "query": params.urlencode(), "error": error,
        "q": request.GET.get("q", ""),
    }, status=422 if error else 200)


def _company_data(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    data: dict[str, Any] = {k: post.get(k) for k in COMPANY_TEXT if k in post}
    texts, kinds = post.getlist("address_text"), post.getlist("address_kind")
    data["addresses"] = [
        {"text": t, "kind": kinds[i] if i < len(kinds) else "actual"} for i, t in enumerate(texts) if t.strip()
    ]
    data["custom"] = custom_from_post(list(definitions("company").values()), post)
    return data


def _company_form(request: HttpRequest, company: Company | None, **extra: Any) -> dict[str, Any]:
    context = {
        "company": company, "types": CompanyType.choices, "address_kinds": CompanyAddress.Kind.choices,
        "people": assignable_users(request.user, "company"), "fields": list(definitions("company").values()),
        "addresses": list(company.addresses.all()) if company else [], "errors": {}, "post": None,
    }
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
def company_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            company = services.company_create(actor=_actor(request), data=_company_data(request))
        except ApplicationError as exc:
            return render(request, "contacts/company_form.html", _company_form(
                request, None, errors=exc.errors, message=exc.message, post=request.POST,
                addresses=[{"text": t} for t in request.POST.getlist("address_text") if t]), status=exc.status)
        messages.success(request, _("Компания создана"))
        return redirect("contacts:company-detail", company_id=company.pk)
    return render(request, "contacts/company_form.html", _company_form(request, None))


@require_http_methods(["GET", "POST"])
def company_edit(request: HttpRequest, company_id: int) -> HttpResponse:
    try:
        company = selectors.company_get(user=request.user, company_id=company_id)
    except NotFound:
        return _not_found(request)
    if request.method == "POST":
        try:
            services.company_update(company=company, actor=_actor(request), data=_company_data(request))
        except ApplicationError as exc:
            return render(request, "contacts/company_form.html", _company_form(
                request, company, errors=exc.errors, message=exc.message, post=request.POST,
                conflict=exc.code == ErrorCode.CONFLICT), status=exc.status)
        messages.success(request, _("Компания сохранена"))
        return redirect("contacts:company-detail", company_id=company.pk)
    return render(request, "contacts/company_form.html", _company_form(request, company))


def company_detail(request: HttpRequest, company_id: int) -> HttpResponse:
    try:
        company = selectors.company_get(user=request.user, company_id=company_id)
    except NotFound:
        return _not_found(request)
    return render(request, "contacts/company_detail.html", {
        "company": company,
        "contacts": list(selectors.contacts_visible(request.user).filter(company=company).prefetch_related("phones", "emails")),
        "deals": list(deals_visible(request.user).filter(company=company).select_related("stage", "responsible").order_by("-id")[:50]),
        "timeline": object_timeline(object_type="company", object_id=company.pk),
        "fields": list(definitions("company").values()), "now": clock.now(),
    })


def _contact_data(request: HttpRequest) -> dict[str, Any]:
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
    messengers = {k: post.get(f"messenger_{k}", "").strip() for k in ("telegram", "whatsapp")}
    data["messengers"] = {k: v for k, v in messengers.items() if v}
    data["custom"] = custom_from_post(list(definitions("contact").values()), post)
    return data


def _contact_form(request: HttpRequest, contact: Contact | None, **extra: Any) -> dict[str, Any]:
    context = {
        "contact": contact, "people": assignable_users(request.user, "contact"),
        "companies": list(selectors.companies_visible(request.user).order_by("name")[:500]),
        "fields": list(definitions("contact").values()),
        "phones": [p.number for p in contact.phones.all()] if contact else [""],
        "emails": [e.address for e in contact.emails.all()] if contact else [""],
        "errors": {}, "post": None, "initial_company": request.GET.get("company", ""),
    }
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            contact = services.contact_create(actor=_actor(request), data=_contact_data(request))
        except ApplicationError as exc:
            return render(request, "contacts/contact_form.html", _contact_form(
                request, None, errors=exc.errors, message=exc.message, post=request.POST,
                phones=request.POST.getlist("phone") or [""], emails=request.POST.getlist("email") or [""]),
                status=exc.status)
        messages.success(request, _("Контакт создан"))
        return redirect("contacts:contact-detail", contact_id=contact.pk)
    return render(request, "contacts/contact_form.html", _contact_form(request, None))


@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    try:
        contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    except NotFound:
        return _not_found(request)
    if request.method == "POST":
        try:
            services.contact_update(contact=contact, actor=_actor(request), data=_contact_data(request))
        except ApplicationError as exc:
            return render(request, "contacts/contact_form.html", _contact_form(
                request, contact, errors=exc.errors, message=exc.message, post=request.POST,
                phones=request.POST.getlist("phone") or [""], emails=request.POST.getlist("email") or [""],
                conflict=exc.code == ErrorCode.CONFLICT), status=exc.status)
        messages.success(request, _("Контакт сохранён"))
        return redirect("contacts:contact-detail", contact_id=contact.pk)
    return render(request, "contacts/contact_form.html", _contact_form(request, contact))


def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    try:
        contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    except NotFound:
        return _not_found(request)
    return render(request, "contacts/contact_detail.html", {
        "contact": contact,
        "deals": list(deals_visible(request.user).filter(contacts=contact).select_related("stage").order_by("-id")[:50]),
        "timeline": object_timeline(object_type="contact", object_id=contact.pk),
        "fields": list(definitions("contact").values()),
    })
