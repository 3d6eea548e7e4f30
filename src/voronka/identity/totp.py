"""The second factor: TOTP (RFC 6238) for the people who can change everything.

Who must use it: users who may configure the CRM (owner, admin; `Role.can_configure`) when
`settings.VORONKA_2FA_ADMINS == "required"` (the production default); anyone may turn it on.
A code is accepted for the current 30-second step and one step either side (clock drift),
never twice (`TotpDevice.last_step`), and after `MAX_FAILURES` wrong codes the device is locked
for `LOCK_MINUTES` — checked under a row lock, so parallel guesses count one by one.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from voronka.identity.models import TotpDevice, User
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

# A switch for the negative control of the replay test: when True a used code is accepted
# again and that test must turn red. Never set outside tests.
REPLAY_CHECK_DISABLED = False


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


def _check(device: TotpDevice, code: str) -> None:
    """Accept `code` for a locked (select_for_update) device row or raise; saves the row."""
    now = clock.now()
    if device.locked_until and device.locked_until > now:
        raise ApplicationError(
            _("Слишком много неверных кодов. Попробуйте через %(min)s мин.")
            % {"min": max(1, int((device.locked_until - now).total_seconds() // 60) + 1)},
            code=ErrorCode.THROTTLED,
        )
    step = _matching_step(device.secret, code, now)
    replay = step is not None and step <= device.last_step and not REPLAY_CHECK_DISABLED
    if step is None or replay:
        device.failures += 1
        if device.failures >= MAX_FAILURES:
            device.failures = 0
            device.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
        device.save(update_fields=["failures", "locked_until"])
        message = _("Этот код уже использован — дождитесь следующего") if replay else None
        raise ValidationError({"code": message or _("Неверный или устаревший код")})
    device.last_step = max(step, device.last_step)
    device.failures = 0
    device.locked_until = None
    device.save(update_fields=["last_step", "failures", "locked_until"])


def totp_verify(*, user: User, code: str) -> None:
    """The login step: raises ValidationError / ApplicationError(THROTTLED) unless accepted.
    The failure counter is committed even when the code is refused."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None or not device.is_active:
            raise ValidationError({"code": _("Второй фактор не настроен")})
        try:
            _check(device, code)
        except (ValidationError, ApplicationError) as exc:
            error = exc
        else:
            return
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


def totp_confirm(*, user: User, code: str, actor: Actor) -> TotpDevice:
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None:
            raise ValidationError({"code": _("Сначала отсканируйте QR-код")})
        if device.is_active:
            return device
        try:
            _check(device, code)
        except (ValidationError, ApplicationError) as exc:
            error = exc
        else:
            device.confirmed_at = clock.now()
            device.save(update_fields=["confirmed_at"])
            audit(actor=actor, obj=user, action="2fa_enabled", changes={})
            return device
    raise error


def totp_disable(*, user: User, code: str, actor: Actor) -> None:
    """Switching the factor off needs a current code (a stolen session alone cannot)."""
    totp_verify(user=user, code=code)
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        audit(actor=actor, obj=user, action="2fa_disabled", changes={})
