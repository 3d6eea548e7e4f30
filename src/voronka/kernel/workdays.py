"""The Russian production calendar: working days, with public holidays, the days off moved by
the government's decrees and the Saturdays made working days (the `holidays` package keeps the
decrees: `weekend_workdays`). Used for robot deadlines ("next working day") and the plan pace."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

MAX_STEPS = 3660  # ten years of days: a bound, never reached by a sane rule


@lru_cache(maxsize=64)
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("RU", years=[year])


def is_working_day(day: dt.date) -> bool:
    calendar = _calendar(day.year)
    if day in calendar.weekend_workdays:
        return True
    return day.weekday() < 5 and day not in calendar


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The n-th working day after `day` (n ≥ 1), or before it (n ≤ -1); n = 0: `day` itself when
    it is a working day, else the next one."""
    step = 1 if n >= 0 else -1
    left = abs(n)
    current = day
    if left == 0:
        for _ in range(MAX_STEPS):
            if is_working_day(current):
                return current
            current += dt.timedelta(days=1)
        raise ValueError("no working day found")
    for _ in range(MAX_STEPS):
        current += dt.timedelta(days=step)
        if is_working_day(current):
            left -= 1
            if left == 0:
                return current
    raise ValueError("no working day found")


def working_days_between(first: dt.date, last: dt.date) -> int:
    """Working days in [first, last] (0 when last < first)."""
    if last < first:
        return 0
    return sum(
        1 for i in range((last - first).days + 1) if is_working_day(first + dt.timedelta(days=i))
    )
