"""Normalizers and validators for what users type: phones, e-mails, Russian identifiers.

Each returns the canonical form or raises ValueError with a user-facing message. They are
idempotent: norm(norm(x)) == norm(x) (property-tested).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import phonenumbers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.ru import inn as stdnum_inn

DEFAULT_REGION = "RU"
# Bidi overrides and other invisible control characters never belong in stored text.
_CONTROL = {"Cc", "Cf"}


def clean_text(value: str, *, max_length: int | None = None, field: str = "") -> str:
    """Strip, drop control/bidi characters (keeping newlines and tabs), enforce a length."""
    cleaned = strip_control(value).strip()
    if max_length is not None and len(cleaned) > max_length:
        raise ValueError(_("Не длиннее %(n)s символов") % {"n": max_length})
    return cleaned


def strip_control(value: str) -> str:
    """Drop control and format characters (NUL, bidi overrides, zero-width) but keep newlines
    and tabs; nothing else changes (no trimming): the cleaning every input string gets."""
    if value.isprintable():  # the common case: nothing to drop (newlines are not printable)
        return value
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in _CONTROL)


MAX_INPUT_DEPTH = 20


def clean_input(value: Any, *, _depth: int = 0) -> Any:
    """Every string of a request body — values and mapping keys, at any depth — without
    control characters. Schemas (kernel.schemas.StrictIn) and the services' FieldCleaner run
    it, so a form and the API store the same text. Other values are returned unchanged."""
    if isinstance(value, str):
        return strip_control(value)
    if _depth >= MAX_INPUT_DEPTH:
        raise ValueError(_("Слишком глубокая вложенность данных"))
    if isinstance(value, Mapping):
        return {
            (strip_control(k) if isinstance(k, str) else k): clean_input(v, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [clean_input(v, _depth=_depth + 1) for v in value]
    return value


def normalize_url(raw: str, *, max_length: int = 1000) -> str:
    """A web address: http or https with a host. «voronka.ru/price» gets https://; any other
    scheme (javascript:, data:, file:, ftp:) is refused."""
    text = clean_text(str(raw), max_length=max_length)
    if not text:
        return ""
    if "://" not in text and not text.lower().startswith(("javascript:", "data:", "vbscript:")):
        text = "https://" + text
    try:
        parsed = urlparse(text)
        host = parsed.hostname or ""
    except ValueError:  # http://[::1
        host = ""
    if (
        not host
        or parsed.scheme.lower() not in ("http", "https")
        or parsed.username is not None
        or any(ch.isspace() for ch in text)
        or ("." not in host and host != "localhost")
    ):
        raise ValueError(_("Ожидается адрес сайта http(s)://…"))
    if len(text) > max_length:
        raise ValueError(_("Не длиннее %(n)s символов") % {"n": max_length})
    return text


EARLIEST_BIRTHDAY = dt.date(1900, 1, 1)


def normalize_birthday(raw: Any) -> dt.date:
    """A date of birth: `YYYY-MM-DD` (or a date) from 1900-01-01 up to today (local)."""
    from voronka.kernel import clock

    value: dt.date | None = None
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str) and len(raw) <= 32:
        try:
            value = parse_date(raw.strip())
        except ValueError:  # well-formed but impossible: 1990-02-30
            value = None
    if value is None:
        raise ValueError(_("Ожидается дата ГГГГ-ММ-ДД"))
    today = timezone.localtime(clock.now()).date()
    if value > today:
        raise ValueError(_("День рождения не может быть в будущем"))
    if value < EARLIEST_BIRTHDAY:
        raise ValueError(_("День рождения — не раньше 1900 года"))
    return value


# Numbers normalized lately: (text, region) → E.164, the answer also filed under itself (a
# fixed point). The import normalizes a row's number and the service then checks the E.164 it
# is handed: ~90 µs of phonenumbers each time otherwise. Bounded: emptied when full.
_PHONES: dict[tuple[str, str], str] = {}
_PHONES_MAX = 20_000


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the E.164 form of a phone number or raise ValueError."""
    key = (raw if type(raw) is str else str(raw), region)
    known = _PHONES.get(key)
    if known is not None:
        return known
    e164 = _normalize_phone(key[0], region)
    if len(_PHONES) >= _PHONES_MAX:
        _PHONES.clear()
    _PHONES[key] = _PHONES[(e164, region)] = e164
    return e164


def _normalize_phone(raw: str, region: str) -> str:
    text = clean_text(raw)
    if not text or len(text) > 40:
        raise ValueError(_("Неверный номер телефона"))
    # Russian habit: 8XXXXXXXXXX means +7XXXXXXXXXX.
    digits = re.sub(r"\D", "", text)
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] == "8":
        text = "+7" + digits[1:]
    if region == "RU" and (mobile := _ru_mobile(text)):
        return mobile
    return _parsed(text, region)


# A Russian mobile number written plainly — digits, spaces, brackets, dashes; +7 (or 8, already
# +7 above) or nothing before the ten digits — is most of what users type and every row of an
# import: its E.164 form without phonenumbers' parse (~90 µs). Only numbers phonenumbers' own
# metadata calls mobile take this way (is_valid_number says yes to them); anything else, and
# every doubt, goes through phonenumbers. A property test holds the two ways to one answer.
_PLAIN_PHONE = re.compile(r"\+?[0-9 ()-]+")
_RU_METADATA = phonenumbers.PhoneMetadata.metadata_for_region("RU")
assert _RU_METADATA is not None and _RU_METADATA.mobile is not None
_RU_MOBILE = re.compile(str(_RU_METADATA.mobile.national_number_pattern))


_NOT_DIGITS = str.maketrans("", "", "+ ()-")


def _ru_mobile(text: str) -> str | None:
    if not _PLAIN_PHONE.fullmatch(text):
        return None
    digits = text.translate(_NOT_DIGITS)
    if text.startswith("+"):
        if len(digits) != 11 or digits[0] != "7":
            return None
        national = digits[1:]
    elif len(digits) == 10:
        national = digits
    else:
        return None
    if national[0] != "9" or not _RU_MOBILE.fullmatch(national):
        return None
    return "+7" + national


def _parsed(text: str, region: str) -> str:
    """phonenumbers' answer: the E.164 form of a valid number, else ValueError."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(_("Неверный номер телефона")) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_("Неверный номер телефона"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalize_email(raw: str) -> str:
    text = clean_text(str(raw)).lower()
    if len(text) > 254:
        raise ValueError(_("Неверный адрес e-mail"))
    try:
        validate_email(text)
    except DjangoValidationError as exc:
        raise ValueError(_("Неверный адрес e-mail")) from exc
    return text


def _digits(raw: str) -> str:
    return re.sub(r"[\s-]", "", clean_text(str(raw)))


def normalize_inn(raw: str) -> str:
    value = _digits(raw)
    try:
        return stdnum_inn.validate(value)
    except StdnumError as exc:
        raise ValueError(_("Неверный ИНН: проверьте цифры и контрольную сумму")) from exc


def ogrn_check_digit(number: str) -> str:
    """The control digit of an ОГРН (13 digits: the first 12 mod 11, mod 10) or ОГРНИП (15: the
    first 14 mod 13, mod 10). stdnum's ОГРНИП check compares the whole remainder, so it refuses
    the valid numbers whose remainder is 10, 11 or 12 (their control digit is 0, 1 or 2)."""
    modulus = 11 if len(number) == 13 else 13
    return str(int(number[:-1]) % modulus % 10)


def normalize_ogrn(raw: str) -> str:
    value = _digits(raw)
    valid = (
        re.fullmatch(r"[0-9]{13}|[0-9]{15}", value) is not None
        and (value[0] != "0" if len(value) == 13 else value[0] in "34")
        and value[-1] == ogrn_check_digit(value)
    )
    if not valid:
        raise ValueError(_("Неверный ОГРН: проверьте цифры и контрольную сумму"))
    return value


# [0-9], not \d: \d also matches Arabic-Indic and other Unicode digits.
_KPP = re.compile(r"^[0-9]{4}[0-9A-Z]{2}[0-9]{3}$")


def normalize_kpp(raw: str) -> str:
    value = _digits(raw).upper()
    if not _KPP.match(value):
        raise ValueError(_("Неверный КПП: 9 знаков, например 770101001"))
    return value


def normalize_bik(raw: str) -> str:
    value = _digits(raw)
    if not re.fullmatch(r"04[0-9]{7}", value):
        raise ValueError(_("Неверный БИК: 9 цифр, начинается с 04"))
    return value


def normalize_bank_account(raw: str, bik: str) -> str:
    """A settlement account (20 digits) checked against the bank's BIK control key."""
    value = _digits(raw)
    if not re.fullmatch(r"[0-9]{20}", value):
        raise ValueError(_("Неверный расчётный счёт: 20 цифр"))
    if bik:
        key = bik[-3:] + value
        weights = [7, 1, 3] * 8
        if sum(int(d) * w for d, w in zip(key, weights, strict=False)) % 10 != 0:
            raise ValueError(_("Расчётный счёт не соответствует БИК банка"))
    return value
