"""The application's clock. Services ask it the time so the demo loader can write history
in the past and tests can run on a fake clock; production always reads the real time."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

_local = threading.local()


def now() -> dt.datetime:
    fixed = getattr(_local, "now", None)
    return fixed if fixed is not None else timezone.now()


def db_now() -> dt.datetime:
    """The time for what several processes decide together — leases, periods, what is due — from
    the database's clock on PostgreSQL, so a worker on a host whose clock is off (or jumped) can
    neither take another worker's lease early nor claim a period ahead of time. A frozen clock
    (tests, the demo loader) wins; SQLite is one host: its clock."""
    fixed = getattr(_local, "now", None)
    if fixed is not None:
        return fixed
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement_timestamp()")
            value = cursor.fetchone()[0]
        return value.astimezone(dt.UTC)
    return timezone.now()


@contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    previous = getattr(_local, "now", None)
    _local.now = at
    try:
        yield
    finally:
        _local.now = previous
