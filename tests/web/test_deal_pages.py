"""The deal card (fields, stage bar, timeline, comments, edit with optimistic locking, files),
the deal list (filters, sorting, keyset pages, htmx partial) and the create form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from factories import make_company, make_deal
from negative_controls import no_scope_filter, no_version_check

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def card(client: Any, deal: Any, **params: Any) -> Any:
    return client.get(f"/deals/{deal.pk}/", params)


def test_card_shows_stage_bar_fields_client_and_timeline(
    web: Any, pipeline: Any, records: Any
) -> None:
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    deal = records["a1"].deal
    moved = deal_move_to_stage(
        deal=deal, stage=pipeline.stages["talks"], actor=Actor.for_user(records["a1"].user)
    )
    resp = card(web("a1"), deal)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'id="stagebar"' in html
    for stage in pipeline.stages.values():
        assert stage.name in html
    assert "ООО Компания a1" in html and "Контакт a1" in html
    for field in pipeline.fields.values():  # every typed custom field is shown
        assert field.name in html
    # The move is in the timeline with its date and time and who did it.
    change = moved.stage_changes.get(to_stage=pipeline.stages["talks"])
    timeline = html.split('id="timeline"', 1)[1]
    assert timezone.localtime(change.at).strftime("%d.%m.%Y %H:%M") in timeline
    assert "Переговоры" in timeline and records["a1"].user.display_name in timeline


def test_manager_opening_another_managers_deal_gets_404(web: Any, records: Any) -> None:
    resp = card(web("a1"), records["b1"].deal)
    assert resp.status_code == 404
    assert "Сделка b1" not in resp.content.decode()
    assert (
        card(web("head_a"), records["a1"].deal).status_code == 200
    )  # the head sees the department


def test_edit_form_has_every_typed_input(web: Any, pipeline: Any, records: Any) -> None:
    html = card(web("a1"), records["a1"].deal, edit="1").content.decode()
    form = html.split('id="deal-form"', 1)[1].split("</form>", 1)[0]
    assert 'name="version"' in form
    expected = {
        "f_string": 'name="cf_f_string"',
        "f_number": 'inputmode="decimal"',
        "f_money": 'name="cf_f_money__currency"',
        "f_list": '<select id="id_cf_f_list"',
        "f_multi": 'type="checkbox" name="cf_f_multi"',
        "f_date": 'type="date" name="cf_f_date"',
        "f_datetime": 'type="datetime-local" name="cf_f_datetime"',
        "f_boolean": 'name="cf_f_boolean__present"',
        "f_address": 'name="cf_f_address"',
        "f_link": 'type="url" name="cf_f_link"',
        "f_file": 'type="file" name="cf_f_file"',
    }
    for key, marker in expected.items():
        if key in pipeline.fields:
            assert marker in form, key
    for name in (
        "title",
        "amount",
        "currency",
        "responsible",
        "company",
        "contacts",
        "source",
        "utm_source",
        "comment",
    ):
        assert f'name="{name}"' in form


def test_edit_saves_typed_values_and_the_change_is_in_the_timeline(
    web: Any, pipeline: Any, records: Any
) -> None:
    deal = records["a1"].deal
    client = web("a1")
    data = {
        "version": deal.version,
        "title": "Новое название",
        "amount": "2500,50",
        "currency": "RUB",
        "responsible": records["a1"].user.pk,
        "company": deal.company_id,
        "source": "Сайт",
        "comment": "",
        "contacts__present": "1",
        "contacts": [records["a1"].contact.pk],
        "cf_f_number": "42",
        "cf_f_list": "Бета",
        "cf_f_multi__present": "1",
        "cf_f_multi": ["Альфа", "Гамма"],
        "cf_f_boolean__present": "1",
        "cf_f_boolean": "on",
        "cf_f_date": "2026-12-01",
        "cf_f_money": "1000",
        "cf_f_money__currency": "USD",
        "cf_f_link": "https://example.ru/a",
    }
    data = {
        k: v
        for k, v in data.items()
        if not k.startswith("cf_") or k.split("__")[0][3:] in pipeline.fields
    }
    resp = client.post(f"/deals/{deal.pk}/", data)
    assert resp.status_code == 302, resp.content.decode()[:500]
    deal.refresh_from_db()
    assert deal.title == "Новое название" and str(deal.amount) == "2500.50"
    if "f_list" in pipeline.fields:
        assert deal.custom["f_list"] == "Бета"
    html = card(client, deal).content.decode()
    timeline = html.split('id="timeline"', 1)[1]
    assert "Новое название" in timeline  # old → new


def test_stale_edit_shows_conflict_and_overwrites_nothing(web: Any, records: Any) -> None:
    from voronka.deals.services import deal_update
    from voronka.kernel.actor import Actor

    deal = records["a1"].deal
    stale = deal.version
    deal_update(deal=deal, actor=Actor.system(), data={"title": "Чужое название", "version": stale})
    resp = web("a1").post(f"/deals/{deal.pk}/", {"version": stale, "title": "Моё название"})
    assert resp.status_code == 409
    html = resp.content.decode()
    assert 'id="form-message"' in html and "другой пользователь" in html
    assert "Моё название" in html  # listed as the user's unsaved value
    assert f'name="version" value="{stale + 1}"' in html  # the form now carries the fresh version
    deal.refresh_from_db()
    assert deal.title == "Чужое название"


def test_invalid_edit_is_422_with_the_field_message(
    web: Any, records: Any, nothing_written: Any
) -> None:
    deal = records["a1"].deal
    client = web("a1")
    with nothing_written():
        resp = client.post(
            f"/deals/{deal.pk}/", {"version": deal.version, "title": "X", "amount": "много"}
        )
    assert resp.status_code == 422
    assert "field-error" in resp.content.decode()


def test_comment_with_htmx_returns_the_timeline(web: Any, records: Any) -> None:
    deal = records["a1"].deal
    client = web("a1")
    resp = client.post(f"/deals/{deal.pk}/comment/", {"text": "Клиент просил счёт"}, **HX)
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'id="timeline"' in body and "Клиент просил счёт" in body and "<html" not in body
    resp = client.post(f"/deals/{deal.pk}/comment/", {"text": "   "}, **HX)
    assert resp.status_code == 422 and "field-error" in resp.content.decode()
    # Without JavaScript the form posts normally and comes back to the card.
    resp = client.post(f"/deals/{deal.pk}/comment/", {"text": "Без JS"})
    assert resp.status_code == 302


def test_file_field_upload_and_download_only_through_the_authorizing_view(
    web: Any, pipeline: Any, records: Any
) -> None:
    if "f_file" not in pipeline.fields:
        pytest.skip("no file custom field in the fixture")
    deal = records["a1"].deal
    client = web("a1")
    upload = SimpleUploadedFile("договор.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    resp = client.post(
        f"/deals/{deal.pk}/", {"version": deal.version, "title": deal.title, "cf_f_file": upload}
    )
    assert resp.status_code == 302
    deal.refresh_from_db()
    file_id = deal.custom["f_file"]
    resp = client.get(f"/files/{file_id}/")
    assert resp.status_code == 200
    assert resp["Content-Disposition"].startswith("attachment")
    assert b"".join(resp.streaming_content) == b"%PDF-1.4 test"
    assert web("b1").get(f"/files/{file_id}/").status_code == 404
    html = card(client, deal).content.decode()
    assert f"/files/{file_id}/" in html


def test_active_content_upload_is_refused(web: Any, pipeline: Any, records: Any) -> None:
    if "f_file" not in pipeline.fields:
        pytest.skip("no file custom field in the fixture")
    deal = records["a1"].deal
    upload = SimpleUploadedFile(
        "x.html", b"<html><script>alert(1)</script>", content_type="text/html"
    )
    resp = web("a1").post(
        f"/deals/{deal.pk}/", {"version": deal.version, "title": deal.title, "cf_f_file": upload}
    )
    assert resp.status_code == 422
    deal.refresh_from_db()
    assert "f_file" not in deal.custom


# --- create ------------------------------------------------------------------------------------------


def test_create_deal(web: Any, pipeline: Any, records: Any) -> None:
    client = web("a1")
    company = records["a1"].company
    html = client.get(
        "/deals/new/", {"company": company.pk, "pipeline": pipeline.sales.pk}
    ).content.decode()
    assert "Контакт a1" in html  # the company's contacts are offered
    partial = client.get(
        "/deals/new/",
        {"company": company.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="deal-contacts",
    )
    assert partial.status_code == 200 and 'id="deal-contacts"' in partial.content.decode()
    resp = client.post(
        "/deals/new/",
        {
            "title": "Новая сделка UI",
            "pipeline": pipeline.sales.pk,
            "company": company.pk,
            "amount": "15000",
            "currency": "RUB",
            "responsible": records["a1"].user.pk,
            "contacts__present": "1",
            "contacts": [records["a1"].contact.pk],
        },
    )
    assert resp.status_code == 302
    from voronka.deals.models import Deal

    deal = Deal.objects.get(title="Новая сделка UI")
    assert deal.stage_id == pipeline.stages["new"].pk and list(deal.contacts.all()) == [
        records["a1"].contact
    ]


def test_create_deal_without_company_is_422(
    web: Any, pipeline: Any, records: Any, nothing_written: Any
) -> None:
    with nothing_written():
        resp = web("a1").post(
            "/deals/new/", {"title": "Без компании", "pipeline": pipeline.sales.pk}
        )
    assert resp.status_code == 422
    assert "field-error" in resp.content.decode()


def test_create_deal_for_a_company_out_of_scope_is_refused(
    web: Any, pipeline: Any, records: Any
) -> None:
    resp = web("a1").post("/deals/new/", {"title": "Чужая", "company": records["b1"].company.pk})
    assert resp.status_code == 422


# --- list ---------------------------------------------------------------------------------------------


def test_list_filters_sort_and_scope(web: Any, pipeline: Any, records: Any, personas: Any) -> None:
    client = web("owner")
    html = client.get("/deals/").content.decode()
    assert "Сделка a1" in html and "Сделка b1" in html
    html = client.get("/deals/", {"responsible": personas["b1"].pk}).content.decode()
    assert "Сделка b1" in html and "Сделка a1" not in html
    html = client.get("/deals/", {"q": "Компания a2"}).content.decode()
    assert "Сделка a2" in html and "Сделка b1" not in html
    html = client.get("/deals/", {"status": "won"}).content.decode()
    assert "Сделка a1" not in html
    assert "Сделка b1" not in web("a1").get("/deals/").content.decode()
    html = client.get("/deals/", {"sort": "title"}).content.decode()
    titles = re.findall(r"Сделка (a1|a11|a2|admin|b1|deact|head_a|head_b|head_root|owner)<", html)
    assert titles == sorted(titles)


def test_list_bad_filter_is_422_with_message(web: Any, records: Any) -> None:
    resp = web("owner").get("/deals/", {"amount_min": "много", "opened_from": "вчера"})
    assert resp.status_code == 422
    assert "alert--error" in resp.content.decode()


def test_list_keyset_pages_do_not_repeat_rows(web: Any, pipeline: Any, personas: Any) -> None:
    owner = personas["owner"].user
    company = make_company(responsible=owner, name="ООО Страницы")
    for i in range(57):
        make_deal(responsible=owner, company=company, title=f"Стр {i:03d}", amount=i)
    client = web("owner")
    seen: list[str] = []
    url, params = "/deals/", {"sort": "-amount"}
    for _ in range(3):
        resp = client.get(url, params, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="deal-results")
        body = resp.content.decode()
        assert "<html" not in body  # the results partial
        seen += re.findall(r"Стр \d{3}", body)
        match = re.search(r'id="next-page" hx-get="\?([^"]+)"', body) or re.search(
            r'href="\?([^"]*cursor=[^"]+)" id="next-page"', body
        )
        if not match:
            break
        from urllib.parse import parse_qsl

        params = dict(parse_qsl(match.group(1).replace("&amp;", "&")))
    assert len(seen) == 57 and len(set(seen)) == 57
    amounts = [int(s.split()[1]) for s in seen]
    assert amounts == sorted(amounts, reverse=True)


def _queries(client: Any, url: str, **params: Any) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url, params)
    assert resp.status_code == 200
    return len(ctx.captured_queries)


def test_list_page_queries_do_not_grow_with_rows(web: Any, pipeline: Any, personas: Any) -> None:
    owner = personas["owner"].user
    company = make_company(responsible=owner, name="ООО Запросы")
    for i in range(5):
        make_deal(responsible=owner, company=company, title=f"L{i}", stage=pipeline.stages["talks"])
    client = web("owner")
    client.get("/deals/")
    few = _queries(client, "/deals/")
    for i in range(30):
        make_deal(
            responsible=personas["a1"].user,
            company=company,
            title=f"M{i}",
            stage=pipeline.stages["new"],
        )
    assert _queries(client, "/deals/") == few


def test_card_page_queries_do_not_grow_with_history(web: Any, pipeline: Any, records: Any) -> None:
    from voronka.activities.services import comment_add
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    deal = records["a1"].deal
    actor = Actor.for_user(records["a1"].user)
    client = web("a1")
    client.get(f"/deals/{deal.pk}/")
    few = _queries(client, f"/deals/{deal.pk}/")
    for i in range(6):
        deal = deal_move_to_stage(
            deal=deal, stage=pipeline.stages["talks" if i % 2 == 0 else "new"], actor=actor
        )
        comment_add(obj=deal, actor=actor, text=f"комментарий {i}")
    assert _queries(client, f"/deals/{deal.pk}/") == few


def test_edit_keeps_a_company_the_user_could_not_pick(
    web: Any, pipeline: Any, records: Any
) -> None:
    """a1's deal for b1's company: the picker still holds that company and saving the form
    (which sends it back unchanged) neither fails nor moves the deal to another company."""
    deal = make_deal(
        responsible=records["a1"].user, company=records["b1"].company, title="Чужой клиент"
    )
    client = web("a1")
    html = client.get(f"/deals/{deal.pk}/", {"edit": "1"}).content.decode()
    form = html.split('id="deal-form"', 1)[1]
    # The picker holds the current company (id and name) even though a1 could not pick it.
    assert f'name="company" value="{records["b1"].company.pk}"' in form
    assert f'data-label="{records["b1"].company.name}"' in form
    resp = client.post(
        f"/deals/{deal.pk}/",
        {
            "version": deal.version,
            "title": "Чужой клиент (ред.)",
            "company": records["b1"].company.pk,
            "responsible": records["a1"].user.pk,
            "contacts__present": "1",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:500]
    deal.refresh_from_db()
    assert deal.company_id == records["b1"].company.pk and deal.title == "Чужой клиент (ред.)"


# --- negative controls: with the guard switched off, the tests above would see the failure -------


def test_control_scope_off_opens_another_managers_card(
    web: Any, records: Any, monkeypatch: Any
) -> None:
    no_scope_filter(monkeypatch)
    resp = card(web("a1"), records["b1"].deal)
    assert resp.status_code == 200 and "Сделка b1" in resp.content.decode()


def test_control_version_check_off_overwrites_silently(
    web: Any, records: Any, monkeypatch: Any
) -> None:
    from voronka.deals.services import deal_update
    from voronka.kernel.actor import Actor

    deal = records["a1"].deal
    stale = deal.version
    deal_update(deal=deal, actor=Actor.system(), data={"title": "Чужое название", "version": stale})
    no_version_check(monkeypatch)
    resp = web("a1").post(f"/deals/{deal.pk}/", {"version": stale, "title": "Моё название"})
    assert resp.status_code == 302  # no conflict: the lost update the guarded test catches
    deal.refresh_from_db()
    assert deal.title == "Моё название"
