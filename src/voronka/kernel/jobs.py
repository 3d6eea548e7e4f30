"""The registry of periodic jobs. The app that owns a job declares it in its `jobs.py`:

    @periodic("automation_monitors", every=dt.timedelta(minutes=1))
    @task()
    def sweep_monitors() -> dict[str, int]: ...

`discover()` (kernel.events) imports every app's `jobs.py` at start-up; the schedule
(automation.schedule) enqueues each job once per period through a unique (job, period) row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: dt.timedelta
    enqueue: Callable[[], object]
    description: str = ""
    module: str = ""


PERIODIC: dict[str, PeriodicJob] = {}


def register_periodic(
    name: str,
    *,
    every: dt.timedelta,
    enqueue: Callable[[], object],
    description: str = "",
    module: str = "",
) -> PeriodicJob:
    if not name or len(name) > 64:
        raise ImproperlyConfigured(f"periodic job name {name!r}: 1–64 characters")
    if name in PERIODIC:
        raise ImproperlyConfigured(f"periodic job {name!r} is registered twice")
    if every < dt.timedelta(seconds=1):
        raise ImproperlyConfigured(f"periodic job {name!r}: every must be at least 1 s")
    job = PeriodicJob(name, every, enqueue, " ".join(description.split()), module)
    PERIODIC[name] = job
    return job


def periodic(name: str, *, every: dt.timedelta) -> Callable[[T], T]:
    """Register a django-tasks task (put it above `@task()`) to run every `every`."""

    def register(job: T) -> T:
        enqueue: Any = getattr(job, "enqueue", None)
        if not callable(enqueue):
            raise ImproperlyConfigured(
                f"@periodic({name!r}) decorates a django-tasks task: put it above @task()"
            )
        func = getattr(job, "func", None)
        doc = (getattr(func, "__doc__", None) or "").strip().split("\n\n")[0]
        module = getattr(func, "__module__", "") or ""
        register_periodic(name, every=every, enqueue=enqueue, description=doc, module=module)
        return job

    return register


def unregister_periodic(name: str) -> None:
    """Tests only."""
    PERIODIC.pop(name, None)
