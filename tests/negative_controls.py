"""Switches for negative controls. Production modules hold no test-only flags: a control turns a
guard off by patching the guard function itself where the services call it."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from voronka.identity import scopes, totp
from voronka.kernel import files, versions


def no_version_check(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Let every stale write through: `check_version` becomes a no-op in each module that
    calls it. Returns the patched modules (the control asserts it found the services)."""

    def skip(current: int, given: Any) -> None:
        return None

    original = versions.check_version
    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("voronka.") and getattr(module, "check_version", None) is original:
            monkeypatch.setattr(module, "check_version", skip)
            patched.append(name)
    assert patched, "no service calls kernel.versions.check_version"
    return patched


def _patch_everywhere(
    monkeypatch: pytest.MonkeyPatch, original: Any, name: str, replacement: Any
) -> list[str]:
    """Replace `original` under `name` in every loaded voronka module that bound it (its own
    module included, so internal calls see the replacement too)."""
    patched = []
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("voronka.") and getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, replacement)
            patched.append(module_name)
    return patched


def no_scope_filter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Open every scope: `visible_user_ids` (asked by scope_q, scope_filter, can_see_user and
    assignable_users) answers "everyone". Every list, counter and assignment check opens up."""

    def everyone(user: Any, entity: str) -> None:
        return None

    patched = _patch_everywhere(monkeypatch, scopes.visible_user_ids, "visible_user_ids", everyone)
    assert "voronka.identity.scopes" in patched
    return patched


def no_file_ownership(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Let any file value through: `files_attach` (the one file-reference rule every service
    calls after saving custom values) becomes a no-op in each module that calls it."""

    def skip(**kwargs: Any) -> None:
        return None

    patched = _patch_everywhere(monkeypatch, files.files_attach, "files_attach", skip)
    assert len(patched) > 1, "no service calls kernel.files.files_attach"
    return patched


def no_replay_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A used code works again: a TOTP step is never a replay, spent recovery codes are still
    candidates and spending one always succeeds."""
    from voronka.identity.models import RecoveryCode

    monkeypatch.setattr(totp, "is_replay", lambda step, last_step: False)
    monkeypatch.setattr(
        totp, "unspent_recovery_codes", lambda user_id: RecoveryCode.objects.filter(user_id=user_id)
    )
    monkeypatch.setattr(totp, "spend_recovery_code", lambda code, now: True)


def no_second_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every session counts as having passed the second factor: the one rule
    (`totp.session_second_factor`, called through the module by every channel) says OK."""
    monkeypatch.setattr(totp, "session_second_factor", lambda request: totp.SessionFactor.OK)


# --- outgoing webhooks (RELIABILITY row 10) ---------------------------------------------------


def no_ssrf_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every resolved address is allowed: `ssrf.refused` (the address rule) finds nothing."""
    from voronka.integrations.webhooks import ssrf

    monkeypatch.setattr(ssrf, "refused", lambda addresses: [])


def no_address_pinning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request goes to the host NAME (a second resolution at connect time: DNS rebinding)
    instead of the address the guard checked."""
    from voronka.integrations.webhooks import ssrf

    def by_name(url: str, ip: Any, *, scheme: str, host: str, port: int) -> Any:
        return ssrf.Target(url=url, host_header=host, ip=str(ip))

    monkeypatch.setattr(ssrf, "pin", by_name)


def redirects_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivery client follows redirects."""
    import httpx

    from voronka.integrations.webhooks import delivery

    def following(transport: Any = None) -> httpx.Client:
        return httpx.Client(transport=transport, follow_redirects=True, trust_env=False)

    monkeypatch.setattr(delivery, "http_client", following)


def fresh_webhook_id_per_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt signs and sends a new webhook-id (the receiver cannot deduplicate)."""
    from voronka.integrations.webhooks import signing

    real = signing.signed_headers

    def fresh(*, secret: str, webhook_id: str, at: Any, body: bytes) -> dict[str, str]:
        return real(secret=secret, webhook_id=signing.new_webhook_id(), at=at, body=body)

    monkeypatch.setattr(signing, "signed_headers", fresh)


def wrong_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages are signed with a key that is not the endpoint's secret."""
    from voronka.integrations.webhooks import signing

    real = signing.signed_headers
    other = signing.new_secret()

    def forged(*, secret: str, webhook_id: str, at: Any, body: bytes) -> dict[str, str]:
        return real(secret=other, webhook_id=webhook_id, at=at, body=body)

    monkeypatch.setattr(signing, "signed_headers", forged)


def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every retry one second later, whatever the attempt (no schedule, no jitter)."""
    import datetime as dt

    from voronka.integrations.webhooks import delivery

    monkeypatch.setattr(delivery, "retry_delay", lambda attempts: dt.timedelta(seconds=1))


def no_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attempts never run out: a failing delivery is retried forever, nobody is told."""
    from voronka.integrations.webhooks import delivery

    monkeypatch.setattr(delivery, "MAX_ATTEMPTS", 10**6)


def no_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead delivery tells nobody."""
    from voronka.integrations.webhooks import delivery

    monkeypatch.setattr(delivery, "alert_people", lambda *args, **kwargs: 0)


def gone_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """410 Gone changes nothing about the endpoint (it stays enabled, its queue stays)."""
    from voronka.integrations.webhooks import delivery

    monkeypatch.setattr(delivery, "endpoint_gone", lambda *args, **kwargs: 0)


def no_body_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole answer is read, however long."""
    from voronka.integrations.webhooks import delivery

    monkeypatch.setattr(delivery, "MAX_BODY_BYTES", 10**12)


def no_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim ignores the lease: a delivery being sent by one worker is due for the next."""
    from django.db.models import Q

    from voronka.integrations.models import WebhookDeliveryQuerySet

    def due(self: Any, now: Any) -> Any:
        return self.filter(Q(status="pending"), next_attempt_at__lte=now, endpoint__enabled=True)

    monkeypatch.setattr(WebhookDeliveryQuerySet, "due", due)
