"""One log format for every process of `make run`: the gunicorn master, its web workers and the
task worker (`voronka worker`).

* One zone: UTC, written with a "Z" (the gunicorn master starts before Django sets TZ to
  TIME_ZONE, its workers after it — local time stamps used to differ between them).
* One line per event: every logger reaches the console through exactly one handler (Django's
  default configuration gives the "django" logger a console handler of its own on top of the
  root's; the task worker logged "started" and "finished" for each job).
* A quiet access log: the navigation polls /counters/ every 5 seconds per open tab and
  /healthz is asked by supervisors — neither is written to the access log.

Django reads `django_logging()` (settings.LOGGING); gunicorn reads `gunicorn_logging()` through
config/gunicorn_conf.py, which `voronka serve` passes to it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
# Paths of the access log that are polled, not visited.
QUIET_PATHS = ("/counters/", "/healthz")


class UTCFormatter(logging.Formatter):
    """2026-12-07T09:15:02.123Z — UTC whatever TZ the process has."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's API
        stamp = time.strftime(datefmt or "%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class QuietPathsFilter(logging.Filter):
    """Drops gunicorn access records of QUIET_PATHS (gunicorn passes its atoms as the args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict):
            path = str(args.get("U") or "")
            if path.startswith(QUIET_PATHS):
                return False
        return True


def _formatters() -> dict[str, Any]:
    # A fresh dict each time: dictConfig pops "()" out of the configuration it is given.
    return {"voronka": {"()": UTCFormatter, "fmt": FORMAT}}


def django_logging(level: str = "WARNING") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": _formatters(),
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "voronka"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Replaces Django's default (a console handler of its own + propagation = twice).
            "django": {"handlers": [], "level": level, "propagate": True},
            # 4xx are in the access log already; 5xx (ERROR, with the traceback) stay.
            "django.request": {"handlers": [], "level": "ERROR", "propagate": True},
            # The task worker: one line per job (voronka_worker drops the "started" one).
            "django_tasks": {"handlers": [], "level": "INFO", "propagate": True},
            "django_tasks_db": {"handlers": [], "level": "INFO", "propagate": True},
        },
    }


def gunicorn_logging(level: str = "INFO") -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error log (master and workers) and its access log in the
    same format as Django's, on stderr; the access log without QUIET_PATHS."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": _formatters(),
        "filters": {"quiet_paths": {"()": QuietPathsFilter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "voronka",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "voronka",
                "filters": ["quiet_paths"],
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
