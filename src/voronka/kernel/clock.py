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


@contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    previous = getattr(_local, "now", None)
    _local.now = at
    try:
        yield
    finally:
        _local.now = previous
