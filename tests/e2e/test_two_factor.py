"""The second factor in the browser: an owner who must use it (VORONKA_2FA_ADMINS=required) is
sent to the set-up page, scans (reads) the key, confirms with a code, is shown the recovery
codes once (1440 and 390 px), and from then on the password alone does not log in — the code
step does, or a recovery code (single use) when the phone is not at hand."""

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
    # The recovery codes: shown in this answer only, with copy and download.
    codes = page.locator("[data-recovery-code]").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert page.locator("a[download='voronka-recovery-codes.txt']").count() == 1
    assert page.locator("button[data-copy-text]").count() == 1
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path="/tmp/e2e-totp-recovery-codes-390.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path="/tmp/e2e-totp-recovery-codes.png", full_page=True)
    page.goto(page.base + "/account/2fa/")
    page.wait_for_selector("[data-recovery-panel]")
    assert page.locator("[data-recovery-code]").count() == 0  # never shown again
    assert page.locator("[data-recovery-left]").get_attribute("data-recovery-left") == "10"

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

    # The phone is not at hand: a recovery code instead of the app's code.
    def password_step() -> None:
        page.click("header form[action$='/logout/'] button")
        page.wait_for_selector("input[name=username]")
        page.fill("input[name=username]", owner.username)
        page.fill("input[name=password]", "e2e-owner-5678")
        page.click("button[type=submit]")
        page.wait_for_selector("#otp-form")

    password_step()
    page.click(".recovery-login summary")
    page.fill("#recovery-form input[name=code]", codes[0])
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path="/tmp/e2e-totp-recovery-login-390.png")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.click("#recovery-form button[type=submit]")
    page.wait_for_selector(".sidebar")
    assert "/login" not in page.url
    assert "восстановления" in page.locator(".messages").inner_text()
    page.goto(page.base + "/account/2fa/")
    assert page.locator("[data-recovery-left]").get_attribute("data-recovery-left") == "9"

    # The same code twice: refused.
    password_step()
    page.click(".recovery-login summary")
    page.fill("#recovery-form input[name=code]", codes[0])
    page.click("#recovery-form button[type=submit]")
    page.wait_for_selector("[data-otp-error]")
    assert page.locator("#recovery-form").is_visible()  # the form stays open with the error
    assert "/login/2fa/" in page.url
