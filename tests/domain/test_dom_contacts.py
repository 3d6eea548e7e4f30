"""contacts.services: companies (requisites, addresses, LTV read-only) and contacts (phones in
E.164, lower-cased e-mails, family company) — each write audited and evented; refusals write
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from factories import (
    ACCOUNT,
    BIK,
    INN_LEGAL,
    INN_PERSON,
    KPP,
    OGRN_IP,
    OGRN_LEGAL,
    make_company,
    make_contact,
)
from voronka.contacts import services
from voronka.contacts.models import Company, CompanyAddress, Contact, ContactEmail, ContactPhone
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, Conflict, ErrorCode, ValidationError
from voronka.kernel.models import AuditEntry, DomainEvent

pytestmark = pytest.mark.django_db


def actor_for(persona: Any) -> Actor:
    return Actor.for_user(persona.user)


def refused(call: Any, nothing_written: Any) -> ApplicationError:
    with nothing_written(), pytest.raises(ApplicationError) as info:
        call()
    return info.value


# --- companies --------------------------------------------------------------------------------


def test_company_create_normalizes_requisites_and_writes_audit_and_event(personas: Any) -> None:
    a1 = personas["a1"]
    company = services.company_create(
        actor=actor_for(a1),
        data={
            "name": "  ООО «Ромашка»  ",
            "inn": "7707 083 893",
            "kpp": "773601001",
            "ogrn": OGRN_LEGAL,
            "bank_bik": BIK,
            "bank_account": ACCOUNT,
            "phone": "8 (495) 123-45-67",
            "email": " Info@Romashka.RU ",
            "addresses": [
                {"kind": "legal", "text": "Москва, Тверская 1", "postal_code": "125009"},
                "Москва, склад на Складочной 3",
            ],
        },
    )
    company.refresh_from_db()
    assert company.name == "ООО «Ромашка»"
    assert company.inn == INN_LEGAL and company.kpp == KPP and company.ogrn == OGRN_LEGAL
    assert company.bank_bik == BIK and company.bank_account == ACCOUNT
    assert company.phone == "+74951234567"
    assert company.email == "info@romashka.ru"
    assert company.responsible_id == a1.pk  # default: the actor
    assert company.version == 1
    addresses = list(company.addresses.values_list("kind", "text", "postal_code"))
    assert addresses == [
        ("legal", "Москва, Тверская 1", "125009"),
        ("actual", "Москва, склад на Складочной 3", ""),
    ]
    entry = AuditEntry.objects.get(object_type="company", object_id=company.pk)
    assert entry.action == "created" and entry.actor_user_id == a1.pk and entry.actor_kind == "user"
    assert entry.changes["inn"] == [None, INN_LEGAL]
    assert entry.changes["addresses"] == [
        None,
        ["Москва, Тверская 1", "Москва, склад на Складочной 3"],
    ]
    event = DomainEvent.objects.get(object_type="company", object_id=company.pk)
    assert (
        event.name == "company.created"
        and event.actor_user_id == a1.pk
        and event.payload == {"name": company.name}
        and event.depth == 0
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"inn": "7707083894"}, "inn"),  # checksum
        ({"inn": "77070838"}, "inn"),  # length
        ({"inn": INN_PERSON}, "inn"),  # 12 digits on a legal entity
        ({"type": "sole_proprietor", "inn": INN_LEGAL}, "inn"),  # 10 digits on an ИП
        ({"kpp": "77360100"}, "kpp"),
        ({"kpp": "77A601001"}, "kpp"),
        ({"ogrn": "1027700132194"}, "ogrn"),
        ({"bank_bik": "123456789"}, "bank_bik"),
        ({"bank_bik": BIK, "bank_account": "40702810938000000002"}, "bank_account"),  # BIK key
        ({"bank_account": "4070281093800000000"}, "bank_account"),
        ({"phone": "12345"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"type": "llc"}, "type"),
        ({"name": "x" * 256}, "name"),
        ({"name": "   "}, "name"),
        ({"comment": "x" * 10001}, "comment"),
        ({"addresses": [{"kind": "moon", "text": "Луна"}]}, "addresses"),
        ({"addresses": ["a"] * 51}, "addresses"),
        ({"addresses": "Москва"}, "addresses"),
        ({"custom": {"staff": "много"}}, "custom.staff"),
        ({"custom": {"nope": 1}}, "custom.nope"),
        ({"ltv": "1000000"}, "ltv"),  # maintained by deals, never written by a client
        ({"id": 1}, "id"),
        ({"created_at": "2020-01-01"}, "created_at"),
    ],
)
def test_company_create_refuses_bad_input_naming_the_field(
    personas: Any, pipeline: Any, nothing_written: Any, data: dict[str, Any], field: str
) -> None:
    payload = {"name": "ООО Тест", **data}
    error = refused(
        lambda: services.company_create(actor=actor_for(personas["a1"]), data=payload),
        nothing_written,
    )
    assert error.code == ErrorCode.VALIDATION and error.status == 422
    assert field in error.errors, error.errors


def test_company_requires_a_name(personas: Any, nothing_written: Any) -> None:
    error = refused(
        lambda: services.company_create(actor=actor_for(personas["a1"]), data={}), nothing_written
    )
    assert "name" in error.errors


def test_company_error_lists_every_bad_field_at_once(personas: Any, nothing_written: Any) -> None:
    error = refused(
        lambda: services.company_create(
            actor=actor_for(personas["a1"]),
            data={"name": "X", "inn": "1", "kpp": "2", "email": "@"},
        ),
        nothing_written,
    )
    assert {"inn", "kpp", "email"} <= set(error.errors)


def test_sole_proprietor_and_family_companies(personas: Any) -> None:
    actor = actor_for(personas["a1"])
    ip = services.company_create(
        actor=actor,
        data={"name": "ИП Петров", "type": "sole_proprietor", "inn": INN_PERSON, "ogrn": OGRN_IP},
    )
    assert (ip.type, ip.inn, ip.ogrn) == ("sole_proprietor", INN_PERSON, OGRN_IP)
    family = services.company_create(actor=actor, data={"name": "Семья Петровых", "type": "family"})
    assert family.type == "family" and family.inn == ""


def test_company_responsible_outside_scope_is_refused(personas: Any, nothing_written: Any) -> None:
    error = refused(
        lambda: services.company_create(
            actor=actor_for(personas["a1"]), data={"name": "X", "responsible": personas["b1"].pk}
        ),
        nothing_written,
    )
    assert "responsible" in error.errors
    head = services.company_create(
        actor=actor_for(personas["head_a"]), data={"name": "X", "responsible": personas["a11"].pk}
    )
    assert head.responsible_id == personas["a11"].pk  # a head assigns within the subtree


def test_company_responsible_cannot_be_a_deactivated_user(
    personas: Any, nothing_written: Any
) -> None:
    error = refused(
        lambda: services.company_create(
            actor=Actor.system(), data={"name": "X", "responsible": personas["deact"].pk}
        ),
        nothing_written,
    )
    assert "responsible" in error.errors


def test_company_update_diff_version_and_addresses(records: Any) -> None:
    company = records["a1"].company
    actor = actor_for_user(records["a1"].user)
    updated = services.company_update(
        company=company,
        actor=actor,
        data={
            "version": 1,
            "name": "ООО Новое имя",
            "addresses": [{"kind": "actual", "text": "Казань"}],
        },
    )
    assert updated.version == 2 and updated.name == "ООО Новое имя"
    assert list(updated.addresses.values_list("text", flat=True)) == ["Казань"]
    entry = AuditEntry.objects.filter(
        object_type="company", object_id=company.pk, action="updated"
    ).get()
    assert entry.changes == {
        "name": ["ООО Компания a1", "ООО Новое имя"],
        "addresses": [["Москва, ул. a1, 1"], ["Казань"]],
    }
    assert DomainEvent.objects.filter(name="company.updated", object_id=company.pk).count() == 1


def actor_for_user(user: Any) -> Actor:
    return Actor.for_user(user)


def test_company_update_stale_version_conflicts_and_writes_nothing(
    records: Any, nothing_written: Any
) -> None:
    company = records["a1"].company
    actor = actor_for_user(records["a1"].user)
    services.company_update(company=company, actor=actor, data={"comment": "first"})
    with nothing_written(), pytest.raises(Conflict) as info:
        services.company_update(
            company=company, actor=actor, data={"version": 1, "comment": "second"}
        )
    assert info.value.status == 409 and info.value.extra == {"current_version": 2}
    company.refresh_from_db()
    assert company.comment == "first"


def test_company_update_without_changes_writes_no_audit(records: Any) -> None:
    company = records["a1"].company
    before = AuditEntry.objects.count()
    services.company_update(
        company=company, actor=actor_for_user(records["a1"].user), data={"name": company.name}
    )
    assert AuditEntry.objects.count() == before


def test_company_update_merges_custom_fields(records: Any, pipeline: Any) -> None:
    company = records["a1"].company
    actor = actor_for_user(records["a1"].user)
    services.company_update(
        company=company, actor=actor, data={"custom": {"industry": "Вода", "staff": "1 200"}}
    )
    services.company_update(company=company, actor=actor, data={"custom": {"staff": 15}})
    company.refresh_from_db()
    assert company.custom == {"industry": "Вода", "staff": "15"}
    services.company_update(company=company, actor=actor, data={"custom": {"industry": ""}})
    company.refresh_from_db()
    assert company.custom == {"staff": "15"}


def test_company_delete_refused_while_deals_or_contacts_exist(
    records: Any, nothing_written: Any
) -> None:
    error = refused(
        lambda: services.company_delete(company=records["a1"].company, actor=Actor.system()),
        nothing_written,
    )
    assert error.code == ErrorCode.IN_USE and error.status == 409


def test_company_delete_audits_and_emits(records: Any) -> None:
    spare = records["a1"].spare_company
    pk = spare.pk
    services.company_delete(company=spare, actor=Actor.system())
    assert not Company.objects.filter(pk=pk).exists()
    assert not CompanyAddress.objects.filter(company_id=pk).exists()
    entry = AuditEntry.objects.get(object_type="company", object_id=pk, action="deleted")
    assert entry.changes["name"] == ["ООО Запасная a1", None] and entry.actor_kind == "system"
    assert DomainEvent.objects.filter(name="company.deleted", object_id=pk).count() == 1


# --- contacts ---------------------------------------------------------------------------------


def test_contact_phones_e164_and_emails_lower_cased(records: Any) -> None:
    contact = make_contact(
        responsible=records["a1"].user,
        company=records["a1"].company,
        first_name="Анна",
        phones=["8 (916) 123-45-67", "+7 916 123 45 67", "+44 20 7946 0958"],
        emails=["Anna@Example.RU", "anna@example.ru", " Second@Mail.Test "],
    )
    assert list(contact.phones.values_list("number", flat=True)) == [
        "+79161234567",
        "+442079460958",
    ]
    assert list(contact.emails.values_list("address", flat=True)) == [
        "anna@example.ru",
        "second@mail.test",
    ]
    entry = AuditEntry.objects.get(object_type="contact", object_id=contact.pk, action="created")
    assert entry.changes["phones"] == [None, ["+79161234567", "+442079460958"]]
    assert DomainEvent.objects.filter(name="contact.created", object_id=contact.pk).count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phones": ["12"]}, "phones"),
        ({"phones": ["+7 916 123-45-67", "not a phone"]}, "phones"),
        ({"phones": ["+7916"] * 21}, "phones"),
        ({"emails": ["a@@b"]}, "emails"),
        ({"emails": ["x" * 250 + "@example.test"]}, "emails"),
        ({"birthday": "31.12.1990"}, "birthday"),
        ({"birthday": "1990-02-30"}, "birthday"),
        ({"consent_calls": "yes"}, "consent_calls"),
        ({"messengers": ["tg"]}, "messengers"),
        ({"messengers": {"tg": "x" * 201}}, "messengers"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "И" * 81}, "first_name"),
        ({"custom": {"vip": "может быть"}}, "custom.vip"),
        ({"company": "abc"}, "company"),
        ({"company": 10**9}, "company"),
        ({"responsible": "x"}, "responsible"),
    ],
)
def test_contact_create_refuses_bad_input(
    records: Any, nothing_written: Any, data: dict[str, Any], field: str
) -> None:
    payload = {"first_name": "Анна", "company": records["a1"].company.pk, **data}
    error = refused(
        lambda: services.contact_create(actor=actor_for_user(records["a1"].user), data=payload),
        nothing_written,
    )
    assert field in error.errors, error.errors


def test_contact_without_company_gets_a_family_company(personas: Any) -> None:
    a1 = personas["a1"]
    contact = services.contact_create(
        actor=actor_for(a1),
        data={"first_name": "Пётр", "last_name": "Сидоров", "phones": ["89161112233"]},
    )
    family = contact.company
    assert family.type == "family" and family.name == "Семья Сидоров"
    assert family.responsible_id == a1.pk == contact.responsible_id
    names = list(DomainEvent.objects.order_by("id").values_list("name", flat=True))
    assert names == ["company.created", "contact.created"]
    assert AuditEntry.objects.filter(
        object_type="company", object_id=family.pk, action="created"
    ).exists()


def test_contact_cannot_join_a_company_of_another_scope(records: Any, nothing_written: Any) -> None:
    payload = {"first_name": "Анна", "company": records["b1"].company.pk}
    error = refused(
        lambda: services.contact_create(actor=actor_for_user(records["a1"].user), data=payload),
        nothing_written,
    )
    assert "company" in error.errors


def test_contact_update_replaces_channels_and_audits_old_and_new(records: Any) -> None:
    contact = records["a1"].contact
    old_phone = contact.phones.get().number
    updated = services.contact_update(
        contact=contact,
        actor=actor_for_user(records["a1"].user),
        data={
            "version": 1,
            "phones": ["+7 999 111-22-33"],
            "birthday": "1990-05-17",
            "position": "Директор",
        },
    )
    assert updated.version == 2
    assert list(ContactPhone.objects.filter(contact=contact).values_list("number", flat=True)) == [
        "+79991112233"
    ]
    assert list(ContactEmail.objects.filter(contact=contact).values_list("address", flat=True)) == [
        "contact.a1@example.test"
    ]
    entry = AuditEntry.objects.get(object_type="contact", object_id=contact.pk, action="updated")
    assert entry.changes["phones"] == [[old_phone], ["+79991112233"]]
    assert entry.changes["birthday"] == [None, "1990-05-17"]
    assert entry.changes["position"] == ["", "Директор"]
    assert "emails" not in entry.changes


def test_contact_update_stale_version_conflicts(records: Any, nothing_written: Any) -> None:
    contact = records["a1"].contact
    services.contact_update(contact=contact, actor=Actor.system(), data={"position": "A"})
    with nothing_written(), pytest.raises(Conflict):
        services.contact_update(
            contact=contact, actor=Actor.system(), data={"version": 1, "position": "B"}
        )


def test_contact_delete_audits_and_emits(records: Any) -> None:
    contact = records["a1"].contact
    pk = contact.pk
    services.contact_delete(contact=contact, actor=Actor.system())
    assert not Contact.objects.filter(pk=pk).exists()
    assert (
        AuditEntry.objects.filter(object_type="contact", object_id=pk, action="deleted").count()
        == 1
    )
    assert DomainEvent.objects.filter(name="contact.deleted", object_id=pk).count() == 1


@pytest.mark.parametrize("service", ["company_create", "contact_create"])
def test_a_failure_after_writing_rolls_back_row_audit_and_event(
    records: Any, monkeypatch: pytest.MonkeyPatch, nothing_written: Any, service: str
) -> None:
    """Audit row and outbox event are in the service's transaction: if the event write fails
    after the row and the audit entry were written, none of the three survive."""

    def broken_emit(*args: Any, **kwargs: Any) -> None:
        assert AuditEntry.objects.filter(object_id=kwargs["obj"].pk).exists()  # written already
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(services, "emit", broken_emit)
    data: dict[str, Any] = (
        {"name": "ООО Откат"}
        if service == "company_create"
        else {
            "first_name": "Откат",
            "company": records["a1"].company.pk,
            "phones": ["+79160000000"],
        }
    )
    data["responsible"] = records["a1"].user.pk
    with nothing_written(), pytest.raises(RuntimeError):
        getattr(services, service)(actor=Actor.system(), data=data)


def test_company_factory_roundtrip(records: Any) -> None:
    company = make_company(responsible=records["b1"].user, name="ООО Б", inn=INN_LEGAL, kpp=KPP)
    assert company.responsible_id == records["b1"].user.pk and company.inn == INN_LEGAL

    with pytest.raises(ValidationError):
        make_company(responsible=records["b1"].user, name="ООО Б", inn="7707083894")
