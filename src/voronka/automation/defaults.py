"""The built-in rules every installation has: the overdue-task sweep of the tasks issue as two
monitor rules without an owner (they act as the system). A head of sales retunes or switches
them off like any other rule; they are created when missing after `migrate` (and after a test
database is flushed), never changed once they exist."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from voronka.automation.models import Rule, RuleKind

OVERDUE_TO_RESPONSIBLE = "Просроченная задача → ответственному"
OVERDUE_TO_HEAD = "Просроченная задача → руководителю"


def default_rules() -> list[dict[str, Any]]:
    grace_minutes = settings.VORONKA_OVERDUE_HEAD_GRACE_HOURS * 60
    return [
        {
            "builtin": "overdue_responsible",
            "name": OVERDUE_TO_RESPONSIBLE,
            "monitor_params": {"after_minutes": 0, "within_days": 3},
            "params": {"to": "responsible"},
            "sort": 0,
        },
        {
            "builtin": "overdue_head",
            "name": OVERDUE_TO_HEAD,
            "monitor_params": {"after_minutes": grace_minutes, "within_days": 3},
            "params": {"to": "head"},
            "sort": 1,
        },
    ]


def rules_ensure_defaults() -> int:
    """Create the built-in rules that are missing."""
    created = 0
    for spec in default_rules():
        if Rule.objects.filter(builtin=spec["builtin"]).exists():
            continue
        Rule.objects.create(
            kind=RuleKind.MONITOR,
            monitor="overdue_task",
            action="notify_overdue",
            **spec,
        )
        created += 1
    return created


def rules_ensure_defaults_after_migrate(**kwargs: Any) -> None:
    using = kwargs.get("using", "default")
    if using != "default" or Rule._meta.db_table not in connection.introspection.table_names():
        return
    rules_ensure_defaults()
