"""Duplicate control in the browser's pages (contacts/views_duplicates.py): the «Возможно, это…»
panel of the client forms (exact, similar, masked), the 409 «Такой клиент уже есть» form and
«Всё равно создать», the review screen «Дубли» (groups within the scope, «Не дубли», the scan)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from factories import INN_LEGAL, make_company, make_contact
from voronka.contacts.dedup import duplicates_scan
from voronka.contacts.models import Company, Contact, DuplicateGroup, DuplicateScan

pytestmark = pytest.mark.django_db

CHECK = "/duplicates/check/"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ivanov(personas: Any) -> Any:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО «Ромашка»", inn=INN_LEGAL)
    return make_contact(
        responsible=a1,
        company=company,
        first_name="Пётр",
        last_name="Иванов",
        middle_name="Сергеевич",
        birthday="1980-04-12",
        phones=["+79161234567"],
        emails=["petr.ivanov@gmail.com"],
    )


def _panel(client: Any, **params: Any) -> str:
    response = client.get(CHECK, params, **HX)
    assert response.status_code == 200
    html: str = response.content.decode()
    assert "<html" not in html
    return html


# --- the form panel -------------------------------------------------------------------------------


def test_exact_phone_shows_the_strong_warning_with_open_and_new_deal(web: Any, ivanov: Any) -> None:
    html = _panel(web("a1"), entity="contact", phone="8 (916) 123-45-67")
    assert "data-exact" in html and "Такой клиент уже есть" in html
    assert "Иванов Пётр Сергеевич" in html
    assert f'href="/contacts/{ivanov.pk}/"' in html
    # «Новая сделка на нём»: the deal form with the company and the contact chosen.
    assert f"/deals/new/?company={ivanov.company_id}&amp;contacts={ivanov.pk}" in html
    assert "Телефон" in html  # the matched field, in words


def test_similar_name_and_birthday_is_possibly_not_exact(web: Any, ivanov: Any) -> None:
    html = _panel(
        web("a1"), entity="contact", last_name="Ivanov", first_name="Petr", birthday="1980-04-12"
    )
    assert "Возможно, это…" in html and "data-exact" not in html
    assert "Иванов Пётр Сергеевич" in html
    assert "День рождения" in html and "Имя" in html
    assert "/deals/new/" not in html  # a possible match is only opened, not dealt on
    # Nothing typed that identifies anyone: an empty panel.
    assert "dup-panel" not in _panel(web("a1"), entity="contact", phone="8916")


def test_a_candidate_outside_the_scope_is_masked(web: Any, ivanov: Any, personas: Any) -> None:
    html = _panel(web("b1"), entity="contact", phone="+7 916 123 45 67")
    assert "data-exact" in html
    who = personas["a1"].user.display_name
    assert f"Клиент менеджера {who}" in html
    assert "Иванов" not in html and f"/contacts/{ivanov.pk}/" not in html
    assert "/deals/new/" not in html
    # Negative control: the owner sees the same candidate with its name and link.
    assert "Иванов Пётр Сергеевич" in _panel(web("owner"), entity="contact", phone="89161234567")


def test_company_panel_by_inn_and_edit_excludes_the_record_itself(web: Any, ivanov: Any) -> None:
    client = web("a1")
    html = _panel(client, entity="company", inn=INN_LEGAL)
    assert "ООО «Ромашка»" in html and "data-exact" in html
    assert f"/deals/new/?company={ivanov.company_id}" in html
    # Editing that company: its own INN is not a duplicate.
    assert "dup-panel" not in _panel(
        client, entity="company", inn=INN_LEGAL, exclude=ivanov.company_id
    )
    # The edit form asks once on load, excluding the record; the create form does not.
    edit = client.get(f"/companies/{ivanov.company_id}/edit/").content.decode()
    slot = edit.split('id="dup-check"', 1)[1].split(">", 1)[0]
    assert f'"exclude": "{ivanov.company_id}"' in slot and "load," in slot
    create = client.get("/companies/new/").content.decode()
    assert (
        'id="dup-check"' in create and "exclude" not in create.split('id="dup-check"', 1)[1][:600]
    )


def test_the_quick_create_panel_offers_the_similar_company_as_an_option(
    web: Any, ivanov: Any
) -> None:
    html = _panel(web("a1"), entity="company", pick="qc", new_company_name="Ромашка")
    assert 'role="option"' in html and f'data-value="{ivanov.company_id}"' in html
    assert 'data-label="ООО «Ромашка»"' in html


# --- the create forms: 409 and «Всё равно создать» ----------------------------------------------


def _contact_post(personas: Any, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": "Петя",
        "last_name": "Иванов",
        "phone": ["8 916 123-45-67"],
        "email": [""],
        "responsible": personas["a1"].pk,
        "consent_calls": "on",
        **extra,
    }


def test_create_of_an_exact_duplicate_is_409_with_the_panel_and_writes_nothing(
    web: Any, ivanov: Any, personas: Any, nothing_written: Any
) -> None:
    with nothing_written():
        response = web("a1").post("/contacts/new/", _contact_post(personas))
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="dup-existing"' in html and "Иванов Пётр Сергеевич" in html
    assert 'name="duplicate_confirmed" value="1"' in html and 'form="contact-form"' in html
    assert f"/deals/new/?company={ivanov.company_id}&amp;contacts={ivanov.pk}" in html
    assert 'value="Петя"' in html  # what was typed is kept


def test_create_anyway_creates_the_second_record(web: Any, ivanov: Any, personas: Any) -> None:
    response = web("a1").post("/contacts/new/", _contact_post(personas, duplicate_confirmed="1"))
    assert response.status_code == 302
    assert Contact.objects.filter(first_name="Петя", phones__number="+79161234567").exists()
    # Negative control: without the confirmation the same form is refused again.
    again = web("a1").post("/contacts/new/", _contact_post(personas, first_name="Вася"))
    assert again.status_code == 409
    assert not Contact.objects.filter(first_name="Вася").exists()


def test_create_of_a_masked_duplicate_names_only_the_manager(
    web: Any, ivanov: Any, personas: Any
) -> None:
    response = web("b1").post(
        "/contacts/new/", _contact_post(personas, responsible=personas["b1"].pk)
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Клиент менеджера" in html and "Иванов Пётр" not in html
    assert "/deals/new/" not in html


def test_company_create_of_the_same_inn_is_409_then_create_anyway(
    web: Any, ivanov: Any, personas: Any
) -> None:
    data = {
        "name": "Ромашка (дубль)",
        "type": "legal",
        "inn": INN_LEGAL,
        "responsible": personas["a1"].pk,
        "address_kind": ["legal"],
        "address_text": [""],
    }
    client = web("a1")
    response = client.post("/companies/new/", data)
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="dup-existing"' in html and "ООО «Ромашка»" in html
    assert 'form="company-form"' in html
    assert not Company.objects.filter(name="Ромашка (дубль)").exists()
    assert client.post("/companies/new/", {**data, "duplicate_confirmed": "1"}).status_code == 302
    assert Company.objects.filter(name="Ромашка (дубль)").exists()


def test_an_edit_is_never_refused_as_a_duplicate(web: Any, ivanov: Any, personas: Any) -> None:
    a1 = personas["a1"].user
    other = make_contact(responsible=a1, company=ivanov.company, first_name="Анна")
    response = web("a1").post(
        f"/contacts/{other.pk}/edit/",
        {
            "version": other.version,
            "first_name": "Анна",
            "company": ivanov.company_id,
            "phone": ["+7 916 123-45-67"],
            "email": [""],
            "responsible": a1.pk,
        },
    )
    assert response.status_code == 302
    assert other.phones.get().number == "+79161234567"


# --- the review screen ----------------------------------------------------------------------------


@pytest.fixture
def groups(personas: Any) -> dict[str, Any]:
    """A pair of a1's contacts and a pair of b1's, found by a scan."""
    made = {}
    people = (
        ("a1", "+79160000101", "Смирнова", "Ольга"),
        ("b1", "+79160000202", "Кузнецов", "Игорь"),
    )
    for key, phone, last, given in people:
        user = personas[key].user
        company = make_company(responsible=user, name=f"ООО Дубли {key}")
        first = make_contact(
            responsible=user, company=company, first_name=given, last_name=last, phones=[phone],
        )  # fmt: skip
        second = make_contact(
            responsible=user, company=company, first_name=given, last_name=last, phones=[phone],
            emails=[f"client.{key}@example.test"],
        )  # fmt: skip
        made[key] = (first, second)
    duplicates_scan("contact")
    return made


def _group_of(contact: Contact) -> DuplicateGroup:
    return next(g for g in DuplicateGroup.objects.all() if contact.pk in g.ids)


def test_review_lists_the_groups_the_user_sees_whole(web: Any, groups: Any) -> None:
    html = web("a1").get("/duplicates/", {"entity": "contact"}).content.decode()
    a_group, b_group = _group_of(groups["a1"][0]), _group_of(groups["b1"][0])
    assert f'id="dup-group-{a_group.pk}"' in html and "Смирнова Ольга" in html
    assert f'id="dup-group-{b_group.pk}"' not in html and "Кузнецов" not in html
    assert "Последняя проверка" in html and "Телефон" in html
    # The head of department A sees a1's group, the owner both; b1 only its own.
    owner = web("owner").get("/duplicates/").content.decode()
    assert f'id="dup-group-{a_group.pk}"' in owner and f'id="dup-group-{b_group.pk}"' in owner
    b1 = web("b1").get("/duplicates/").content.decode()
    assert f'id="dup-group-{b_group.pk}"' in b1 and f'id="dup-group-{a_group.pk}"' not in b1


def test_review_companies_tab_and_states(web: Any, personas: Any) -> None:
    client = web("a1")
    html = client.get("/duplicates/", {"entity": "company"}).content.decode()
    assert "Базу ещё не проверяли" in html and "data-dup-empty" in html
    duplicates_scan("company")
    html = client.get("/duplicates/", {"entity": "company"}).content.decode()
    assert "Дублей не найдено" in html and "Последняя проверка" in html
    html = client.get("/duplicates/", {"entity": "company", "status": "dismissed"}).content.decode()
    assert "отмеченные «Не дубли»" in html


def test_dismiss_through_the_ui_replaces_the_card_and_moves_it_to_dismissed(
    web: Any, groups: Any
) -> None:
    client = web("a1")
    group = _group_of(groups["a1"][0])
    response = client.post(f"/duplicates/{group.pk}/dismiss/", {"entity": "contact"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-dup-dismissed" in html and "разные клиенты" in html and "<html" not in html
    group.refresh_from_db()
    assert group.status == DuplicateGroup.Status.DISMISSED
    assert f'id="dup-group-{group.pk}"' not in client.get("/duplicates/").content.decode()
    dismissed = client.get("/duplicates/", {"status": "dismissed"}).content.decode()
    assert f'id="dup-group-{group.pk}"' in dismissed and "data-dup-dismiss" not in dismissed
    # Twice: answered in place, nothing changes.
    again = client.post(f"/duplicates/{group.pk}/dismiss/", **HX)
    assert again.status_code == 409 and "Группа уже разобрана" in again.content.decode()


def test_dismiss_without_htmx_redirects_back_with_a_message(web: Any, groups: Any) -> None:
    group = _group_of(groups["a1"][0])
    response = web("a1").post(f"/duplicates/{group.pk}/dismiss/", {"entity": "contact"})
    assert response.status_code == 302 and response["Location"] == "/duplicates/?entity=contact"


def test_a_manager_cannot_dismiss_another_managers_group(
    web: Any, groups: Any, nothing_written: Any
) -> None:
    group = _group_of(groups["b1"][0])
    with nothing_written():
        response = web("a1").post(f"/duplicates/{group.pk}/dismiss/", **HX)
    assert response.status_code == 404 and "не найдена" in response.content.decode()
    group.refresh_from_db()
    assert group.status == DuplicateGroup.Status.OPEN
    # Negative control: b1 may.
    web("b1").post(f"/duplicates/{group.pk}/dismiss/", **HX)
    group.refresh_from_db()
    assert group.status == DuplicateGroup.Status.DISMISSED


def test_scan_request_shows_the_progress_and_the_poll_reloads_when_done(
    web: Any, personas: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = web("a1")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/duplicates/scan/", {"entity": "contact"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    scan = DuplicateScan.objects.get(entity="contact")
    assert scan.status == DuplicateScan.Status.RUNNING and scan.requested_by == personas["a1"].user
    assert "Идёт проверка базы" in html and f"/duplicates/scans/{scan.pk}/" in html
    assert re.search(r'id="dup-scan-start"[^>]*disabled|disabled[^>]*id="dup-scan-start"', html)
    # The worker (django-tasks) got the job.
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.filter(task_path__endswith="scan_duplicates").exists()
    poll = client.get(f"/duplicates/scans/{scan.pk}/", **HX)
    assert poll.status_code == 200 and "HX-Refresh" not in poll
    duplicates_scan("contact", run=scan)  # what the worker does
    done = client.get(f"/duplicates/scans/{scan.pk}/", **HX)
    assert done["HX-Refresh"] == "true" and "Последняя проверка" in done.content.decode()


def test_duplicates_in_the_navigation_for_every_role(web: Any, personas: Any) -> None:
    for key in ("owner", "head_a", "a1"):
        html = web(key).get("/contacts/").content.decode()
        assert 'href="/duplicates/"' in html, key


NAMES = [
    ("Алексеев", "Борис"), ("Белова", "Вера"), ("Волков", "Глеб"), ("Григорьева", "Дарья"),
    ("Дмитриев", "Егор"), ("Ершова", "Жанна"), ("Жуков", "Захар"), ("Зайцева", "Инна"),
    ("Ильин", "Кирилл"), ("Козлова", "Лидия"), ("Лебедев", "Марк"), ("Морозова", "Нина"),
]  # fmt: skip


def test_review_page_queries_do_not_grow_with_the_groups(web: Any, personas: Any) -> None:
    """The cards' records, phones, e-mails, companies and responsibles are read per page, not
    per card: 3 groups and 12 groups cost the same number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a1 = personas["a1"].user
    client = web("a1")

    def add_groups(start: int, n: int) -> None:
        for i in range(start, start + n):
            company = make_company(responsible=a1, name=f"ООО Группа {i}")
            for _ in range(2):
                make_contact(
                    responsible=a1, company=company, first_name=NAMES[i][1], last_name=NAMES[i][0],
                    phones=[f"+7916555{i:04d}"], emails=[f"same{i}@example.test"],
                )  # fmt: skip
        duplicates_scan("contact")

    add_groups(0, 3)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/duplicates/").status_code == 200
    add_groups(3, 9)
    assert DuplicateGroup.objects.filter(status="open").count() >= 12
    with CaptureQueriesContext(connection) as many:
        html = client.get("/duplicates/").content.decode()
    assert html.count('class="card dup-card"') >= 12
    assert len(many) <= len(few), [q["sql"][:120] for q in many.captured_queries]
