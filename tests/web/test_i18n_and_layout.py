"""Layout, language switch, the English catalogue, error pages, formatting helpers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polib
import pytest
from django.utils import translation

import voronka

LOCALE = Path(voronka.__file__).parent / "locale"


@pytest.mark.django_db
def test_every_page_renders_in_russian_and_english(web: Any, pipeline: Any, records: Any) -> None:
    rec = records["owner"]
    pages = [
        f"/pipelines/{pipeline.sales.pk}/board/",
        "/deals/",
        "/deals/new/",
        f"/deals/{rec.deal.pk}/",
        f"/deals/{rec.deal.pk}/?edit=1",
        "/companies/",
        "/companies/new/",
        f"/companies/{rec.company.pk}/",
        f"/companies/{rec.company.pk}/edit/",
        "/contacts/",
        "/contacts/new/",
        f"/contacts/{rec.contact.pk}/",
        f"/contacts/{rec.contact.pk}/edit/",
        "/settings/pipelines/",
        f"/settings/pipelines/{pipeline.sales.pk}/",
        "/settings/fields/",
    ]
    client = web("owner")
    for lang, word in (("ru", "Сделки"), ("en", "Deals")):
        resp = client.post("/language/", {"language": lang, "next": "/deals/"})
        assert resp.status_code == 302
        for url in pages:
            resp = client.get(url)
            assert resp.status_code == 200, (lang, url)
            html = resp.content.decode()
            assert f'<html lang="{lang}">' in html, url
            assert word in html, (lang, url)
    # English labels, not the Russian source text, in the navigation and the board.
    html = client.get(f"/pipelines/{pipeline.sales.pk}/board/").content.decode()
    for english in ("Pipelines", "Companies", "Contacts", "Kanban", "All responsible", "Log out"):
        assert english in html, english
    for russian in ("Компании", "Все ответственные", "Выйти"):
        assert russian not in html, russian


@pytest.mark.django_db
def test_service_errors_come_out_in_english(web: Any, pipeline: Any, records: Any) -> None:
    client = web("a1")
    client.post("/language/", {"language": "en", "next": "/"})
    deal = records["a1"].deal
    resp = client.post(
        f"/deals/{deal.pk}/move/",
        {"stage": pipeline.stages["contract"].pk, "version": deal.version},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 422
    html = resp.content.decode()
    assert "Move to stage" in html or "stage" in html.lower()
    assert "заполните" not in html and "Обязательно" not in html
    resp = client.post("/companies/new/", {"name": "ООО Ошибка", "type": "legal", "inn": "12"})
    assert resp.status_code == 422
    body = resp.content.decode()
    error = body.split('name="inn"', 1)[1].split("</label>", 1)[0]
    assert "field-error" in error and not any("а" <= ch <= "я" for ch in error.lower())


def test_english_catalogue_is_complete() -> None:
    po = polib.pofile(str(LOCALE / "en" / "LC_MESSAGES" / "django.po"))
    missing = [e.msgid for e in po if not e.obsolete and (not e.translated() or e.fuzzy)]
    assert not missing, f"untranslated or fuzzy: {missing[:20]}"
    assert (LOCALE / "en" / "LC_MESSAGES" / "django.mo").exists()


def test_runtime_messages_cover_timeline_labels() -> None:
    from voronka.activities.selectors import FIELD_LABELS, KIND_TITLES
    from voronka.web.templatetags.voronka_i18n import RUNTIME_MESSAGES

    assert set(FIELD_LABELS.values()) | set(KIND_TITLES.values()) <= set(RUNTIME_MESSAGES)
    with translation.override("en"):
        assert translation.gettext(FIELD_LABELS["amount"]) == "Amount"


def test_russian_plurals_have_three_forms() -> None:
    from django.template import Context, Template

    t = Template(
        "{% load i18n %}{% blocktranslate count n=n %}{{ n }} сделка в работе{% plural %}"
        "{{ n }} сделок в работе{% endblocktranslate %}"
    )
    with translation.override("ru"):
        assert [t.render(Context({"n": n})) for n in (1, 3, 5, 21)] == [
            "1 сделка в работе",
            "3 сделки в работе",
            "5 сделок в работе",
            "21 сделка в работе",
        ]
    with translation.override("en"):
        assert t.render(Context({"n": 3})) == "3 deals in progress"


def test_money_initials_and_phone_filters() -> None:
    from voronka.web.templatetags.voronka import money, phone, short_name, text_on

    assert money(Decimal("1500000")) == "1\u202f500\u202f000\u00a0₽"
    assert money(Decimal("1234.5"), "USD") == "1\u202f234,50\u00a0$"
    assert money(None) == "0\u00a0₽"
    assert phone("+79109894383") == "+7 910 989-43-83"
    assert text_on("#ffffff") == "#0f172a" and text_on("#1e3a8a") == "#fff"

    class U:
        first_name, last_name, display_name = "Иван", "Петров", "Иван Петров"

    assert short_name(U()) == "Иван П."


def test_over_sla_filter() -> None:
    from voronka.kernel import clock
    from voronka.web.templatetags.voronka import over_sla

    now = clock.now()
    assert over_sla(now - dt.timedelta(days=3, hours=1), 3) is True
    assert over_sla(now - dt.timedelta(days=2), 3) is False
    assert over_sla(now - dt.timedelta(days=30), None) is False


@pytest.mark.django_db
def test_error_pages_are_generic(web: Any, records: Any) -> None:
    resp = web("a1").get("/deals/999999/")
    assert resp.status_code == 404 and "404" in resp.content.decode()
    anon = web("anonymous").get("/deals/")
    assert anon.status_code == 302 and "/login/" in anon["Location"]


@pytest.mark.django_db
def test_login_page_and_csrf_meta(client: Any, web: Any, records: Any) -> None:
    html = client.get("/login/").content.decode()
    assert 'name="username"' in html and "csrfmiddlewaretoken" in html
    page = web("a1").get("/deals/").content.decode()
    assert '<meta name="csrf-token" content="' in page
    assert "<script>" not in page and " onclick=" not in page  # CSP: no inline scripts or handlers
    assert "/static/vendor/htmx/htmx.min.js" in page


@pytest.mark.django_db
def test_visitor_switches_the_login_page_to_english(client: Any) -> None:
    """The switch on the login page works before logging in: a cookie, back to the login page
    in English; an unknown language changes nothing; an outside `next` is not followed."""
    resp = client.post("/language/", {"language": "en", "next": "/login/"})
    assert resp.status_code == 302 and resp["Location"] == "/login/"
    assert client.get("/login/").content.decode().count("Log in") >= 1
    assert client.post("/language/", {"language": "xx", "next": "/login/"}).status_code == 302
    assert "Log in" in client.get("/login/").content.decode()  # still English
    away = client.post("/language/", {"language": "ru", "next": "https://evil.example/"})
    assert away["Location"] == "/"
    assert "Войти" in client.get("/login/").content.decode()


@pytest.mark.django_db
def test_language_picked_before_login_is_kept_after_it(client: Any) -> None:
    from voronka.identity.models import User

    user = User.objects.create_user(username="polyglot", password="pw-1234-polyglot")
    assert user.language == "ru"
    client.post("/language/", {"language": "en", "next": "/login/"})
    client.post("/login/", {"username": "polyglot", "password": "pw-1234-polyglot"})
    user.refresh_from_db()
    assert user.language == "en"
    assert 'lang="en"' in client.get("/deals/").content.decode()
    from voronka.kernel.models import AuditEntry

    entry = AuditEntry.objects.get(object_type="user", object_id=user.pk)
    assert entry.changes == {"language": ["ru", "en"]} and entry.actor_user_id == user.pk


def test_htmx_trigger_selectors_parse() -> None:
    """htmx reads ``from:#form select`` as ``from:#form`` plus an unknown token (htmx:syntax:error,
    the trigger never fires): a selector with a space must be written ``from:(#form select)``."""
    import re

    root = Path(voronka.__file__).parent
    bad = []
    for path in root.glob("*/templates/**/*.html"):
        for trigger in re.findall(r'hx-trigger="([^"]*)"', path.read_text()):
            for spec in trigger.split(","):
                match = re.search(r"from:(\S+)\s+(\S+)", spec.strip())
                if (
                    match
                    and not match.group(1).startswith("(")
                    and match.group(2).split(":")[0]
                    not in ("changed", "delay", "once", "throttle", "queue", "consume", "target")
                ):
                    bad.append(f"{path.name}: {spec.strip()}")
    assert not bad, bad
