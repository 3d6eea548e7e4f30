"""Monitors → rule runs: every enabled monitor rule, once per its period however many workers
tick (a unique ScheduledRun per rule and period), turns what its finder finds into runs. The
claim and the runs commit together: a sweep killed half-way leaves no claim, and the next tick
sweeps that period again; what it had planned is not planned twice (the runs' unique key).

A sweep is one statement per monitor: `INSERT … SELECT` from the finder's query with the key
computed in SQL, `ON CONFLICT DO NOTHING` (PostgreSQL; SQLite ≥ 3.24) — no row passes through
Python (1M deals on PostgreSQL: building and bulk-inserting ~340k runs from Python took most of
a ~40–80 s sweep)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Left

from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus, ScheduledRun
from voronka.automation.registry import MONITORS, OCCURRENCE
from voronka.automation.schedule import period_key
from voronka.kernel import clock
from voronka.kernel.events import caused_by

logger = logging.getLogger(__name__)
KEY_LENGTH = RuleRun._meta.get_field("key").max_length or 96


def monitor_job(rule: Rule) -> str:
    return f"monitor:{rule.pk}"


def monitor_every(rule: Rule) -> dt.timedelta:
    minutes = (rule.monitor_params or {}).get("every_minutes")
    if isinstance(minutes, int) and not isinstance(minutes, bool) and 1 <= minutes <= 60 * 24 * 7:
        return dt.timedelta(minutes=minutes)
    return MONITORS[rule.monitor].every


def sweep_rule(rule: Rule, *, now: dt.datetime) -> int | None:
    """Plan the runs of one monitor for the current period; None when another process has it.
    Returns the runs inserted (an occurrence already in the ledger is not planned again)."""
    kind = MONITORS.get(rule.monitor)
    if kind is None:
        logger.error("monitor rule %s: unknown monitor %r", rule.pk, rule.monitor)
        return 0
    params = kind.params.model_validate(
        {k: v for k, v in (rule.monitor_params or {}).items() if k != "every_minutes"}
    )
    period = period_key(now, monitor_every(rule))
    with transaction.atomic(), caused_by(f"job:{monitor_job(rule)}:{period}"):
        try:
            with transaction.atomic():
                ScheduledRun.objects.create(job=monitor_job(rule), period=period, created_at=now)
        except IntegrityError:
            return None  # this period is another process's
        return insert_runs(rule, kind.object_type, kind.find(params, now), now=now)


def insert_runs(rule: Rule, object_type: str, found: QuerySet[Any], *, now: dt.datetime) -> int:
    """One statement: `INSERT INTO automation_rulerun (…) SELECT … FROM (<the finder's query>)
    ON CONFLICT DO NOTHING` — the runs of `rule` for what `found` finds (its `OCCURRENCE` the
    key), due after the rule's delay; an occurrence already in the ledger (the unique rule,
    object, key) is left as it is. Every other column gets its model default, so a NOT NULL
    column added to RuleRun later is filled here too. Returns the rows inserted."""
    meta = RuleRun._meta
    fixed: dict[str, Any] = {
        "rule_id": rule.pk,
        "object_type": object_type,
        "status": RunStatus.PENDING.value,
        "due_at": now + dt.timedelta(seconds=rule.delay_seconds),
        "created_at": now,
        "depth": 0,
        "context": {},
    }
    select = found.order_by().values(sweep_oid=F("pk"), sweep_key=Left(F(OCCURRENCE), KEY_LENGTH))
    inner_sql, inner_params = select.query.get_compiler(connection=connection).as_sql()
    qn = connection.ops.quote_name
    columns, values, params = [], [], []
    for field in meta.concrete_fields:
        if field.primary_key or field.attname in ("object_id", "key"):
            continue
        value = fixed[field.attname] if field.attname in fixed else field.get_default()
        columns.append(qn(field.column))
        values.append("%s")
        params.append(field.get_db_prep_save(value, connection))
    columns += [qn(meta.get_field("object_id").column), qn(meta.get_field("key").column)]
    # `WHERE true`: SQLite reads `FROM (…) ON CONFLICT` as a join's ON without it.
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(columns)})"
        f" SELECT {', '.join(values)}, found.sweep_oid, found.sweep_key"
        f" FROM ({inner_sql}) AS found WHERE true ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *inner_params])
        return max(cursor.rowcount, 0)


def monitors_sweep(*, now: dt.datetime | None = None) -> dict[int, int]:
    """Sweep every enabled monitor whose period has come. {rule id: runs inserted}. The time is
    the database's (`clock.db_now`): the period, what is found and when its runs are due are
    decided for every worker, whatever its host's clock says."""
    now = now or clock.db_now()
    found: dict[int, int] = {}
    for rule in Rule.objects.enabled().filter(kind=RuleKind.MONITOR).order_by("id"):
        try:
            planned = sweep_rule(rule, now=now)
        except Exception:  # one broken monitor must not stop the others
            logger.exception("monitor rule %s failed", rule.pk)
            continue
        if planned is not None:
            found[rule.pk] = planned
    return found
