"""Merge of contacts and companies (contacts.merge, decision 0021): every link moves to the kept
record, phones and e-mails are united, the LTV is recounted, and the undo puts back exactly what
was there (a full snapshot of the tables before the merge equals the one after the undo) —
refused once a later edit depends on the merge. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from factories import make_company, make_contact, make_deal, make_task, system
from voronka.activities.models import Comment, Task
from voronka.activities.services import comment_add
from voronka.contacts.merge import company_merge, contact_merge, merge_undo
from voronka.contacts.models import (
    ClientKey,
    Company,
    CompanyAddress,
    Contact,
    ContactEmail,
    ContactPhone,
    DuplicateGroup,
    Merge,
)
from voronka.deals.models import CompanyLtv, Deal
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, Conflict, ValidationError
from voronka.kernel.models import AuditEntry, DomainEvent, StoredFile

# Rows whose ids are not the client's own (re-created on undo): compared by their values.
BY_VALUE = {"through", "ltv", "keys"}


def snapshot() -> dict[str, Any]:
    """Every row a merge touches, column by column."""
    through = Deal.contacts.through
    return {
        "companies": list(Company.objects.order_by("pk").values()),
        "contacts": list(Contact.objects.order_by("pk").values()),
        "phones": list(ContactPhone.objects.order_by("pk").values()),
        "emails": list(ContactEmail.objects.order_by("pk").values()),
        "addresses": list(CompanyAddress.objects.order_by("pk").values()),
        "deals": list(Deal.objects.order_by("pk").values()),
        "through": sorted(through.objects.values_list("deal_id", "contact_id")),
        "tasks": list(Task.objects.order_by("pk").values()),
        "comments": list(Comment.objects.order_by("pk").values()),
        "files": list(StoredFile.objects.order_by("pk").values()),
        "ltv": sorted(CompanyLtv.objects.values_list("company_id", "currency", "amount")),
        "keys": sorted(ClientKey.objects.values_list("entity", "object_id", "kind", "key")),
        "groups": list(DuplicateGroup.objects.order_by("pk").values()),
    }


@dataclass
class Base:
    user: Any
    actor: Actor
    a: Any  # kept company
    b: Any  # merged company
    ca: Any  # contact of a
    cb: Any  # contact of b (same person)
    deal_a: Any
    deal_b: Any
    won_b: Any
    task_b: Any
    task_cb: Any
    file_b: Any
    group: Any


@pytest.fixture
def base(org: Any, pipeline: Any) -> Base:
    user = org.personas["a1"].user
    a = make_company(
        responsible=user,
        name="ООО Ромашка",
        inn="7707083893",
        addresses=[{"kind": "legal", "text": "Москва, Тверская, 1"}],
        custom={"industry": ""},
    )
    b = make_company(
        responsible=user,
        name="Ромашка ООО",
        phone="+7 495 111-22-33",
        addresses=[
            {"kind": "legal", "text": "москва, тверская, 1"},
            {"kind": "actual", "text": "Москва, Арбат, 5"},
        ],
        custom={"industry": "Розница", "staff": 12},
        comment="Старый клиент",
    )
    ca = make_contact(
        responsible=user,
        company=a,
        first_name="Иван",
        last_name="Петров",
        phones=["+7 916 111-11-11"],
        emails=["ivan@example.test"],
    )
    cb = make_contact(
        responsible=user,
        company=b,
        first_name="Иван",
        last_name="Петров",
        middle_name="Сергеевич",
        phones=["+7 916 111-11-11", "+7 916 222-22-22"],
        emails=["petrov@example.test"],
        comment="Звонить после обеда",
    )
    deal_a = make_deal(
        responsible=user,
        company=a,
        title="Сделка A",
        stage=pipeline.stages["new"],
        contacts=[ca.pk],
    )
    deal_b = make_deal(
        responsible=user,
        company=b,
        title="Сделка B",
        stage=pipeline.stages["new"],
        contacts=[cb.pk, ca.pk],
    )
    won_b = make_deal(
        responsible=user,
        company=b,
        title="Выиграна B",
        stage=pipeline.stages["won"],
        amount="500",
        contacts=[cb.pk],
    )
    task_b = make_task(responsible=user, company=b)
    task_cb = make_task(responsible=user, contact=cb)
    comment_add(obj=b, actor=system(), text="О компании B")
    comment_add(obj=cb, actor=system(), text="О контакте B")
    file_b = StoredFile.objects.create(
        file="uploads/test/b.pdf",
        name="b.pdf",
        size=1,
        content_type="application/pdf",
        sha256="0" * 64,
        entity="company",
        object_id=b.pk,
        field_key="doc",
    )
    group = DuplicateGroup.objects.create(
        entity="company",
        signature=f"{a.pk},{b.pk}",
        ids=[a.pk, b.pk],
        score=0.9,
        matched=["name"],
        found_at=clock.now(),
    )
    return Base(
        user=user,
        actor=Actor.for_user(org.personas["head_a"].user),
        a=a,
        b=b,
        ca=ca,
        cb=cb,
        deal_a=deal_a,
        deal_b=deal_b,
        won_b=won_b,
        task_b=task_b,
        task_cb=task_cb,
        file_b=file_b,
        group=group,
    )


def test_company_merge_moves_every_link_and_recounts_the_ltv(base: Base) -> None:
    merge, kept = company_merge(
        actor=base.actor, keep_id=base.a.pk, merge_ids=[base.b.pk], fields={"name": base.b.pk}
    )
    assert not Company.objects.filter(pk=base.b.pk).exists()
    assert kept.name == "Ромашка ООО"  # chosen
    assert kept.inn == "7707083893"  # the kept one's
    assert kept.phone == "+74951112233"  # empty on the kept one: filled
    assert kept.comment == "Старый клиент"
    assert kept.custom == {"industry": "Розница", "staff": "12"}
    assert set(Deal.objects.filter(company=kept).values_list("pk", flat=True)) == {
        base.deal_a.pk,
        base.deal_b.pk,
        base.won_b.pk,
    }
    assert Contact.objects.get(pk=base.cb.pk).company_id == kept.pk
    assert Task.objects.get(pk=base.task_b.pk).company_id == kept.pk
    assert Comment.objects.filter(object_type="company", object_id=kept.pk).count() == 1
    assert StoredFile.objects.get(pk=base.file_b.pk).object_id == kept.pk
    # Addresses united, case-insensitively: the duplicate went with the merged company.
    assert sorted(kept.addresses.values_list("text", flat=True)) == [
        "Москва, Арбат, 5",
        "Москва, Тверская, 1",
    ]
    assert list(kept.ltv_cells.values_list("currency", "amount")) == [("RUB", Decimal("500"))]
    assert (kept.ltv, kept.deals_count, kept.won_count) == (Decimal("500"), 3, 1)
    assert kept.last_purchase_at is not None
    assert not ClientKey.objects.filter(entity="company", object_id=base.b.pk).exists()
    assert ClientKey.objects.filter(entity="company", object_id=kept.pk, kind="phone").exists()
    assert DuplicateGroup.objects.get(pk=base.group.pk).status == "merged"
    # Audited on the kept one and on the merged one, evented.
    assert AuditEntry.objects.filter(object_type="company", object_id=kept.pk, action="merge")
    assert AuditEntry.objects.filter(object_type="company", object_id=base.b.pk, action="merged")
    event = DomainEvent.objects.get(name="company.merged")
    assert event.payload["kept"] == kept.pk
    assert event.payload["merged"] == [base.b.pk]
    assert merge.kept_version == kept.version


def test_contact_merge_unites_phones_and_emails_and_moves_deals(base: Base) -> None:
    merge, kept = contact_merge(
        actor=base.actor,
        keep_id=base.ca.pk,
        merge_ids=[base.cb.pk],
        fields={"comment": "concat", "company": base.cb.pk},
    )
    assert not Contact.objects.filter(pk=base.cb.pk).exists()
    assert list(kept.phones.values_list("number", flat=True)) == ["+79161111111", "+79162222222"]
    assert sorted(kept.emails.values_list("address", flat=True)) == [
        "ivan@example.test",
        "petrov@example.test",
    ]
    assert kept.middle_name == "Сергеевич"  # empty on the kept one: filled
    assert kept.company_id == base.b.pk  # chosen
    assert kept.comment == "Звонить после обеда"
    # Deal B had both contacts: one link left; the won deal had only the merged one: moved.
    assert list(Deal.objects.get(pk=base.deal_b.pk).contacts.values_list("pk", flat=True)) == [
        kept.pk
    ]
    assert list(Deal.objects.get(pk=base.won_b.pk).contacts.values_list("pk", flat=True)) == [
        kept.pk
    ]
    assert Task.objects.get(pk=base.task_cb.pk).contact_id == kept.pk
    assert Comment.objects.filter(object_type="contact", object_id=kept.pk).count() == 1
    assert DomainEvent.objects.filter(name="contact.merged").count() == 1


@pytest.mark.parametrize("entity", ["company", "contact"])
def test_undo_restores_exactly(base: Base, entity: str) -> None:
    before = snapshot()
    if entity == "company":
        merge, _kept = company_merge(
            actor=base.actor,
            keep_id=base.a.pk,
            merge_ids=[base.b.pk],
            fields={"name": base.b.pk, "comment": base.a.pk},
        )
    else:
        merge, _kept = contact_merge(
            actor=base.actor, keep_id=base.ca.pk, merge_ids=[base.cb.pk], fields={}
        )
    assert snapshot() != before
    merge_undo(actor=base.actor, merge_id=merge.pk)
    after = snapshot()
    for table in before:
        assert after[table] == before[table], table
    merge.refresh_from_db()
    assert merge.undone_at is not None
    assert DomainEvent.objects.filter(name=f"{entity}.merge_undone").count() == 1
    with pytest.raises(Conflict):  # once
        merge_undo(actor=base.actor, merge_id=merge.pk)


def test_undo_is_refused_after_an_edit_of_the_kept_record(base: Base) -> None:
    from voronka.contacts.services import company_update

    merge, kept = company_merge(actor=base.actor, keep_id=base.a.pk, merge_ids=[base.b.pk])
    company_update(company=kept, actor=base.actor, data={"website": "https://example.test"})
    with pytest.raises(Conflict) as exc:
        merge_undo(actor=base.actor, merge_id=merge.pk)
    assert "после объединения" in exc.value.message
    assert not Company.objects.filter(pk=base.b.pk).exists()


def test_undo_is_refused_after_an_edit_of_a_moved_deal(base: Base) -> None:
    from voronka.deals.services import deal_update

    merge, _kept = company_merge(actor=base.actor, keep_id=base.a.pk, merge_ids=[base.b.pk])
    deal = Deal.objects.get(pk=base.deal_b.pk)
    deal_update(deal=deal, actor=base.actor, data={"title": "Изменена после"})
    with pytest.raises(Conflict) as exc:
        merge_undo(actor=base.actor, merge_id=merge.pk)
    assert "сделки" in exc.value.message


def test_undo_is_refused_after_a_moved_task_is_done(base: Base) -> None:
    from voronka.activities.tasks_services import task_complete

    merge, _kept = contact_merge(actor=base.actor, keep_id=base.ca.pk, merge_ids=[base.cb.pk])
    task_complete(task=Task.objects.get(pk=base.task_cb.pk), actor=base.actor, result="Готово")
    with pytest.raises(Conflict):
        merge_undo(actor=base.actor, merge_id=merge.pk)


def test_a_moved_deal_edited_with_its_pre_merge_version_is_refused(base: Base) -> None:
    """The move bumps each moved deal's version: a form opened before the merge cannot save
    the merged company back onto it."""
    from voronka.deals.services import deal_update

    version = base.deal_b.version
    company_merge(actor=base.actor, keep_id=base.a.pk, merge_ids=[base.b.pk])
    with pytest.raises(Conflict):
        deal_update(
            deal=Deal.objects.get(pk=base.deal_b.pk),
            actor=base.actor,
            data={"title": "Старая форма", "version": version},
        )


@pytest.mark.parametrize(
    ("keep", "merge", "fields", "key"),
    [
        (True, ["b"], {}, "keep"),
        ("a", [True], {}, "merge"),
        ("a", ["a"], {}, "merge"),
        ("a", [], {}, "merge"),
        ("a", ["b", "b"], {}, "merge"),
        ("a", list(range(1, 13)), {}, "merge"),
        ("a", ["b"], {"nope": "a"}, "fields"),
        ("a", ["b"], {"name": True}, "fields"),
        ("a", ["b"], {"name": 999999}, "fields"),
        ("a", ["b"], {"name": "concat"}, "fields"),
        ("a", ["b"], [], "fields"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    base: Base, nothing_written: Any, keep: Any, merge: Any, fields: Any, key: str
) -> None:
    ids = {"a": base.a.pk, "b": base.b.pk}
    keep = ids.get(keep, keep) if isinstance(keep, str) else keep
    merge = [ids.get(m, m) if isinstance(m, str) else m for m in merge]
    fields = (
        {k: ids.get(v, v) if isinstance(v, str) and v != "concat" else v for k, v in fields.items()}
        if isinstance(fields, dict)
        else fields
    )
    with nothing_written(), pytest.raises(ValidationError) as exc:
        company_merge(actor=base.actor, keep_id=keep, merge_ids=merge, fields=fields)
    assert key in exc.value.errors


@pytest.mark.parametrize("which", ["keep", "merge", "missing"])
def test_a_record_outside_the_scope_is_not_found(
    org: Any, base: Base, nothing_written: Any, which: str
) -> None:
    """As for a path id: 404 naming the field, the same for an id that never existed."""
    other = make_company(responsible=org.personas["b1"].user, name="ООО Чужая").pk
    keep, merge = (other, [base.b.pk]) if which == "keep" else (base.a.pk, [other])
    if which == "missing":
        merge = [other + 1000]
    with nothing_written(), pytest.raises(ApplicationError) as exc:
        company_merge(actor=base.actor, keep_id=keep, merge_ids=merge)
    assert exc.value.status == 404
    assert list(exc.value.errors) == ["keep" if which == "keep" else "merge"]


def test_a_manager_without_the_delete_right_may_not_merge(
    org: Any, base: Base, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(ApplicationError) as exc:
        company_merge(actor=Actor.for_user(base.user), keep_id=base.a.pk, merge_ids=[base.b.pk])
    assert exc.value.status == 403


def test_a_merged_record_is_a_conflict_for_a_second_merge(base: Base) -> None:
    company_merge(actor=base.actor, keep_id=base.a.pk, merge_ids=[base.b.pk])
    spare = make_company(responsible=base.user, name="ООО Третья")
    with pytest.raises(Conflict) as exc:
        company_merge(actor=base.actor, keep_id=spare.pk, merge_ids=[base.b.pk])
    assert str(base.a.pk) in exc.value.message
    assert Merge.objects.count() == 1


def test_values_from_different_records_must_still_agree(base: Base, nothing_written: Any) -> None:
    """A sole proprietor's type with a legal entity's 10-digit INN is refused, naming the INN."""
    ip = make_company(responsible=base.user, name="ИП Петров", type="sole_proprietor")
    with nothing_written(), pytest.raises(ValidationError) as exc:
        company_merge(
            actor=base.actor, keep_id=base.a.pk, merge_ids=[ip.pk], fields={"type": ip.pk}
        )
    assert "inn" in exc.value.errors


def test_a_contact_may_not_take_a_company_the_actor_does_not_see(
    org: Any, base: Base, nothing_written: Any
) -> None:
    """A contact of a1 in b1's company (assigned by the system): head_a sees the contact, not
    the company — choosing that contact's company is refused."""
    foreign = make_company(responsible=org.personas["b1"].user, name="ООО Чужая")
    stray = make_contact(responsible=base.user, company=foreign, first_name="Иван")
    with nothing_written(), pytest.raises(ValidationError) as exc:
        contact_merge(
            actor=base.actor,
            keep_id=base.ca.pk,
            merge_ids=[stray.pk],
            fields={"company": stray.pk},
        )
    assert "company" in exc.value.errors


def test_undo_is_refused_when_a_merged_contacts_company_is_gone(base: Base) -> None:
    from voronka.contacts.services import company_delete

    alone = make_company(responsible=base.user, name="ООО Одинокая")
    stray = make_contact(responsible=base.user, company=alone, first_name="Иван")
    merge, _kept = contact_merge(actor=base.actor, keep_id=base.ca.pk, merge_ids=[stray.pk])
    company_delete(company=alone, actor=base.actor)
    with pytest.raises(Conflict):
        merge_undo(actor=base.actor, merge_id=merge.pk)
