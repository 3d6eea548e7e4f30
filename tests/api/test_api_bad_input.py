"""Bad input through the API (issue 2 "Bad input"): invalid INN/phone/e-mail, unknown stage, wrong
custom-field types, a stage of another pipeline, oversize text, malformed JSON, unknown fields —
each a 4xx whose body names the field, nothing written, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

Case = tuple[str, str, Callable[[Any, Any], str], Callable[[Any, Any], Any], int, str | None]


def deals(_r: Any, _p: Any) -> str:
    return "/api/v1/deals"


def deal_a1(r: Any, _p: Any) -> str:
    return f"/api/v1/deals/{r['a1'].deal.pk}"


def move_a1(r: Any, _p: Any) -> str:
    return f"/api/v1/deals/{r['a1'].deal.pk}/move"


def companies(_r: Any, _p: Any) -> str:
    return "/api/v1/companies"


def company_a1(r: Any, _p: Any) -> str:
    return f"/api/v1/companies/{r['a1'].company.pk}"


def contacts(_r: Any, _p: Any) -> str:
    return "/api/v1/contacts"


def contact_a1(r: Any, _p: Any) -> str:
    return f"/api/v1/contacts/{r['a1'].contact.pk}"


def deal_body(**extra: Any) -> Callable[[Any, Any], dict[str, Any]]:
    return lambda r, p: {"title": "Сделка", "company": r["a1"].company.pk, **extra}


def deal_custom(key: str, value: Any) -> Callable[[Any, Any], dict[str, Any]]:
    return lambda r, p: {"title": "Сделка", "company": r["a1"].company.pk, "custom": {key: value}}


CASES: list[Case] = [
    # name, method, path, body, status, field named in `errors`
    (
        "company INN checksum",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "inn": "7707083894"},
        422,
        "inn",
    ),
    (
        "company INN letters",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "inn": "77O7O83893"},
        422,
        "inn",
    ),
    ("company KPP", "post", companies, lambda r, p: {"name": "ООО", "kpp": "12"}, 422, "kpp"),
    ("company OGRN", "post", companies, lambda r, p: {"name": "ООО", "ogrn": "1"}, 422, "ogrn"),
    (
        "company BIK",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "bank_bik": "999"},
        422,
        "bank_bik",
    ),
    (
        "company phone",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "phone": "+7 000"},
        422,
        "phone",
    ),
    (
        "company e-mail",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "email": "a@"},
        422,
        "email",
    ),
    ("company name oversize", "post", companies, lambda r, p: {"name": "Я" * 256}, 422, "name"),
    (
        "company address kind",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "addresses": [{"kind": "x", "text": "y"}]},
        422,
        "addresses",
    ),
    (
        "company unknown field",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "is_staff": True},
        422,
        "is_staff",
    ),
    ("company patch INN", "patch", company_a1, lambda r, p: {"inn": "123"}, 422, "inn"),
    ("company patch ltv", "patch", company_a1, lambda r, p: {"ltv": "100"}, 422, "ltv"),
    (
        "company custom number",
        "post",
        companies,
        lambda r, p: {"name": "ООО", "custom": {"staff": "много"}},
        422,
        "custom.staff",
    ),
    (
        "contact phone",
        "post",
        contacts,
        lambda r, p: {"first_name": "А", "phones": ["12345"]},
        422,
        "phones",
    ),
    (
        "contact phone type",
        "post",
        contacts,
        lambda r, p: {"first_name": "А", "phones": [79161234567]},
        422,
        "phones.0",
    ),
    (
        "contact e-mail",
        "post",
        contacts,
        lambda r, p: {"first_name": "А", "emails": ["a@b@c"]},
        422,
        "emails",
    ),
    (
        "contact birthday",
        "post",
        contacts,
        lambda r, p: {"first_name": "А", "birthday": "31.12.1990"},
        422,
        "birthday",
    ),
    (
        "contact first name missing",
        "post",
        contacts,
        lambda r, p: {"last_name": "Б"},
        422,
        "first_name",
    ),
    (
        "contact first name oversize",
        "post",
        contacts,
        lambda r, p: {"first_name": "Я" * 81},
        422,
        "first_name",
    ),
    (
        "contact consent type",
        "post",
        contacts,
        lambda r, p: {"first_name": "А", "consent_calls": "maybe"},
        422,
        "consent_calls",
    ),
    (
        "contact custom boolean",
        "post",
        contacts,
        lambda r, p: {"first_name": "А", "custom": {"vip": "может"}},
        422,
        "custom.vip",
    ),
    (
        "contact patch e-mail",
        "patch",
        contact_a1,
        lambda r, p: {"emails": ["not mail"]},
        422,
        "emails",
    ),
    ("deal title oversize", "post", deals, deal_body(title="Я" * 256), 422, "title"),
    ("deal comment oversize", "post", deals, deal_body(comment="x" * 10001), 422, "comment"),
    ("deal title blank", "post", deals, deal_body(title="   "), 422, "title"),
    ("deal amount negative", "post", deals, deal_body(amount="-5"), 422, "amount"),
    ("deal amount huge", "post", deals, deal_body(amount="10000000000000"), 422, "amount"),
    ("deal amount text", "post", deals, deal_body(amount="сто"), 422, "amount"),
    ("deal currency", "post", deals, deal_body(currency="RU"), 422, "currency"),
    ("deal unknown stage", "post", deals, deal_body(stage=10**9), 422, "stage"),
    (
        "deal stage of another pipeline",
        "post",
        deals,
        lambda r, p: {
            "title": "С",
            "company": r["a1"].company.pk,
            "pipeline": p.sales.pk,
            "stage": p.other_stages["new"].pk,
        },
        422,
        "stage",
    ),
    ("deal unknown pipeline", "post", deals, deal_body(pipeline=10**9), 422, "pipeline"),
    ("deal unknown field", "post", deals, deal_body(probability=50), 422, "probability"),
    ("deal company missing", "post", deals, lambda r, p: {"title": "С"}, 422, "company"),
    ("deal contacts type", "post", deals, deal_body(contacts=["a"]), 422, "contacts.0"),
    (
        "deal custom number",
        "post",
        deals,
        deal_custom("f_number", "двадцать"),
        422,
        "custom.f_number",
    ),
    (
        "deal custom money",
        "post",
        deals,
        deal_custom("f_money", {"amount": "x"}),
        422,
        "custom.f_money",
    ),
    ("deal custom list", "post", deals, deal_custom("f_list", "Дельта"), 422, "custom.f_list"),
    (
        "deal custom multi",
        "post",
        deals,
        deal_custom("f_multi", ["Альфа", 5]),
        422,
        "custom.f_multi",
    ),
    ("deal custom date", "post", deals, deal_custom("f_date", "завтра"), 422, "custom.f_date"),
    (
        "deal custom datetime",
        "post",
        deals,
        deal_custom("f_datetime", "0001-01-01T00:00+05:00"),
        422,
        "custom.f_datetime",
    ),
    ("deal custom boolean", "post", deals, deal_custom("f_boolean", [1]), 422, "custom.f_boolean"),
    (
        "deal custom link",
        "post",
        deals,
        deal_custom("f_link", "javascript:alert(1)"),
        422,
        "custom.f_link",
    ),
    ("deal custom file", "post", deals, deal_custom("f_file", 10**9), 422, "custom.f_file"),
    (
        "deal custom string oversize",
        "post",
        deals,
        deal_custom("f_string", "x" * 1001),
        422,
        "custom.f_string",
    ),
    (
        "deal custom nested",
        "post",
        deals,
        deal_custom("f_string", {"a": {"b": [1]}}),
        422,
        "custom.f_string",
    ),
    ("deal custom unknown key", "post", deals, deal_custom("secret", 1), 422, "custom.secret"),
    (
        "deal patch stage",
        "patch",
        deal_a1,
        lambda r, p: {"stage": p.stages["won"].pk},
        422,
        "stage",
    ),
    (
        "deal patch pipeline",
        "patch",
        deal_a1,
        lambda r, p: {"pipeline": p.other.pk},
        422,
        "pipeline",
    ),
    (
        "deal patch custom type",
        "patch",
        deal_a1,
        lambda r, p: {"custom": {"f_number": [1, 2]}},
        422,
        "custom.f_number",
    ),
    (
        "move fields type",
        "post",
        move_a1,
        lambda r, p: {"stage": p.stages["talks"].pk, "fields": {"f_date": 5}},
        422,
        "custom.f_date",
    ),
    (
        "move fields not object",
        "post",
        move_a1,
        lambda r, p: {"stage": p.stages["talks"].pk, "fields": [1]},
        422,
        "fields",
    ),
    (
        "move loss comment oversize",
        "post",
        move_a1,
        lambda r, p: {
            "stage": p.stages["lost"].pk,
            "loss_reason": p.loss_reasons[0].pk,
            "loss_comment": "x" * 1001,
        },
        422,
        "loss_comment",
    ),
    (
        "move unknown loss reason",
        "post",
        move_a1,
        lambda r, p: {"stage": p.stages["lost"].pk, "loss_reason": 10**9},
        422,
        "loss_reason",
    ),
    ("body is a list", "post", deals, lambda r, p: [1, 2], 422, "body"),
    ("malformed JSON", "post", deals, lambda r, p: '{"title": "x",', 400, None),
    ("JSON with NaN", "post", deals, lambda r, p: '{"title": "x", "company": NaN}', 422, "company"),
    ("empty body", "post", deals, lambda r, p: "", 422, "body"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_4xx_naming_the_field_and_writes_nothing(
    records: Any, pipeline: Any, api: Any, nothing_written: Any, case: Case
) -> None:
    _name, method, path, body, status, field = case
    client = api("a1")
    payload = body(records, pipeline)
    with nothing_written():
        send = client.post_json if method == "post" else client.patch_json
        response = send(path(records, pipeline), payload)
    assert response.status_code == status, response.content
    data = response.json()
    assert data["detail"] and data["code"]
    if field is not None:
        assert field in data["errors"], data


def test_form_encoded_body_is_refused(records: Any, api: Any, nothing_written: Any) -> None:
    with nothing_written():
        response = api("a1").post(
            "/api/v1/deals", "title=x&company=1", content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code in (400, 422)


def test_oversize_request_body_is_a_4xx(records: Any, api: Any, nothing_written: Any) -> None:
    big = json.dumps(
        {"title": "x", "company": records["a1"].company.pk, "comment": "я" * (6 * 1024 * 1024)}
    )
    with nothing_written():
        response = api("a1").post_json("/api/v1/deals", big)
    assert 400 <= response.status_code < 500


def test_control_characters_are_stripped_not_stored(records: Any, api: Any) -> None:
    response = api("a1").post_json(
        "/api/v1/deals",
        {
            "title": "Вода\u202e\x00\u200b кулер",
            "company": records["a1"].company.pk,
            "custom": {"f_string": "a\x00b"},
        },
    )
    assert response.status_code == 201, response.content
    assert (
        response.json()["title"] == "Вода кулер" and response.json()["custom"]["f_string"] == "ab"
    )
