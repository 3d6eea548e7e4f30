"""The second factor: TOTP (RFC 6238) for the people who can change everything.

Who must use it: users who may configure the CRM (owner, admin; `Role.can_configure`) when
`settings.VORONKA_2FA_ADMINS == "required"` (the production default); anyone may turn it on.
A code is accepted for the current 30-second step and one step either side (clock drift),
never twice (`TotpDevice.last_step`), and after `MAX_FAILURES` wrong codes the device is locked
for `LOCK_MINUTES` — checked under a row lock, so parallel guesses count one by one.

Recovery codes (`RECOVERY_CODE_COUNT` per user) replace the authenticator when the phone is
lost: made at enrolment and shown once, stored as salted SHA-256, single use, accepted wherever
a code is (the login step, switching the factor off); wrong ones count towards the same lock.

The session rule — one place for every channel that authenticates with a session (pages, htmx,
files, admin, the API's session auth): `session_satisfies_second_factor(request)`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import pyotp
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from voronka.identity.models import RecoveryCode, TotpDevice, User
from voronka.identity.scopes import has_flag
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError

STEP_SECONDS = 30
DRIFT_STEPS = 1
MAX_FAILURES = 10
LOCK_MINUTES = 15
ISSUER = "Voronka"

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 10  # shown as two groups of five: "k7m2p-xq9ta"
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read off paper

# The session: someone who gave the right password and still owes the code (web login view)…
PENDING_KEY = "vk_2fa_pending"
PENDING_SECONDS = 300
# …and the id of the device whose code (or recovery code) this session presented.
VERIFIED_KEY = "vk_2fa_verified"


def must_use_2fa(user: User) -> bool:
    if settings.VORONKA_2FA_ADMINS != "required" or not user.is_authenticated:
        return False
    return user.is_superuser or has_flag(user, "can_configure")


def active_device(user: User) -> TotpDevice | None:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def provisioning_uri(device: TotpDevice) -> str:
    return pyotp.TOTP(device.secret).provisioning_uri(
        name=quote(device.user.username), issuer_name=ISSUER
    )


def _step(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step within the drift window whose code is `code`, or None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = _step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def _refuse_if_locked(device: TotpDevice, now: dt.datetime) -> None:
    if device.locked_until and device.locked_until > now:
        raise ApplicationError(
            _("Слишком много неверных кодов. Попробуйте через %(min)s мин.")
            % {"min": max(1, int((device.locked_until - now).total_seconds() // 60) + 1)},
            code=ErrorCode.THROTTLED,
        )


def _count_failure(device: TotpDevice, now: dt.datetime) -> None:
    """One wrong code (TOTP or recovery): the MAX_FAILURES-th locks the factor."""
    device.failures += 1
    if device.failures >= MAX_FAILURES:
        device.failures = 0
        device.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
    device.save(update_fields=["failures", "locked_until"])


def is_replay(step: int, last_step: int) -> bool:
    """A code of a time step at or before the last accepted one was used already (RFC 6238
    §5.2: each code once). The replay guard's negative control patches this and the two
    recovery-code functions below (tests/negative_controls.py no_replay_check)."""
    return step <= last_step


def unspent_recovery_codes(user_id: int) -> QuerySet[RecoveryCode]:
    return RecoveryCode.objects.filter(user_id=user_id, used_at__isnull=True)


def spend_recovery_code(code: RecoveryCode, now: dt.datetime) -> bool:
    """Mark `code` used; False when a concurrent sign-in spent it first (conditional UPDATE)."""
    return RecoveryCode.objects.filter(pk=code.pk, used_at__isnull=True).update(used_at=now) == 1


def _check(device: TotpDevice, code: str) -> None:
    """Accept `code` for a locked (select_for_update) device row or raise; saves the row."""
    now = clock.now()
    _refuse_if_locked(device, now)
    step = _matching_step(device.secret, code, now)
    replay = step is not None and is_replay(step, device.last_step)
    if step is None or replay:
        _count_failure(device, now)
        message = _("Этот код уже использован — дождитесь следующего") if replay else None
        raise ValidationError({"code": message or _("Неверный или устаревший код")})
    device.last_step = max(step, device.last_step)
    device.failures = 0
    device.locked_until = None
    device.save(update_fields=["last_step", "failures", "locked_until"])


# --- recovery codes ---------------------------------------------------------------------------


def _normalize_recovery(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _recovery_digest(salt: str, normalized: str) -> str:
    return hashlib.sha256((salt + normalized).encode()).hexdigest()


def is_totp_code(code: str) -> bool:
    """Six digits (spaces allowed) are an authenticator code; anything else is taken for a
    recovery code."""
    compact = (code or "").strip().replace(" ", "")
    return len(compact) == 6 and compact.isdigit()


def _issue_recovery_codes(user: User) -> list[str]:
    """New codes for `user` (the old ones stop working); the clear text is returned once."""
    RecoveryCode.objects.filter(user=user).delete()
    raw = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    rows = []
    for code in raw:
        salt = secrets.token_hex(16)
        rows.append(RecoveryCode(user=user, salt=salt, digest=_recovery_digest(salt, code)))
    RecoveryCode.objects.bulk_create(rows)
    half = RECOVERY_CODE_LENGTH // 2
    return [f"{code[:half]}-{code[half:]}" for code in raw]


def recovery_codes_remaining(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _check_recovery(device: TotpDevice, code: str) -> int:
    """Spend one recovery code for a locked device row or raise (counted like a wrong TOTP
    code); returns how many codes are left."""
    now = clock.now()
    _refuse_if_locked(device, now)
    normalized = _normalize_recovery(code)
    match = None
    if len(normalized) == RECOVERY_CODE_LENGTH:
        for row in unspent_recovery_codes(device.user_id):
            if hmac.compare_digest(row.digest, _recovery_digest(row.salt, normalized)):
                match = row
    spent = match is not None and spend_recovery_code(match, now)
    if not spent:
        _count_failure(device, now)
        raise ValidationError({"code": _("Неверный или уже использованный код восстановления")})
    device.failures = 0
    device.locked_until = None
    device.save(update_fields=["failures", "locked_until"])
    return recovery_codes_remaining(device.user)


def second_factor_verify(*, user: User, code: str, actor: Actor) -> tuple[TotpDevice, bool]:
    """The login step (and switching the factor off): an authenticator code or a recovery code.
    Returns the device and whether a recovery code was spent (audited); raises ValidationError
    / ApplicationError(THROTTLED) otherwise. The failure counter is committed even when the
    code is refused."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None or not device.is_active:
            raise ValidationError({"code": _("Второй фактор не настроен")})
        try:
            if is_totp_code(code):
                _check(device, code)
                recovery = False
            else:
                left = _check_recovery(device, code)
                recovery = True
                audit(
                    actor=actor,
                    obj=user,
                    action="2fa_recovery_code_used",
                    changes={"recovery_codes_left": left},
                )
        except (ValidationError, ApplicationError) as exc:
            error = exc
        else:
            return device, recovery
    raise error


def recovery_codes_regenerate(*, user: User, code: str, actor: Actor) -> list[str]:
    """New recovery codes for an enrolled user, confirmed with a current authenticator code
    (not a recovery code); the old codes stop working. Returns the clear text, shown once."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None or not device.is_active:
            raise ValidationError({"code": _("Второй фактор не настроен")})
        try:
            if not is_totp_code(code):
                _refuse_if_locked(device, clock.now())
                raise ValidationError({"code": _("Введите 6-значный код из приложения")})
            _check(device, code)
        except (ValidationError, ApplicationError) as exc:
            error = exc
        else:
            codes = _issue_recovery_codes(user)
            audit(
                actor=actor,
                obj=user,
                action="2fa_recovery_codes_regenerated",
                changes={"recovery_codes": len(codes)},
            )
            return codes
    raise error


def totp_begin(*, user: User, renew: bool = False) -> TotpDevice:
    """The device being set up: an unconfirmed one keeps its secret (the page may be reloaded
    between scanning and typing the code); `renew` draws a new secret. An active device is
    returned as it is until it is switched off."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is not None and (device.is_active or not renew):
            return device
        if device is None:
            device = TotpDevice(user=user)
        device.secret = pyotp.random_base32()
        device.failures, device.locked_until, device.last_step = 0, None, 0
        device.save()
        return device


def totp_confirm(*, user: User, code: str, actor: Actor) -> tuple[TotpDevice, list[str]]:
    """Turn the factor on with a first code. Returns the device and its recovery codes in
    clear text — the only time they exist outside the user's hands (an already active device
    returns no codes)."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None:
            raise ValidationError({"code": _("Сначала отсканируйте QR-код")})
        if device.is_active:
            return device, []
        try:
            _check(device, code)
        except (ValidationError, ApplicationError) as exc:
            error = exc
        else:
            device.confirmed_at = clock.now()
            device.save(update_fields=["confirmed_at"])
            codes = _issue_recovery_codes(user)
            audit(
                actor=actor, obj=user, action="2fa_enabled", changes={"recovery_codes": len(codes)}
            )
            return device, codes
    raise error


def totp_disable(*, user: User, code: str, actor: Actor) -> None:
    """Switching the factor off needs a current code or a recovery code (a stolen session alone
    cannot); a user who lost the phone signs in and switches it off with a recovery code, then
    enrols the new phone. The recovery codes go with the device."""
    second_factor_verify(user=user, code=code, actor=actor)
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        audit(actor=actor, obj=user, action="2fa_disabled", changes={})


# --- the session rule -----------------------------------------------------------------------


class SessionFactor(StrEnum):
    OK = "ok"  # passed the second factor, or does not need it
    ANONYMOUS = "anonymous"  # no user: the login requirement (or the API's 401) applies
    PENDING = "pending"  # right password, the code step not done yet
    ENROL = "enrol"  # must use the factor and has not turned it on
    REVERIFY = "reverify"  # has the factor, but this session never presented its code


def session_second_factor(request: Any) -> SessionFactor:
    """Where a session stands with the second factor. The ONE rule behind every channel that
    authenticates with a session (web.middleware.TwoFactorRequiredMiddleware for pages, htmx,
    files, admin, the API docs; config.api's session auth for the API). Bearer tokens are a
    separate credential and never come here."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is not None and session.get(PENDING_KEY):
        return SessionFactor.PENDING
    if user is None or not user.is_authenticated:
        return SessionFactor.ANONYMOUS
    if not must_use_2fa(user):
        return SessionFactor.OK
    device = active_device(user)
    if device is None:
        return SessionFactor.ENROL
    if session is not None and session.get(VERIFIED_KEY) == device.pk:
        return SessionFactor.OK
    return SessionFactor.REVERIFY


def session_satisfies_second_factor(request: Any) -> bool:
    """True for a signed-in session that passed the second factor (or needs none)."""
    return session_second_factor(request) == SessionFactor.OK


def mark_session_verified(request: Any, device: TotpDevice) -> None:
    """After the code (or a recovery code) of `device` was accepted in this session."""
    request.session.pop(PENDING_KEY, None)
    request.session[VERIFIED_KEY] = device.pk


class SecondFactorRequired(ApplicationError):
    """A session refused by the rule above: 401 when it must (re)authenticate, 403 when the
    account must enrol first."""

    def __init__(self, state: SessionFactor) -> None:
        messages = {
            SessionFactor.PENDING: _(
                "Вход не завершён: введите код из приложения-аутентификатора на странице входа"
            ),
            SessionFactor.ENROL: _(
                "Для этой учётной записи обязателен второй фактор: включите его на странице "
                "«Двухфакторная защита» (/account/2fa/)"
            ),
            SessionFactor.REVERIFY: _("Сессия не подтверждена вторым фактором: войдите заново"),
        }
        super().__init__(
            messages.get(state, _("Требуется вход")),
            code=ErrorCode.SECOND_FACTOR_REQUIRED,
            extra={"reason": str(state)},
        )
        self.state = state

    @property
    def status(self) -> int:
        return 403 if self.state == SessionFactor.ENROL else 401
