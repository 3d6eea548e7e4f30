"""The independent oracle of RELIABILITY row 2: who may see which records, computed with plain
SQL over the fixture tables (users, roles, department paths, responsible_id) — it does not
import or call identity/scopes.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection

RANK = {"none": 0, "own": 1, "department": 2, "all": 3}
TABLES = {
    "deal": "deals_deal",
    "company": "contacts_company",
    "contact": "contacts_contact",
    "task": "activities_task",
}


def _rows(sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def scope_of(user_id: int | None, entity: str) -> str:
    if user_id is None:
        return "none"
    user = _rows("SELECT is_active, is_superuser FROM identity_user WHERE id = %s", [user_id])
    if not user or not user[0][0]:
        return "none"
    if user[0][1]:
        return "all"
    scopes = _rows(
        f"SELECT r.{entity}_scope FROM identity_role r "
        "JOIN identity_user_roles ur ON ur.role_id = r.id WHERE ur.user_id = %s",
        [user_id],
    )
    return max((s for (s,) in scopes), key=lambda s: RANK[s], default="none")


def visible_ids(
    user_id: int | None, entity: str, where: str = "", params: tuple[Any, ...] = ()
) -> set[int]:
    """Ids of `entity` rows the user may see (optionally narrowed by an extra SQL condition on
    the alias ``t``)."""
    table = TABLES[entity]
    scope = scope_of(user_id, entity)
    extra = f" AND ({where})" if where else ""
    if scope == "none":
        return set()
    if scope == "all":
        return {r[0] for r in _rows(f"SELECT t.id FROM {table} t WHERE 1 = 1{extra}", params)}
    dept = _rows(
        "SELECT d.path FROM identity_user u JOIN identity_department d ON d.id = u.department_id WHERE u.id = %s",
        [user_id],
    )
    if scope == "own" or not dept:
        return {
            r[0]
            for r in _rows(
                f"SELECT t.id FROM {table} t WHERE t.responsible_id = %s{extra}", (user_id, *params)
            )
        }
    sql = (
        f"SELECT t.id FROM {table} t WHERE (t.responsible_id = %s OR t.responsible_id IN ("
        "SELECT u.id FROM identity_user u JOIN identity_department d ON d.id = u.department_id "
        f"WHERE d.path LIKE %s)){extra}"
    )
    return {r[0] for r in _rows(sql, (user_id, dept[0][0] + "%", *params))}


def visible_users(user_id: int | None, entity: str = "deal") -> set[int] | None:
    """Responsible users whose records the user sees (None = everyone)."""
    scope = scope_of(user_id, entity)
    if scope == "none":
        return set()
    if scope == "all":
        return None
    dept = _rows(
        "SELECT d.path FROM identity_user u JOIN identity_department d ON d.id = u.department_id WHERE u.id = %s",
        [user_id],
    )
    if scope == "own" or not dept:
        return {user_id}  # type: ignore[arg-type]
    rows = _rows(
        "SELECT u.id FROM identity_user u JOIN identity_department d ON d.id = u.department_id WHERE d.path LIKE %s",
        [dept[0][0] + "%"],
    )
    return {r[0] for r in rows} | {user_id}  # type: ignore[arg-type]


def board_aggregates(ids: set[int], pipeline_id: int) -> dict[int, tuple[int, dict[str, Decimal]]]:
    """stage id → (count, {currency: sum of amounts}) over the given deal ids in a pipeline."""
    if not ids:
        return {}
    marks = ", ".join(["%s"] * len(ids))
    rows = _rows(
        f"SELECT stage_id, currency, COUNT(*), COALESCE(SUM(amount), 0) FROM deals_deal "
        f"WHERE pipeline_id = %s AND id IN ({marks}) GROUP BY stage_id, currency",
        (pipeline_id, *sorted(ids)),
    )
    out: dict[int, tuple[int, dict[str, Decimal]]] = {}
    for stage, currency, n, total in rows:
        count, sums = out.get(stage, (0, {}))
        out[stage] = (count + int(n), {**sums, currency: Decimal(str(total))})
    return out


def open_deal_counts(ids: set[int]) -> tuple[int, int]:
    """(open deals, open deals without an open task) among the ids."""
    if not ids:
        return 0, 0
    marks = ", ".join(["%s"] * len(ids))
    rows = _rows(
        f"SELECT COUNT(*), SUM(CASE WHEN open_tasks = 0 THEN 1 ELSE 0 END) FROM deals_deal "
        f"WHERE status = 'open' AND id IN ({marks})",
        tuple(sorted(ids)),
    )
    return int(rows[0][0] or 0), int(rows[0][1] or 0)
