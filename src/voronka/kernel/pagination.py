"""Keyset pagination: one paginator and one cursor format for every list (API and HTML).

A page is `limit` rows in a total order that ends with the primary key. The cursor names the
last row handed out by its order-key values, so the next page is "the rows after that key": no
OFFSET (page 2,000 costs what page 1 costs), and a row inserted or deleted between two requests
neither repeats a row nor hides one that existed throughout.

The cursor is opaque to clients (decision 0013): `1.<payload>.<mac>` — the format version, the
url-safe base64 of the JSON list of key values, and a truncated HMAC (SECRET_KEY) over the
version, the list's model and order and the payload. A cursor that is malformed, edited, or
handed out by another list or sort is a ValidationError naming `cursor` (a 4xx), never a 500.
Values are re-typed from the model's fields even when the MAC is good; date-times go through
the clamps of kernel.dates, so no cursor can overflow a datetime.

A nullable date or date-time may be a key (a company's last purchase, last interaction): NULL
is placed as the smallest value on both databases (first ascending, last descending — the
never-touched clients lead "longest without contact" and trail "most recent"), explicitly, since
SQLite and PostgreSQL place it differently by default; the cursor carries it as JSON null.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import F, OrderBy, Q, QuerySet
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from voronka.kernel import dates
from voronka.kernel.errors import ValidationError

T = TypeVar("T")

VERSION = "1"
MAX_LIMIT = 200
MAX_CURSOR_LENGTH = 2048
_MAC_BYTES = 12  # 96 bits: enough to detect an edit, short enough for a URL
_SALT = "voronka.kernel.pagination"
_INT_RANGE = (-(2**63), 2**63 - 1)  # what SQLite and PostgreSQL bigint can compare against
_INT_FIELDS = (models.IntegerField, models.AutoField)  # Big/Small/Positive… subclass these
_TEXT_FIELDS = (models.CharField, models.TextField)
_KEY_FIELDS = (models.DateField, models.DecimalField, *_INT_FIELDS, *_TEXT_FIELDS)
_NULLABLE_KEY_FIELDS = (models.DateField,)  # DateTimeField subclasses it


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def bad_cursor() -> ValidationError:
    return ValidationError({"cursor": _("Неверный курсор страницы")})


def check_limit(limit: int) -> int:
    """The page size every list accepts (API `limit`)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": _("От 1 до %(n)s") % {"n": MAX_LIMIT}})
    return limit


@dataclass(frozen=True)
class _Key:
    name: str  # the model field's name (pk resolved)
    descending: bool
    field: models.Field[Any, Any]


def _keys(model: type[models.Model], order: Sequence[str]) -> list[_Key]:
    """The order as typed keys; a programming error (not a 4xx) when it cannot be a keyset."""
    keys = []
    for item in order:
        descending = item.startswith("-")
        name = item.lstrip("-")
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        # NULLs sort differently on SQLite and PostgreSQL and never compare: only dates may be
        # NULL, placed explicitly (_order_by, _after). The types are checked here, not when a
        # second page first appears.
        nullable_ok = isinstance(field, _NULLABLE_KEY_FIELDS) and not field.primary_key
        if not isinstance(field, _KEY_FIELDS) or (field.null and not nullable_ok):
            raise ImproperlyConfigured(
                f"keyset order on {model.__name__}.{name}: not a non-null value field"
            )
        keys.append(_Key(name=field.attname, descending=descending, field=field))
    if not keys or not keys[-1].field.primary_key:
        raise ImproperlyConfigured(f"keyset order {tuple(order)} must end with the primary key")
    return keys


def _order_names(keys: list[_Key]) -> list[str]:
    return [f"-{k.name}" if k.descending else k.name for k in keys]


def _order_by(keys: list[_Key]) -> list[str | OrderBy]:
    """The ORDER BY; a nullable key with NULL as its smallest value on either database."""
    return [
        (
            OrderBy(F(k.name), descending=k.descending, nulls_last=True)
            if k.descending
            else OrderBy(F(k.name), nulls_first=True)
        )
        if k.field.null
        else (f"-{k.name}" if k.descending else k.name)
        for k in keys
    ]


def _signature(model: type[models.Model], keys: list[_Key]) -> str:
    return f"{model._meta.label_lower}:{','.join(_order_names(keys))}"


def _mac(signature: str, payload: str) -> str:
    digest = salted_hmac(_SALT, f"{VERSION}|{signature}|{payload}", algorithm="sha256").digest()
    return _b64(digest[:_MAC_BYTES])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _dump(key: _Key, value: Any) -> Any:
    if value is None and key.field.null:
        return None
    if isinstance(key.field, models.DateTimeField):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(key.field, models.DateField):
        return value.isoformat()
    if isinstance(key.field, models.DecimalField):
        return str(value)
    if isinstance(key.field, (*_INT_FIELDS, *_TEXT_FIELDS)):
        return value
    raise ImproperlyConfigured(f"keyset order on a {type(key.field).__name__}")


def _load(key: _Key, raw: Any) -> Any:
    """A cursor value back to the field's type; anything else → ValueError."""
    if raw is None and key.field.null:
        return None
    if isinstance(key.field, models.DateTimeField):
        if not isinstance(raw, str):
            raise ValueError
        return dates.clamp_moment(dates.parse_moment(raw, field="cursor"))
    if isinstance(key.field, models.DateField):
        return dates.clamp_day(dates.parse_day(raw, field="cursor"))
    if isinstance(key.field, models.DecimalField):
        if not isinstance(raw, str) or len(raw) > 64:
            raise ValueError
        value = Decimal(raw)
        # Beyond the column's digits the database adapter itself fails (a 500, not a 4xx).
        digits = (key.field.max_digits or 0) - (key.field.decimal_places or 0)
        if not value.is_finite() or abs(value) >= Decimal(10) ** digits:
            raise ValueError
        return value
    if isinstance(key.field, _INT_FIELDS):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError
        if not _INT_RANGE[0] <= raw <= _INT_RANGE[1]:
            raise ValueError
        return raw
    if isinstance(key.field, _TEXT_FIELDS):
        if not isinstance(raw, str) or len(raw) > (key.field.max_length or 10_000):
            raise ValueError
        if "\x00" in raw:  # PostgreSQL refuses NUL in any string parameter
            raise ValueError
        return raw
    raise ValueError


def encode_cursor(model: type[models.Model], order: Sequence[str], values: Sequence[Any]) -> str:
    """The cursor of the row whose order-key values are `values` (the next page starts after
    it). Only the paginator and tools that need a far page without walking (the benchmark)
    call this."""
    keys = _keys(model, order)
    payload = _b64(json.dumps([_dump(k, v) for k, v in zip(keys, values, strict=True)]).encode())
    return f"{VERSION}.{payload}.{_mac(_signature(model, keys), payload)}"


def decode_cursor(model: type[models.Model], order: Sequence[str], cursor: str) -> list[Any]:
    """The typed key values of a cursor; ValidationError naming `cursor` for anything else."""
    keys = _keys(model, order)
    try:
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        version, payload, mac = cursor.split(".")
        if version != VERSION:
            raise ValueError
        if not hmac.compare_digest(mac, _mac(_signature(model, keys), payload)):
            raise ValueError
        raw = json.loads(_unb64(payload))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError
        return [_load(k, v) for k, v in zip(keys, raw, strict=True)]
    except (ValueError, InvalidOperation, ValidationError, binascii.Error, UnicodeDecodeError):
        raise bad_cursor() from None


def _after(keys: list[_Key], values: list[Any]) -> Q:
    """Rows strictly after `values` in the order: the lexicographic expansion
    (k1 > v1) | (k1 = v1 & k2 > v2) | … with > or < per key's direction."""
    condition: Q | None = None
    equal = Q()
    for key, value in zip(keys, values, strict=True):
        step = equal & _beyond(key, value)
        condition = step if condition is None else condition | step
        equal &= Q(**{f"{key.name}__isnull": True}) if value is None else Q(**{key.name: value})
    assert condition is not None
    return condition


def _beyond(key: _Key, value: Any) -> Q:
    """This key's values strictly after `value` in the order (NULL the smallest value)."""
    if value is None:  # ascending: every value is after NULL; descending: nothing is
        return Q(**{f"{key.name}__isnull": False}) if not key.descending else Q(pk__in=[])
    beyond = Q(**{f"{key.name}__{'lt' if key.descending else 'gt'}": value})
    if key.field.null and key.descending:
        beyond |= Q(**{f"{key.name}__isnull": True})
    return beyond


def _value(row: Any, key: _Key) -> Any:
    if isinstance(row, Mapping):
        return row[key.name] if key.name in row else row[key.field.name]
    return getattr(row, key.name)


def keyset_page(
    qs: QuerySet[Any], *, order: Sequence[str], cursor: str | None, limit: int
) -> Page[Any]:
    """One page of `qs` (model instances or `.values()` rows) in `order`, which must end with
    the primary key (e.g. `("-created_at", "-id")` or `("-id",)`), after `cursor`."""
    limit = check_limit(limit)
    keys = _keys(qs.model, order)
    qs = qs.order_by(*_order_by(keys))
    if cursor:
        qs = qs.filter(_after(keys, decode_cursor(qs.model, order, cursor)))
    rows = list(qs[: limit + 1])
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    last = rows[-1]
    return Page(rows, encode_cursor(qs.model, order, [_value(last, k) for k in keys]))


def keyset_chunks(
    qs: QuerySet[Any], *, order: Sequence[str], size: int = 2000
) -> Iterator[list[Any]]:
    """Every row of `qs` in `order` (which must end with the primary key), `size` rows per
    query: the walk an export makes over a list of any length without holding it (each chunk
    starts after the last key of the one before, as the pages do — no OFFSET)."""
    keys = _keys(qs.model, order)
    qs = qs.order_by(*_order_by(keys))
    after: Q | None = None
    while True:
        rows = list((qs if after is None else qs.filter(after))[:size])
        if rows:
            yield rows
        if len(rows) < size:
            return
        after = _after(keys, [_value(rows[-1], k) for k in keys])
