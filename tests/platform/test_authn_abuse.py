"""RELIABILITY row 7 — AUTHN-ABUSE (tier A, ≤ 3 min): the real login view, the real hasher (argon2),
django-axes as configured in settings (docs/decisions/0005-login-throttling.md).

(a) 50 bad passwords for one user while rotating X-Forwarded-For: lockout at the configured N
    per username+IP, X-Forwarded-For ignored (no trusted proxy);
(b) one password sprayed over 100 users from one IP: stopped by the per-IP limit;
(c) enumeration: 6 logins each for an existing and an unknown user — same status, same body,
    the same hash work (one argon2 run at the same cost); the median times are printed as a
    measurement, not asserted;
(d) the session id rotates on login, logout kills the session server-side, the session lifetime
    (SESSION_COOKIE_AGE) is enforced — checked on a fake clock;
(e) TOTP for owner/admin: a password alone does not log an enrolled user in, a replayed code
    and a code of an expired step are refused, 10 wrong codes lock the factor for 15 minutes,
    owner/admin sessions must enrol when VORONKA_2FA_ADMINS=required;
(f) argon2 after login (old hashes upgraded), 64+ character passwords accepted, common
    passwords rejected.
Every guard has its negative control: the same measurement with the guard switched off must
report the failure.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any
from unittest import mock

import pyotp
import pytest
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import global_settings, settings
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password
from django.contrib.auth.password_validation import CommonPasswordValidator, validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from platform_support import figures

from negative_controls import no_replay_check
from voronka.config import settings as product
from voronka.identity import totp
from voronka.identity.models import Role, TotpDevice, User
from voronka.kernel import clock
from voronka.kernel.actor import Actor

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"
LOCKED = int(getattr(product, "AXES_HTTP_RESPONSE_CODE", 429) or 429)


@pytest.fixture(autouse=True)
def product_auth_settings(settings: pytest.FixtureRequest) -> Iterator[None]:
    """The product's hashers, validators and axes settings, whatever a faster test profile set."""
    for name in (
        "PASSWORD_HASHERS",
        "AUTH_PASSWORD_VALIDATORS",
        "AUTHENTICATION_BACKENDS",
        "AXES_FAILURE_LIMIT",
        "VORONKA_LOGIN_IP_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
        "AXES_LOCKOUT_PARAMETERS",
        "AXES_HANDLER",
        "AXES_RESET_ON_SUCCESS",
        "AXES_CLIENT_IP_CALLABLE",
        "VORONKA_TRUSTED_PROXY_COUNT",
        "SESSION_COOKIE_AGE",
        "SESSION_ENGINE",
    ):
        setattr(settings, name, getattr(product, name, getattr(global_settings, name, None)))
    settings.AXES_ENABLED = True
    AxesProxyHandler.implementation = None  # axes caches its handler
    yield
    AxesProxyHandler.implementation = None


def login(
    client: Client, username: str, password: str, *, ip: str = "127.0.0.1", xff: str | None = None
):
    extra = {"REMOTE_ADDR": ip}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return client.post(reverse("web:login"), {"username": username, "password": password}, **extra)


def make_user(username: str, password: str = PASSWORD) -> User:
    return User.objects.create_user(username=username, password=password)


def first_lockout(statuses: list[int]) -> int | None:
    """1-based index of the first locked-out answer (that attempt's password was still checked)."""
    for i, status in enumerate(statuses, start=1):
        if status == LOCKED:
            return i
    return None


# --- (a) one user, rotating X-Forwarded-For -------------------------------------------------------


def hammer_one_user(client: Client, attempts: int = 50) -> list[int]:
    make_user("victim")
    return [
        login(
            client, "victim", f"wrong-password-{i}", xff=f"127.{i % 250}.{i // 250}.{i % 200 + 1}"
        ).status_code
        for i in range(attempts)
    ]


def test_a_lockout_at_limit_and_xff_ignored(client: Client) -> None:
    statuses = hammer_one_user(client)
    locked_at = first_lockout(statuses)
    after = login(client, "victim", PASSWORD, xff="127.9.9.9").status_code
    figures(
        "7a AUTHN-ABUSE bad passwords + rotating XFF",
        attempts=len(statuses),
        guesses_checked_before_lockout=locked_at,
        configured_limit=settings.AXES_FAILURE_LIMIT,
        xff_bypass=locked_at is None,
        locked_answers=statuses.count(LOCKED),
        correct_password_after_lockout=after,
    )
    assert locked_at == settings.AXES_FAILURE_LIMIT, statuses
    assert all(s == LOCKED for s in statuses[locked_at - 1 :]), statuses
    assert all(s == 200 for s in statuses[: locked_at - 1]), statuses
    assert after == LOCKED, "the right password must not open a locked account before the cool-off"


def test_a_control_without_axes_no_lockout_is_detected(client: Client, settings) -> None:
    settings.AXES_ENABLED = False
    statuses = hammer_one_user(client, settings.AXES_FAILURE_LIMIT + 5)
    assert first_lockout(statuses) is None  # the test above would have failed


def test_a_control_trusting_xff_is_a_bypass(client: Client, settings) -> None:
    settings.AXES_CLIENT_IP_CALLABLE = lambda request: request.META.get("HTTP_X_FORWARDED_FOR")
    statuses = hammer_one_user(client, settings.AXES_FAILURE_LIMIT + 5)
    assert first_lockout(statuses) is None  # rotating XFF walked past the per-IP counting


def test_a_xff_used_only_behind_the_configured_proxy(settings) -> None:
    from django.test import RequestFactory

    from voronka.config.security import client_ip

    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 127.0.0.7"
    )
    settings.VORONKA_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "127.0.0.1"
    settings.VORONKA_TRUSTED_PROXY_COUNT = (
        1  # nginx appends the address it saw; the left is the client's word
    )
    assert client_ip(request) == "127.0.0.7"


# --- (b) password spraying ------------------------------------------------------------------------


def spray(client: Client, users: int = 100) -> list[int]:
    shared = make_password("their own password 1")  # one argon2 run for all of them
    User.objects.bulk_create(
        [User(username=f"sprayed{i:03d}", password=shared) for i in range(users)]
    )
    return [login(client, f"sprayed{i:03d}", "Spring2026!").status_code for i in range(users)]


def test_b_spraying_one_password_is_stopped_per_ip(client: Client) -> None:
    statuses = spray(client)
    locked_at = first_lockout(statuses)
    figures(
        "7b AUTHN-ABUSE spraying 1 password x 100 users, 1 IP",
        attempts=len(statuses),
        guesses_checked_before_lockout=locked_at,
        per_ip_limit=settings.VORONKA_LOGIN_IP_FAILURE_LIMIT,
        per_user_ip_limit=settings.AXES_FAILURE_LIMIT,
        refused=statuses.count(LOCKED),
    )
    assert locked_at == settings.VORONKA_LOGIN_IP_FAILURE_LIMIT, statuses
    assert all(s == LOCKED for s in statuses[locked_at - 1 :])


def test_b_control_without_the_ip_tier_spraying_goes_through(client: Client, settings) -> None:
    settings.AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
    settings.VORONKA_LOGIN_IP_FAILURE_LIMIT = 5  # small numbers keep the control fast
    statuses = spray(client, 10)
    assert first_lockout(statuses) is None


def test_b_success_resets_only_that_users_failures(client: Client, settings) -> None:
    settings.VORONKA_LOGIN_IP_FAILURE_LIMIT = 6  # small numbers keep it fast; the rule is the same
    make_user("insider")
    User.objects.bulk_create(
        [User(username=f"target{i:02d}", password=make_password("x" * 12)) for i in range(5)]
    )
    statuses = [login(client, f"target{i:02d}", "Spring2026!").status_code for i in range(4)]
    assert login(client, "insider", PASSWORD).status_code == 302  # a valid account on the same IP
    client.logout()
    statuses += [login(client, f"target{i:02d}", "Autumn2026!").status_code for i in range(4)]
    assert first_lockout(statuses) == settings.VORONKA_LOGIN_IP_FAILURE_LIMIT, statuses


# --- (c) user enumeration ---------------------------------------------------------------------------

_NOISE = re.compile(r'(nonce|value|content)="[A-Za-z0-9+/=_-]{16,}"')


def normalized(body: bytes, username: str) -> str:
    return _NOISE.sub(r'\1="…"', body.decode().replace(username, "<username>"))


@contextmanager
def hash_work() -> Iterator[list[tuple[str, dict[str, int]]]]:
    """Every password-hash computation the login does: ("encode" | "verify", argon2 cost
    parameters). Both cost one argon2 run with those parameters, so the same list for an
    existing and an unknown user means the same work (a check that does not depend on timing)."""
    work: list[tuple[str, dict[str, int]]] = []
    encode, verify = Argon2PasswordHasher.encode, Argon2PasswordHasher.verify

    def cost(hasher: Argon2PasswordHasher, encoded: str | None = None) -> dict[str, int]:
        if encoded is None:
            keys = ("time_cost", "memory_cost", "parallelism")
            return {k: getattr(hasher, k) for k in keys}
        params = hasher.decode(encoded)
        return {k: params[k] for k in ("time_cost", "memory_cost", "parallelism")}

    def counted_encode(self: Argon2PasswordHasher, password: str, salt: str) -> str:
        work.append(("encode", cost(self)))
        return encode(self, password, salt)

    def counted_verify(self: Argon2PasswordHasher, password: str, encoded: str) -> bool:
        work.append(("verify", cost(self, encoded)))
        return verify(self, password, encoded)

    with (
        mock.patch.object(Argon2PasswordHasher, "encode", counted_encode),
        mock.patch.object(Argon2PasswordHasher, "verify", counted_verify),
    ):
        yield work


def enumeration_round(client: Client, rounds: int) -> dict[str, Any]:
    """`rounds` wrong logins each for an existing and an unknown user: statuses, bodies, the
    hash work of each login, and (a measurement, not asserted) the median times."""
    make_user("existing01")  # same length as the unknown name below
    names = ("existing01", "missing001")
    times: dict[str, list[float]] = {n: [] for n in names}
    statuses: dict[str, set[int]] = {n: set() for n in names}
    bodies: dict[str, set[str]] = {n: set() for n in names}
    work: dict[str, set[tuple[tuple[tuple[str, int], ...], ...]]] = {n: set() for n in names}
    for i in range(rounds):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            AccessAttempt.objects.all().delete()  # measure the password path, not the lockout
            with hash_work() as done:
                started = time.perf_counter()
                response = login(client, name, f"not-the-password-{i}")
                times[name].append(time.perf_counter() - started)
            statuses[name].add(response.status_code)
            bodies[name].add(normalized(response.content, name))
            work[name].add(tuple(tuple(sorted(cost.items())) for _, cost in done))
    med_existing = statistics.median(times["existing01"])
    med_unknown = statistics.median(times["missing001"])
    return {
        "rounds": rounds,
        "statuses": {k: sorted(v) for k, v in statuses.items()},
        "body_variants": {k: len(v) for k, v in bodies.items()},
        "bodies_equal": bodies["existing01"] == bodies["missing001"],
        "hash_work": {k: sorted(v) for k, v in work.items()},
        "median_ms_existing": round(med_existing * 1000, 1),
        "median_ms_unknown": round(med_unknown * 1000, 1),
        "time_ratio": round(med_existing / med_unknown, 3),
    }


def test_c_no_user_enumeration(client: Client) -> None:
    """Same status, same page and the same hash work (one argon2 run at the product's cost) for
    an existing and an unknown user. The times are printed as a measurement, not asserted:
    tests do not assert on time."""
    result = enumeration_round(client, 6)
    figures("7c AUTHN-ABUSE enumeration (6 logins each)", **result)
    assert result["statuses"] == {"existing01": [200], "missing001": [200]}
    assert result["bodies_equal"], "the answer differs for an existing and an unknown user"
    work = result["hash_work"]
    assert work["existing01"] == work["missing001"], work
    assert len(work["existing01"]) == 1 and len(work["existing01"][0]) == 1, work  # one run


def test_c_control_skipping_the_hash_for_unknown_users_is_detected(client: Client) -> None:
    # A backend that does not hash for unknown users does less work for them (and answers them
    # faster): the same check must see it.
    with mock.patch.object(User, "set_password", lambda self, raw: None):
        result = enumeration_round(client, 3)
    assert result["hash_work"]["existing01"] != result["hash_work"]["missing001"], result
    assert result["hash_work"]["missing001"] == [()], result


# --- (d) sessions -------------------------------------------------------------------------------------


def session_key(client: Client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie and cookie.value else None


def api_status(client: Client) -> int:
    return client.get("/api/v1/pipelines").status_code


def test_d_session_rotates_on_login_and_dies_on_logout(client: Client) -> None:
    make_user("sessions")
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["planted"] = "by an attacker"  # session fixation: a key known before login
    store.create()
    planted = store.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = planted

    assert login(client, "sessions", PASSWORD).status_code == 302
    after_login = session_key(client)
    assert after_login and after_login != planted
    assert not Session.objects.filter(session_key=planted).exists()
    assert api_status(client) == 200

    assert client.post(reverse("web:logout")).status_code == 302
    assert not Session.objects.filter(session_key=after_login).exists()
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = after_login
    assert api_status(replay) == 401
    figures(
        "7d AUTHN-ABUSE sessions",
        rotated_on_login=True,
        old_key_deleted=True,
        replay_after_logout=401,
    )


def test_d_session_lifetime_on_a_fake_clock(client: Client) -> None:
    make_user("clock")
    assert login(client, "clock", PASSWORD).status_code == 302
    age = settings.SESSION_COOKIE_AGE
    real_now = timezone.now()
    answers = {}
    for label, offset in (("just before", age - 60), ("just after", age + 1)):
        with mock.patch(
            "django.utils.timezone.now", return_value=real_now + dt.timedelta(seconds=offset)
        ):
            answers[label] = api_status(client)
    figures("7d AUTHN-ABUSE session lifetime", session_cookie_age_s=age, answers=answers)
    assert answers == {"just before": 200, "just after": 401}


def test_d_control_expired_sessions_would_be_noticed(client: Client) -> None:
    make_user("expired")
    assert login(client, "expired", PASSWORD).status_code == 302
    Session.objects.update(expire_date=timezone.now() + dt.timedelta(days=3650))  # "never expires"
    with mock.patch(
        "django.utils.timezone.now",
        return_value=timezone.now() + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE + 1),
    ):
        assert api_status(client) == 200  # the fake-clock check above would have failed


# --- (e) TOTP -----------------------------------------------------------------------------------------


def enrol(user: User) -> str:
    """An active authenticator for `user`; returns its secret."""
    device = totp.totp_begin(user=user)
    totp.totp_confirm(user=user, code=pyotp.TOTP(device.secret).now(), actor=Actor.system())
    TotpDevice.objects.filter(pk=device.pk).update(last_step=0)  # the set-up code is not "used"
    return device.secret


def otp(client: Client, code: str, *, at: dt.datetime | None = None):
    with clock.frozen(at or timezone.now()):
        return client.post(reverse("web:login-otp"), {"code": code})


def logged_in(client: Client) -> bool:
    return client.get("/deals/").status_code == 200


def code_at(secret: str, moment: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def test_e_password_alone_does_not_log_in_an_enrolled_user(client: Client) -> None:
    user = make_user("boss")
    secret = enrol(user)
    response = login(client, "boss", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("web:login-otp")
    assert not logged_in(client)
    assert "_auth_user_id" not in client.session
    now = timezone.now()
    assert otp(client, code_at(secret, now), at=now).status_code == 302
    assert logged_in(client)


def test_e_replayed_code_and_expired_step_are_rejected(client: Client) -> None:
    user = make_user("boss")
    secret = enrol(user)
    now = timezone.now()
    code = code_at(secret, now)
    login(client, "boss", PASSWORD)
    assert otp(client, code, at=now).status_code == 302
    client.post(reverse("web:logout"))
    # The same code again, within its step: a replay.
    other = Client()
    login(other, "boss", PASSWORD)
    replay = otp(other, code, at=now + dt.timedelta(seconds=5))
    # A code of two steps ago (outside the ±1 step drift window): expired.
    third = Client()
    login(third, "boss", PASSWORD)
    stale = otp(
        third, code_at(secret, now - dt.timedelta(seconds=65)), at=now + dt.timedelta(seconds=10)
    )
    figures(
        "7e AUTHN-ABUSE TOTP replay and expiry",
        replay_status=replay.status_code,
        expired_status=stale.status_code,
        otp_replays_accepted=int(logged_in(other)),
        expired_accepted=int(logged_in(third)),
    )
    assert replay.status_code == 422 and not logged_in(other)
    assert stale.status_code == 422 and not logged_in(third)


def test_e_ten_bad_codes_are_throttled(client: Client) -> None:
    user = make_user("boss")
    secret = enrol(user)
    now = timezone.now()
    login(client, "boss", PASSWORD)
    good = code_at(secret, now)
    window = {code_at(secret, now + dt.timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    bad = [c for c in (f"{(int(good) + k) % 10**6:06d}" for k in range(1, 14)) if c not in window]
    bad = bad[:10]
    statuses = [otp(client, code, at=now).status_code for code in bad]
    locked = otp(client, good, at=now)  # the right code, but the device is locked
    locked_out = "_auth_user_id" not in client.session
    later = now + dt.timedelta(minutes=totp.LOCK_MINUTES, seconds=30)
    with clock.frozen(later):  # the pending login has expired by then: log in again
        login(client, "boss", PASSWORD)
    after = otp(client, code_at(secret, later), at=later)
    figures(
        "7e AUTHN-ABUSE TOTP guessing",
        bad_codes=len(bad),
        statuses=statuses,
        right_code_while_locked=locked.status_code,
        right_code_after_lock=after.status_code,
    )
    assert statuses[:9] == [422] * 9 and statuses[9] == 422
    assert locked.status_code == 429 and locked_out
    assert after.status_code == 302 and logged_in(client)


def test_e_control_replay_guard_off_accepts_a_replay(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: with the replay check switched off the replay test's measurement
    reports the replay."""
    no_replay_check(monkeypatch)
    user = make_user("boss")
    secret = enrol(user)
    now = timezone.now()
    code = code_at(secret, now)
    login(client, "boss", PASSWORD)
    otp(client, code, at=now)
    other = Client()
    login(other, "boss", PASSWORD)
    assert otp(other, code, at=now + dt.timedelta(seconds=5)).status_code == 302
    assert logged_in(other)


def test_e_owner_and_admin_must_enrol_when_required(client: Client, settings: Any) -> None:
    settings.VORONKA_2FA_ADMINS = "required"
    role = Role.objects.create(code="adm", name="Админ", can_configure=True)
    admin = make_user("admin2")
    admin.roles.add(role)
    make_user("seller")
    login(client, "admin2", PASSWORD)
    assert client.get("/deals/")["Location"] == reverse("web:totp-setup")
    page = client.get(reverse("web:totp-setup"))
    assert page.status_code == 200 and b"data-totp-required" in page.content
    device = TotpDevice.objects.get(user=admin)
    with clock.frozen(timezone.now()):
        done = client.post(
            reverse("web:totp-setup"),
            {"action": "confirm", "code": pyotp.TOTP(device.secret).now()},
        )
    # The answer shows the recovery codes (once, in the page, never redirected through a store).
    assert done.status_code == 200 and b"data-recovery-codes" in done.content
    assert logged_in(client)
    seller = Client()
    login(seller, "seller", PASSWORD)
    assert logged_in(seller)  # a manager is not asked


# --- (f) hashes and password rules ------------------------------------------------------------------

COMMON = [
    "password1",
    "password123",
    "qwertyuiop",
    "1q2w3e4r5t",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty123",
    "abc12345",
    "11111111",
    "passw0rd",
    "zaq12wsx",
    "letmein1",
    "trustno1",
]


def test_f_argon2_after_login_long_passwords_and_common_passwords(client: Client) -> None:
    user = User.objects.create(
        username="legacy", password=make_password(PASSWORD, hasher="pbkdf2_sha256")
    )
    assert user.password.startswith("pbkdf2_sha256$")
    assert login(client, "legacy", PASSWORD).status_code == 302
    user.refresh_from_db()
    upgraded = user.password.split("$", 1)[0]

    long_password = "Длинная фраза-пароль для проверки: " + "x" * 70  # 100+ characters
    validate_password(long_password)
    make_user("longpass", long_password)
    long_login = login(Client(), "longpass", long_password).status_code

    rejected = []
    for candidate in COMMON:
        try:
            validate_password(candidate)
        except ValidationError:
            rejected.append(candidate)
    listed = len(CommonPasswordValidator().passwords)
    figures(
        "7f AUTHN-ABUSE hashes and rules",
        hash_after_login=upgraded,
        long_password_chars=len(long_password),
        long_password_login=long_login,
        common_rejected=f"{len(rejected)} of {len(COMMON)}",
        common_list_size=listed,
    )
    assert upgraded == "argon2"
    assert long_login == 302
    assert rejected == COMMON
    assert listed >= 3000


def test_f_control_without_validators_common_passwords_pass(settings) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = []
    for candidate in COMMON:
        validate_password(candidate)  # the test above would have failed


def test_e_the_admin_login_is_no_way_around_the_code(client: Client) -> None:
    """Django admin has a login form of its own: it must not log an enrolled user in."""
    user = make_user("boss")
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    enrol(user)
    response = client.post(
        "/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert "_auth_user_id" not in client.session
    assert not logged_in(client)
