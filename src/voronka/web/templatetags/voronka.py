"""Presentation helpers: Russian money format, initials, days in stage, field rendering."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils import timezone

from voronka.kernel import clock

register = template.Library()

CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "KZT": "₸", "BYN": "Br"}


@register.filter
def money(value: Any, currency: str = "RUB") -> str:
    """1500000.5 → «1 500 000,50 ₽» (thin no-break spaces, kopecks only when present)."""
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return str(value)
    whole = int(abs(amount))
    cents = int((abs(amount) - whole) * 100 + Decimal("0.5"))
    text = f"{whole:,}".replace(",", "\u202f")
    if cents:
        text += f",{cents:02d}"
    sign = "−" if amount < 0 else ""
    return f"{sign}{text}\u00a0{CURRENCY_SIGNS.get(currency or 'RUB', currency or '')}"


@register.filter
def money_short(value: Any) -> str:
    """Compact sums for column headers: 1.2 млн, 350 тыс."""
    try:
        amount = float(value or 0)
    except (TypeError, ValueError):
        return str(value)
    from django.utils.translation import gettext as _

    if amount >= 1_000_000:
        return f"{amount / 1_000_000:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " " + _("млн") + " ₽"
    if amount >= 10_000:
        return f"{amount / 1000:.0f} " + _("тыс.") + " ₽"
    return money(value)


@register.filter
def days_since(value: dt.datetime | None) -> int:
    if value is None:
        return 0
    return max(0, (clock.now() - value).days)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def local_input(value: Any) -> str:
    """An ISO UTC string or datetime → value for <input type=datetime-local>."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return ""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


@register.filter
def as_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return timezone.localtime(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


@register.filter
def contains(items: Any, value: Any) -> bool:
    try:
        return value in (items or [])
    except TypeError:
        return False


@register.simple_tag
def field_value_display(field: Any, value: Any) -> str:
    """A custom-field value as text for the card."""
    from django.utils.translation import gettext as _

    if value in (None, "", []):
        return "—"
    kind = field.type
    if kind == "boolean":
        return _("Да") if value else _("Нет")
    if kind == "multi":
        return ", ".join(value)
    if kind == "money" and isinstance(value, dict):
        return money(value.get("amount"), value.get("currency", "RUB"))
    if kind == "date":
        try:
            return dt.date.fromisoformat(value).strftime("%d.%m.%Y")
        except ValueError:
            return str(value)
    if kind == "datetime":
        local = as_datetime(value)
        return local.strftime("%d.%m.%Y %H:%M") if isinstance(local, dt.datetime) else str(value)
    return str(value)


@register.filter
def duration(seconds: Any) -> str:
    """Seconds → «3 дн. 4 ч» / «5 ч 10 мин» / «2 мин»."""
    from django.utils.translation import gettext as _

    try:
        total = int(seconds or 0)
    except (TypeError, ValueError):
        return ""
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} {_('дн.')} {hours} {_('ч')}"
    if hours:
        return f"{hours} {_('ч')} {minutes} {_('мин')}"
    return f"{minutes} {_('мин')}"


@register.filter
def pretty(value: Any) -> str:
    """Audit values for people: ISO date-times in the local zone, lists joined, money."""
    import re

    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        from django.utils.translation import gettext as _

        return _("Да") if value else _("Нет")
    if isinstance(value, list):
        return ", ".join(pretty(v) for v in value)
    if isinstance(value, dict):
        if "amount" in value:
            return money(value.get("amount"), value.get("currency", "RUB"))
        return ", ".join(f"{k}: {pretty(v)}" for k, v in value.items())
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+([+-]\d{2}:\d{2}|Z)?", text):
        try:
            return timezone.localtime(dt.datetime.fromisoformat(text.replace("Z", "+00:00"))).strftime("%d.%m.%Y %H:%M")
        except ValueError:
            return text
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return f"{text[8:10]}.{text[5:7]}.{text[:4]}"
    return text
