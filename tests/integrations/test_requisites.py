"""Requisites auto-fill (issue 10, "Client card"): the DaData provider against a local stand-in
speaking its protocol (tests/requisites_standin.py) — found, not found, a bad key (401), a
time-out, a malformed answer — through the service, the API and the company form's panel; the
settings screen (can_configure, the key never shown back nor audited in full)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from requisites_standin import KEY, StandIn, standin
from voronka.integrations.models import RequisitesSettings
from voronka.integrations.requisites.services import (
    requisites_lookup,
    requisites_settings,
    requisites_settings_update,
)
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.models import AuditEntry

LOOKUP = "/api/v1/requisites/lookup"


@pytest.fixture
def provider(db: None) -> Iterator[StandIn]:
    with standin() as server:
        RequisitesSettings.objects.create(
            pk=1, api_key=KEY, base_url=server.base_url, timeout_seconds=1.0
        )
        yield server


def _actor(personas: Any, key: str = "a1") -> Actor:
    return Actor.for_user(personas[key].user)


def test_found_by_inn_fills_the_company_fields(provider: StandIn, personas: Any) -> None:
    result = requisites_lookup(actor=_actor(personas), inn="7707 083 893")
    assert result.found and len(result.parties) == 1
    party = result.parties[0]
    assert (party.inn, party.kpp, party.ogrn, party.type) == (
        "7707083893",
        "773601001",
        "1027700132195",
        "legal",
    )
    assert party.name == "ПАО СБЕРБАНК" and party.postal_code == "117312"
    assert party.management_name == "Греф Герман Оскарович" and party.status == "ACTIVE"
    assert party.company_fields()["addresses"] == [
        {"kind": "legal", "text": "117312, г Москва, ул Вавилова, д 19", "postal_code": "117312"}
    ]
    sent = provider.requests[-1]
    assert sent["path"] == "/suggestions/api/4_1/rs/findById/party"
    assert sent["headers"]["Authorization"] == f"Token {KEY}"
    assert sent["body"] == {"query": "7707083893"}  # normalized before it leaves


def test_sole_proprietor_by_inn_and_a_name_suggestion_and_a_bank(
    provider: StandIn, personas: Any
) -> None:
    party = requisites_lookup(actor=_actor(personas), inn="500100732259").parties[0]
    assert party.type == "sole_proprietor" and party.ogrn == "304500116000157"
    suggested = requisites_lookup(actor=_actor(personas), query="сбер").parties
    assert [p.inn for p in suggested] == ["7707083893"]
    assert provider.requests[-1]["path"].endswith("/suggest/party")
    bank = requisites_lookup(actor=_actor(personas), bik="044525225").banks[0]
    assert (bank.name, bank.correspondent_account) == ("ПАО СБЕРБАНК", "30101810400000000225")


def test_not_found_is_an_empty_answer(provider: StandIn, personas: Any) -> None:
    result = requisites_lookup(actor=_actor(personas), inn="7736207543")
    assert not result.found and result.parties == []


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("timeout", "timeout"),
        ("malformed", "malformed"),
        ("wrong_shape", "malformed"),
        ("500", "unavailable"),
    ],
)
def test_provider_failures_are_clear_errors(
    provider: StandIn, personas: Any, mode: str, kind: str
) -> None:
    provider.mode = mode
    with pytest.raises(ApplicationError) as exc:
        requisites_lookup(actor=_actor(personas), inn="7707083893")
    assert exc.value.code == ErrorCode.PROVIDER_ERROR and exc.value.status == 424
    assert exc.value.extra == {"provider_error": kind}
    assert "вручную" in exc.value.message or "позже" in exc.value.message


def test_a_bad_key_is_401_from_the_provider(provider: StandIn, personas: Any) -> None:
    RequisitesSettings.objects.filter(pk=1).update(api_key="wrong")
    with pytest.raises(ApplicationError) as exc:
        requisites_lookup(actor=_actor(personas), inn="7707083893")
    assert exc.value.extra == {"provider_error": "unauthorized"}
    assert "ключ" in exc.value.message


def test_not_configured_and_bad_input(db: None, personas: Any) -> None:
    with pytest.raises(ApplicationError) as exc:
        requisites_lookup(actor=_actor(personas), inn="7707083893")
    assert exc.value.code == ErrorCode.PROVIDER_NOT_CONFIGURED
    for kwargs, field in (
        ({"inn": "1234567890"}, "inn"),
        ({"bik": "12"}, "bik"),
        ({"query": "a"}, "query"),
        ({}, "inn"),
        ({"inn": "7707083893", "query": "x"}, "inn"),
    ):
        with pytest.raises(ValidationError) as bad:
            requisites_lookup(actor=_actor(personas), **kwargs)
        assert field in bad.value.errors


def test_api_lookup_shapes_and_errors(provider: StandIn, api: Any) -> None:
    client = api("a1")
    found = client.post_json(LOOKUP, {"inn": "7707083893"})
    assert found.status_code == 200, found.content
    body = found.json()
    assert body["found"] is True and body["banks"] == []
    party = body["parties"][0]
    assert set(party) == {
        "inn",
        "kpp",
        "ogrn",
        "type",
        "name",
        "full_name",
        "address",
        "postal_code",
        "management_name",
        "management_post",
        "status",
        "company",
    }
    assert party["company"]["name"] == "ПАО СБЕРБАНК" and party["company"]["type"] == "legal"
    # What the lookup answers creates a company as it is (the fields POST /companies takes).
    created = client.post_json("/api/v1/companies", party["company"])
    assert created.status_code == 201, created.content
    assert created.json()["addresses"][0]["postal_code"] == "117312"
    empty = client.post_json(LOOKUP, {"inn": "7736207543"})
    assert empty.json() == {"found": False, "parties": [], "banks": []}
    assert client.post_json(LOOKUP, {"inn": "123"}).status_code == 422
    assert client.post_json(LOOKUP, {"inn": "7707083893", "extra": 1}).status_code == 422
    provider.mode = "malformed"
    failed = client.post_json(LOOKUP, {"inn": "7707083893"})
    assert failed.status_code == 424
    assert failed.json()["code"] == "provider_error"
    assert failed.json()["provider_error"] == "malformed"
    assert api("anonymous").post_json(LOOKUP, {"inn": "7707083893"}).status_code == 401


def test_settings_need_can_configure_and_hide_the_key(db: None, personas: Any) -> None:
    with pytest.raises(ApplicationError) as exc:
        requisites_settings_update(actor=_actor(personas, "a1"), data={"api_key": "x"})
    assert exc.value.code == ErrorCode.FORBIDDEN
    owner = _actor(personas, "owner")
    saved = requisites_settings_update(
        actor=owner, data={"api_key": "secret-key-12345", "base_url": "https://dadata.example/"}
    )
    assert saved.api_key == "secret-key-12345" and saved.base_url == "https://dadata.example"
    entry = AuditEntry.objects.filter(action="requisites_settings.updated").get()
    assert "secret-key-12345" not in str(entry.changes)
    assert entry.changes["api_key"][1].endswith("2345")
    # An empty key keeps the current one; clear_key removes it.
    requisites_settings_update(actor=owner, data={"api_key": "", "timeout_seconds": "2,5"})
    assert requisites_settings().api_key == "secret-key-12345"
    assert requisites_settings().timeout_seconds == 2.5
    requisites_settings_update(actor=owner, data={"clear_key": True})
    assert not requisites_settings().is_configured
    with pytest.raises(ValidationError) as bad:
        requisites_settings_update(
            actor=owner, data={"base_url": "ftp://x", "timeout_seconds": "99"}
        )
    assert set(bad.value.errors) == {"base_url", "timeout_seconds"}


def test_settings_screen_and_the_company_form_panel(provider: StandIn, web: Any) -> None:
    assert web("a1").get("/settings/integrations/requisites/").status_code == 403
    owner = web("owner")
    page = owner.get("/settings/integrations/requisites/")
    assert page.status_code == 200
    assert KEY not in page.content.decode()  # only its last characters
    saved = owner.post(
        "/settings/integrations/requisites/",
        {
            "provider": "dadata",
            "api_key": "",
            "base_url": provider.base_url,
            "timeout_seconds": "1",
        },
    )
    assert saved.status_code == 302
    assert requisites_settings().api_key == KEY
    form = web("a1")
    assert "Заполнить по ИНН" in form.get("/companies/new/").content.decode()
    panel = form.post("/companies/requisites/", {"by": "inn", "inn": "7707083893"})
    assert panel.status_code == 200
    html = panel.content.decode()
    assert "ПАО СБЕРБАНК" in html and "data-requisites-fill" in html
    nothing = form.post("/companies/requisites/", {"by": "inn", "inn": "7736207543"})
    assert "data-requisites-empty" in nothing.content.decode()
    provider.mode = "timeout"
    slow = form.post("/companies/requisites/", {"by": "inn", "inn": "7707083893"})
    assert "data-requisites-error" in slow.content.decode()
    assert "без автозаполнения" in slow.content.decode()
    # ...and the form still saves by hand while the provider is down.
    created = form.post(
        "/companies/new/", {"name": "ООО Вручную", "type": "legal", "inn": "7707083893"}
    )
    assert created.status_code == 302
