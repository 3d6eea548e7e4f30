"""The independent oracle of RELIABILITY rows 1–2 for tasks and counters (§8.2): which tasks a
user may see, and what their badges must say, computed with plain SQL over the fixture tables
(roles, department paths, responsible ids, raw task and deal rows) and Python arithmetic. It
does not import identity/scopes.py, the task selectors or the maintained counter tables."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

RANK = {"none": 0, "own": 1, "department": 2, "all": 3}


def rows(sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def moment(value: Any) -> dt.datetime:
    """A datetime column from a raw cursor as an aware UTC datetime (SQLite gives strings or
    naive UTC values, PostgreSQL aware ones)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def task_scope(user_id: int | None) -> str:
    if user_id is None:
        return "none"
    found = rows("SELECT is_active, is_superuser FROM identity_user WHERE id = %s", [user_id])
    if not found or not found[0][0]:
        return "none"
    if found[0][1]:
        return "all"
    scopes = rows(
        "SELECT r.task_scope FROM identity_role r JOIN identity_user_roles ur ON ur.role_id = r.id "
        "WHERE ur.user_id = %s",
        [user_id],
    )
    return max((s for (s,) in scopes), key=lambda s: RANK[s], default="none")


def visible_responsibles(user_id: int | None, entity: str = "task") -> set[int] | None:
    """Responsible ids whose records the user sees; None = everyone."""
    scope = task_scope(user_id) if entity == "task" else _scope(user_id, entity)
    if scope == "none":
        return set()
    if scope == "all":
        return None
    dept = rows(
        "SELECT d.path FROM identity_user u JOIN identity_department d ON d.id = u.department_id "
        "WHERE u.id = %s",
        [user_id],
    )
    if scope == "own" or not dept:
        return {user_id}  # type: ignore[arg-type]
    members = rows(
        "SELECT u.id FROM identity_user u JOIN identity_department d ON d.id = u.department_id "
        "WHERE d.path LIKE %s",
        [dept[0][0] + "%"],
    )
    return {m for (m,) in members} | {user_id}  # type: ignore[arg-type]


def _scope(user_id: int | None, entity: str) -> str:
    if user_id is None:
        return "none"
    found = rows("SELECT is_active, is_superuser FROM identity_user WHERE id = %s", [user_id])
    if not found or not found[0][0]:
        return "none"
    if found[0][1]:
        return "all"
    scopes = rows(
        f"SELECT r.{entity}_scope FROM identity_role r JOIN identity_user_roles ur ON ur.role_id = r.id "
        "WHERE ur.user_id = %s",
        [user_id],
    )
    return max((s for (s,) in scopes), key=lambda s: RANK[s], default="none")


@dataclass(frozen=True)
class TaskRow:
    id: int
    responsible_id: int
    deadline: dt.datetime
    status: str
    deal_id: int | None
    contact_id: int | None
    company_id: int | None


def all_tasks() -> list[TaskRow]:
    return [
        TaskRow(i, r, moment(d), s, deal, contact, company)
        for i, r, d, s, deal, contact, company in rows(
            "SELECT id, responsible_id, deadline, status, deal_id, contact_id, company_id FROM activities_task"
        )
    ]


def visible_tasks(user_id: int | None) -> list[TaskRow]:
    who = visible_responsibles(user_id)
    return [t for t in all_tasks() if who is None or t.responsible_id in who]


def visible_task_ids(user_id: int | None) -> set[int]:
    return {t.id for t in visible_tasks(user_id)}


def tomorrow_start(now: dt.datetime) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    local_now = now.astimezone(zone)
    tomorrow = local_now.date() + dt.timedelta(days=1)
    return dt.datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).astimezone(dt.UTC)


def counters(user_id: int | None, now: dt.datetime) -> dict[str, int]:
    """The badges from first principles: raw task rows and raw deal rows within the scope."""
    tasks = [t for t in visible_tasks(user_id) if t.status == "open"]
    overdue = [t for t in tasks if t.deadline < now]
    end_of_today = tomorrow_start(now)
    deal_scope = visible_responsibles(user_id, "deal")
    deals = [
        (i, r, moment(entered), sla, int(open_tasks))
        for i, r, entered, sla, open_tasks in rows(
            "SELECT d.id, d.responsible_id, d.stage_entered_at, s.sla_days, "
            "(SELECT COUNT(*) FROM activities_task t WHERE t.deal_id = d.id AND t.status = 'open') "
            "FROM deals_deal d JOIN deals_stage s ON s.id = d.stage_id WHERE d.status = 'open'"
        )
        if deal_scope is None or r in deal_scope
    ]
    return {
        "overdue_tasks": len(overdue),
        "tasks_today": sum(1 for t in tasks if now <= t.deadline < end_of_today),
        "deals_without_task": sum(1 for d in deals if d[4] == 0),
        "deals_over_sla": sum(
            1 for d in deals if d[3] is not None and d[2] < now - dt.timedelta(days=d[3])
        ),
        "open_deals": len(deals),
        "deals_overdue_tasks": sum(1 for t in overdue if t.deal_id),
        "contacts_overdue_tasks": sum(1 for t in overdue if not t.deal_id and t.contact_id),
        "companies_overdue_tasks": sum(1 for t in overdue if not t.deal_id and not t.contact_id),
    }


def unread_notifications(user_id: int) -> int:
    return int(
        rows(
            "SELECT COUNT(*) FROM activities_notification WHERE user_id = %s AND read_at IS NULL",
            [user_id],
        )[0][0]
    )


def scope_label(viewer_id: int, responsible_id: int) -> str:
    """own / colleague (same department) / sub-dept / parent-dept / other dept — for reports."""
    if viewer_id == responsible_id:
        return "own"
    paths = dict(
        rows(
            "SELECT u.id, d.path FROM identity_user u LEFT JOIN identity_department d ON d.id = u.department_id "
            "WHERE u.id IN (%s, %s)",
            [viewer_id, responsible_id],
        )
    )
    mine, theirs = paths.get(viewer_id), paths.get(responsible_id)
    if not mine or not theirs:
        return "unassigned"
    if mine == theirs:
        return "colleague"
    if theirs.startswith(mine):
        return "sub-dept"
    if mine.startswith(theirs):
        return "parent-dept"
    return "other dept"
