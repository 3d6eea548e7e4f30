"""Issue 7, items 6 and 7, through both channels: each bad input sent through the API and
through the HTML form that takes the same field. Every refusal is a 4xx whose body names the
field (in `errors`, and by its human label in the message), and nothing is written.

The rules themselves and their negative controls are in tests/domain/test_dom_input_rules.py;
here the point is that no interface bypasses them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from voronka.activities.models import TaskDeadlineChange
from voronka.contacts.models import Company, Contact
from voronka.deals.models import Deal
from voronka.kernel import clock

pytestmark = pytest.mark.django_db

DEALS = "/api/v1/deals"


def assert_refused_api(response: Any, field: str, label: str | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:400])
    body = response.json()
    assert field in body.get("errors", {}), body
    if label is not None:
        assert f"«{label}»" in body["detail"], body["detail"]
    return body


def assert_refused_form(response: Any, field: str) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:400])
    assert field in response.context["errors"], response.context["errors"]
    html = response.content.decode()
    assert response.context["errors"][field] in html  # shown next to the field
    return html


def create_form(records: Any, pipeline: Any, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Сделка из формы",
        "pipeline": pipeline.sales.pk,
        "company": records["a1"].company.pk,
        "currency": "RUB",
        "amount": "1000",
        "responsible": records["a1"].user.pk,
        **extra,
    }


# --- item 6: a deal created in a stage obeys what a move into it obeys ----------------------------


def test_deal_created_in_a_lost_stage_asks_for_the_loss_reason(
    api: Any, web: Any, records: Any, pipeline: Any, nothing_written: Any
) -> None:
    lost, reason = pipeline.stages["lost"], pipeline.loss_reasons[0]
    body = {"title": "API", "company": records["a1"].company.pk, "stage": lost.pk}
    with nothing_written():
        response = api("a1").post_json(DEALS, body)
    refusal = assert_refused_api(response, "loss_reason")
    assert refusal["code"] == "loss_reason_required"
    with nothing_written():
        response = web("a1").post("/deals/new/", create_form(records, pipeline, stage=lost.pk))
    html = assert_refused_form(response, "loss_reason")
    assert 'name="loss_reason"' in html and reason.name in html  # the form asks for it
    assert 'name="loss_comment"' in html

    created = api("a1").post_json(DEALS, {**body, "loss_reason": reason.pk, "loss_comment": "Ок"})
    assert created.status_code == 201, created.content
    assert (created.json()["status"], created.json()["loss_reason"]) == ("lost", reason.pk)
    assert created.json()["closed_at"] is not None
    response = web("a1").post(
        "/deals/new/", create_form(records, pipeline, stage=lost.pk, loss_reason=reason.pk)
    )
    assert response.status_code == 302, response.content.decode()[:500]
    deal = Deal.objects.get(title="Сделка из формы")
    assert (deal.status, deal.loss_reason_id) == ("lost", reason.pk) and deal.closed_at


def test_the_create_form_shows_what_the_chosen_stage_asks_for(
    web: Any, records: Any, pipeline: Any
) -> None:
    client = web("a1")
    page = client.get("/deals/new/", {"pipeline": pipeline.sales.pk}).content.decode()
    for stage in pipeline.stages.values():
        assert f'<option value="{stage.pk}"' in page  # the stages of the chosen pipeline
    assert 'name="loss_reason"' not in page
    partial = client.get(
        "/deals/new/",
        {"pipeline": pipeline.sales.pk, "stage": pipeline.stages["lost"].pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="deal-stage",
    ).content.decode()
    assert 'id="deal-stage"' in partial and 'name="loss_reason"' in partial
    partial = client.get(
        "/deals/new/",
        {"pipeline": pipeline.sales.pk, "stage": pipeline.stages["contract"].pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="deal-stage",
    ).content.decode()
    assert "Номер договора" in partial and 'name="loss_reason"' not in partial


def test_deal_created_in_a_stage_with_required_fields_names_them(
    api: Any, web: Any, records: Any, pipeline: Any, nothing_written: Any
) -> None:
    won = pipeline.stages["won"]
    api("owner").patch_json(
        f"/api/v1/pipelines/{pipeline.sales.pk}/stages/{won.pk}",
        {"required_fields": ["contract_no"]},
    )
    with nothing_written():
        response = api("a1").post_json(
            DEALS, {"title": "API", "company": records["a1"].company.pk, "stage": won.pk}
        )
    body = assert_refused_api(response, "contract_no")
    assert body["code"] == "required_fields_missing" and "Номер договора" in body["detail"]
    with nothing_written():
        response = web("a1").post(
            "/deals/new/",
            create_form(records, pipeline, stage=won.pk, cf_f_string="сохранится"),
        )
    html = assert_refused_form(response, "contract_no")
    field = html.split('data-field="contract_no"', 1)[0].rsplit("<div", 1)[1]
    assert "has-error" in field  # the required custom field is marked in the form
    assert 'value="сохранится"' in html  # what was typed is kept
    ok = web("a1").post(
        "/deals/new/", create_form(records, pipeline, stage=won.pk, cf_contract_no="Д-1")
    )
    assert ok.status_code == 302
    deal = Deal.objects.get(title="Сделка из формы")
    assert deal.status == "won" and deal.closed_at is not None


# --- item 7: currencies and money -----------------------------------------------------------------


def test_a_currency_that_is_not_iso_4217_is_refused_everywhere(
    api: Any, web: Any, records: Any, pipeline: Any, nothing_written: Any
) -> None:
    deal = records["a1"].deal
    client = api("a1")
    with nothing_written():
        created = client.post_json(
            DEALS, {"title": "X", "company": records["a1"].company.pk, "currency": "XYZ"}
        )
        patched = client.patch_json(f"{DEALS}/{deal.pk}", {"currency": "ABC"})
        money = client.post_json(
            DEALS,
            {
                "title": "X",
                "company": records["a1"].company.pk,
                "custom": {"f_money": {"amount": "1", "currency": "XYZ"}},
            },
        )
    assert_refused_api(created, "currency", "Валюта")
    assert_refused_api(patched, "currency", "Валюта")
    assert_refused_api(money, "custom.f_money", "Поле money")
    with nothing_written():
        response = web("a1").post("/deals/new/", create_form(records, pipeline, currency="XYZ"))
    assert_refused_form(response, "currency")
    with nothing_written():
        response = web("a1").post(
            "/deals/new/",
            create_form(records, pipeline, cf_f_money="10", cf_f_money__currency="ZZZ"),
        )
    assert_refused_form(response, "custom.f_money")
    ok = client.post_json(
        DEALS, {"title": "Y", "company": records["a1"].company.pk, "currency": "cny"}
    )
    assert ok.status_code == 201 and ok.json()["currency"] == "CNY"
    # The card's select keeps a currency the common list lacks (it must not change it silently).
    card = web("a1").get(f"/deals/{ok.json()['id']}/", {"edit": "1"}).content.decode()
    assert "<option selected>CNY</option>" in card.replace("\n", "")


def test_a_money_field_refuses_a_negative_sum_like_the_amount(
    api: Any, web: Any, records: Any, pipeline: Any, nothing_written: Any
) -> None:
    deal = records["a1"].deal
    with nothing_written():
        negative = api("a1").patch_json(
            f"{DEALS}/{deal.pk}", {"custom": {"f_money": {"amount": "-5", "currency": "RUB"}}}
        )
    assert_refused_api(negative, "custom.f_money", "Поле money")
    with nothing_written():
        response = web("a1").post(
            "/deals/new/", create_form(records, pipeline, amount="-1", cf_f_money="-5")
        )
    html = assert_refused_form(response, "amount")
    assert response.context["errors"]["custom.f_money"] in html


# --- item 7: birthdays --------------------------------------------------------------------------


@pytest.mark.parametrize("birthday", ["9999-12-31", "1812-09-07", "tomorrow"])
def test_a_birthday_outside_1900_to_today_is_refused(
    api: Any, web: Any, records: Any, nothing_written: Any, birthday: str
) -> None:
    if birthday == "tomorrow":
        birthday = (timezone.localdate(clock.now()) + dt.timedelta(days=1)).isoformat()
    contact = records["a1"].contact
    body = {"first_name": "Ян", "company": records["a1"].company.pk, "birthday": birthday}
    with nothing_written():
        created = api("a1").post_json("/api/v1/contacts", body)
        patched = api("a1").patch_json(f"/api/v1/contacts/{contact.pk}", {"birthday": birthday})
    assert_refused_api(created, "birthday", "День рождения")
    assert_refused_api(patched, "birthday", "День рождения")
    with nothing_written():
        response = web("a1").post("/contacts/new/", {**body, "responsible": records["a1"].user.pk})
    assert_refused_form(response, "birthday")
    assert Contact.objects.get(pk=contact.pk).birthday is None


# --- item 7: web addresses ----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://example.ru"])
def test_a_website_or_link_that_is_not_http_is_refused(
    api: Any, web: Any, records: Any, nothing_written: Any, url: str
) -> None:
    company = records["a1"].company
    with nothing_written():
        created = api("a1").post_json("/api/v1/companies", {"name": "ООО Сайт", "website": url})
        patched = api("a1").patch_json(f"/api/v1/companies/{company.pk}", {"website": url})
        link = api("a1").post_json(
            DEALS, {"title": "X", "company": company.pk, "custom": {"f_link": url}}
        )
    assert_refused_api(created, "website", "Сайт")
    assert_refused_api(patched, "website", "Сайт")
    assert_refused_api(link, "custom.f_link", "Поле link")
    with nothing_written():
        response = web("a1").post(
            "/companies/new/",
            {
                "name": "ООО Сайт",
                "type": "legal",
                "website": url,
                "responsible": records["a1"].user.pk,
            },
        )
    assert_refused_form(response, "website")
    assert Company.objects.get(pk=company.pk).website == ""


# --- item 7: control characters ------------------------------------------------------------------


def test_nul_and_control_characters_never_reach_the_database(
    api: Any, web: Any, records: Any, nothing_written: Any
) -> None:
    company = records["a1"].company.pk
    created = api("a1").post_json(
        "/api/v1/contacts",
        {
            "first_name": "А\u0000нна",
            "company": company,
            "messengers": {"tg\u0000": "@a\u202enna", "vk": "id\u00001"},
            "custom": {"vip\u0000": True},
        },
    )
    assert created.status_code == 201, created.content
    contact = Contact.objects.get(pk=created.json()["id"])
    assert contact.first_name == "Анна" and contact.custom == {"vip": True}
    assert contact.messengers == {"tg": "@anna", "vk": "id1"}
    with nothing_written():
        refused = api("a1").patch_json(
            f"/api/v1/contacts/{contact.pk}", {"messengers": {"\u0000": "@x"}}
        )
    assert_refused_api(refused, "messengers", "Мессенджеры")
    response = web("a1").post(
        "/contacts/new/",
        {
            "first_name": "Бо\x00рис",
            "company": company,
            "responsible": records["a1"].user.pk,
            "messenger_telegram": "@bo\x00ris",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    contact = Contact.objects.get(first_name="Борис")
    assert contact.messengers["telegram"] == "@boris"


# --- item 7: deadlines ----------------------------------------------------------------------------


def test_a_deadline_moved_into_the_past_is_refused(
    api: Any, web: Any, records: Any, nothing_written: Any
) -> None:
    task = records["a1"].task
    yesterday = timezone.localtime(clock.now() - dt.timedelta(days=1))
    with nothing_written():
        response = api("a1").post_json(
            f"/api/v1/tasks/{task.pk}/reschedule",
            {"deadline": yesterday.isoformat(), "reason": "Болеет"},
        )
    assert_refused_api(response, "deadline", "Срок")
    with nothing_written():
        response = web("a1").post(
            f"/tasks/{task.pk}/reschedule/",
            {
                "deadline_date": yesterday.date().isoformat(),
                "deadline_time": "10:00",
                "reason": "Болеет",
            },
        )
    assert_refused_form(response, "deadline")
    assert not TaskDeadlineChange.objects.filter(task=task).exists()


# --- item 7: messages name the field by its label, in both languages ------------------------------


@pytest.mark.parametrize(
    ("language", "label"), [("ru", "«Причина переноса»"), ("en", "“Reason for the change”")]
)
def test_a_reason_of_spaces_is_named_by_its_label(
    api: Any, web: Any, records: Any, personas: Any, nothing_written: Any, language: str, label: str
) -> None:
    task = records["a1"].task
    later = timezone.localtime(clock.now() + dt.timedelta(days=3))
    with nothing_written():
        response = api("a1").post_json(
            f"/api/v1/tasks/{task.pk}/reschedule",
            {"deadline": later.isoformat(), "reason": "   "},
            HTTP_ACCEPT_LANGUAGE=language,
        )
    body = response.json()
    assert response.status_code == 422 and "reason" in body["errors"]
    assert label in body["detail"] and "«reason»" not in body["detail"]
    user = personas["a1"].user
    user.language = language
    user.save(update_fields=["language"])
    with nothing_written():
        response = web("a1").post(
            f"/tasks/{task.pk}/reschedule/",
            {
                "deadline_date": later.date().isoformat(),
                "deadline_time": "10:00",
                "reason": "   ",
            },
        )
    html = assert_refused_form(response, "reason")
    assert label in response.context["message"] and label in html


def test_a_schema_refusal_names_the_field_by_its_label(api: Any, records: Any) -> None:
    response = api("a1").post_json(DEALS, {"title": "X", "company": "первая"})
    body = assert_refused_api(response, "company", "Компания")
    assert "Invalid value" not in body["detail"]
    response = api("a1").post_json(DEALS, {"title": "X", "company": 1, "status": "won"})
    assert_refused_api(response, "status", "Статус")
