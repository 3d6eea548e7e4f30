"""What a money input may be: one rule for every amount and currency a user can type (a deal's
amount, a money custom field, a currency filter).

No installed library carries ISO 4217 (pycountry and babel are not dependencies), so the active
codes are a constant here: ISO 4217 list one, circulating currencies as of 2026 — without fund
codes (CLF, COU, …), precious metals, XDR/XSU/XUA, the testing code XTS and XXX («no currency»),
and without codes withdrawn from circulation (ANG → XCG in 2025, BGN → EUR in 2026, HRK, SLL,
ZWL, CUC…)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

_CODES = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR
    SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217: frozenset[str] = frozenset(_CODES.split())
DEFAULT_CURRENCY = "RUB"
# Offered first in the forms' currency selects (any ISO code is accepted through the API).
COMMON_CURRENCIES: tuple[str, ...] = ("RUB", "USD", "EUR", "CNY", "KZT", "BYN")
# Every amount lies in [0, MAX_AMOUNT): Deal.amount is DECIMAL(16, 2).
MAX_AMOUNT = Decimal("1e13")


def clean_currency(raw: Any) -> str:
    """An active ISO 4217 code (case-insensitive) → upper case, or ValueError(message)."""
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if code not in ISO_4217:
        raise ValueError(_("Валюта — код ISO 4217, например RUB, USD или EUR"))
    return code


def clean_amount(raw: Any) -> Decimal:
    """A sum of money: «15 000,50» → Decimal('15000.50'); from 0 up to 10 trillion, 2 places."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise ValueError(_("Ожидается сумма, например 15000.50"))
    try:
        text = str(raw).strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
        value = Decimal(text or "0")
        if not value.is_finite():
            raise ValueError
        value = value.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValueError(_("Ожидается сумма, например 15000.50")) from None
    if value < 0 or value >= MAX_AMOUNT:
        raise ValueError(_("Сумма от 0 до 10 триллионов"))
    return value


def currency_choices(*current: str) -> list[str]:
    """The common currencies plus the record's own (a select must not silently change it)."""
    extra = [c for c in current if c and c not in COMMON_CURRENCIES]
    return [*COMMON_CURRENCIES, *dict.fromkeys(extra)]
