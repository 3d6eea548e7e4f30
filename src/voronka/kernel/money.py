"""Money sums per currency. Amounts of different currencies are never added: a total is a
mapping currency → amount, shown main currency first (decision 0010)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from voronka.kernel.currencies import DEFAULT_CURRENCY

# The currency the business counts in (a new deal's default): shown first, and the one
# `Company.ltv` holds.
MAIN_CURRENCY = DEFAULT_CURRENCY

ZERO = Decimal("0")


class MoneySums(dict[str, Decimal]):
    """currency → amount. `add` / `+` / `-` work per currency; `ordered()` is the display
    order (main currency first, then by code) without zero sums."""

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, Any]]) -> MoneySums:
        sums = cls()
        for currency, amount in pairs:
            sums.add(currency, amount)
        return sums

    def add(self, currency: str, amount: Any) -> None:
        if amount is None:
            return
        self[currency] = self.get(currency, ZERO) + Decimal(amount)

    def __add__(self, other: Mapping[str, Decimal]) -> MoneySums:  # type: ignore[override]
        out = MoneySums(self)
        for currency, amount in other.items():
            out.add(currency, amount)
        return out

    def __sub__(self, other: Mapping[str, Decimal]) -> MoneySums:
        out = MoneySums(self)
        for currency, amount in other.items():
            out.add(currency, -amount)
        return out

    def amount(self, currency: str = MAIN_CURRENCY) -> Decimal:
        return self.get(currency, ZERO)

    def ordered(self) -> list[tuple[str, Decimal]]:
        return sorted(
            ((c, a) for c, a in self.items() if a),
            key=lambda item: (item[0] != MAIN_CURRENCY, item[0]),
        )

    def as_list(self) -> list[dict[str, str]]:
        """The API form: [{"currency": "RUB", "amount": "1250000.00"}, …] (no zero sums)."""
        return [{"currency": c, "amount": f"{a:.2f}"} for c, a in self.ordered()]

    def as_json(self) -> str:
        """For a data attribute read by app.js: {"RUB": "1250000.00", …}."""
        return json.dumps({c: f"{a:.2f}" for c, a in sorted(self.items())})


def sum_by_currency(
    rows: Iterable[Any], amount: str = "amount", currency: str = "currency"
) -> MoneySums:
    """Sum objects or dicts with an amount and a currency (cards on screen, deal rows)."""
    sums = MoneySums()
    for row in rows:
        if isinstance(row, Mapping):
            sums.add(row[currency], row[amount])
        else:
            sums.add(getattr(row, currency), getattr(row, amount))
    return sums
