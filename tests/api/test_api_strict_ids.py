"""Ids and versions are strict integers everywhere (issue 7, item 5; RELIABILITY row 4 extended to
every id field). Pydantic's lax mode read JSON `true` as 1: `POST /deals {"company": true}` made
a deal of company 1, `move {"stage": true}` moved to stage 1, `{"loss_reason": true}` lost the
deal with reason 1, contacts took `"version": true` as version 1.

The fields are *found*: every integer property (nested objects and list items included) of every
request body in the OpenAPI document gets `true`, `false`, `"1"` and `1.5` — each must be a 422
naming that field. The services behind the HTML forms refuse the same values (kernel.fields.to_id).

Negative controls: the same probe against a small API whose schema keeps a plain `int` flags that
field (and only that one); services with `int()` instead of `to_id` accept `true` again.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.urls import path
from ninja import NinjaAPI

from voronka.config.api import api as product_api
from voronka.kernel.fields import to_id
from voronka.kernel.schemas import Id, StrictIn

pytestmark = pytest.mark.django_db

BAD_VALUES: list[Any] = [True, False, "1", 1.5]


# --- the control API: one field with the old plain `int` ------------------------------------------
control_api = NinjaAPI(urls_namespace="strict-ids-control", docs_url=None)


class ControlIn(StrictIn):
    company: int  # the mistake this test exists for
    stage: Id


@control_api.post("/things")
def make_thing(request: Any, payload: ControlIn) -> dict[str, bool]:
    return {"ok": True}


urlpatterns = [path("api/strict-ids-control/", control_api.urls)]


# --- the probe --------------------------------------------------------------------------------------
def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def integer_paths(schema: dict[str, Any], node: dict[str, Any], prefix: tuple = ()) -> set[tuple]:
    """Key paths (ints for list items) of every integer in a body schema."""
    node = _resolve(schema, node)
    found: set[tuple] = set()
    for alt in [node, *node.get("anyOf", []), *node.get("oneOf", []), *node.get("allOf", [])]:
        alt = _resolve(schema, alt)
        if alt.get("type") == "integer":
            found.add(prefix)
        for name, prop in alt.get("properties", {}).items():
            found |= integer_paths(schema, prop, (*prefix, name))
        if alt.get("type") == "array" and "items" in alt:
            found |= integer_paths(schema, alt["items"], (*prefix, 0))
    return found


def targets(schema: dict[str, Any]) -> list[tuple[str, str, tuple]]:
    """(method, url path, key path) for every integer field of every JSON request body."""
    found = []
    for url, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                for key_path in sorted(integer_paths(schema, body["schema"]), key=str):
                    found.append((method, url, key_path))
    return found


def _payload(key_path: tuple, value: Any) -> Any:
    for key in reversed(key_path):
        value = [value] if isinstance(key, int) else {key: value}
    return value


def _named(body: Any) -> set[str]:
    if isinstance(body.get("errors"), dict):
        return set(body["errors"])
    if isinstance(body.get("detail"), list):  # ninja's default 422 (the control API)
        skip = {"body", "payload", "query", "path"}
        return {".".join(str(x) for x in e["loc"] if x not in skip) for e in body["detail"]}
    return set()


def probe(client: Any, schema: dict[str, Any]) -> list[str]:
    """The integer fields that took a non-integer (or refused it without naming the field)."""
    accepted = []
    for method, url, key_path in targets(schema):
        concrete = re.sub(r"\{\w+\}", "1", url)
        field = ".".join(str(k) for k in key_path)
        for value in BAD_VALUES:
            resp = client.generic(
                method.upper(), concrete, json.dumps(_payload(key_path, value)), "application/json"
            )
            if resp.status_code != 422 or field not in _named(resp.json()):
                accepted.append(f"{method.upper()} {url} {field}={value!r} → {resp.status_code}")
    return accepted


def test_the_probe_finds_the_id_fields_of_the_issue() -> None:
    found = {(m, u, ".".join(map(str, k))) for m, u, k in targets(product_api.get_openapi_schema())}
    assert ("post", "/api/v1/deals", "company") in found
    assert ("post", "/api/v1/deals", "contacts.0") in found
    assert ("post", "/api/v1/deals/{deal_id}/move", "stage") in found
    assert ("post", "/api/v1/deals/{deal_id}/move", "loss_reason") in found
    assert ("patch", "/api/v1/contacts/{contact_id}", "version") in found
    assert ("post", "/api/v1/tasks/{task_id}/complete", "next_task.responsible") in found
    assert len(found) > 25


def test_every_integer_field_of_every_body_is_strict(api: Any, records: Any) -> None:
    assert probe(api("owner"), product_api.get_openapi_schema()) == []


def test_issue_examples_change_nothing(api: Any, records: Any, pipeline: Any) -> None:
    from voronka.contacts.models import Contact
    from voronka.deals.models import Deal

    a1 = records["a1"]
    client = api("owner")
    before = Deal.objects.count()
    assert client.post_json("/api/v1/deals", {"title": "x", "company": True}).status_code == 422
    assert Deal.objects.count() == before
    move = f"/api/v1/deals/{a1.deal.pk}/move"
    assert client.post_json(move, {"stage": True}).status_code == 422
    lost = client.post_json(move, {"stage": pipeline.stages["lost"].pk, "loss_reason": True})
    assert lost.status_code == 422 and "loss_reason" in lost.json()["errors"]
    a1.deal.refresh_from_db()
    assert a1.deal.stage_id == pipeline.stages["new"].pk and a1.deal.loss_reason_id is None
    patch = client.patch_json(
        f"/api/v1/contacts/{a1.contact.pk}", {"version": True, "position": "x"}
    )
    assert patch.status_code == 422 and "version" in patch.json()["errors"]
    assert Contact.objects.get(pk=a1.contact.pk).position != "x"
    ok = client.post_json("/api/v1/deals", {"title": "x", "company": a1.company.pk})
    assert ok.status_code == 201


def test_control_a_plain_int_is_flagged_by_the_probe(settings: Any, client: Any) -> None:
    settings.ROOT_URLCONF = __name__
    flagged = probe(client, control_api.get_openapi_schema())
    assert {f.split()[2].split("=")[0] for f in flagged} == {"company"}
    assert len(flagged) == 3  # lax `int` takes true, false and "1" (it refuses 1.5 itself)


# --- the services (HTML forms and importers call them with strings) ------------------------------
@pytest.mark.parametrize(
    "raw", [True, False, 1.5, 1.0, "1.0", "true", "²", " 1", "", None, 0, -1, 2**63]
)
def test_to_id_refuses_what_is_not_an_id(raw: Any) -> None:
    with pytest.raises(ValueError):
        to_id(raw)


@pytest.mark.parametrize("raw", [1, "1", "42", 2**63 - 1])
def test_to_id_accepts_ids(raw: Any) -> None:
    assert to_id(raw) == int(raw)


def _service_attempts(records: Any, pipeline: Any) -> dict[str, Any]:
    """Each service call with `true` for an id or a version: the error, or None if it was taken."""
    from voronka.activities.tasks_services import task_create
    from voronka.contacts.services import contact_update
    from voronka.deals.services import deal_create, deal_move_to_stage
    from voronka.kernel.actor import Actor
    from voronka.kernel.errors import ApplicationError

    a1 = records["a1"]
    calls = {
        "deal company": lambda: deal_create(
            actor=Actor.system(), data={"title": "x", "company": True, "responsible": a1.user.pk}
        ),
        "deal contacts": lambda: deal_create(
            actor=Actor.system(),
            data={
                "title": "x",
                "company": a1.company.pk,
                "contacts": [True],
                "responsible": a1.user.pk,
            },
        ),
        "move stage": lambda: deal_move_to_stage(deal=a1.deal, stage=True, actor=Actor.system()),
        "loss reason": lambda: deal_move_to_stage(
            deal=a1.deal, stage=pipeline.stages["lost"], actor=Actor.system(), loss_reason=True
        ),
        "contact version": lambda: contact_update(
            contact=a1.contact, actor=Actor.system(), data={"version": True}
        ),
        "task responsible": lambda: task_create(
            actor=Actor.system(),
            data={
                "type": "call",
                "responsible": True,
                "deadline": "2030-01-01T10:00",
                "comment": "x",
                "company": a1.company.pk,
            },
        ),
    }
    result: dict[str, Any] = {}
    for name, call in calls.items():
        try:
            call()
            result[name] = None
        except ApplicationError as exc:
            result[name] = exc.errors
    return result


def test_services_refuse_booleans_as_ids(records: Any, pipeline: Any) -> None:
    result = _service_attempts(records, pipeline)
    assert all(result.values()), result
    assert "company" in result["deal company"] and "contacts" in result["deal contacts"]
    assert "loss_reason" in result["loss reason"] and "version" in result["contact version"]


def test_html_form_with_true_for_an_id_creates_nothing(web: Any, records: Any) -> None:
    from voronka.deals.models import Deal

    before = Deal.objects.count()
    for raw in ("true", "²", "1.0"):
        web("owner").post("/deals/new/", {"title": "Форма", "company": raw})
    assert Deal.objects.count() == before
    for url in (
        "/tasks/?responsible=²",
        "/tasks/calendar/?responsible=²",
        "/control/?department=²",
    ):
        assert web("owner").get(url).status_code < 500


def test_control_services_with_int_take_true_as_one(
    records: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voronka.deals.services import deal, fields, pipelines, stage_entry

    def lax(raw: Any) -> int:
        return int(raw)

    # The deal services are a package: each module holds its own reference to the parsers.
    for module in (deal, fields, pipelines, stage_entry):
        for name in ("to_id", "to_int"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, lax)
    result = _service_attempts(records, pipeline)

    def taken_as_one(outcome: Any) -> bool:
        # Accepted (SQLite: company 1 and reason 1 exist), or looked up as id 1 and not found
        # (PostgreSQL: sequences are not reset between tests) — never refused as "not an id".
        return outcome is None or "Ожидается номер" not in str(outcome)

    assert taken_as_one(result["deal company"]), result  # a deal of company 1
    assert taken_as_one(result["loss reason"]), result  # lost with reason 1
