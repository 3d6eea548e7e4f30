"""Issue 10 — one search (decision 0019): deals, companies and contacts by name or title in any
word order, a letter off, ё/е and case folded, a phone in any format or its last digits, an
e-mail whole or in part, an INN; within the user's scope; ranked (exact phone/INN/e-mail, whole
words, prefixes, typos). The expectations below are literal: the same file passes on SQLite (FTS5
candidates) and on PostgreSQL (pg_trgm candidates), so both databases answer the same."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from factories import make_company, make_contact, make_deal
from negative_controls import no_scope_filter
from voronka.contacts.models import Contact, ContactPhone
from voronka.deals.selectors import SearchResults, search_everything
from voronka.kernel import search as kernel_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def base(personas: Any, pipeline: Any) -> dict[str, Any]:
    a1, b1 = personas["a1"].user, personas["b1"].user
    veter = make_company(
        responsible=a1,
        name="ООО Северный Ветер",
        inn="7707083893",
        phone="+74951112233",
        email="office@veter.test",
    )
    put = make_company(responsible=b1, name="ООО Северный Путь", inn="7736207543")
    olga = make_contact(
        responsible=a1,
        company=veter,
        first_name="Ольга",
        last_name="Смирнова",
        phones=["+7 916 123-45-67"],
        emails=["Olga.Smirnova@Veter.test"],
    )
    irina = make_contact(
        responsible=b1,
        company=put,
        first_name="Ирина",
        last_name="Смирнова",
        phones=["+7 916 765-43-21"],
        emails=["irina@put.test"],
    )
    petr = make_contact(
        responsible=a1,
        company=veter,
        first_name="Пётр",
        last_name="Иванов",
        middle_name="Семёнович",
        phones=["8 (903) 555-44-33"],
    )
    ivan = make_contact(responsible=a1, company=veter, first_name="Иван", last_name="Петров")
    deal = make_deal(responsible=a1, company=veter, title="Поставка кулеров в офис")
    other = make_deal(responsible=b1, company=put, title="Поставка кулеров на склад")
    return {
        "veter": veter,
        "put": put,
        "olga": olga,
        "irina": irina,
        "petr": petr,
        "ivan": ivan,
        "deal": deal,
        "other": other,
        "owner": personas["owner"].user,
        "a1": a1,
    }


def _ids(found: SearchResults, group: str) -> list[int]:
    return [f.id for f in found.found[group]]


def _ranks(found: SearchResults, group: str) -> list[tuple[int, int, tuple[str, ...]]]:
    return [(f.id, f.hit.tier, f.hit.matched) for f in found.found[group]]


def test_the_indexes_fold_as_the_kernel_does() -> None:
    """The migrations spell kernel.search's translate() map: the planner matches the SQL the
    search builds only if both are the same text."""
    from importlib import import_module

    for module in (
        "voronka.contacts.migrations.0004_search",
        "voronka.deals.migrations.0007_search",
    ):
        sql = " ".join(import_module(module).PG_FORWARD)
        assert kernel_search.pg_fold_sql("x").split("(x, ", 1)[1] in sql


@pytest.mark.parametrize(
    ("q", "who", "tier"),
    [
        ("Смирнова Ольга", "olga", 1),
        ("ольга смирнова", "olga", 1),  # any order, any case
        ("СМИРНОВА", "olga", 1),
        ("Смирнва Ольга", "olga", 3),  # a letter dropped in a word of 5+
        ("Смирнова Олга", None, None),  # …but not in a word of 4
        ("Смирновв ольга", "olga", 3),  # a letter replaced
        ("Смрнова", "olga", 3),
        ("Смирнова Олбга", "olga", 3),  # a word of 5 letters, the middle one replaced
        ("Смирнова Ольгаа", "olga", 3),  # a letter added
        ("Смирнова Ольг", "olga", 2),  # a prefix
        ("Смринова", None, None),  # two letters swapped: two edits, not a typo
        ("семенович", "petr", 1),  # ё stored, е typed
        ("Пётр Иванов", "petr", 1),
        ("петр", "petr", 1),
        ("Иван Пе", "petr", 2),  # type-ahead: the last word a prefix; Петров Иван below
        ("8 916 123-45-67", "olga", 0),
        ("+7 (916) 123-45-67", "olga", 0),
        ("89161234567", "olga", 0),
        ("4567", "olga", 2),  # the last digits
        ("916 123-45", "olga", 2),  # a part
        ("8 903 555", "petr", 2),  # the beginning, the Russian way
        ("olga.smirnova@veter.test", "olga", 0),
        ("OLGA.SMIRNOVA@VETER.TEST", "olga", 0),
        ("smirnova@", "olga", 2),
        ("veter.test", "olga", 2),
    ],
)
def test_contacts(base: dict[str, Any], q: str, who: str | None, tier: int | None) -> None:
    found = search_everything(user=base["a1"], q=q, limit=10)
    ranks = {pk: t for pk, t, _ in _ranks(found, "contacts")}
    if who is None:
        assert base["olga"].pk not in ranks, q
        return
    assert ranks.get(base[who].pk) == tier, (q, _ranks(found, "contacts"))
    assert base["irina"].pk not in ranks  # b1's contact: never, whatever the query


def test_type_ahead_ranks_whole_words_before_prefixes(base: dict[str, Any]) -> None:
    found = search_everything(user=base["a1"], q="Иван Пе", limit=10)
    # Петров Иван: "иван" whole, "пе" a prefix; Иванов Пётр: both prefixes — both tier 2,
    # then by name.
    assert _ids(found, "contacts") == [base["petr"].pk, base["ivan"].pk]
    found = search_everything(user=base["a1"], q="Иван Петров", limit=10)
    assert _ranks(found, "contacts")[0] == (base["ivan"].pk, 1, ("name",))


def test_exact_keys_rank_first(base: dict[str, Any]) -> None:
    found = search_everything(user=base["a1"], q="7707083893", limit=10)
    assert _ranks(found, "companies") == [(base["veter"].pk, 0, ("inn",))]
    found = search_everything(user=base["a1"], q="8 495 111-22-33", limit=10)
    assert _ranks(found, "companies") == [(base["veter"].pk, 0, ("phone",))]
    found = search_everything(user=base["a1"], q="2233", limit=10)
    assert _ranks(found, "companies") == [(base["veter"].pk, 2, ("phone",))]
    found = search_everything(user=base["a1"], q="office@veter.test", limit=10)
    assert _ranks(found, "companies") == [(base["veter"].pk, 0, ("email",))]


def test_companies_and_deals_by_words(base: dict[str, Any]) -> None:
    owner = base["owner"]
    found = search_everything(user=owner, q="северный", limit=10)
    assert _ids(found, "companies") == [base["veter"].pk, base["put"].pk]  # by name
    found = search_everything(user=owner, q="ветер северныи", limit=10)  # й → и: one letter
    assert _ranks(found, "companies") == [(base["veter"].pk, 3, ("name",))]
    found = search_everything(user=owner, q="кулеров поставка", limit=10)
    assert _ids(found, "deals") == [base["other"].pk, base["deal"].pk]  # newest first
    found = search_everything(user=owner, q="Ветер кулеров", limit=10)  # company + title
    assert _ranks(found, "deals") == [(base["deal"].pk, 1, ("title", "company"))]
    found = search_everything(user=owner, q="кулеров склат", limit=10)
    assert _ranks(found, "deals") == [(base["other"].pk, 3, ("title",))]


def test_a_manager_never_finds_another_managers_records(base: dict[str, Any]) -> None:
    for q in ("Смирнова", "кулеров", "Северный", "765-43-21", "4321", "irina@put.test"):
        found = search_everything(user=base["a1"], q=q, limit=10)
        assert base["irina"].pk not in _ids(found, "contacts"), q
        assert base["put"].pk not in _ids(found, "companies"), q
        assert base["other"].pk not in _ids(found, "deals"), q


def test_negative_control_without_the_scope_filter_they_show(
    base: dict[str, Any], monkeypatch: Any
) -> None:
    no_scope_filter(monkeypatch)
    found = search_everything(user=base["a1"], q="кулеров", limit=10)
    assert base["other"].pk in _ids(found, "deals")
    found = search_everything(user=base["a1"], q="4321", limit=10)
    assert base["irina"].pk in _ids(found, "contacts")


def test_rows_written_raw_are_found(base: dict[str, Any]) -> None:
    """The demo seeder writes rows by raw INSERT: the indexes (PostgreSQL expressions, SQLite
    triggers) cover them with no service involved, and follow an UPDATE and a DELETE."""
    raw = Contact.objects.bulk_create(
        [
            Contact(
                first_name="Зоя",
                last_name="Кузьмина",
                company=base["veter"],
                responsible=base["a1"],
            )
        ]
    )[0]
    if raw.pk is None:
        raw = Contact.objects.get(last_name="Кузьмина")
    ContactPhone.objects.create(contact=raw, number="+79990001122")
    assert _ids(search_everything(user=base["a1"], q="кузьмина зоя", limit=5), "contacts") == [
        raw.pk
    ]
    assert _ids(search_everything(user=base["a1"], q="1122", limit=5), "contacts") == [raw.pk]
    Contact.objects.filter(pk=raw.pk).update(last_name="Кузнецова")
    assert _ids(search_everything(user=base["a1"], q="кузьмина", limit=5), "contacts") == []
    assert _ids(search_everything(user=base["a1"], q="кузнецова", limit=5), "contacts") == [raw.pk]


def test_limit_and_more(base: dict[str, Any]) -> None:
    found = search_everything(user=base["owner"], q="Смирнова", limit=1)
    assert len(found.contacts) == 1 and found.more_contacts
    assert found.contacts[0].pk == base["irina"].pk  # Смирнова Ирина < Смирнова Ольга


def test_the_database_is_the_one_under_test() -> None:
    """Documents which candidates this run used (the same file runs on both)."""
    assert connection.vendor in ("sqlite", "postgresql")
