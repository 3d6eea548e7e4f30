"""Property tests (Hypothesis, RELIABILITY row 16) of duplicate control's keys (contacts/keys.py)
and its score (contacts/matching.py): total on any text, canonical (key(key(x)) == key(x)),
order-free where they claim to be, and the examples the users' data is made of."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voronka.contacts import keys
from voronka.contacts.dedup import contact_keys
from voronka.contacts.matching import THRESHOLD, Profile, score

names = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
cyrillic = st.text(
    alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ -", max_size=30
)


@given(names)
def test_fold_word_is_total_and_canonical(text: str) -> None:
    folded = keys.fold_word(text)
    assert re.fullmatch(r"[0-9a-z]*", folded)
    assert keys.fold_word(folded) == folded


@given(st.lists(st.one_of(names, cyrillic), max_size=4))
def test_person_name_key_ignores_word_order(parts: list[str]) -> None:
    key = keys.person_name_key(*parts)
    assert key == keys.person_name_key(*reversed(parts))
    assert keys.person_name_key(key) == key


@given(names)
def test_company_name_and_address_keys_are_canonical(text: str) -> None:
    assert keys.company_name_key(keys.company_name_key(text)) == keys.company_name_key(text)
    assert keys.address_key(keys.address_key(text)) == keys.address_key(text)


@given(st.emails() | names)
def test_email_key_is_canonical(address: str) -> None:
    key = keys.email_key(address)
    assert keys.email_key(key) == key
    assert key == key.lower()


@given(st.lists(names, min_size=3, max_size=3), st.lists(names, min_size=3, max_size=3))
def test_score_is_symmetric_and_bounded(a: list[str], b: list[str]) -> None:
    pa = Profile.of(1, contact_keys(last_name=a[0], first_name=a[1], middle_name=a[2]))
    pb = Profile.of(2, contact_keys(last_name=b[0], first_name=b[1], middle_name=b[2]))
    ab, ba = score(pa, pb), score(pb, pa)
    assert ab.score == ba.score and 0 <= ab.score <= 1
    assert ab.score < THRESHOLD  # a name alone never makes a duplicate


@pytest.mark.parametrize(
    "a, b",
    [
        ("Иванов", "Ivanov"),
        ("Юлия", "Yulia"),
        ("Юлия", "Julia"),
        ("Наталья", "Natalya"),
        ("Щукин", "Shchukin"),
        ("Алексей", "Alexey"),
        ("Дмитрий", "Dmitry"),
        ("Пётр", "Петр"),
        ("Хабибуллин", "Khabibullin"),
        ("Цой", "Tsoi"),
        ("Ксения", "Xenia"),
    ],
)
def test_transliterations_meet(a: str, b: str) -> None:
    assert keys.fold_word(a) == keys.fold_word(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Ivan.Petrov+crm@GoogleMail.com", "ivanpetrov@gmail.com"),
        ("ivan.petrov@ya.ru", "ivan-petrov@yandex.ru"),
        ("Info@Romashka.RU", "info@romashka.ru"),
    ],
)
def test_mailboxes_meet(a: str, b: str) -> None:
    assert keys.email_key(a) == keys.email_key(b)


def test_dots_count_where_the_provider_counts_them() -> None:
    """mail.ru delivers a.b@ and ab@ to two boxes: they must stay two keys (negative control
    of the Gmail rule)."""
    assert keys.email_key("a.b@mail.ru") != keys.email_key("ab@mail.ru")


def test_company_names_without_legal_form_and_quotes() -> None:
    assert keys.company_name_key("ООО «Ромашка»") == keys.company_name_key("Romashka LLC")
    assert keys.company_name_key(
        'Общество с ограниченной ответственностью "Ромашка"'
    ) == keys.company_name_key("ромашка")
    assert keys.company_name_key("ООО «Ромашка»") != keys.company_name_key("ООО «Василёк»")


def test_addresses_with_abbreviations_meet() -> None:
    assert keys.address_key("г. Москва, улица Ленина, д. 5, кв. 12") == keys.address_key(
        "Москва ул Ленина 5 кв 12"
    )
    assert keys.address_key("Москва, ул. Ленина, 5") != keys.address_key("Москва, ул. Ленина, 7")


def test_scores_of_the_cases_that_matter() -> None:
    def person(**kw: object) -> Profile:
        return Profile.of(0, contact_keys(**kw))  # type: ignore[arg-type]

    petr = person(last_name="Иванов", first_name="Пётр", phones=["+79161234567"])
    # The same phone, the name transliterated: a duplicate.
    assert score(petr, person(last_name="Ivanov", first_name="Petr", phones=["+79161234567"])).exact
    # The same phone, another person (a shared office line): flagged exact, but below a
    # name-agreeing pair.
    colleague = person(last_name="Сидорова", first_name="Анна", phones=["+79161234567"])
    same = person(last_name="Ivanov", first_name="Petr", phones=["+79161234567"])
    assert score(petr, colleague).score < score(petr, same).score
    # One differing first name with the same surname is another person.
    anna = person(last_name="Соловьёва", first_name="Анна", middle_name="Игоревна")
    irina = person(last_name="Соловьёва", first_name="Ирина", middle_name="Игоревна")
    assert score(anna, irina).score < THRESHOLD


people = st.fixed_dictionaries(
    {
        "last_name": st.sampled_from(["Иванов", "Ivanov", "Иванова", "Петров", ""]),
        "first_name": st.sampled_from(["Пётр", "Petr", "Пётр Сергеевич", "Анна", ""]),
        "birthday": st.sampled_from([None, "1980-04-12", "1980-05-12", "1991-01-01"]),
        "phones": st.lists(st.sampled_from(["+79161234567", "+79161234568", "+74951234567"])),
        "emails": st.lists(st.sampled_from(["petr@gmail.com", "petr1@gmail.com", "a@b.ru"])),
        "company_id": st.sampled_from([None, 1, 2]),
    }
)


@given(people, people, st.sampled_from([0.5, 0.8, 0.95]))
def test_the_scans_early_exit_never_changes_a_decision(a: dict, b: dict, floor: float) -> None:
    import datetime as dt

    def profile(data: dict, pk: int) -> Profile:
        birthday = dt.date.fromisoformat(data["birthday"]) if data["birthday"] else None
        return Profile.of(pk, contact_keys(**{**data, "birthday": birthday}))

    pa, pb = profile(a, 1), profile(b, 2)
    full = score(pa, pb)
    quick = score(pa, pb, floor=floor)
    if quick is None:
        assert full.score < floor
    else:
        assert quick == full


def test_a_diminutive_meets_the_full_name() -> None:
    assert keys.person_name_key("Петя Иванов") == keys.person_name_key("Иванов Пётр")
    petya = Profile.of(1, contact_keys(last_name="", first_name="Петя", phones=["+79161234567"]))
    petr = Profile.of(
        2, contact_keys(last_name="Иванов", first_name="Пётр", phones=["+79161234567"])
    )
    assert score(petya, petr).score >= THRESHOLD
