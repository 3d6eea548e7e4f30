"""Every write to companies and contacts: validated, audited, evented, one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from voronka.contacts.dedup import company_keys_sync, contact_keys_sync, keys_drop
from voronka.contacts.events import (
    COMPANY_CREATED,
    COMPANY_DELETED,
    COMPANY_UPDATED,
    CONTACT_CREATED,
    CONTACT_DELETED,
    CONTACT_UPDATED,
)
from voronka.contacts.inputs import ADDRESS, COMPANY, CONTACT, CONTACT_ITEM
from voronka.contacts.models import (
    ClientEntity,
    Company,
    CompanyAddress,
    CompanyType,
    Contact,
    ContactEmail,
    ContactPhone,
)
from voronka.identity.models import User
from voronka.identity.permissions import get_for_write, require_active, require_actor_flag
from voronka.identity.scopes import resolve_responsible
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff
from voronka.kernel.customfields import clean_custom
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.events import emit
from voronka.kernel.fields import FieldCleaner, to_id
from voronka.kernel.files import files_attach
from voronka.kernel.normalize import (
    clean_text,
    normalize_bank_account,
    normalize_bik,
    normalize_birthday,
    normalize_email,
    normalize_inn,
    normalize_kpp,
    normalize_ogrn,
    normalize_phone,
    normalize_url,
)
from voronka.kernel.versions import check_version

# Derived from the one declaration (contacts/inputs.py); kept as names for their importers.
COMPANY_FIELDS = set(COMPANY.fields)
COMPANY_SCALARS = [
    "name",
    "type",
    "inn",
    "kpp",
    "ogrn",
    "bank_bik",
    "bank_account",
    "bank_name",
    "phone",
    "email",
    "website",
    "comment",
    "custom",
]
CONTACT_FIELDS = set(CONTACT.fields)
CONTACT_SCALARS = [
    "last_name",
    "first_name",
    "middle_name",
    "position",
    "birthday",
    "messengers",
    "consent_calls",
    "consent_mailing",
    "comment",
    "custom",
]


def _snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    data = {f: getattr(obj, f) for f in fields}
    data["responsible"] = obj.responsible_id
    return data


def _clean_addresses(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or len(raw) > 50:
        raise ValueError(_("Ожидается список адресов (не больше 50)"))
    result = []
    kinds = {k.value for k in CompanyAddress.Kind}
    for item in raw:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            raise ValueError(_("Адрес — объект {kind, text}"))
        text = clean_text(str(item.get("text", "")), max_length=ADDRESS.max_length("text"))
        if not text:
            continue
        kind = str(item.get("kind") or CompanyAddress.Kind.ACTUAL)
        if kind not in kinds:
            raise ValueError(_("Неизвестный вид адреса"))
        postal = clean_text(
            str(item.get("postal_code") or ""), max_length=ADDRESS.max_length("postal_code")
        )
        result.append({"kind": kind, "text": text, "postal_code": postal})
    return result


def _clean_company(data: Mapping[str, Any], *, company: Company | None) -> FieldCleaner:
    c = FieldCleaner(data, COMPANY.keys(creating=company is None))
    COMPANY.clean_texts(c, creating=company is None)  # one rule for create and update
    if c.has("type"):
        if data["type"] not in CompanyType.values:
            c.error("type", _("Тип: legal, sole_proprietor или family"))
        else:
            c.cleaned["type"] = data["type"]
    c.apply("inn", normalize_inn)
    c.apply("kpp", normalize_kpp)
    c.apply("ogrn", normalize_ogrn)
    c.apply("bank_bik", normalize_bik)
    bik = c.cleaned.get("bank_bik", company.bank_bik if company else "")
    c.apply("bank_account", lambda v: normalize_bank_account(v, bik))
    c.apply("phone", normalize_phone)
    c.apply("email", normalize_email)
    c.apply("website", lambda v: normalize_url(v, max_length=COMPANY.max_length("website")))
    if c.has("addresses"):
        c.apply("addresses", _clean_addresses, allow_blank=False)
    # Cross-field: KPP belongs to legal entities only; a 12-digit INN is a person's.
    ctype = c.cleaned.get("type", company.type if company else CompanyType.LEGAL)
    inn = c.cleaned.get("inn", company.inn if company else "")
    if ctype == CompanyType.LEGAL and inn and len(inn) != 10:
        c.error("inn", _("ИНН юридического лица — 10 цифр"))
    if ctype == CompanyType.SOLE_PROPRIETOR and inn and len(inn) != 12:
        c.error("inn", _("ИНН индивидуального предпринимателя — 12 цифр"))
    return c


def _set_addresses(company: Company, addresses: list[dict[str, str]]) -> None:
    company.addresses.all().delete()
    CompanyAddress.objects.bulk_create(CompanyAddress(company=company, **a) for a in addresses)


def company_get_for_write(*, actor: Actor, company_id: int) -> Company:
    """Lock a company the actor may act on, or NotFound (outside the scope it does not exist)."""
    return get_for_write(
        Company.objects.all(),
        actor=actor,
        entity="company",
        pk=company_id,
        message=_("Компания не найдена"),
    )


@transaction.atomic
def company_create(*, actor: Actor, data: Mapping[str, Any]) -> Company:
    require_active(actor)
    c = _clean_company(data, company=None)
    responsible: User | None = None
    try:
        responsible = resolve_responsible(
            actor.user, "company", data.get("responsible", actor.user_id)
        )
    except ValidationError as exc:
        c.errors.update(exc.errors)
    custom: dict[str, Any] = {}
    try:
        custom = clean_custom("company", data.get("custom"))
    except ValidationError as exc:
        c.errors.update(exc.errors)
    c.raise_if_errors()
    assert responsible is not None  # resolve_responsible returned it, or an error was raised
    addresses = c.cleaned.pop("addresses", [])
    company = Company.objects.create(responsible=responsible, custom=custom, **c.cleaned)
    files_attach(entity="company", object_id=company.pk, actor=actor, before={}, after=custom)
    _set_addresses(company, addresses)
    company_keys_sync(company)
    after = _snapshot(company, COMPANY_SCALARS)
    after["addresses"] = [a["text"] for a in addresses]
    audit(actor=actor, obj=company, action="created", changes=diff({}, after))
    emit(COMPANY_CREATED, obj=company, actor=actor, payload={"name": company.name})
    return company


@transaction.atomic
def company_update(*, company: Company, actor: Actor, data: Mapping[str, Any]) -> Company:
    company = company_get_for_write(actor=actor, company_id=company.pk)
    check_version(company.version, data.get("version"))
    c = _clean_company(data, company=company)
    if "responsible" in data:
        try:
            c.cleaned["responsible"] = resolve_responsible(
                actor.user, "company", data["responsible"]
            )
        except ValidationError as exc:
            c.errors.update(exc.errors)
    if "custom" in data:
        try:
            c.cleaned["custom"] = clean_custom("company", data["custom"], current=company.custom)
        except ValidationError as exc:
            c.errors.update(exc.errors)
    c.raise_if_errors()
    before = _snapshot(company, COMPANY_SCALARS)
    before_addresses = list(company.addresses.values_list("text", flat=True))
    addresses = c.cleaned.pop("addresses", None)
    custom_before = company.custom
    for key, value in c.cleaned.items():
        setattr(company, key, value)
    company.version = F("version") + 1
    company.save()
    files_attach(
        entity="company",
        object_id=company.pk,
        actor=actor,
        before=custom_before,
        after=company.custom,
    )
    company.refresh_from_db()
    after = _snapshot(company, COMPANY_SCALARS)
    if addresses is not None:
        _set_addresses(company, addresses)
        before["addresses"] = before_addresses
        after["addresses"] = [a["text"] for a in addresses]
    changes = diff(before, after)
    if changes:
        company_keys_sync(company)
        audit(actor=actor, obj=company, action="updated", changes=changes)
        emit(COMPANY_UPDATED, obj=company, actor=actor, payload={"changes": changes})
    return company


@transaction.atomic
def company_delete(*, company: Company, actor: Actor) -> None:
    company = company_get_for_write(actor=actor, company_id=company.pk)  # 404 before the 403
    require_actor_flag(actor, "can_delete")
    if company.deals.exists() or company.contacts.exists():
        raise ApplicationError(
            _("У компании есть сделки или контакты — сначала перенесите их"), code=ErrorCode.IN_USE
        )
    # Open tasks are counted in the maintained task counters: a cascade would leave them behind.
    if company.tasks.filter(status="open").exists():
        raise ApplicationError(
            _("У компании есть открытые задачи — завершите их перед удалением"),
            code=ErrorCode.IN_USE,
        )
    audit(
        actor=actor,
        obj=company,
        action="deleted",
        changes=diff(_snapshot(company, COMPANY_SCALARS), {}),
    )
    emit(COMPANY_DELETED, obj=company, actor=actor, payload={"name": company.name})
    keys_drop(ClientEntity.COMPANY, [company.pk])
    company.delete()


def family_company_for(
    *, actor: Actor, last_name: str, first_name: str, responsible: User
) -> Company:
    """A single private person gets a company of type family (seed 002)."""
    name = _("Семья %(name)s") % {"name": last_name or first_name}
    return company_create(
        actor=actor, data={"name": name, "type": CompanyType.FAMILY, "responsible": responsible.pk}
    )


# --- contacts ------------------------------------------------------------------------------


def _clean_list(raw: Any, normalizer: Any, label: str) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or len(raw) > 20:
        raise ValueError(_("Ожидается список (не больше 20)"))
    result: list[str] = []
    for item in raw:
        value = item.get("number") or item.get("address") if isinstance(item, Mapping) else item
        if value in (None, ""):
            continue
        normalized = normalizer(str(value))
        if normalized not in result:
            result.append(normalized)
    return result


def _clean_messengers(raw: Any) -> dict[str, str]:
    """{messenger: login}: keys and logins are text without control characters (a NUL in a
    key came through before), a key up to 30 characters, a login up to 200; empty ones go."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or len(raw) > 10:
        raise ValueError(_("Ожидается объект {мессенджер: логин} (не больше 10)"))
    result: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(_("Ожидается объект {мессенджер: логин}"))
        name = clean_text(key)
        if not name or len(name) > 30:
            raise ValueError(_("Название мессенджера — от 1 до 30 символов"))
        login = clean_text(value, max_length=CONTACT_ITEM.max_length("messenger"))
        if login:
            result[name] = login
    return result


def _clean_contact(data: Mapping[str, Any], *, contact: Contact | None) -> FieldCleaner:
    c = FieldCleaner(data, CONTACT.keys(creating=contact is None))
    CONTACT.clean_texts(c, creating=contact is None)  # one rule for create and update
    if c.has("birthday"):
        if c.data["birthday"] in (None, ""):
            c.cleaned["birthday"] = None
        else:
            c.apply("birthday", normalize_birthday)
    for flag in ("consent_calls", "consent_mailing"):
        if c.has(flag):
            if not isinstance(data[flag], bool):
                c.error(flag, _("Ожидается true или false"))
            else:
                c.cleaned[flag] = data[flag]
    if c.has("messengers"):
        c.apply("messengers", _clean_messengers, allow_blank=False)
    if c.has("phones"):
        c.apply("phones", lambda v: _clean_list(v, normalize_phone, "phone"), allow_blank=False)
    if c.has("emails"):
        c.apply("emails", lambda v: _clean_list(v, normalize_email, "email"), allow_blank=False)
    return c


def _resolve_company(actor: Actor, raw: Any) -> Company:
    from voronka.identity.scopes import scope_filter

    try:
        company_id = to_id(raw)
    except (TypeError, ValueError):
        raise ValidationError({"company": _("Укажите компанию")}) from None
    qs = Company.objects.filter(pk=company_id)
    if actor.user is not None:
        qs = scope_filter(qs, actor.user, "company")
    company = qs.first()
    if company is None:
        raise ValidationError({"company": _("Нет такой компании или нет доступа к ней")})
    return company


def _set_channels(contact: Contact, phones: list[str] | None, emails: list[str] | None) -> None:
    if phones is not None:
        contact.phones.all().delete()
        ContactPhone.objects.bulk_create(ContactPhone(contact=contact, number=p) for p in phones)
    if emails is not None:
        contact.emails.all().delete()
        ContactEmail.objects.bulk_create(ContactEmail(contact=contact, address=e) for e in emails)


def contact_get_for_write(*, actor: Actor, contact_id: int) -> Contact:
    """Lock a contact the actor may act on, or NotFound (outside the scope it does not exist)."""
    return get_for_write(
        Contact.objects.all(),
        actor=actor,
        entity="contact",
        pk=contact_id,
        message=_("Контакт не найден"),
    )


@transaction.atomic
def contact_create(*, actor: Actor, data: Mapping[str, Any]) -> Contact:
    require_active(actor)
    c = _clean_contact(data, contact=None)
    responsible = company = None
    try:
        responsible = resolve_responsible(
            actor.user, "contact", data.get("responsible", actor.user_id)
        )
    except ValidationError as exc:
        c.errors.update(exc.errors)
    custom: dict[str, Any] = {}
    try:
        custom = clean_custom("contact", data.get("custom"))
    except ValidationError as exc:
        c.errors.update(exc.errors)
    if data.get("company") not in (None, ""):
        try:
            company = _resolve_company(actor, data["company"])
        except ValidationError as exc:
            c.errors.update(exc.errors)
    c.raise_if_errors()
    assert responsible is not None
    phones = c.cleaned.pop("phones", [])
    emails = c.cleaned.pop("emails", [])
    if company is None:
        company = family_company_for(
            actor=actor,
            last_name=c.cleaned.get("last_name", ""),
            first_name=c.cleaned["first_name"],
            responsible=responsible,
        )
    contact = Contact.objects.create(
        company=company, responsible=responsible, custom=custom, **c.cleaned
    )
    files_attach(entity="contact", object_id=contact.pk, actor=actor, before={}, after=custom)
    _set_channels(contact, phones, emails)
    contact_keys_sync(contact)
    after = _snapshot(contact, CONTACT_SCALARS)
    after.update(company=company.pk, phones=phones, emails=emails)
    audit(actor=actor, obj=contact, action="created", changes=diff({}, after))
    emit(CONTACT_CREATED, obj=contact, actor=actor, payload={"company": company.pk})
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, actor: Actor, data: Mapping[str, Any]) -> Contact:
    contact = contact_get_for_write(actor=actor, contact_id=contact.pk)
    check_version(contact.version, data.get("version"))
    c = _clean_contact(data, contact=contact)
    if "responsible" in data:
        try:
            c.cleaned["responsible"] = resolve_responsible(
                actor.user, "contact", data["responsible"]
            )
        except ValidationError as exc:
            c.errors.update(exc.errors)
    if "company" in data:
        try:
            c.cleaned["company"] = _resolve_company(actor, data["company"])
        except ValidationError as exc:
            c.errors.update(exc.errors)
    if "custom" in data:
        try:
            c.cleaned["custom"] = clean_custom("contact", data["custom"], current=contact.custom)
        except ValidationError as exc:
            c.errors.update(exc.errors)
    c.raise_if_errors()
    before = _snapshot(contact, CONTACT_SCALARS)
    before.update(
        company=contact.company_id,
        phones=list(contact.phones.values_list("number", flat=True)),
        emails=list(contact.emails.values_list("address", flat=True)),
    )
    phones = c.cleaned.pop("phones", None)
    emails = c.cleaned.pop("emails", None)
    custom_before = contact.custom
    for key, value in c.cleaned.items():
        setattr(contact, key, value)
    contact.version = F("version") + 1
    contact.save()
    files_attach(
        entity="contact",
        object_id=contact.pk,
        actor=actor,
        before=custom_before,
        after=contact.custom,
    )
    contact.refresh_from_db()
    _set_channels(contact, phones, emails)
    after = _snapshot(contact, CONTACT_SCALARS)
    after.update(
        company=contact.company_id,
        phones=phones if phones is not None else before["phones"],
        emails=emails if emails is not None else before["emails"],
    )
    changes = diff(before, after)
    if changes:
        contact_keys_sync(contact)
        audit(actor=actor, obj=contact, action="updated", changes=changes)
        emit(CONTACT_UPDATED, obj=contact, actor=actor, payload={"changes": changes})
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, actor: Actor) -> None:
    contact = contact_get_for_write(actor=actor, contact_id=contact.pk)  # 404 before the 403
    require_actor_flag(actor, "can_delete")
    if contact.tasks.filter(status="open").exists():  # see company_delete
        raise ApplicationError(
            _("У контакта есть открытые задачи — завершите их перед удалением"),
            code=ErrorCode.IN_USE,
        )
    audit(
        actor=actor,
        obj=contact,
        action="deleted",
        changes=diff(_snapshot(contact, CONTACT_SCALARS), {}),
    )
    emit(CONTACT_DELETED, obj=contact, actor=actor, payload={"company": contact.company_id})
    keys_drop(ClientEntity.CONTACT, [contact.pk])
    contact.delete()
