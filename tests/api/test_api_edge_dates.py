"""Dates at the edge of the calendar (issue 7, item 3; RELIABILITY row 5 extended to every date
parameter): 0001-01-01 and 9999-12-31 turned into the local day's first moment, shifted to UTC or
extended by one day overflowed Python's datetime → a 500 on /api/v1/deals, /deals/ and
/tasks/calendar/. Every date or date-time parameter, filter, cursor, body field and custom field
must work or answer a 4xx naming the parameter — never a 5xx.

The parameters are *found*, not listed: every query parameter of the OpenAPI document declared
as a date or date-time (and any whose name looks like one — it must then be declared so), every
date field of a DealFilter/TaskFilter (the HTML lists and the API share them), every date
property of a request body, every custom field of type date/datetime of every entity. A new date
parameter is covered without touching this file.

Negative control: `kernel.dates` without its clamp (the day → moment conversion of before) —
the same probe must see the 500s come back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from voronka.activities.task_selectors import TaskFilter
from voronka.config.api import api as ninja_api
from voronka.deals.selectors import DealFilter
from voronka.kernel import dates

pytestmark = pytest.mark.django_db

DAY_VALUES = ["0001-01-01", "9999-12-31", "1900-01-01", "2999-12-31", "2026-02-30", "вчера", "1"]
MOMENT_VALUES = [
    "0001-01-01T00:00",
    "0001-01-01T00:00+05:00",
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59-05:00",
    "2026-02-30T10:00",
    "завтра в 10",
]
DATE_NAME = re.compile(r"(^|_)(date|day|deadline|from|to|on|at|since|until|birthday)($|_)")
# The HTML pages that read DealFilter / TaskFilter from the query string.
FILTER_PAGES: dict[type, list[str]] = {DealFilter: ["/deals/"], TaskFilter: ["/tasks/list/"]}
FILTER_API: dict[type, list[str]] = {DealFilter: ["/api/v1/deals"], TaskFilter: ["/api/v1/tasks"]}
# HTML date parameters outside the filters (a page reading a date of its own goes here).
OTHER_PAGE_PARAMS = [
    ("/tasks/calendar/", "date", {"view": "week"}),
    ("/tasks/calendar/", "date", {"view": "day"}),
]
# Keyset cursors carry a date-time too: signed cursors (tests/cursors.py) with the edge value,
# on the HTML list and the API list of tasks (kernel.pagination; the order of task_list).
CURSOR_PAGES = [("/tasks/list/", "cursor"), ("/api/v1/tasks", "cursor")]


def _task_cursor(moment: str) -> str:
    from cursors import signed_cursor
    from voronka.activities.models import Task

    return signed_cursor(Task, ("deadline", "id"), [moment, 1])


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _formats(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    node = _resolve(schema, node)
    found = {node["format"]} if "format" in node else set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            found |= _formats(schema, sub)
    return found


def openapi_date_query_params() -> list[tuple[str, str, str]]:
    """(path, parameter, 'date' | 'date-time') for every GET query parameter that is a date."""
    schema = ninja_api.get_openapi_schema()
    found = []
    for path, item in schema["paths"].items():
        op = item.get("get")
        if not op:
            continue
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            formats = _formats(schema, param["schema"]) & {"date", "date-time"}
            if DATE_NAME.search(param["name"]) and not formats:
                raise AssertionError(
                    f"{path}?{param['name']} looks like a date but is not declared as one "
                    "(declare it dt.date / dt.datetime so its format is in the schema)"
                )
            for fmt in formats:
                found.append((path, param["name"], fmt))
    return found


def openapi_date_body_fields() -> list[tuple[str, str, str, str]]:
    """(method, path, field, format) for every date/date-time property of a request body."""
    schema = ninja_api.get_openapi_schema()
    found = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not body:
                continue
            props = _resolve(schema, body["schema"]).get("properties", {})
            for name, prop in props.items():
                for fmt in _formats(schema, prop) & {"date", "date-time"}:
                    found.append((method, path, name, fmt))
    return found


def filter_date_fields(cls: type) -> list[tuple[str, str]]:
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        args = set(typing.get_args(hints[f.name])) | {hints[f.name]}
        if dt.datetime in args:
            found.append((f.name, "date-time"))
        elif dt.date in args:
            found.append((f.name, "date"))
    return found


def values_for(fmt: str) -> list[str]:
    return DAY_VALUES + MOMENT_VALUES if fmt == "date-time" else DAY_VALUES + MOMENT_VALUES[:1]


def _concrete(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


def probe(api: Callable[[str], Any], web: Callable[[str], Any], records: Any) -> list[str]:
    """Every date parameter with every edge value; the answers that were 5xx (or not 4xx for
    garbage that cannot be a date)."""
    a1 = records["a1"]
    ids = {"deal_id": a1.deal.pk, "task_id": a1.task.pk, "company_id": a1.company.pk}
    owner_api, owner_web = api("owner"), web("owner")
    for client in (owner_api, owner_web):
        client.raise_request_exception = False
    failures: list[str] = []

    def check(client: Any, url: str, params: dict[str, str]) -> None:
        resp = client.get(url, params)
        if resp.status_code >= 500:
            failures.append(f"GET {url} {params} → {resp.status_code}")
        elif resp.status_code >= 400 and url.startswith("/api/"):
            body = resp.json()
            named = set(body.get("errors") or {})
            if not named & set(params):
                failures.append(f"GET {url} {params} → {resp.status_code} names {named}")

    for path, name, fmt in openapi_date_query_params():
        for value in values_for(fmt):
            check(owner_api, _concrete(path, ids), {name: value})
    for cls, pages in FILTER_PAGES.items():
        for name, fmt in filter_date_fields(cls):
            for url in pages + FILTER_API[cls]:
                for value in values_for(fmt):
                    check(owner_api if url.startswith("/api/") else owner_web, url, {name: value})
    for url, name, extra in OTHER_PAGE_PARAMS:
        for value in DAY_VALUES:
            check(owner_web, url, {name: value, **extra})
    for url, name in CURSOR_PAGES:
        for value in MOMENT_VALUES:
            client = owner_api if url.startswith("/api/") else owner_web
            check(client, url, {name: _task_cursor(value)})
    return failures


@pytest.fixture
def date_fields(pipeline: Any) -> dict[str, list[Any]]:
    """Custom fields of type date and datetime on every entity (deals have them already)."""
    from voronka.customfields.services import custom_field_create
    from voronka.kernel.actor import Actor
    from voronka.kernel.models import CustomField

    for entity in ("company", "contact"):
        for ftype in ("date", "datetime"):
            custom_field_create(
                actor=Actor.system(),
                data={"entity": entity, "key": f"e_{ftype}", "name": ftype, "type": ftype},
            )
    by_entity: dict[str, list[Any]] = {}
    for field in CustomField.objects.filter(type__in=["date", "datetime"], is_active=True):
        by_entity.setdefault(field.entity, []).append(field)
    return by_entity


def test_the_probe_finds_the_date_parameters() -> None:
    """The introspection is not vacuous: the parameters of the issue are among those found."""
    query = {(p, n) for p, n, _f in openapi_date_query_params()}
    assert {("/api/v1/deals", "opened_from"), ("/api/v1/deals", "opened_to")} <= query
    assert {("/api/v1/tasks", "deadline_from"), ("/api/v1/tasks", "deadline_to")} <= query
    assert ("opened_from", "date") in filter_date_fields(DealFilter)
    assert ("deadline_to", "date-time") in filter_date_fields(TaskFilter)
    assert any(f == "birthday" for _m, _p, f, _fmt in openapi_date_body_fields())


def test_no_date_parameter_reaches_a_server_error(api: Any, web: Any, records: Any) -> None:
    assert probe(api, web, records) == []


def test_edge_dates_mean_from_the_beginning_and_to_the_end(api: Any, records: Any) -> None:
    everything = api("owner").get("/api/v1/deals").json()["items"]
    edged = api("owner").get(
        "/api/v1/deals", {"opened_from": "0001-01-01", "opened_to": "9999-12-31"}
    )
    assert edged.status_code == 200
    assert [d["id"] for d in edged.json()["items"]] == [d["id"] for d in everything]
    assert api("owner").get("/api/v1/deals", {"opened_from": "9999-12-31"}).json()["items"] == []
    assert api("owner").get("/api/v1/deals", {"opened_to": "0001-01-01"}).json()["items"] == []
    tasks = api("owner").get("/api/v1/tasks", {"deadline_to": "9999-12-31T23:59:59-05:00"})
    assert tasks.status_code == 200 and tasks.json()["items"]


def test_calendar_at_the_edges_and_garbage(web: Any, records: Any) -> None:
    client = web("a1")
    for value in ("0001-01-01", "9999-12-31"):
        assert client.get("/tasks/calendar/", {"date": value}).status_code == 200
    bad = client.get("/tasks/calendar/", {"date": "вчера"})
    assert bad.status_code == 400
    assert "ГГГГ-ММ-ДД" in bad.content.decode()


def test_date_fields_of_bodies_and_custom_fields(
    api: Any, web: Any, records: Any, date_fields: dict[str, list[Any]]
) -> None:
    """Stored dates: either refused with a 422 naming the field or stored and shown again
    (API record, HTML card) without a 5xx."""
    a1 = records["a1"]
    client, page = api("a1"), web("a1")
    client.raise_request_exception = page.raise_request_exception = False
    create = {
        "deal": ("/api/v1/deals", {"title": "Д", "company": a1.company.pk}, "/deals/{}/"),
        "company": ("/api/v1/companies", {"name": "ООО Дата"}, "/companies/{}/"),
        "contact": (
            "/api/v1/contacts",
            {"first_name": "Дата", "company": a1.company.pk},
            "/contacts/{}/",
        ),
    }
    failures = []

    def attempt(entity: str, body: dict[str, Any], field: str) -> None:
        url, base, card = create[entity]
        resp = client.post_json(url, {**base, **body})
        if resp.status_code == 422:
            if field not in resp.json().get("errors", {}):
                failures.append(f"{entity} {body} → 422 naming {resp.json().get('errors')}")
            return
        if resp.status_code != 201:
            failures.append(f"{entity} {body} → {resp.status_code}")
            return
        pk = resp.json()["id"]
        for follow in (client.get(f"{url}/{pk}"), page.get(card.format(pk))):
            if follow.status_code != 200:
                failures.append(f"{entity} {body} stored, then {follow.status_code}")

    for entity, fields in date_fields.items():
        for field in fields:
            for value in DAY_VALUES + MOMENT_VALUES:
                attempt(entity, {"custom": {field.key: value}}, f"custom.{field.key}")
    for method, path, name, fmt in openapi_date_body_fields():
        entity = {"contacts": "contact", "companies": "company", "deals": "deal"}.get(
            path.removeprefix("/api/v1/")
        )
        if method == "post" and entity:
            for value in values_for(fmt):
                attempt(entity, {name: value}, name)
    for value in MOMENT_VALUES:  # the task deadline is a date-time string in the body
        resp = client.post_json(
            "/api/v1/tasks",
            {"type": "call", "responsible": a1.user.pk, "deadline": value, "comment": "x"},
        )
        if resp.status_code != 422 or "deadline" not in resp.json().get("errors", {}):
            failures.append(f"task deadline {value} → {resp.status_code}")
    assert failures == []


def test_html_forms_with_edge_dates(web: Any, records: Any, pipeline: Any) -> None:
    """The forms that post dates (task create / reschedule, a deal's custom date fields)."""
    a1 = records["a1"]
    page = web("a1")
    page.raise_request_exception = False
    failures = []
    for value in DAY_VALUES:
        posts = {
            "/tasks/new/": {
                "type": "call",
                "responsible": a1.user.pk,
                "comment": "x",
                "company": a1.company.pk,
                "deadline_date": value,
                "deadline_time": "10:00",
            },
            f"/tasks/{a1.task.pk}/reschedule/": {
                "deadline_date": value,
                "deadline_time": "10:00",
                "reason": "перенос",
            },
            f"/deals/{a1.deal.pk}/": {"cf_f_date": value, "cf_f_datetime": f"{value}T10:00"},
        }
        for url, data in posts.items():
            resp = page.post(url, data)
            if resp.status_code >= 500:
                failures.append(f"POST {url} {value} → {resp.status_code}")
    assert page.get(f"/deals/{a1.deal.pk}/").status_code == 200
    assert failures == []


def test_custom_dates_outside_the_calendar_are_refused(
    api: Any, records: Any, pipeline: Any
) -> None:
    body = {"title": "Д", "company": records["a1"].company.pk}
    for key, value in (("f_date", "9999-12-31"), ("f_datetime", "9999-12-31T23:00+00:00")):
        resp = api("a1").post_json("/api/v1/deals", {**body, "custom": {key: value}})
        assert resp.status_code == 422 and f"custom.{key}" in resp.json()["errors"]
    ok = api("a1").post_json("/api/v1/deals", {**body, "custom": {"f_date": "2999-12-31"}})
    assert ok.status_code == 201 and ok.json()["custom"]["f_date"] == "2999-12-31"


def test_day_range_clamps_and_never_overflows() -> None:
    for day in (dt.date.min, dt.date(1, 1, 2), dt.date(9999, 12, 30), dt.date.max):
        start, end = dates.day_range(day)
        assert dates.FIRST_MOMENT <= start <= end <= dates.LAST_MOMENT
        start.astimezone(dt.UTC), end.astimezone(dt.UTC)  # the database conversion
    start, end = dates.day_range(dt.date(2026, 3, 1))
    assert end - start == dt.timedelta(days=1) and start.tzinfo is not None


@pytest.fixture
def clamp_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The conversions of before the fix: no clamping at either end."""
    from django.utils import timezone

    def day_start(day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

    def day_range(first: dt.date, last: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
        last = first if last is None else last
        return day_start(first), day_start(last + dt.timedelta(days=1))

    monkeypatch.setattr(dates, "day_start", day_start)
    monkeypatch.setattr(dates, "day_range", day_range)
    monkeypatch.setattr(dates, "clamp_day", lambda day: day)
    monkeypatch.setattr(dates, "clamp_moment", lambda value: value)
    yield


def test_control_without_the_clamp_the_probe_sees_the_500s(
    api: Any, web: Any, records: Any, clamp_off: None
) -> None:
    failures = probe(api, web, records)
    # Which end overflows depends on the engine: SQLite converts 0001-01-01 00:00 MSK to UTC
    # (year 0), PostgreSQL takes it with its offset; 9999-12-31 + 1 day overflows on both.
    assert any("/api/v1/deals" in f and "opened_" in f and "500" in f for f in failures)
    assert any("/deals/" in f and "opened_to" in f for f in failures)
    assert any("/tasks/calendar/" in f for f in failures)
    assert any("/api/v1/tasks" in f and ("deadline_" in f or "completed_on" in f) for f in failures)
