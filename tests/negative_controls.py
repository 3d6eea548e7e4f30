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
