"""How money and people are written on screen. Shared by the template filters
(web/templatetags/voronka.py registers these) and markup built in Python (deals/cards.py), so
that the domain side never imports the web layer to format a card."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

from voronka.kernel.money import MAIN_CURRENCY, MoneySums

CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "CNY": "¥", "KZT": "₸", "BYN": "Br"}
_HALF = Decimal("0.5")


def money(value: Any, currency: str = "RUB") -> str:
    """1500000.5 → «1 500 000,50 ₽» (thin no-break spaces, kopecks only when present)."""
    if isinstance(value, Decimal):  # what the database gives: ~200 per board, no round trip
        amount = value
    else:
        try:
            amount = Decimal(str(value if value not in (None, "") else 0))
        except InvalidOperation:
            return str(value)
    magnitude = abs(amount)
    whole = int(magnitude)
    cents = int((magnitude - whole) * 100 + _HALF)
    text = f"{whole:,}".replace(",", "\u202f")
    if cents:
        text += f",{cents:02d}"
    sign = "−" if amount < 0 else ""
    return f"{sign}{text}\u00a0{CURRENCY_SIGNS.get(currency or 'RUB', currency or '')}"


def money_sums(sums: Any) -> SafeString:
    """Sums per currency (kernel.money.MoneySums): «1 250 000 ₽ · 3 000 $», the main currency
    first, the others in a smaller `money-other` span; nothing at all → «0 ₽». Amounts of
    different currencies are never added. app.js (recount) writes the same markup."""
    items = sums.ordered() if isinstance(sums, MoneySums) else MoneySums(sums or {}).ordered()
    if not items:
        items = [(MAIN_CURRENCY, Decimal("0"))]
    (first, amount), rest = items[0], items[1:]
    html = format_html('<span class="money-main">{}</span>', money(amount, first))
    for currency, value in rest:
        html += format_html(' <span class="money-other">· {}</span>', money(value, currency))
    return format_html('<span class="money-sums">{}</span>', html)


# Soft background / ink pairs; a user keeps the same colour everywhere (picked by id).
AVATAR_COLOURS = [
    ("#dbeafe", "#1e40af"),
    ("#dcfce7", "#166534"),
    ("#fef3c7", "#92400e"),
    ("#fce7f3", "#9d174d"),
    ("#e0e7ff", "#3730a3"),
    ("#ccfbf1", "#115e59"),
    ("#ffedd5", "#9a3412"),
    ("#f3e8ff", "#6b21a8"),
]


def avatar_style(user: Any) -> str:
    """Inline CSS variables for an avatar: the same soft colour for a user on every screen."""
    pk = getattr(user, "pk", None) or 0
    bg, ink = AVATAR_COLOURS[int(pk) % len(AVATAR_COLOURS)]
    return f"--av-bg: {bg}; --av-ink: {ink}"


def short_name(user: Any) -> str:
    """«Иван Петров» → «Иван П.» (cards have little room)."""
    first, last = getattr(user, "first_name", ""), getattr(user, "last_name", "")
    if first and last:
        return f"{first} {last[0]}."
    return getattr(user, "display_name", "") or str(user or "")
