"""Dates and date-times from outside (query parameters, forms, bodies, cursors, custom fields),
and the one conversion "a calendar day → aware moments".

Python's datetime ends at 0001-01-01 and 9999-12-31. A day turned into its first moment in the
local zone, shifted to UTC for the database, or extended by "+1 day" can fall off either end
(OverflowError → a 500). Everything that parses a date parameter or turns days into moments goes
through this module:

* `parse_day` / `parse_moment` — strict parsing; garbage is a ValidationError naming the field.
* `day_start` / `day_range` / `clamp_moment` — bounds for filters, clamped to the product's
  calendar (FIRST_DAY..LAST_DAY). No stored moment lies outside it, so clamping keeps the
  meaning: `opened_from=0001-01-01` is "from the beginning", `opened_to=9999-12-31` "to the end".
* `in_calendar` — values that are *stored* (custom dates) must lie inside the calendar, so that
  showing them in any zone, or counting days from them, cannot overflow either.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _lazy

from voronka.kernel.errors import ValidationError

FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
# Every moment of every calendar day, in any zone (offsets are under a day), lies in between.
FIRST_MOMENT = dt.datetime(1899, 12, 31, tzinfo=dt.UTC)
LAST_MOMENT = dt.datetime(3000, 1, 2, tzinfo=dt.UTC)

# A task's deadline (and so a robot's fixed deadline): within these years.
FIRST_DEADLINE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LAST_DEADLINE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

DAY_EXPECTED = _lazy("Ожидается дата ГГГГ-ММ-ДД")
MOMENT_EXPECTED = _lazy("Ожидается дата и время, например 2026-11-23T15:00")
OUT_OF_CALENDAR = _lazy("Дата вне допустимого диапазона (1900–2999 годы)")


def parse_day(raw: Any, *, field: str) -> dt.date:
    """`YYYY-MM-DD` (or a date) → date; anything else is a ValidationError naming `field`.
    Any year Python knows is accepted: bounds are clamped when the day becomes moments."""
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    value = None
    if isinstance(raw, str) and len(raw) <= 32:
        try:
            value = parse_date(raw.strip())
        except ValueError:  # well-formed but impossible: 2026-02-30
            value = None
    if value is None:
        raise ValidationError({field: str(DAY_EXPECTED)})
    return value


def parse_moment(raw: Any, *, field: str) -> dt.datetime:
    """ISO 8601 date-time (without an offset: the current zone) → an aware datetime in the zone
    it was given in (converting it could overflow: see `clamp_moment`)."""
    value: dt.datetime | None = None
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str) and len(raw) <= 64:
        try:
            value = parse_datetime(raw.strip())
        except ValueError:
            value = None
    if value is None:
        raise ValidationError({field: str(MOMENT_EXPECTED)})
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def clamp_moment(value: dt.datetime) -> dt.datetime:
    """An aware bound → UTC, clamped to the calendar (comparing aware datetimes never overflows;
    converting 0001-01-01T00:00+05:00 to UTC does)."""
    if value < FIRST_MOMENT:
        return FIRST_MOMENT
    if value > LAST_MOMENT:
        return LAST_MOMENT
    return value.astimezone(dt.UTC)


def day_start(day: dt.date) -> dt.datetime:
    """The first moment of `day` in the current zone (aware), clamped to the calendar."""
    if day < FIRST_DAY:
        return FIRST_MOMENT
    if day > LAST_DAY:
        return LAST_MOMENT
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def day_range(first: dt.date, last: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The half-open range [first moment of `first`, first moment of the day after `last`)."""
    last = first if last is None else last
    end = LAST_MOMENT if last >= LAST_DAY else day_start(last + dt.timedelta(days=1))
    return day_start(first), end


def clamp_day(day: dt.date) -> dt.date:
    return min(max(day, FIRST_DAY), LAST_DAY)


def in_calendar(value: dt.date) -> bool:
    """A date, or a date-time by its own wall-clock date, lies inside the calendar."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return FIRST_DAY <= day <= LAST_DAY
