"""The second factor in the browser: an owner who must use it (VORONKA_2FA_ADMINS=required) is
sent to the set-up page, scans (reads) the key, confirms with a code, and from then on the
password alone does not log in — the code step does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyotp
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_enrols_and_logs_in_with_a_code(page: Any, personas: Any, settings: Any) -> None:
    settings.VORONKA_2FA_ADMINS = "required"
    owner = personas["owner"].user
    owner.set_password("e2e-owner-5678")
    owner.save(update_fields=["password"])

    page.goto(page.base + "/login/")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", "e2e-owner-5678")
    page.click("button[type=submit]")
    # Nothing but the set-up page until the authenticator is on.
    page.wait_for_selector("[data-totp-required]")
    assert page.locator(".totp-qr svg").count() == 1
    page.goto(page.base + "/deals/")
    page.wait_for_selector("[data-totp-required]")
    page.screenshot(path="/tmp/e2e-totp-qr.png")
    secret = page.locator("[data-totp-secret]").inner_text().replace(" ", "")
    page.fill("form input[name=code]", pyotp.TOTP(secret).now())
    page.click("form button.btn--primary")
    page.wait_for_selector("[data-totp-on]")
    page.screenshot(path="/tmp/e2e-totp-setup.png")

    # Log out; the password alone now leads to the code step.
    page.click("header form[action$='/logout/'] button")
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", "e2e-owner-5678")
    page.click("button[type=submit]")
    page.wait_for_selector("#otp-form")
    page.fill("#otp-form input[name=code]", "000000")
    page.click("#otp-form button[type=submit]")
    page.wait_for_selector("[data-otp-error]")
    # The set-up code's step is used: take the next step's code (valid within the drift window).
    nxt = pyotp.TOTP(secret).at(dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=30))
    page.fill("#otp-form input[name=code]", nxt)
    page.click("#otp-form button[type=submit]")
    page.wait_for_selector(".sidebar")
    assert "/login" not in page.url
