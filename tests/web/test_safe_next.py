"""Hostile `next` values over every view that takes `next` (issue 8: one redirect guard).

Two hand-written guards existed ("starts with / but not //, no backslash") beside Django's
`url_has_allowed_host_and_scheme` in the language switch. They differed: the hand-written one
accepted `/\t/evil.com` — browsers drop tabs and newlines from URLs, so that is `//evil.com`,
another site. Every view now goes through voronka.web.http (Django's guard).

Negative control: the old hand-written guard patched back in place of the shared one — the
same table must see redirects leave the site.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from html import unescape
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.utils.http import url_has_allowed_host_and_scheme

from factories import make_task
from voronka.kernel import clock
from voronka.web import http

pytestmark = pytest.mark.django_db

HOSTILE = [
    "//evil.com",
    "///evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "\t//evil.com",
    " //evil.com",
    "https:evil.com",
    "https://evil.com/",
    "http:\\\\evil.com",
    "https://testserver@evil.com/",
    "//evil.com/%2F..",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]


def leaves_site(target: str) -> bool:
    """Where a browser would go: tabs/newlines dropped, backslashes read as slashes."""
    seen = re.sub(r"[\t\n\r]", "", target).strip().replace("\\", "/")
    parts = urlsplit(seen)
    return (
        "evil" in target.lower()
        or parts.scheme not in ("", "http", "https")
        or parts.netloc not in ("", "testserver")
    )


def _target(response: Any) -> str:
    if "HX-Redirect" in response:
        return str(response["HX-Redirect"])
    assert response.status_code in (301, 302), response.status_code
    return str(response["Location"])


def _tomorrow() -> str:
    return (clock.now() + dt.timedelta(days=2)).date().isoformat()


# Each case: (client, records, pipeline, next) → where the browser is sent.
def set_language(c: Any, r: Any, p: Any, nxt: str) -> str:
    return _target(c.post("/language/", {"language": "ru", "next": nxt}))


def deal_move(c: Any, r: Any, p: Any, nxt: str) -> str:
    deal = r["a1"].deal
    deal.refresh_from_db()
    stage = p.stages["talks"] if deal.stage_id != p.stages["talks"].pk else p.stages["new"]
    data = {"stage": stage.pk, "version": deal.version, "next": nxt}
    return _target(c.post(f"/deals/{deal.pk}/move/", data))


def deal_move_refused(c: Any, r: Any, p: Any, nxt: str) -> str:
    deal = r["a1"].deal
    data = {"stage": p.stages["talks"].pk, "version": 10_000, "next": nxt}  # stale: 409
    return _target(c.post(f"/deals/{deal.pk}/move/", data))


def _task_post(r: Any, nxt: str) -> dict[str, Any]:
    return {
        "type": "call",
        "responsible": r["a1"].user.pk,
        "deadline_date": _tomorrow(),
        "deadline_time": "10:00",
        "comment": "Позвонить",
        "company": r["a1"].company.pk,
        "next": nxt,
    }


def task_create(c: Any, r: Any, p: Any, nxt: str) -> str:
    return _target(c.post("/tasks/new/", _task_post(r, nxt)))


def task_create_htmx(c: Any, r: Any, p: Any, nxt: str) -> str:
    return _target(c.post("/tasks/new/", _task_post(r, nxt), HTTP_HX_REQUEST="true"))


def task_form_links(c: Any, r: Any, p: Any, nxt: str) -> str:
    """The form carries `next` on (hidden input) and offers it as Cancel."""
    body = c.get("/tasks/new/", {"company": r["a1"].company.pk, "next": nxt}).content.decode()
    # The header's language form carries the page's own path (/tasks/new/?…) as its next.
    hidden = [
        v
        for v in re.findall(r'name="next" value="([^"]*)"', body)
        if not v.startswith("/tasks/new/")
    ]
    cancel = re.search(r'href="([^"]*)" id="task-cancel"', body)
    assert len(hidden) == 1 and cancel
    return unescape(hidden[0]) + " " + unescape(cancel.group(1))


def task_complete(c: Any, r: Any, p: Any, nxt: str) -> str:
    task = make_task(responsible=r["a1"].user, company=r["a1"].company)
    data = {"result": "Созвонились", "version": task.version, "next": nxt}
    return _target(c.post(f"/tasks/{task.pk}/complete/", data))


def task_reschedule(c: Any, r: Any, p: Any, nxt: str) -> str:
    task = make_task(responsible=r["a1"].user, company=r["a1"].company)
    data = {
        "deadline_date": _tomorrow(),
        "deadline_time": "11:00",
        "reason": "Клиент попросил",
        "version": task.version,
        "next": nxt,
    }
    return _target(c.post(f"/tasks/{task.pk}/reschedule/", data))


def task_reassign(c: Any, r: Any, p: Any, nxt: str) -> str:
    task = make_task(responsible=r["a1"].user, company=r["a1"].company)
    data = {"responsible": r["a1"].user.pk, "version": task.version, "next": nxt}
    return _target(c.post(f"/tasks/{task.pk}/reassign/", data))


def notifications_read(c: Any, r: Any, p: Any, nxt: str) -> str:
    return _target(c.post("/notifications/read/", {"next": nxt}))


OURS: list[Callable[..., str]] = [
    set_language,
    deal_move,
    deal_move_refused,
    task_create,
    task_create_htmx,
    task_form_links,
    task_complete,
    task_reschedule,
    task_reassign,
    notifications_read,
]


@pytest.mark.parametrize("case", OURS, ids=lambda f: f.__name__)
def test_no_next_leaves_the_site(records: Any, pipeline: Any, web: Any, case: Any) -> None:
    client = web("a1")
    escaped = {nxt: case(client, records, pipeline, nxt) for nxt in HOSTILE}
    assert [f"{n!r} → {t!r}" for n, t in escaped.items() if leaves_site(t)] == []
    # A local next is still followed.
    assert "/tasks/list/" in case(client, records, pipeline, "/tasks/list/")


def test_login_next_is_guarded_too(personas: Any) -> None:
    """The login form's `next` is Django's LoginView (the same guard); a hostile one lands home."""
    from django.test import Client

    user = personas["a1"].user
    user.set_password("pass-for-next-test")
    user.save(update_fields=["password"])
    for nxt in HOSTILE:
        client = Client()
        data = {"username": user.username, "password": "pass-for-next-test", "next": nxt}
        response = client.post("/login/", data)
        assert not leaves_site(_target(response)), nxt


def _prefix_guard(url: str | None, request: Any) -> bool:
    """The hand-written guard this module replaced (deals/views.py, activities/views.py)."""
    return bool(url) and url.startswith("/") and not url.startswith("//") and "\\" not in url


def test_the_two_old_guards_disagreed() -> None:
    """Found, not assumed: the values one old guard accepted and the other refused."""
    django = {n for n in HOSTILE if url_has_allowed_host_and_scheme(n, {"testserver"})}
    prefix = {n for n in HOSTILE if _prefix_guard(n, None)}
    assert django == set()
    assert "/\t/evil.com" in prefix and "/\n/evil.com" in prefix


@pytest.mark.parametrize("case", OURS, ids=lambda f: f.__name__)
def test_negative_control_the_old_guard_lets_next_leave(
    records: Any, pipeline: Any, web: Any, case: Any
) -> None:
    client = web("a1")
    with mock.patch.object(http, "is_safe_url", _prefix_guard):
        target = case(client, records, pipeline, "/\t/evil.com")
    assert leaves_site(target)
