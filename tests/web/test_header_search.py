"""Issue 7 item 10 — the header search finds what it promises ("Поиск сделок и клиентов"): deals
by title, companies by name / INN / phone / e-mail, contacts by name / phone (typed in any format,
normalized to E.164 like the stored numbers) / e-mail — grouped (Сделки / Компании / Контакты)
with links, as the htmx dropdown and as the full page, and only within the user's scope (the
negative control switches the scope filter off and the other department's client shows up)."""

from __future__ import annotations

from typing import Any

import pytest

from factories import make_company, make_contact, make_deal
from negative_controls import no_scope_filter

pytestmark = pytest.mark.django_db

A1_INN = "7707083893"
B1_INN = "7736207543"


@pytest.fixture
def clients(records: Any, personas: Any, pipeline: Any) -> dict[str, Any]:
    """A client of manager a1 and a look-alike of manager b1 (another department)."""
    a1, b1 = personas["a1"].user, personas["b1"].user
    mine = make_company(responsible=a1, name="ООО Северный Ветер", inn=A1_INN, phone="+74951112233")
    theirs = make_company(responsible=b1, name="ООО Северный Путь", inn=B1_INN)
    olga = make_contact(
        responsible=a1,
        company=mine,
        first_name="Ольга",
        last_name="Смирнова",
        phones=["+7 916 123-45-67"],
        emails=["Olga.Smirnova@Veter.test"],
    )
    irina = make_contact(
        responsible=b1,
        company=theirs,
        first_name="Ирина",
        last_name="Смирнова",
        phones=["+7 916 765-43-21"],
        emails=["irina@put.test"],
    )
    deal = make_deal(responsible=a1, company=mine, title="Поставка кулеров в офис")
    other_deal = make_deal(responsible=b1, company=theirs, title="Поставка кулеров на склад")
    return {
        "mine": mine,
        "theirs": theirs,
        "olga": olga,
        "irina": irina,
        "deal": deal,
        "other_deal": other_deal,
    }


def _page(client: Any, q: str) -> str:
    resp = client.get("/search/", {"q": q})
    assert resp.status_code == 200
    return resp.content.decode()


def _dropdown(client: Any, q: str) -> str:
    resp = client.get("/search/", {"q": q}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "<html" not in html  # the partial, not the page
    return html


def test_header_form_asks_the_search_for_a_dropdown(web: Any, records: Any) -> None:
    html = web("a1").get("/deals/").content.decode()
    form = html.split('class="search"', 1)[1].split("</form>", 1)[0]
    assert 'action="/search/"' in form and 'hx-get="/search/"' in form
    assert 'role="combobox"' in form and 'aria-controls="search-dropdown"' in form


@pytest.mark.parametrize("q", ["смирнова", "СМИРНОВА", "Смирнова Ольга", "ольга"])
def test_finds_a_contact_by_name(web: Any, clients: Any, q: str) -> None:
    client = web("a1")
    for html in (_dropdown(client, q), _page(client, q)):
        assert f'href="/contacts/{clients["olga"].pk}/"' in html, q
        assert "Ольга" in html
        assert f'href="/contacts/{clients["irina"].pk}/"' not in html  # b1's client


@pytest.mark.parametrize(
    "q",
    [
        "+7 916 123-45-67",
        "+79161234567",
        "89161234567",
        "8 (916) 123-45-67",
        "8-916-123-45-67",
        "9161234567",
        "(916) 123 45 67",
        "916 123-45",  # a part of the number
        "8 916 123",  # the beginning, typed the Russian way (stored as +7916…)
        "8916123",
    ],
)
def test_finds_a_contact_by_phone_in_any_format(web: Any, clients: Any, q: str) -> None:
    client = web("a1")
    for html in (_dropdown(client, q), _page(client, q)):
        assert f'href="/contacts/{clients["olga"].pk}/"' in html, q
    other = "8 (916) 765-43-21"
    assert f'href="/contacts/{clients["irina"].pk}/"' not in _page(client, other)
    assert f'href="/contacts/{clients["irina"].pk}/"' in _page(web("head_b"), other)


@pytest.mark.parametrize("q", [A1_INN, "7707 083 893", "770708"])
def test_finds_a_company_by_inn(web: Any, clients: Any, q: str) -> None:
    client = web("a1")
    html = _page(client, q)
    assert f'href="/companies/{clients["mine"].pk}/"' in html, q
    assert A1_INN in html
    assert f'href="/companies/{clients["mine"].pk}/"' in _dropdown(client, q)


def test_finds_companies_by_name_and_phone_deals_by_title_contacts_by_email(
    web: Any, clients: Any
) -> None:
    client = web("a1")
    html = _page(client, "северный")
    assert f'href="/companies/{clients["mine"].pk}/"' in html
    html = _page(client, "8 495 111-22-33")
    assert f'href="/companies/{clients["mine"].pk}/"' in html
    html = _dropdown(client, "кулеров")
    assert f'href="/deals/{clients["deal"].pk}/"' in html
    assert "Поставка кулеров в офис" in html
    html = _page(client, "OLGA.smirnova@veter.TEST")
    assert f'href="/contacts/{clients["olga"].pk}/"' in html


def test_results_are_grouped_with_links_to_the_full_lists(web: Any, clients: Any) -> None:
    client = web("a1")
    html = _page(client, "Северный")
    for heading in ("Сделки", "Компании", "Контакты"):
        assert heading in html
    html = _dropdown(client, "Смирнова")
    assert 'id="search-group-contacts"' in html and 'role="option"' in html
    assert 'href="/search/?q=%D0%A1%D0%BC%D0%B8%D1%80%D0%BD%D0%BE%D0%B2%D0%B0"' in html
    assert "Ничего не найдено" in _page(client, "Несуществующее название")
    assert _dropdown(client, "   ").strip() == ""


def test_a_client_outside_the_scope_is_never_found(web: Any, clients: Any) -> None:
    """a1 (own scope) never sees b1's client, company or deal by any of their keys; head_b
    (department B) does — the same queries."""
    queries = [B1_INN, "Северный Путь", "irina@put.test", "+7 916 765-43-21", "на склад"]
    hidden = [
        f'href="/companies/{clients["theirs"].pk}/"',
        f'href="/contacts/{clients["irina"].pk}/"',
        f'href="/deals/{clients["other_deal"].pk}/"',
    ]
    for q in queries:
        html = _page(web("a1"), q) + _dropdown(web("a1"), q)
        assert not any(link in html for link in hidden), q
        assert any(link in _page(web("head_b"), q) for link in hidden), q


def test_negative_control_without_the_scope_filter_the_leak_shows(
    web: Any, clients: Any, monkeypatch: Any
) -> None:
    """The guard is the scope filter: switched off, the same search shows b1's client to a1 —
    so the test above would catch a search that skipped it."""
    no_scope_filter(monkeypatch)
    html = _page(web("a1"), "+7 916 765-43-21")
    assert f'href="/contacts/{clients["irina"].pk}/"' in html
    html = _page(web("a1"), B1_INN)
    assert f'href="/companies/{clients["theirs"].pk}/"' in html


def test_search_has_a_query_budget(
    web: Any, clients: Any, django_assert_max_num_queries: Any
) -> None:
    client = web("a1")
    client.get("/search/", {"q": "x"})  # session, user and roles warm
    # Per group: the exact pass (name, e-mail part), the typo pass while few were found, the
    # matches loaded (contacts with their phones and e-mails) — bounded, whatever the base holds.
    with django_assert_max_num_queries(28):
        _page(client, "Смирнова")


def test_the_lists_search_boxes_use_the_same_rule(web: Any, clients: Any) -> None:
    """The contact and company lists read phones and INNs the same way (one rule)."""
    client = web("a1")
    html = client.get("/contacts/", {"q": "8 (916) 123-45-67"}).content.decode()
    assert f'href="/contacts/{clients["olga"].pk}/"' in html
    html = client.get("/companies/", {"q": "7707 083 893"}).content.decode()
    assert f'href="/companies/{clients["mine"].pk}/"' in html
    html = client.get("/deals/", {"q": "кулеров"}).content.decode()
    assert "Поставка кулеров в офис" in html and "на склад" not in html
