"""The client card (issue 10): the phone's region and local time, the ОГРНИП check, the company's
numbers (deals, won, first / last purchase, last interaction) kept exact by the services, the
list's filters and sorts by them within the scope, and the families flow."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import make_company, make_contact, make_deal, make_task
from voronka.activities.counters import counters_snapshot, task_counters_rebuild
from voronka.activities.services import comment_add
from voronka.activities.tasks_services import task_complete
from voronka.contacts.families import family_merge, family_suggestions
from voronka.contacts.models import Company, CompanyType, Contact
from voronka.contacts.selectors import CompanyMetrics, company_list
from voronka.deals.services import deal_delete, deal_move_to_stage, deal_update
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.models import AuditEntry
from voronka.kernel.normalize import normalize_ogrn, ogrn_check_digit
from voronka.kernel.phoneinfo import is_night, local_time, phone_info

NOW = dt.datetime(2026, 12, 7, 14, 40, tzinfo=dt.UTC)  # 21:40 in Novosibirsk (UTC+7)


# --- phones ------------------------------------------------------------------------------------


def test_phone_region_and_local_time() -> None:
    nsk = phone_info("+73832123456", "ru")
    assert nsk.region == "Новосибирская обл." and nsk.timezone == "Asia/Novosibirsk"
    assert nsk.value == "+7 383 212-34-56" and nsk.e164 == "+73832123456"
    local = local_time(nsk, NOW)
    assert local is not None and local.strftime("%H:%M") == "21:40" and is_night(local)
    # Moscow's and St Petersburg's codes are the cities, in the UI language.
    assert phone_info("+74951234567", "ru").region == "Москва"
    assert phone_info("+74991234567", "en").region == "Moscow"
    assert phone_info("+78121234567", "ru").region == "Санкт-Петербург"
    assert phone_info("+73832123456", "en").region == "Novosibirsk"
    moscow = local_time(phone_info("+74951234567"), NOW)
    assert moscow is not None and moscow.strftime("%H:%M") == "17:40" and not is_night(moscow)
    # A Russian mobile range spans eleven zones: the country, no time.
    mobile = phone_info("+79131234567", "ru")
    assert mobile.region == "Россия" and mobile.timezone is None
    assert local_time(mobile, NOW) is None
    # Anything unreadable is returned as it was.
    assert phone_info("garbage", "ru").as_dict() == {
        "value": "garbage",
        "e164": "garbage",
        "region": "",
        "timezone": None,
    }


def test_night_is_21_to_9() -> None:
    assert [is_night(dt.time(h, 0)) for h in (8, 9, 20, 21, 23, 0)] == [
        True,
        False,
        False,
        True,
        True,
        True,
    ]


@settings(max_examples=300, deadline=None)
@given(
    country=st.sampled_from([7, 1, 44, 49, 86, 380, 375, 998, 7, 7]),
    digits=st.text(alphabet="0123456789", min_size=1, max_size=14),
    language=st.sampled_from(["ru", "en", "de", None, "", "zz-ZZ"]),
)
def test_phone_info_never_crashes_on_any_e164(country: int, digits: str, language: Any) -> None:
    number = f"+{country}{digits}"
    info = phone_info(number, language)
    assert isinstance(info.region, str) and isinstance(info.value, str)
    if info.timezone is not None:
        assert local_time(info, NOW) is not None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return
    if phonenumbers.is_valid_number(parsed):
        assert info.e164 == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_phone_info_never_crashes_on_any_text(text: str) -> None:
    phone_info(text, "ru")


# --- ОГРН / ОГРНИП ----------------------------------------------------------------------------


def test_ogrnip_with_a_remainder_of_10_to_12_is_valid() -> None:
    """stdnum compares the whole remainder of an ОГРНИП (mod 13) with its last digit, so it
    refuses the valid numbers whose remainder is 10–12; ours takes the remainder's last digit."""
    from stdnum.ru import ogrn as stdnum_ogrn

    rng = random.Random(10)
    found = {}
    while len(found) < 3:
        head = "3" + "".join(rng.choice("0123456789") for _ in range(13))
        remainder = int(head) % 13
        if remainder >= 10:
            found[remainder] = head + str(remainder % 10)
    for remainder, number in found.items():
        assert normalize_ogrn(number) == number, remainder
        assert not stdnum_ogrn.is_valid(number)  # the bug this replaces
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        with pytest.raises(ValueError):
            normalize_ogrn(wrong)
    assert normalize_ogrn("1027700132195") == "1027700132195"  # ОГРН, 13 digits
    assert normalize_ogrn("304500116000157") == "304500116000157"  # ОГРНИП, remainder < 10
    for bad in ("0027700132195", "504500116000157", "12345", "１０２７７００１３２１９５"):
        with pytest.raises(ValueError):
            normalize_ogrn(bad)


@settings(max_examples=300, deadline=None)
@given(
    head=st.text(alphabet="0123456789", min_size=11, max_size=11)
    | st.text(alphabet="0123456789", min_size=13, max_size=13),
    first=st.sampled_from("34"),
)
def test_ogrn_check_digit_is_what_validates(head: str, first: str) -> None:
    """Every number built with ogrn_check_digit validates; any other last digit does not."""
    lead = first if len(head) == 13 else str(int(first) - 2)  # ОГРН: 1 or 2, ОГРНИП: 3 or 4
    number = lead + head + ogrn_check_digit(lead + head + "0")
    assert normalize_ogrn(number) == number
    for digit in "0123456789":
        if digit != number[-1]:
            with pytest.raises(ValueError):
                normalize_ogrn(number[:-1] + digit)


# --- the company's numbers ----------------------------------------------------------------------


def _recounted() -> dict[str, Any]:
    before = counters_snapshot()
    task_counters_rebuild()
    after = counters_snapshot()
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def _numbers(company: Company) -> tuple[int, int, Any, Any, Decimal]:
    company.refresh_from_db()
    return (
        company.deals_count,
        company.won_count,
        company.first_purchase_at,
        company.last_purchase_at,
        company.ltv,
    )


def test_counters_follow_create_win_lose_reopen_reassign_delete(
    personas: Any, pipeline: Any
) -> None:
    owner = personas["owner"].user
    actor = Actor.for_user(owner)
    first = make_company(responsible=owner, name="ООО Первая")
    second = make_company(responsible=owner, name="ООО Вторая")
    s = pipeline.stages
    t1, t2, t3 = (NOW + dt.timedelta(days=d) for d in (1, 2, 3))
    with clock.frozen(NOW):
        d1 = make_deal(responsible=owner, company=first, title="Раз", amount="100")
        d2 = make_deal(responsible=owner, company=first, title="Два", amount="50")
    assert _numbers(first) == (2, 0, None, None, Decimal("0"))
    with clock.frozen(t1):
        deal_move_to_stage(deal=d1, stage=s["won"], actor=actor)
    with clock.frozen(t2):
        deal_move_to_stage(deal=d2, stage=s["won"], actor=actor)
    assert _numbers(first) == (2, 2, t1, t2, Decimal("150"))
    with clock.frozen(t3):
        deal_move_to_stage(deal=d1, stage=s["new"], actor=actor)  # reopened
    assert _numbers(first) == (2, 1, t2, t2, Decimal("50"))
    deal_move_to_stage(deal=d1, stage=s["lost"], actor=actor, loss_reason=pipeline.loss_reasons[0])
    assert _numbers(first)[:2] == (2, 1)
    d2.refresh_from_db()
    deal_update(deal=d2, actor=actor, data={"company": second.pk, "version": d2.version})
    assert _numbers(first) == (1, 0, None, None, Decimal("0"))
    assert _numbers(second) == (1, 1, t2, t2, Decimal("50"))
    deal_delete(deal=d2, actor=actor)
    assert _numbers(second) == (0, 0, None, None, Decimal("0"))
    assert _recounted() == {}


def test_rebuild_repairs_the_numbers_and_a_corruption_is_seen(personas: Any, pipeline: Any) -> None:
    owner = personas["owner"].user
    company = make_company(responsible=owner, name="ООО Счёт")
    with clock.frozen(NOW):
        make_deal(
            responsible=owner, company=company, title="Выиграна", stage=pipeline.stages["won"]
        )
    assert _recounted() == {}
    Company.objects.filter(pk=company.pk).update(
        deals_count=7, won_count=0, first_purchase_at=None, last_purchase_at=None
    )
    differences = _recounted()  # the negative control: the oracle sees it
    assert "company_counts" in differences
    assert _numbers(company)[:2] == (1, 1)  # ...and the rebuild repaired it
    assert _recounted() == {}


def test_last_interaction_moves_forward_on_tasks_done_and_comments(
    personas: Any, pipeline: Any
) -> None:
    a1 = personas["a1"].user
    actor = Actor.for_user(a1)
    company = make_company(responsible=a1, name="ООО Контакт")
    contact = make_contact(responsible=a1, company=company, first_name="Ирина")
    deal = make_deal(responsible=a1, company=company, title="Сделка")
    assert Company.objects.get(pk=company.pk).last_interaction_at is None
    task = make_task(responsible=a1, contact=contact)
    with clock.frozen(NOW):
        task_complete(task=task, actor=actor, result="Поговорили")
    assert Company.objects.get(pk=company.pk).last_interaction_at == NOW
    later = NOW + dt.timedelta(hours=3)
    with clock.frozen(later):
        comment_add(obj=deal, actor=actor, text="Клиент просил перезвонить")
    assert Company.objects.get(pk=company.pk).last_interaction_at == later
    with clock.frozen(NOW - dt.timedelta(days=5)):  # an older one never moves it back
        comment_add(obj=company, actor=actor, text="Старое")
    assert Company.objects.get(pk=company.pk).last_interaction_at == later


# --- the list: filter and sort by the numbers, within the scope ------------------------------


def test_company_list_sorts_and_filters_by_numbers_in_scope(personas: Any, pipeline: Any) -> None:
    a1, b1, owner = (personas[k].user for k in ("a1", "b1", "owner"))
    won = pipeline.stages["won"]
    rich = make_company(responsible=a1, name="Богатая")
    poor = make_company(responsible=a1, name="Бедная")
    other = make_company(responsible=b1, name="Чужая")
    with clock.frozen(NOW):
        for amount in ("700", "300"):
            make_deal(responsible=a1, company=rich, title="Р", stage=won, amount=amount)
        make_deal(responsible=a1, company=poor, title="П", stage=won, amount="50")
        make_deal(responsible=b1, company=other, title="Ч", stage=won, amount="5000")
    Company.objects.filter(pk=poor.pk).update(last_interaction_at=NOW - dt.timedelta(days=100))
    Company.objects.filter(pk=rich.pk).update(last_interaction_at=NOW - dt.timedelta(days=1))

    def names(user: Any, **kwargs: Any) -> list[str]:
        return [c.name for c in company_list(user=user, **kwargs).items]

    assert names(a1, ordering="-ltv") == ["Богатая", "Бедная"]  # b1's company not in a1's scope
    assert names(owner, ordering="-ltv")[:3] == ["Чужая", "Богатая", "Бедная"]
    assert names(a1, ordering="ltv") == ["Бедная", "Богатая"]
    assert names(a1, ordering="-deals_count") == ["Богатая", "Бедная"]
    assert names(a1, metrics=CompanyMetrics.parse({"ltv_min": "100"})) == ["Богатая"]
    assert names(owner, metrics=CompanyMetrics.parse({"ltv_min": "100"}), ordering="-ltv") == [
        "Чужая",
        "Богатая",
    ]
    before = CompanyMetrics.parse({"last_interaction_before": "2026-11-01"})
    assert names(a1, metrics=before) == ["Бедная"]
    assert names(a1, metrics=CompanyMetrics.parse({"won_min": "2"})) == ["Богатая"]
    # Keyset pages in a metric order neither repeat nor skip.
    page = company_list(user=owner, ordering="-ltv", limit=1)
    second = company_list(user=owner, ordering="-ltv", limit=1, cursor=page.next_cursor)
    assert [c.name for c in page.items + second.items] == ["Чужая", "Богатая"]
    # By the last interaction: the never-touched company counts as the longest ago (last in
    # "recent first", first in "longest without contact"), on both databases; pages of one.
    assert names(a1, ordering="-last_interaction_at") == ["Богатая", "Бедная"]
    assert names(a1, ordering="last_interaction_at") == ["Бедная", "Богатая"]
    untouched = make_company(responsible=a1, name="Нетронутая")
    Company.objects.filter(pk=untouched.pk).update(last_interaction_at=None)

    def walk(ordering: str) -> list[str]:
        seen, cursor = [], None
        while True:
            page = company_list(user=a1, ordering=ordering, limit=1, cursor=cursor)
            seen += [c.name for c in page.items]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    assert walk("-last_interaction_at") == ["Богатая", "Бедная", "Нетронутая"]
    assert walk("last_interaction_at") == ["Нетронутая", "Бедная", "Богатая"]
    assert walk("-last_purchase_at")[-1] == "Нетронутая"  # no purchase: last
    assert walk("last_purchase_at")[0] == "Нетронутая"
    with pytest.raises(ValidationError) as bad:
        company_list(user=a1, ordering="-first_purchase_at")
    assert "ordering" in bad.value.errors
    with pytest.raises(ValidationError) as bad:
        CompanyMetrics.parse({"ltv_min": "много", "deals_min": "-1", "last_purchase_after": "x"})
    assert set(bad.value.errors) == {"ltv_min", "deals_min", "last_purchase_after"}


# --- families ---------------------------------------------------------------------------------


def _family(responsible: Any, surname: str, first: str, address: str) -> Contact:
    company = make_company(
        responsible=responsible,
        name=f"Семья {surname}",
        type=CompanyType.FAMILY,
        addresses=[{"kind": "home", "text": address}],
    )
    return make_contact(
        responsible=responsible, company=company, first_name=first, last_name=surname
    )


def test_families_are_suggested_and_merged_on_confirmation(personas: Any) -> None:
    a1, b1 = personas["a1"].user, personas["b1"].user
    ivan = _family(a1, "Иванов", "Иван", "г. Москва, ул. Ленина, д. 5, кв. 12")
    maria = _family(a1, "Иванова", "Мария", "Москва, улица Ленина 5 кв 12")
    _family(a1, "Петров", "Пётр", "Москва, ул. Ленина, д. 7")  # another flat: alone
    stranger = _family(b1, "Сидоров", "Сидор", "Москва, ул Ленина д 5 кв 12")
    legal = make_company(
        responsible=a1,
        name="ООО Офис",
        addresses=[{"kind": "actual", "text": "Москва, ул. Ленина, 5, кв. 12"}],
    )
    make_contact(responsible=a1, company=legal, first_name="Офисный")

    groups = family_suggestions(user=a1)
    assert len(groups) == 1  # b1's family is outside a1's scope, a legal entity is no family
    group = groups[0]
    assert sorted(group.contact_ids) == sorted([ivan.pk, maria.pk])
    assert set(family_suggestions(user=personas["owner"].user)[0].contact_ids) == {
        ivan.pk,
        maria.pk,
        stranger.pk,
    }
    # Nothing moves until someone confirms.
    assert Contact.objects.get(pk=maria.pk).company_id != Contact.objects.get(pk=ivan.pk).company_id
    target = group.suggested_target
    assert target is not None
    family = family_merge(actor=Actor.for_user(a1), contact_ids=group.contact_ids, target=target.pk)
    assert family.pk == target.pk
    assert {c.company_id for c in Contact.objects.filter(pk__in=group.contact_ids)} == {family.pk}
    moved = AuditEntry.objects.filter(action="updated", object_type="contact")
    assert moved.filter(object_id__in=[str(ivan.pk), str(maria.pk)]).exists()
    assert AuditEntry.objects.filter(action="family_merged").count() == 1
    assert family_suggestions(user=a1) == []  # one family now


def test_family_merge_into_a_new_family_and_its_refusals(
    personas: Any, nothing_written: Any
) -> None:
    a1 = personas["a1"].user
    ivan = _family(a1, "Иванов", "Иван", "Тула, ул. Мира, 1")
    maria = _family(a1, "Иванова", "Мария", "Тула, ул Мира д 1")
    family = family_merge(
        actor=Actor.for_user(a1),
        contact_ids=[ivan.pk, maria.pk],
        target="new",
        address="Тула, ул. Мира, 1",
    )
    assert family.type == CompanyType.FAMILY and family.name == "Семья Иванов"
    assert [a.kind for a in family.addresses.all()] == ["home"]
    other = _family(personas["b1"].user, "Сидоров", "Сидор", "Тула, ул. Мира, 1")
    for kwargs, field in (
        ({"contact_ids": []}, "contacts"),
        ({"contact_ids": [ivan.pk], "target": other.company_id}, "company"),
        ({"contact_ids": [ivan.pk], "target": "abc"}, "company"),
    ):
        with nothing_written(), pytest.raises(ValidationError) as exc:
            family_merge(actor=Actor.for_user(a1), **kwargs)
        assert field in exc.value.errors
    with nothing_written(), pytest.raises(NotFound):  # b1's contact: not a1's to move
        family_merge(actor=Actor.for_user(a1), contact_ids=[ivan.pk, other.pk])
