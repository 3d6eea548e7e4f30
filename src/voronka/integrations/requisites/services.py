"""Requisites auto-fill: its settings (can_configure, audited; the key is never shown back in
full nor written to the audit) and the look-ups (any active user: they only read the outside
registry and write nothing — a provider failure never blocks saving a company by hand)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from voronka.identity.permissions import require_active, require_actor_flag
from voronka.integrations.models import RequisitesProvider, RequisitesSettings
from voronka.integrations.requisites.base import Bank, Party, ProviderError, RequisitesSource
from voronka.integrations.requisites.dadata.client import DadataSource
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.normalize import clean_text, normalize_bik, normalize_inn

RIGHT = "can_configure"
QUERY_MAX = 200
KEY_MAX = 200
URL_MAX = 500
TIMEOUT_RANGE = (0.5, 30.0)


def requisites_settings() -> RequisitesSettings:
    """The one settings row (unsaved defaults until an administrator saves it)."""
    return RequisitesSettings.objects.filter(pk=1).first() or RequisitesSettings(pk=1)


def masked_key(key: str) -> str:
    return "" if not key else ("•" * 8 + key[-4:] if len(key) > 8 else "•" * 8)


def requisites_settings_update(*, actor: Actor, data: dict[str, Any]) -> RequisitesSettings:
    """Save the provider, its key (an empty key keeps the current one unless `clear_key`), its
    address and time-out."""
    require_actor_flag(actor, RIGHT)
    current = requisites_settings()
    errors: dict[str, str] = {}
    provider = str(data.get("provider") or current.provider)
    if provider not in RequisitesProvider.values:
        errors["provider"] = _("Неизвестный сервис реквизитов")
    key = clean_text(str(data.get("api_key") or ""))
    if len(key) > KEY_MAX or (key and not key.isprintable()) or " " in key:
        errors["api_key"] = _("Ключ — до %(n)s символов без пробелов") % {"n": KEY_MAX}
    base_url = clean_text(str(data.get("base_url") or current.base_url)).rstrip("/")
    if len(base_url) > URL_MAX or not base_url.startswith(("http://", "https://")):
        errors["base_url"] = _("Нужен адрес http:// или https://")
    timeout = current.timeout_seconds
    if data.get("timeout_seconds") not in (None, ""):
        try:
            timeout = float(str(data["timeout_seconds"]).replace(",", "."))
        except ValueError:
            timeout = -1.0
        if not TIMEOUT_RANGE[0] <= timeout <= TIMEOUT_RANGE[1]:
            errors["timeout_seconds"] = _("Время ожидания — от 0,5 до 30 секунд")
    if errors:
        raise ValidationError(errors)
    new_key = "" if data.get("clear_key") else (key or current.api_key)
    before = {
        "provider": current.provider,
        "base_url": current.base_url,
        "timeout_seconds": current.timeout_seconds,
        "api_key": masked_key(current.api_key),
    }
    with transaction.atomic():
        RequisitesSettings.objects.update_or_create(
            pk=1,
            defaults={
                "provider": provider,
                "api_key": new_key,
                "base_url": base_url,
                "timeout_seconds": timeout,
                "updated_at": clock.now(),
                "updated_by": actor.user,
            },
        )
        saved = requisites_settings()
        after = {
            "provider": saved.provider,
            "base_url": saved.base_url,
            "timeout_seconds": saved.timeout_seconds,
            "api_key": masked_key(saved.api_key),
        }
        changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        if changes:
            audit(actor=actor, obj=saved, action="requisites_settings.updated", changes=changes)
    return saved


def source_for(config: RequisitesSettings) -> RequisitesSource:
    """The provider of the settings (one branch per provider folder)."""
    return DadataSource(
        api_key=config.api_key, base_url=config.base_url, timeout=config.timeout_seconds
    )


@dataclass(frozen=True)
class LookupResult:
    parties: list[Party] = field(default_factory=list)
    banks: list[Bank] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.parties or self.banks)


def requisites_lookup(
    *,
    actor: Actor,
    inn: str | None = None,
    query: str | None = None,
    bik: str | None = None,
    source: RequisitesSource | None = None,
) -> LookupResult:
    """A company's requisites by its INN (exact) or by a part of its name (suggestions), or a
    bank by its BIK. ValidationError for a bad INN/BIK; ApplicationError PROVIDER_NOT_CONFIGURED
    when no key was entered, PROVIDER_ERROR when the provider failed (its message says what to
    do); nothing is written either way."""
    require_active(actor)
    given = [k for k, v in (("inn", inn), ("query", query), ("bik", bik)) if v not in (None, "")]
    if len(given) != 1:
        raise ValidationError({"inn": _("Укажите ИНН, название или БИК — что-то одно")})
    kind = given[0]
    value = ""
    try:
        if kind == "inn":
            value = normalize_inn(str(inn))
        elif kind == "bik":
            value = normalize_bik(str(bik))
        else:
            value = clean_text(str(query), max_length=QUERY_MAX)
            if len(value) < 2:
                raise ValueError(_("Не короче 2 символов"))
    except ValueError as exc:
        raise ValidationError({kind: str(exc)}) from None
    if source is None:
        config = requisites_settings()
        if not config.is_configured:
            raise ApplicationError(
                _(
                    "Автозаполнение реквизитов не настроено: администратор вводит ключ сервиса "
                    "в Настройки → Реквизиты"
                ),
                code=ErrorCode.PROVIDER_NOT_CONFIGURED,
            )
        source = source_for(config)
    try:
        if kind == "inn":
            return LookupResult(parties=source.find_party(value))
        if kind == "bik":
            return LookupResult(banks=source.find_bank(value))
        return LookupResult(parties=source.suggest_party(value))
    except ProviderError as exc:
        raise ApplicationError(
            exc.message, code=ErrorCode.PROVIDER_ERROR, extra={"provider_error": exc.kind}
        ) from None
