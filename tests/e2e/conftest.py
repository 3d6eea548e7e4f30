"""Browser tests: Playwright (Python) driving Debian's Chromium against the live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Playwright's sync API keeps an event loop in the test thread; the ORM calls the tests make
# are still synchronous, so Django's async-safety guard is lifted for this package only.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
CHROMIUM = "/usr/bin/chromium"
OWNER_PASSWORD = "e2e-owner-1234"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.base = live_server.url
    yield page
    context.close()


def login(page: Any, username: str, password: str) -> None:
    page.goto(page.base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    # Attached, not visible: on a phone the sidebar is a closed drawer until the menu opens it.
    page.wait_for_selector(".sidebar", state="attached")


@pytest.fixture
def owner(personas: Any) -> Any:
    """The owner persona, able to log in with OWNER_PASSWORD (a module may define its own)."""
    user = personas["owner"].user
    user.set_password(OWNER_PASSWORD)
    user.save(update_fields=["password"])
    return user
