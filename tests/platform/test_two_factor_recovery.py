"""Recovery codes of the second factor (issue 7, item 2; decision 0007): made at enrolment and
shown once, stored only as salted hashes, single use, accepted on the code step instead of the
authenticator's code, counted by the same lock as wrong TOTP codes, replaced (with a current
TOTP code) by "create new codes", every use and replacement audited. A user who lost the phone
signs in with one and switches the factor off with another.

Negative controls: `negative_controls.no_replay_check` lets a spent code in again (single use), a
lock limit out of reach lets the right code in after ten wrong ones (lockout), a planted clear
code is found by the database scan (hashing).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyotp
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from platform_support import figures

from negative_controls import no_replay_check
from voronka.identity import totp
from voronka.identity.models import RecoveryCode, TotpDevice, User
from voronka.kernel import clock
from voronka.kernel.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "Recovery-codes-password-2026"
CODE_RE = re.compile(rb"<code data-recovery-code>([a-z0-9-]+)</code>")


@pytest.fixture(autouse=True)
def required(settings: Any) -> None:
    settings.VORONKA_2FA_ADMINS = "required"


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_superuser(username="boss", password=PASSWORD)


def csrf(client: Client) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies[django_settings.CSRF_COOKIE_NAME].value}


def password_step(username: str = "boss") -> Client:
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    response = client.post(
        "/login/", {"username": username, "password": PASSWORD}, headers=csrf(client)
    )
    assert response.status_code == 302
    return client


def code_step(client: Client, code: str, at: dt.datetime | None = None) -> Any:
    with clock.frozen(at or timezone.now()):
        return client.post("/login/2fa/", {"code": code}, headers=csrf(client))


def signed_in(client: Client) -> bool:
    return client.get("/api/v1/pipelines").status_code == 200


def enrol_through_the_page(owner: User) -> tuple[Client, str, list[str], Any]:
    """Password login → set-up page → confirm; returns the session, the secret, the codes shown
    and the confirming response."""
    client = password_step(owner.username)
    client.get("/account/2fa/")
    secret = TotpDevice.objects.get(user=owner).secret
    with clock.frozen(timezone.now()):
        done = client.post(
            "/account/2fa/",
            {"action": "confirm", "code": pyotp.TOTP(secret).now()},
            headers=csrf(client),
        )
    codes = [c.decode() for c in CODE_RE.findall(done.content)]
    TotpDevice.objects.filter(user=owner).update(last_step=0)  # the set-up code is not "used"
    return client, secret, codes, done


def test_codes_are_shown_once_at_enrolment_and_counted_on_the_page(owner: User) -> None:
    client, _, codes, done = enrol_through_the_page(owner)
    assert done.status_code == 200 and b"data-recovery-codes" in done.content
    assert len(codes) == totp.RECOVERY_CODE_COUNT == len(set(codes))
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    assert b'download="voronka-recovery-codes.txt"' in done.content  # the download hint
    again = client.get("/account/2fa/")
    assert again.status_code == 200 and b"data-recovery-codes" not in again.content
    assert not any(c.encode() in again.content for c in codes)
    assert b'data-recovery-left="10"' in again.content
    entry = AuditEntry.objects.filter(action="2fa_enabled", object_id=owner.pk).get()
    assert entry.changes == {"recovery_codes": 10}


def database_text() -> str:
    """Everything the database holds, as text (SQLite dump; other engines: every table)."""
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    from django.apps import apps

    parts = []
    for model in apps.get_models():
        for row in model.objects.all().values_list():
            parts.append(repr(row))
    return "\n".join(parts)


def clear_codes_in_database(codes: list[str]) -> list[str]:
    text = database_text()
    return [c for c in codes if c in text or c.replace("-", "") in text]


def test_only_salted_hashes_are_stored(owner: User) -> None:
    client, _, codes, _ = enrol_through_the_page(owner)
    assert code_step(password_step(), codes[0]).status_code == 302  # a use, audited
    rows = list(RecoveryCode.objects.filter(user=owner))
    figures(
        "7e AUTHN-ABUSE recovery codes at rest",
        codes=len(codes),
        rows=len(rows),
        clear_text_in_database=len(clear_codes_in_database(codes)),
        distinct_salts=len({r.salt for r in rows}),
    )
    assert clear_codes_in_database(codes) == []
    assert len({r.salt for r in rows}) == len(rows) == 10
    assert all(re.fullmatch(r"[0-9a-f]{64}", r.digest) for r in rows)


def test_control_a_clear_code_in_the_database_is_found(owner: User) -> None:
    _, _, codes, _ = enrol_through_the_page(owner)
    RecoveryCode.objects.create(user=owner, salt="", digest=codes[3].replace("-", ""))
    assert clear_codes_in_database(codes) == [codes[3]]


def test_a_recovery_code_logs_in_once(owner: User) -> None:
    _, _, codes, _ = enrol_through_the_page(owner)
    first = password_step()
    response = code_step(first, codes[0].upper().replace("-", " "))  # typed loosely
    assert response.status_code == 302 and signed_in(first)
    page = first.get("/account/2fa/")
    assert b'data-recovery-left="9"' in page.content
    second = password_step()
    reuse = code_step(second, codes[0])
    figures(
        "7e AUTHN-ABUSE recovery code reuse",
        first_use=response.status_code,
        second_use=reuse.status_code,
        reuse_accepted=int(signed_in(second)),
    )
    assert reuse.status_code == 422 and not signed_in(second)
    assert "recovery" in reuse.content.decode() or "восстановления" in reuse.content.decode()
    used = AuditEntry.objects.filter(action="2fa_recovery_code_used", object_id=owner.pk)
    assert [e.changes for e in used] == [{"recovery_codes_left": 9}]


def test_control_with_the_replay_check_off_a_spent_code_works_again(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, codes, _ = enrol_through_the_page(owner)
    assert code_step(password_step(), codes[0]).status_code == 302
    no_replay_check(monkeypatch)
    again = password_step()
    assert code_step(again, codes[0]).status_code == 302 and signed_in(again)


def test_new_codes_need_a_current_code_and_replace_the_old(owner: User) -> None:
    client, secret, old, _ = enrol_through_the_page(owner)
    now = timezone.now()
    later = now + dt.timedelta(seconds=30)

    def regenerate(code: str, at: dt.datetime) -> Any:
        with clock.frozen(at):
            return client.post(
                "/account/2fa/", {"action": "regenerate", "code": code}, headers=csrf(client)
            )

    wrong = regenerate("000000" if pyotp.TOTP(secret).at(now) != "000000" else "111111", now)
    by_recovery = regenerate(old[1], now)  # a recovery code is not enough here
    assert wrong.status_code == 422 and by_recovery.status_code == 422
    assert RecoveryCode.objects.filter(user=owner, used_at__isnull=True).count() == 10
    done = regenerate(pyotp.TOTP(secret).at(later), later)
    new = [c.decode() for c in CODE_RE.findall(done.content)]
    assert done.status_code == 200 and len(new) == 10 and not set(new) & set(old)
    assert RecoveryCode.objects.filter(user=owner).count() == 10
    assert code_step(password_step(), old[2]).status_code == 422  # the old ones are gone
    fresh = password_step()
    assert code_step(fresh, new[0]).status_code == 302 and signed_in(fresh)
    assert AuditEntry.objects.filter(
        action="2fa_recovery_codes_regenerated", object_id=owner.pk
    ).exists()


def wrong_recovery_codes(n: int) -> list[str]:
    return [f"wrong-{i:05d}" for i in range(n)]  # the shape of a code, none of the codes


def ten_wrong_then_the_right_one(codes: list[str], secret: str) -> tuple[list[int], int, bool]:
    client = password_step()
    now = timezone.now()
    statuses = []
    for i, bad in enumerate(wrong_recovery_codes(10)):
        # Wrong recovery codes and wrong TOTP codes feed the same counter.
        attempt = bad if i % 2 else f"{(int(pyotp.TOTP(secret).at(now)) + 500_000) % 10**6:06d}"
        statuses.append(code_step(client, attempt, now).status_code)
    right = code_step(client, codes[0], now)
    return statuses, right.status_code, signed_in(client)


def test_wrong_recovery_codes_count_towards_the_same_lock(owner: User) -> None:
    _, secret, codes, _ = enrol_through_the_page(owner)
    statuses, right, inside = ten_wrong_then_the_right_one(codes, secret)
    figures(
        "7e AUTHN-ABUSE recovery code guessing",
        statuses=statuses,
        right_code_while_locked=right,
        signed_in=int(inside),
    )
    assert statuses == [422] * 10
    assert right == 429 and not inside
    assert RecoveryCode.objects.filter(user=owner, used_at__isnull=True).count() == 10
    later = timezone.now() + dt.timedelta(minutes=totp.LOCK_MINUTES, seconds=30)
    with clock.frozen(later):
        client = password_step()
    assert code_step(client, codes[0], later).status_code == 302


def test_control_without_the_lock_the_right_code_gets_in(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(totp, "MAX_FAILURES", 10**6)
    _, secret, codes, _ = enrol_through_the_page(owner)
    statuses, right, inside = ten_wrong_then_the_right_one(codes, secret)
    assert right == 302 and inside


def test_lost_phone_sign_in_and_switch_off_with_recovery_codes(owner: User) -> None:
    _, _, codes, _ = enrol_through_the_page(owner)
    client = password_step()
    assert code_step(client, codes[0]).status_code == 302
    off = client.post(
        "/account/2fa/", {"action": "disable", "code": codes[1]}, headers=csrf(client)
    )
    assert off.status_code == 302
    assert not TotpDevice.objects.filter(user=owner, confirmed_at__isnull=False).exists()
    assert not RecoveryCode.objects.filter(user=owner).exists()
    # The owner must enrol the new phone before working again.
    assert client.get("/deals/")["Location"] == "/account/2fa/"
    page = client.get("/account/2fa/")
    assert b"data-totp-required" in page.content
