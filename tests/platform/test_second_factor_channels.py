"""RELIABILITY row 7e, extended to every session channel (issue 7, item 2): with
VORONKA_2FA_ADMINS=required an owner's session must have passed the second factor before ANY
channel that authenticates with the session answers — pages, htmx fragments and the counters
poll, file downloads, Django admin, the API (GET and POST: pipelines, custom fields, control).

States probed, each through every channel (`CHANNELS`):
- enrolment required (the owner logged in with the password, no authenticator yet): refused —
  pages go to the set-up page, the API answers JSON 403; after enrolment on the set-up page the
  same session is accepted everywhere;
- pending (an enrolled owner gave the password, not the code): refused everywhere, JSON 401 on
  the API — also a session that somehow holds a user AND the pending mark;
- re-verify (the device appeared after this session logged in): refused, logged out;
- after the code step: accepted everywhere.
The rule is one function (identity.totp.session_second_factor) used by the middleware and the
API's session auth: the API refuses on its own without the middleware. Negative control: with
`negative_controls.no_second_factor` the same probe finds the bypass on every channel.

Bearer tokens (item 7): a request with an Authorization header is judged by the token alone —
wrong, revoked or non-Bearer credentials answer JSON 401 before any CSRF check, even with a
logged-in session cookie; a good token works for an owner who has not enrolled (integrations).
Negative control: the library's fall-through classes answer the reported 403 "CSRF check Failed".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth
from platform_support import figures

from negative_controls import no_second_factor
from voronka.config.api import BearerAuth, SecondFactorSessionAuth
from voronka.identity import totp
from voronka.identity.models import ApiToken, TotpDevice
from voronka.identity.services import api_token_create
from voronka.kernel import clock
from voronka.kernel.actor import Actor

pytestmark = pytest.mark.django_db

PASSWORD = "Second-factor-channels-2026"
_keys = itertools.count(1)


@dataclass(frozen=True)
class Channel:
    name: str
    method: str
    path: str  # "{deal}" and "{file}" are filled per test
    data: dict[str, Any] | None = None
    htmx: bool = False
    api: bool = False


CHANNELS = [
    Channel("api GET /pipelines", "GET", "/api/v1/pipelines", api=True),
    Channel("api POST /pipelines", "POST", "/api/v1/pipelines", {"name": "Обход"}, api=True),
    Channel(
        "api POST /pipelines/custom-fields",
        "POST",
        "/api/v1/pipelines/custom-fields",
        {"entity": "deal", "name": "Обход", "type": "string"},  # key added per request
        api=True,
    ),
    Channel("api GET /control", "GET", "/api/v1/control", api=True),
    Channel("api GET /me/counters", "GET", "/api/v1/me/counters", api=True),
    Channel("api GET /deals/{deal}", "GET", "/api/v1/deals/{deal}", api=True),
    Channel("page GET /deals/", "GET", "/deals/"),
    Channel("htmx GET deal card", "GET", "/deals/{deal}/", htmx=True),
    Channel("htmx POST comment", "POST", "/deals/{deal}/comment/", {"text": "обход"}, htmx=True),
    Channel("htmx counters poll", "GET", "/counters/", htmx=True),
    Channel("file download", "GET", "/files/{file}/"),
    Channel("admin", "GET", "/admin/"),
    Channel("admin password change", "GET", "/admin/password_change/"),
]


def send(client: Client, channel: Channel, values: dict[str, Any]) -> Any:
    path = channel.path.format(**values)
    headers: dict[str, str] = {}
    csrf = client.cookies.get(django_settings.CSRF_COOKIE_NAME)
    if csrf is not None:
        headers["X-CSRFToken"] = csrf.value
    if channel.htmx:
        headers["HX-Request"] = "true"
    if channel.method == "GET":
        return client.get(path, headers=headers)
    data = dict(channel.data or {})
    if "custom-fields" in path:
        data["key"] = f"bypass_{next(_keys)}"
    if channel.api:
        return client.post(path, data, content_type="application/json", headers=headers)
    return client.post(path, data, headers=headers)


def accepted(response: Any) -> bool:
    return response.status_code in (200, 201)


def refusal(response: Any, channel: Channel) -> str | None:
    """How the channel refused the session ("setup", "login", "json 401 pending", …) or None."""
    if channel.api:
        if response.status_code in (401, 403) and response["Content-Type"].startswith(
            "application/json"
        ):
            body = response.json()
            return f"json {response.status_code} {body.get('reason') or body.get('code')}"
        return None
    if response.status_code == 401 and response.get("HX-Redirect"):
        return "htmx→" + ("setup" if "2fa" in response["HX-Redirect"] else "login")
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/account/2fa/"):
            return "setup"
        if location.startswith("/login/"):
            return "login"
    return None


def probe(client: Client, values: dict[str, Any]) -> dict[str, tuple[int, str | None]]:
    results = {}
    for channel in CHANNELS:
        response = send(client, channel, values)
        results[channel.name] = (response.status_code, refusal(response, channel))
    return results


def all_refused(results: dict[str, tuple[int, str | None]]) -> list[str]:
    return [name for name, (status, how) in results.items() if how is None]


def all_accepted(results: dict[str, tuple[int, str | None]]) -> list[str]:
    return [name for name, (status, how) in results.items() if status not in (200, 201)]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def owner_env(
    settings: Any, tmp_path: Any, personas: Any, records: Any, pipeline: Any
) -> Iterator[dict[str, Any]]:
    """The owner (staff, for admin) with a password and a deal holding an uploaded file; the
    file is uploaded through the UI before the policy is switched on."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.VORONKA_2FA_ADMINS = "optional"
    owner = personas["owner"].user
    owner.set_password(PASSWORD)
    owner.is_staff = True
    owner.save(update_fields=["password", "is_staff"])
    deal = records["owner"].deal
    uploader = Client()
    uploader.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    upload = SimpleUploadedFile("договор.pdf", b"%PDF-1.4 channels", content_type="application/pdf")
    response = uploader.post(
        f"/deals/{deal.pk}/", {"version": deal.version, "title": deal.title, "cf_f_file": upload}
    )
    assert response.status_code == 302, response.content[:500]
    deal.refresh_from_db()
    file_ref = deal.custom["f_file"]
    assert uploader.get(f"/files/{file_ref}/").status_code == 200
    settings.VORONKA_2FA_ADMINS = "required"
    yield {"owner": owner, "values": {"deal": deal.pk, "file": file_ref}}


def password_login(username: str) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    response = client.post(
        "/login/",
        {"username": username, "password": PASSWORD},
        headers={"X-CSRFToken": client.cookies[django_settings.CSRF_COOKIE_NAME].value},
    )
    assert response.status_code == 302, response.content[:500]
    return client


def csrf_post(client: Client, path: str, data: dict[str, Any]) -> Any:
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    return client.post(path, data, headers={"X-CSRFToken": token})


def enrol_on_setup_page(client: Client, owner: Any) -> Any:
    client.get("/account/2fa/")
    device = TotpDevice.objects.get(user=owner)
    with clock.frozen(timezone.now()):
        return csrf_post(
            client,
            "/account/2fa/",
            {"action": "confirm", "code": pyotp.TOTP(device.secret).now()},
        )


def enrol_directly(user: Any) -> str:
    device = totp.totp_begin(user=user)
    totp.totp_confirm(user=user, code=pyotp.TOTP(device.secret).now(), actor=Actor.system())
    TotpDevice.objects.filter(pk=device.pk).update(last_step=0)
    return device.secret


# --- the channels -----------------------------------------------------------------------------


def test_enrolment_required_session_is_refused_on_every_channel_then_accepted(
    owner_env: dict[str, Any],
) -> None:
    from voronka.deals.models import Pipeline
    from voronka.kernel.models import CustomField

    owner, values = owner_env["owner"], owner_env["values"]
    pipelines, fields = Pipeline.objects.count(), CustomField.objects.count()
    client = password_login(owner.username)
    client.get("/account/2fa/")  # the CSRF cookie, as the browser has it
    before = probe(client, values)
    written = (Pipeline.objects.count() - pipelines, CustomField.objects.count() - fields)

    done = enrol_on_setup_page(client, owner)
    assert done.status_code == 200 and b"data-recovery-codes" in done.content
    after = probe(client, values)
    figures(
        "7e AUTHN-ABUSE second factor per session channel (enrolment required)",
        channels=len(CHANNELS),
        refused_before=len(CHANNELS) - len(all_refused(before)),
        bypasses=all_refused(before),
        how=sorted({how or "ACCEPTED" for _, how in before.values()}),
        accepted_after_enrolment=len(CHANNELS) - len(all_accepted(after)),
    )
    assert all_refused(before) == [], before
    assert written == (0, 0)
    api = {name: how for name, (_, how) in before.items() if name.startswith("api")}
    assert set(api.values()) == {"json 403 enrol"}, api
    assert all_accepted(after) == [], after


def test_api_refusal_is_json_with_a_clear_message(owner_env: dict[str, Any]) -> None:
    client = password_login(owner_env["owner"].username)
    client.get("/account/2fa/")
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    response = client.post(
        "/api/v1/pipelines",
        {"name": "Обход"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "second_factor_required" and body["reason"] == "enrol"
    assert "/account/2fa/" in body["detail"]
    english = client.get("/api/v1/control", headers={"Accept-Language": "en"})
    assert english.status_code == 403 and "second factor" in english.json()["detail"]


def test_pending_code_step_is_refused_everywhere(owner_env: dict[str, Any]) -> None:
    owner, values = owner_env["owner"], owner_env["values"]
    secret = enrol_directly(owner)
    client = password_login(owner.username)  # the password was right; the code is owed
    assert totp.PENDING_KEY in client.session and "_auth_user_id" not in client.session
    results = probe(client, values)
    assert all_refused(results) == [], results
    api = {how for name, (_, how) in results.items() if name.startswith("api")}
    assert api == {"json 401 pending"}, api
    # The code step completes the login: every channel opens.
    with clock.frozen(timezone.now()):
        done = csrf_post(client, "/login/2fa/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    assert all_accepted(probe(client, values)) == []


def forge_pending_on_a_session(client: Client) -> None:
    """A session that holds a user AND the pending mark (as if a login bug logged in at the
    password step): the rule refuses it by the mark alone."""
    session = client.session
    session[totp.PENDING_KEY] = {"user": 0, "backend": "", "at": 0, "next": "/"}
    session.save()


def test_a_session_marked_pending_is_refused_even_with_a_user(
    owner_env: dict[str, Any], personas: Any
) -> None:
    values = owner_env["values"]
    manager = personas["a1"].user  # no second factor needed at all
    client = Client()
    client.force_login(manager, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/deals/").status_code == 200
    forge_pending_on_a_session(client)
    api = send(client, CHANNELS[0], values)
    assert api.status_code == 401 and api.json()["reason"] == "pending"
    page = client.get("/deals/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session  # logged out


def test_a_session_that_never_presented_the_code_is_logged_out(owner_env: dict[str, Any]) -> None:
    owner, values = owner_env["owner"], owner_env["values"]
    client = password_login(owner.username)  # no device yet: the enrolment state
    enrol_directly(owner)  # …and the device is turned on elsewhere
    api = client.get("/api/v1/pipelines")
    assert api.status_code == 401 and api.json()["reason"] == "reverify"
    assert all_refused(probe(client, values)) == []
    assert "_auth_user_id" not in client.session


def test_the_code_login_and_a_manager_are_accepted(
    owner_env: dict[str, Any], personas: Any
) -> None:
    owner, values = owner_env["owner"], owner_env["values"]
    secret = enrol_directly(owner)
    client = password_login(owner.username)
    with clock.frozen(timezone.now()):
        csrf_post(client, "/login/2fa/", {"code": pyotp.TOTP(secret).now()})
    assert all_accepted(probe(client, values)) == []
    manager = personas["a1"].user
    manager.set_password(PASSWORD)
    manager.save(update_fields=["password"])
    seller = password_login(manager.username)
    assert seller.get("/api/v1/deals").status_code == 200  # managers are not asked


def test_the_api_refuses_on_its_own_without_the_middleware(
    owner_env: dict[str, Any], settings: Any
) -> None:
    """The API's session auth applies the rule itself (one function, two callers)."""
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "voronka.web.middleware.TwoFactorRequiredMiddleware"
    ]
    client = password_login(owner_env["owner"].username)
    client.get("/account/2fa/")
    results = probe(client, owner_env["values"])
    api = {name: how for name, (_, how) in results.items() if name.startswith("api")}
    assert set(api.values()) == {"json 403 enrol"}, api
    # Control of this layer split: without the middleware the pages are open.
    assert results["page GET /deals/"][0] == 200


def test_control_with_the_check_off_every_channel_is_a_bypass(
    owner_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: the switch turns the rule off, and the probe reports every channel."""
    no_second_factor(monkeypatch)
    owner, values = owner_env["owner"], owner_env["values"]
    client = password_login(owner.username)
    client.get("/account/2fa/")
    results = probe(client, values)
    figures(
        "7e AUTHN-ABUSE second factor per channel, control (check off)",
        bypasses=len(all_refused(results)),
    )
    assert sorted(all_refused(results)) == sorted(c.name for c in CHANNELS)
    pending = Client()
    pending.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    forge_pending_on_a_session(pending)
    assert pending.get("/api/v1/pipelines").status_code == 200


# --- Bearer tokens: judged before CSRF, never a fall-back to the session -----------------------


@pytest.fixture
def session_with_token(owner_env: dict[str, Any]) -> tuple[Client, str, Any]:
    """The owner without an authenticator: a session (enrolment state) and an API token."""
    client = password_login(owner_env["owner"].username)
    token, raw = api_token_create(user=owner_env["owner"], name="integration")
    return client, raw, token


def bearer_post(client: Client, credential: str) -> Any:
    return client.post(
        "/api/v1/pipelines",
        {"name": "Через токен"},
        content_type="application/json",
        headers={"Authorization": credential},
    )


def test_bearer_wrong_revoked_or_foreign_scheme_is_401_before_csrf(
    session_with_token: tuple[Client, str, Any],
) -> None:
    client, raw, token = session_with_token
    fresh = Client(enforce_csrf_checks=True)  # no session at all
    answers = {}
    for label, who, credential in [
        ("wrong, no session", fresh, "Bearer vk_wrong-token-000000000000"),
        ("wrong, with a session cookie", client, "Bearer vk_wrong-token-000000000000"),
        ("not vk_", client, "Bearer abc"),
        ("basic scheme", client, "Basic b3duZXI6cHc="),
        ("empty", client, ""),
    ]:
        answers[label] = bearer_post(who, credential)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    answers["revoked"] = bearer_post(fresh, f"Bearer {raw}")
    answers["revoked, GET"] = fresh.get(
        "/api/v1/pipelines", headers={"Authorization": f"Bearer {raw}"}
    )
    figures(
        "7 AUTHN Bearer before CSRF",
        **{label: r.status_code for label, r in answers.items()},
    )
    for label, response in answers.items():
        assert response.status_code == 401, (label, response.status_code, response.content)
        assert response["Content-Type"].startswith("application/json"), label
        assert response.json()["code"] == "unauthorized", label
        assert b"CSRF" not in response.content, label
        assert response["WWW-Authenticate"].startswith("Bearer"), label  # RFC 6750 §3


def test_a_good_token_works_whatever_the_session_state(
    session_with_token: tuple[Client, str, Any],
) -> None:
    client, raw, _ = session_with_token
    # The session cookie belongs to an owner who has not enrolled; the token is judged alone.
    created = bearer_post(client, f"Bearer {raw}")
    assert created.status_code == 201, created.content
    assert (
        client.get("/api/v1/control", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    )
    # …and no CSRF token is needed with a token.
    assert bearer_post(Client(enforce_csrf_checks=True), f"Bearer {raw}").status_code == 201


def test_no_credentials_at_all_is_401_not_csrf() -> None:
    response = Client(enforce_csrf_checks=True).post(
        "/api/v1/pipelines", {"name": "x"}, content_type="application/json"
    )
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert response["WWW-Authenticate"] == 'Bearer realm="voronka"'


def test_control_the_library_fall_through_answers_csrf_403(
    session_with_token: tuple[Client, str, Any],
    monkeypatch: pytest.MonkeyPatch,
    personas: Any,
) -> None:
    """Negative control: with ninja's own HttpBearer/SessionAuth behaviour (a bad token falls
    through to the session) the reported answer — 403 "CSRF check Failed" — comes back, so the
    test above would catch the regression."""
    monkeypatch.setattr(BearerAuth, "__call__", HttpBearer.__call__)
    monkeypatch.setattr(SecondFactorSessionAuth, "__call__", SessionAuth.__call__)
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["a1"].user, backend="django.contrib.auth.backends.ModelBackend")
    response = bearer_post(client, "Bearer vk_wrong-token-000000000000")
    assert response.status_code == 403 and b"CSRF check Failed" in response.content


def test_the_language_switch_keeps_the_code_step_and_the_set_up_page(
    owner_env: dict[str, Any],
) -> None:
    owner = owner_env["owner"]
    secret = enrol_directly(owner)
    client = password_login(owner.username)
    switched = csrf_post(client, "/language/", {"language": "en", "next": "/login/2fa/"})
    assert switched.status_code == 302 and switched["Location"] == "/login/2fa/"
    assert totp.PENDING_KEY in client.session  # the pending login survived the switch
    with clock.frozen(timezone.now()):
        assert (
            csrf_post(client, "/login/2fa/", {"code": pyotp.TOTP(secret).now()}).status_code == 302
        )
    TotpDevice.objects.filter(user=owner).delete()  # reset by an admin: must enrol again
    assert client.get("/deals/")["Location"] == "/account/2fa/"
    again = csrf_post(client, "/language/", {"language": "ru", "next": "/account/2fa/"})
    assert again.status_code == 302 and again["Location"] == "/account/2fa/"
