"""Every list pages with the one cursor of kernel.pagination (issue 8; decision 0013).

The API lists (deals, companies, contacts, tasks) and their HTML pages take `cursor`: a
malformed, edited, legacy or foreign cursor is a 4xx naming `cursor`, never a 5xx; a walk with
limit 1 hands out every visible row once; signed cursors carrying edge values (dates beyond the
calendar, amounts beyond the column, ids beyond bigint) are a page or a 4xx.
The paginator's own property test and negative control: tests/domain/test_dom_pagination.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cursors import signed_cursor, tampered
from voronka.activities.models import Task
from voronka.contacts.models import Company, Contact
from voronka.deals.models import Deal
from voronka.deals.selectors import deal_order

pytestmark = pytest.mark.django_db

API_LISTS = {
    "/api/v1/deals": (Deal, deal_order("-id")),
    "/api/v1/companies": (Company, ("-id",)),
    "/api/v1/contacts": (Contact, ("-id",)),
    "/api/v1/tasks": (Task, ("deadline", "id")),
}
HTML_LISTS = {"/deals/": "/api/v1/deals", "/companies/": "/api/v1/companies"} | {
    "/contacts/": "/api/v1/contacts",
    "/tasks/list/": "/api/v1/tasks",
}
MALFORMED = [
    "!!!",
    "WyJ4IiwyXQ",  # the deals list's cursor before decision 0013
    "12345",  # the companies/contacts lists' cursor before: an id
    "1.e30.AAAAAAAAAAAAAAAA",
    "9.x.y",
    "1." + "A" * 3000 + ".x",
]


def _walk(client: Any, path: str, limit: int) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(500):
        body = client.get(path, {"limit": limit, **({"cursor": cursor} if cursor else {})}).json()
        seen += [row["id"] for row in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError(f"{path}: the walk did not end")


@pytest.mark.parametrize("path", API_LISTS)
def test_walking_with_limit_one_hands_out_every_row_once(records: Any, api: Any, path: str) -> None:
    client = api("owner")
    everything = [row["id"] for row in client.get(path, {"limit": 200}).json()["items"]]
    assert len(everything) > 3
    assert _walk(client, path, 1) == everything


def _cursor_of(client: Any, path: str) -> str:
    cursor = client.get(path, {"limit": 1}).json()["next_cursor"]
    assert cursor
    return str(cursor)


@pytest.mark.parametrize("path", API_LISTS)
def test_bad_cursors_are_422_naming_cursor(records: Any, api: Any, path: str) -> None:
    client = api("owner")
    good = _cursor_of(client, path)
    foreign = _cursor_of(client, "/api/v1/tasks" if path != "/api/v1/tasks" else "/api/v1/deals")
    for cursor in [*MALFORMED, tampered(good), foreign]:
        response = client.get(path, {"cursor": cursor})
        assert response.status_code == 422, (cursor, response.content)
        assert "cursor" in response.json()["errors"], cursor


def test_a_cursor_of_one_sort_is_refused_by_another(records: Any, api: Any) -> None:
    client = api("owner")
    cursor = client.get("/api/v1/deals", {"limit": 1, "sort": "-amount"}).json()["next_cursor"]
    assert client.get("/api/v1/deals", {"cursor": cursor, "sort": "-amount"}).status_code == 200
    refused = client.get("/api/v1/deals", {"cursor": cursor, "sort": "title"})
    assert refused.status_code == 422 and "cursor" in refused.json()["errors"]


@pytest.mark.parametrize("page", HTML_LISTS)
def test_html_lists_take_the_same_cursor_and_refuse_bad_ones(
    records: Any, api: Any, web: Any, page: str
) -> None:
    client = web("owner")
    good = _cursor_of(api("owner"), HTML_LISTS[page])
    assert client.get(page, {"cursor": good}).status_code == 200
    for cursor in [*MALFORMED, tampered(good)]:
        response = client.get(page, {"cursor": cursor})
        assert response.status_code == 422, (page, cursor)


EDGE_VALUES = {
    "/api/v1/tasks": [
        ["0001-01-01T00:00+05:00", 1],
        ["9999-12-31T23:59:59-05:00", 1],
        ["2026-02-30T10:00", 1],
        ["2026-01-01T00:00", 2**70],
        [1, 1],
    ],
    "/api/v1/deals": [[2**70], [-(2**70)], ["1"], [True]],
    "/api/v1/companies": [[2**63], [None]],
}


@pytest.mark.parametrize("path", EDGE_VALUES)
def test_signed_cursors_with_edge_values_are_a_page_or_a_4xx(
    records: Any, api: Any, path: str
) -> None:
    client = api("owner")
    client.raise_request_exception = False
    model, order = API_LISTS[path]
    for raw in EDGE_VALUES[path]:
        response = client.get(path, {"cursor": signed_cursor(model, order, raw)})
        assert response.status_code in (200, 422), (raw, response.status_code)
        if response.status_code == 422:
            assert "cursor" in response.json()["errors"]


@pytest.mark.parametrize("raw", [["1e999", 1], ["-1e20", 1], ["NaN", 1], ["0.001", 1]])
def test_deal_amount_cursors_beyond_the_column_are_refused(
    records: Any, api: Any, raw: list[Any]
) -> None:
    client = api("owner")
    client.raise_request_exception = False
    cursor = signed_cursor(Deal, deal_order("-amount"), raw)
    response = client.get("/api/v1/deals", {"sort": "-amount", "cursor": cursor})
    assert response.status_code in (200, 422), (raw, response.status_code)
    if response.status_code == 422:
        assert "cursor" in response.json()["errors"]


def test_the_openapi_document_says_the_cursor_is_opaque() -> None:
    from voronka.config.api import api as ninja_api

    schemas = ninja_api.get_openapi_schema()["components"]["schemas"]
    for name in ("DealListOut", "CompanyListOut", "ContactListOut", "TaskListOut"):
        prop = schemas[name]["properties"]["next_cursor"]
        assert "Opaque" in prop.get("description", ""), name
        assert {"type": "string"} in prop.get("anyOf", [prop]), name
