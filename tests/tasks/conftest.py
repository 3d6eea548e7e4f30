"""Fixtures of the tasks-and-control tests (issue 3).

From tasks/fixtures.py (registered here so every module of the package sees them):
  * ``world`` — the hand-built counters world (tasks/support.py: build_world; NOW = 18.03.2026
    15:00 MSK), ``users`` — persona key → User;
  * ``smtp_server`` — aiosmtpd on 127.0.0.1 on a free port, collecting every message.
Here: ``task_payload(...)`` (a valid POST /api/v1/tasks body).
The independent SQL oracle of rows 1–2 is tasks/oracle.py; the random operation runner and the
figures line are in tasks/support.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tasks.fixtures import smtp_server, users, world  # noqa: F401  (fixtures for the package)


def task_payload(responsible: Any, deadline: dt.datetime, **links: Any) -> dict[str, Any]:
    """A valid POST /api/v1/tasks body (links given as model instances or ids)."""
    return {
        "type": "call",
        "responsible": responsible.pk,
        "deadline": deadline.isoformat(),
        "comment": f"Позвонить клиенту ({responsible.username})",
        **{k: (v.pk if hasattr(v, "pk") else v) for k, v in links.items()},
    }
