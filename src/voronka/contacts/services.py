"""Every write to companies and contacts: validated, audited, evented, one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from voronka.contacts import dedup
from voronka.contacts.dedup import (
    company_keys,
    company_keys_sync,
    contact_keys,
    contact_keys_sync,
    keys_drop,
)
from voronka.contacts.duplicate_selectors import candidates_out
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
    DuplicateGroup,
    DuplicateScan,
)
from voronka.identity.models import User
from voronka.identity.permissions import get_for_write, require_active, require_actor_flag
from voronka.identity.scopes import resolve_responsible
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, audit_entry, audit_many, diff
from voronka.kernel.bulk import insert_rows, insert_values
from voronka.kernel.customfields import clean_custom
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError
from voronka.kernel.events import emit, emit_many, event_row
from voronka.kernel.fields import FieldCleaner, to_id, to_id_or_none
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
def company_create(
    *, actor: Actor, data: Mapping[str, Any], check_duplicates: bool = False
) -> Company:
    """`check_duplicates`: refuse (DuplicateFound) when a company with the same INN, phone or
    e-mail exists — what a person entering one by hand or through the API gets by default."""
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
    if check_duplicates:
        _refuse_exact_duplicate(
            actor,
            ClientEntity.COMPANY,
            company_keys(
                name=c.cleaned.get("name", ""),
                inn=c.cleaned.get("inn", ""),
                phone=c.cleaned.get("phone", ""),
                email=c.cleaned.get("email", ""),
            ),
        )
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
        if isinstance(item, Mapping):  # {"e164"|"value"} as the API answers, or {"number"}
            value = next(
                (item[k] for k in ("e164", "value", "number", "address") if item.get(k)), ""
            )
        else:
            value = item
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


class DuplicateFound(ApplicationError):
    """The client being entered exists: a phone, e-mail or INN is the same (seed 001). Carries
    the existing records as the user may see them (duplicate_selectors.candidates_out)."""

    def __init__(self, existing: list[dict[str, Any]]) -> None:
        first = existing[0]
        if first["visible"]:
            message = _("Такой клиент уже есть: %(label)s (ответственный — %(who)s)") % {
                "label": first["label"],
                "who": first["responsible"],
            }
        else:
            message = _("Такой клиент уже есть у менеджера %(who)s") % {"who": first["responsible"]}
        super().__init__(message, code=ErrorCode.DUPLICATE, extra={"existing": existing})
        self.existing = existing


def _refuse_exact_duplicate(actor: Actor, entity: str, keys: list[tuple[str, str]]) -> None:
    """Raise DuplicateFound when a stored record shares an exact key (phone, e-mail, INN).
    On PostgreSQL the keys are locked for the transaction first, so two people entering the
    same client at once cannot both pass the check."""
    dedup.lock_keys(entity, keys)
    exact = [c for c in dedup.find_candidates(entity, keys) if c.exact]
    if exact and actor.user is not None:
        raise DuplicateFound(candidates_out(actor.user, entity, exact))
    if exact:
        raise DuplicateFound(
            [{"entity": entity, "id": c.id, "label": "", "responsible": "", "visible": True,
              "score": c.score, "matched": c.matched, "exact": True} for c in exact]
        )  # fmt: skip


def contact_find_or_create(*, actor: Actor, data: Mapping[str, Any]) -> tuple[Contact, bool]:
    """The contact with the same phone or e-mail when there is one the actor may see (seed 001:
    the existing client is used, the new request becomes a new deal on it), else a new one.
    Returns (contact, created). An exact duplicate outside the actor's scope is DuplicateFound."""
    try:
        return contact_create(actor=actor, data=data, check_duplicates=True), True
    except DuplicateFound as exc:
        visible = [c for c in exc.existing if c["visible"] and c.get("id")]
        if not visible:
            raise
        return contact_get_for_write(actor=actor, contact_id=visible[0]["id"]), False


@transaction.atomic
def contact_create(
    *, actor: Actor, data: Mapping[str, Any], check_duplicates: bool = False
) -> Contact:
    """`check_duplicates`: refuse (DuplicateFound) when a contact with the same phone or e-mail
    exists — what a person entering one by hand or through the API gets by default."""
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
    if check_duplicates:
        _refuse_exact_duplicate(
            actor,
            ClientEntity.CONTACT,
            contact_keys(
                last_name=c.cleaned.get("last_name", ""),
                first_name=c.cleaned.get("first_name", ""),
                phones=phones,
                emails=emails,
            ),
        )
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


# --- many at once (the import) ---------------------------------------------------------------


class _Responsibles:
    """resolve_responsible once per distinct input of a batch (the import names a few users)."""

    def __init__(self, actor: Actor, entity: str) -> None:
        self.actor, self.entity = actor, entity
        self.memo: dict[Any, User | ValidationError] = {}

    def __call__(self, raw: Any) -> User:
        key = raw.pk if isinstance(raw, User) else raw
        if not isinstance(key, int | str | None):
            key = repr(key)
        if key not in self.memo:
            try:
                self.memo[key] = resolve_responsible(self.actor.user, self.entity, raw)
            except ValidationError as exc:
                self.memo[key] = exc
        found = self.memo[key]
        if isinstance(found, ValidationError):
            raise found
        return found


def _companies_write(actor: Actor, ready: list[tuple[Company, list[dict[str, str]]]]) -> None:
    """Write new companies as company_create writes one: the rows, files, addresses, keys, the
    audit rows and the events, a statement per kind."""
    from voronka.contacts.dedup import company_keys

    if not ready:
        return
    insert_rows([company for company, _a in ready])
    for company, _a in ready:
        if company.custom:
            files_attach(
                entity="company", object_id=company.pk, actor=actor, before={}, after=company.custom
            )
    insert_rows(
        [CompanyAddress(company=company, **a) for company, addresses in ready for a in addresses]
    )
    dedup.keys_insert_many(
        ClientEntity.COMPANY,
        [
            (
                company.pk,
                company_keys(
                    name=company.name,
                    inn=company.inn,
                    phone=company.phone,
                    email=company.email,
                    addresses=[a["text"] for a in addresses],
                ),
            )
            for company, addresses in ready
        ],
    )
    entries, events = [], []
    for company, addresses in ready:
        after = _snapshot(company, COMPANY_SCALARS)
        after["addresses"] = [a["text"] for a in addresses]
        entries.append(
            audit_entry(actor=actor, obj=company, action="created", changes=diff({}, after))
        )
        events.append(
            event_row(COMPANY_CREATED, obj=company, actor=actor, payload={"name": company.name})
        )
    audit_many(entries)
    emit_many(events)


def _company_new(
    data: Mapping[str, Any], actor: Actor, responsibles: _Responsibles
) -> tuple[Company, list[dict[str, str]]]:
    """One input checked as company_create checks it (ValidationError naming every bad field)."""
    c = _clean_company(data, company=None)
    responsible: User | None = None
    try:
        responsible = responsibles(data.get("responsible", actor.user_id))
    except ValidationError as exc:
        c.errors.update(exc.errors)
    custom: dict[str, Any] = {}
    try:
        custom = clean_custom("company", data.get("custom"))
    except ValidationError as exc:
        c.errors.update(exc.errors)
    c.raise_if_errors()
    assert responsible is not None
    addresses = c.cleaned.pop("addresses", [])
    return Company(responsible=responsible, custom=custom, **c.cleaned), addresses


@transaction.atomic
def company_create_many(
    *, actor: Actor, items: Sequence[Mapping[str, Any]]
) -> list[Company | ValidationError]:
    """company_create for each input: each checked as company_create checks it; the valid ones
    written together (a statement per kind: the import writes thousands), each refused one
    answered by its ValidationError in its place."""
    require_active(actor)
    responsibles = _Responsibles(actor, "company")
    results: list[Company | ValidationError] = []
    ready: list[tuple[Company, list[dict[str, str]]]] = []
    for data in items:
        try:
            company, addresses = _company_new(data, actor, responsibles)
        except ValidationError as exc:
            results.append(exc)
            continue
        results.append(company)
        ready.append((company, addresses))
    _companies_write(actor, ready)
    return results


@transaction.atomic
def contact_create_many(
    *, actor: Actor, items: Sequence[Mapping[str, Any]]
) -> list[Contact | ValidationError]:
    """contact_create for each input, as company_create_many does for companies: the companies
    named are read in one scoped query, the family companies of the others are created with
    them, everything written a statement per kind."""
    from voronka.contacts.dedup import contact_keys
    from voronka.identity.scopes import scope_filter

    require_active(actor)
    responsibles = _Responsibles(actor, "contact")
    company_ids: set[int] = set()
    for data in items:
        if data.get("company") not in (None, ""):
            company_id = to_id_or_none(data["company"])
            if company_id is not None:
                company_ids.add(company_id)
    companies_qs = Company.objects.filter(pk__in=company_ids)
    if actor.user is not None:
        companies_qs = scope_filter(companies_qs, actor.user, "company")
    companies = {c.pk: c for c in companies_qs}
    results: list[Contact | ValidationError] = []
    ready: list[tuple[Contact, list[str], list[str]]] = []
    families: list[tuple[Company, list[dict[str, str]]]] = []
    for data in items:
        try:
            c = _clean_contact(data, contact=None)
        except ValidationError as exc:
            results.append(exc)
            continue
        responsible: User | None = None
        try:
            responsible = responsibles(data.get("responsible", actor.user_id))
        except ValidationError as exc:
            c.errors.update(exc.errors)
        custom: dict[str, Any] = {}
        try:
            custom = clean_custom("contact", data.get("custom"))
        except ValidationError as exc:
            c.errors.update(exc.errors)
        company: Company | None = None
        if data.get("company") not in (None, ""):
            company = companies.get(to_id_or_none(data["company"]) or 0)
            if company is None:
                c.error("company", _("Нет такой компании или нет доступа к ней"))
        if c.errors:
            results.append(ValidationError(c.errors))
            continue
        assert responsible is not None
        if company is None:  # a family, as family_company_for makes it
            name = _("Семья %(name)s") % {
                "name": c.cleaned.get("last_name", "") or c.cleaned["first_name"]
            }
            try:
                family = _company_new(
                    {"name": name, "type": CompanyType.FAMILY, "responsible": responsible},
                    actor,
                    responsibles,
                )
            except ValidationError as exc:
                results.append(exc)
                continue
            families.append(family)
            company = family[0]
        phones = c.cleaned.pop("phones", [])
        emails = c.cleaned.pop("emails", [])
        contact = Contact(company=company, responsible=responsible, custom=custom, **c.cleaned)
        results.append(contact)
        ready.append((contact, phones, emails))
    _companies_write(actor, families)
    for contact, _p, _e in ready:
        contact.company_id = contact.company.pk  # the family's id, given by its insert
    insert_rows([contact for contact, _p, _e in ready])
    for contact, _p, _e in ready:
        if contact.custom:
            files_attach(
                entity="contact", object_id=contact.pk, actor=actor, before={}, after=contact.custom
            )
    kind_phone = ContactPhone._meta.get_field("kind").get_default()
    kind_email = ContactEmail._meta.get_field("kind").get_default()
    insert_values(
        ContactPhone,
        ["contact", "number", "kind"],
        [(x.pk, p, kind_phone) for x, phones, _e in ready for p in phones],
    )
    insert_values(
        ContactEmail,
        ["contact", "address", "kind"],
        [(x.pk, e, kind_email) for x, _p, emails in ready for e in emails],
    )
    dedup.keys_insert_many(
        ClientEntity.CONTACT,
        [
            (
                x.pk,
                contact_keys(
                    last_name=x.last_name,
                    first_name=x.first_name,
                    middle_name=x.middle_name,
                    birthday=x.birthday,
                    phones=phones,
                    emails=emails,
                ),
            )
            for x, phones, emails in ready
        ],
    )
    entries, events = [], []
    for contact, phones, emails in ready:
        after = _snapshot(contact, CONTACT_SCALARS)
        after.update(company=contact.company_id, phones=phones, emails=emails)
        entries.append(
            audit_entry(actor=actor, obj=contact, action="created", changes=diff({}, after))
        )
        events.append(
            event_row(
                CONTACT_CREATED, obj=contact, actor=actor, payload={"company": contact.company_id}
            )
        )
    audit_many(entries)
    emit_many(events)
    return results


# --- duplicate control: a person's decisions ------------------------------------------------------

# A scan a person asks for while one is running (or finished this recently) is not started again.
SCAN_COOLDOWN = dt.timedelta(minutes=10)


def duplicates_scan_request(*, actor: Actor, entity: str) -> DuplicateScan:
    """Start a full scan in the worker (contacts.jobs.scan_duplicates), or hand back the one that
    is running or has just finished: one scan per entity at a time."""
    from voronka.contacts.duplicate_selectors import check_entity
    from voronka.contacts.jobs import scan_duplicates

    require_active(actor)
    entity = check_entity(entity)
    now = clock.now()
    with transaction.atomic():
        recent = (
            DuplicateScan.objects.select_for_update()
            .filter(entity=entity, started_at__gte=now - SCAN_COOLDOWN)
            .exclude(status=DuplicateScan.Status.FAILED)
            .first()
        )
        if recent is not None:
            return recent
        run = DuplicateScan.objects.create(
            entity=entity, started_at=now, requested_by_id=actor.user_id
        )
        transaction.on_commit(lambda: scan_duplicates.enqueue(run.pk))
    return run


@transaction.atomic
def duplicate_group_dismiss(*, actor: Actor, group_id: int) -> DuplicateGroup:
    """ "Not duplicates": kept across scans. The actor must be able to edit every record."""
    from voronka.contacts.duplicate_selectors import MODELS

    group = DuplicateGroup.objects.select_for_update().filter(pk=group_id).first()
    if group is None:
        raise NotFound(_("Группа дублей не найдена"))
    model = MODELS[group.entity]
    for object_id in group.ids:
        get_for_write(
            model.objects.all(),
            actor=actor,
            entity=group.entity,
            pk=object_id,
            message=_("Группа дублей не найдена"),
        )
    if group.status != DuplicateGroup.Status.OPEN:
        raise ApplicationError(_("Группа уже разобрана"), code=ErrorCode.CONFLICT)
    group.status = DuplicateGroup.Status.DISMISSED
    group.decided_by_id = actor.user_id
    group.decided_at = clock.now()
    group.save(update_fields=["status", "decided_by", "decided_at"])
    audit(
        actor=actor,
        obj=group,
        action="dismissed",
        changes={"status": ["open", "dismissed"], "ids": [None, group.ids]},
    )
    return group


def company_values_check(*, company: Company, data: Mapping[str, Any]) -> None:
    """Validate `data` as an edit of `company` without saving it (ValidationError naming the
    field): a merge combines values of several companies, which must still agree (a legal
    entity's INN is 10 digits)."""
    _clean_company(data, company=company).raise_if_errors()
