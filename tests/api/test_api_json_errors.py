"""Every /api/ answer is JSON, with DEBUG on and off (issue 7, item 4): a body over
DATA_UPLOAD_MAX_MEMORY_SIZE was a 500 with a traceback in development and an HTML 400 in
production. Now: 413 naming the limit (also for too many fields or query parameters), 404 for an
unknown path, 405 for a wrong method (Allow kept), 400 for malformed JSON, 500 without a
traceback. HTML pages keep their own (HTML) error pages.

Negative control: without config.api_errors.ApiErrorMiddleware the same probe sees the HTML and
text answers again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

LIMIT = 4096  # DATA_UPLOAD_MAX_MEMORY_SIZE for these tests (the product's is 10 MiB)
FIELDS = 50  # DATA_UPLOAD_MAX_NUMBER_FIELDS for these tests


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("secret detail of a bug")


# name, request(client) → response, expected status, check of the JSON body
Case = tuple[str, Callable[[Any], Any], int, Callable[[dict[str, Any]], bool]]
CASES: list[Case] = [
    (
        "body over the limit",
        lambda c: c.post("/api/v1/deals", b"{" + b" " * (LIMIT + 10) + b"}", "application/json"),
        413,
        lambda b: b["code"] == "too_large" and b["limit"] == LIMIT and str(LIMIT) in b["detail"],
    ),
    (
        "form body over the limit",
        lambda c: c.post(
            "/api/v1/deals", "a=" + "x" * (LIMIT + 10), "application/x-www-form-urlencoded"
        ),
        413,
        lambda b: b["limit"] == LIMIT,
    ),
    (
        "too many form fields",
        lambda c: c.post(
            "/api/v1/deals",
            "&".join(f"f{i}=1" for i in range(FIELDS + 5)),
            "application/x-www-form-urlencoded",
        ),
        413,
        lambda b: b["limit"] == FIELDS and b["limit_name"] == "DATA_UPLOAD_MAX_NUMBER_FIELDS",
    ),
    (
        "too many query parameters",
        lambda c: c.get("/api/v1/deals?" + "&".join(f"q{i}=1" for i in range(FIELDS + 5))),
        413,
        lambda b: b["limit"] == FIELDS,
    ),
    (
        "unknown path",
        lambda c: c.get("/api/v1/no-such-thing"),
        404,
        lambda b: b["code"] == "not_found",
    ),
    ("unknown path outside v1", lambda c: c.get("/api/v2/deals"), 404, lambda b: True),
    (
        "wrong method",
        lambda c: c.delete("/api/v1/deals"),
        405,
        lambda b: b["code"] == "method_not_allowed",
    ),
    ("TRACE", lambda c: c.generic("TRACE", "/api/v1/deals"), 405, lambda b: True),
    (
        "malformed JSON",
        lambda c: c.post("/api/v1/deals", "{bad", "application/json"),
        400,
        lambda b: "detail" in b,
    ),
    (
        "bug in a view",
        lambda c: c.get("/api/v1/pipelines"),
        500,
        lambda b: b["code"] == "server_error" and "secret" not in json.dumps(b),
    ),
]


@pytest.fixture
def limits(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = FIELDS
    monkeypatch.setattr("voronka.deals.selectors.pipelines_list", _boom)
    return settings


def probe(client: Any) -> list[str]:
    client.raise_request_exception = False
    failures = []
    for name, send, status, check in CASES:
        try:
            resp = send(client)
        except Exception as exc:  # Django's own DEBUG page can fail on the request it reports
            failures.append(f"{name}: the handler raised {type(exc).__name__}")
            continue
        content_type = resp.get("Content-Type", "")
        if resp.status_code != status or not content_type.startswith("application/json"):
            failures.append(f"{name}: {resp.status_code} {content_type}")
            continue
        body = resp.json()
        text = resp.content.decode()
        if not check(body) or "Traceback" in text or "<html" in text.lower():
            failures.append(f"{name}: {text[:200]}")
        if status == 405 and name == "wrong method" and "GET" not in resp.get("Allow", ""):
            failures.append(f"{name}: Allow header lost")
    return failures


@pytest.mark.parametrize("debug", [False, True], ids=["production", "development"])
def test_every_api_error_is_json(api: Any, limits: Any, debug: bool) -> None:
    limits.DEBUG = debug
    assert probe(api("owner")) == []


@pytest.mark.parametrize("debug", [False, True], ids=["production", "development"])
def test_anonymous_errors_are_json_too(api: Any, limits: Any, debug: bool) -> None:
    limits.DEBUG = debug
    client = api("anonymous")
    client.raise_request_exception = False
    for resp, status in (
        (client.get("/api/v1/nothing-here"), 404),
        (client.post("/api/v1/deals", "{" + " " * (LIMIT + 10) + "}", "application/json"), 413),
        (client.get("/api/v1/deals"), 401),
    ):
        assert resp.status_code == status and resp["Content-Type"].startswith("application/json")


def test_html_pages_keep_html_error_pages(web: Any, limits: Any) -> None:
    limits.DEBUG = False
    resp = web("owner").get("/no-such-page/")
    assert resp.status_code == 404 and resp["Content-Type"].startswith("text/html")


def test_a_normal_body_under_the_limit_still_works(api: Any, records: Any, limits: Any) -> None:
    resp = api("a1").post_json(
        "/api/v1/deals", {"title": "Маленькая", "company": records["a1"].company.pk}
    )
    assert resp.status_code == 201


@pytest.mark.parametrize("debug", [False, True], ids=["production", "development"])
def test_control_without_the_middleware_errors_are_not_json(
    api: Any, limits: Any, debug: bool
) -> None:
    limits.DEBUG = debug
    limits.MIDDLEWARE = [
        m for m in limits.MIDDLEWARE if m != "voronka.config.api_errors.ApiErrorMiddleware"
    ]
    failures = probe(api("owner"))
    assert any(f.startswith("body over the limit") for f in failures)
    assert any(f.startswith("unknown path") for f in failures)
    assert any(f.startswith("wrong method") for f in failures)
    if debug:
        assert any(f.startswith("bug in a view") for f in failures)
