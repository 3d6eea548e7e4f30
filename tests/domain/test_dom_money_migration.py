"""deals migration 0006 (money per currency) on existing data, both ways: back to 0005 the cells
are the old (stage, responsible) ones with every currency added and `Company.ltv` the old mixed
sum; forward again the cells and the LTV are per currency and equal their recount."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from domain.test_dom_money import money_problems
from factories import make_deal

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("deals", "0005_deal_board_counter")


def migrate(targets: list[tuple[str, str]] | None = None) -> None:
    """To the targets, or (None) to the latest migration of every app."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return [tuple(r) for r in cursor.fetchall()]


def test_migration_0006_splits_cells_and_ltv_by_currency_and_back(
    records: Any, pipeline: Any, personas: Any
) -> None:
    a1, a2 = records["a1"], records["a2"]
    s = pipeline.stages
    for rec, stage, amount, currency in (
        (a1, "new", "70", "USD"),
        (a1, "won", "50", "USD"),
        (a1, "won", "1000", "RUB"),
        (a2, "talks", "30", "EUR"),
    ):
        make_deal(
            responsible=rec.user,
            company=rec.company,
            title=f"{currency} {stage}",
            stage=s[stage],
            amount=amount,
            currency=currency,
        )
    assert money_problems() == {}
    try:
        migrate([BEFORE])
        # The old cells: a dollar deal added to the roubles of (Новая, a1), as before the fix.
        old = {
            (stage, user): (n, Decimal(str(amount)))
            for stage, user, n, amount in rows(
                "SELECT stage_id, responsible_id, count, amount FROM deals_dealboardcounter"
            )
        }
        assert old[(s["new"].pk, a1.user.pk)] == (2, a1.deal.amount + 70)
        assert old[(s["won"].pk, a1.user.pk)] == (2, Decimal("1050"))
        (ltv,) = rows("SELECT ltv FROM contacts_company WHERE id = %s", [a1.company.pk])[0]
        assert Decimal(str(ltv)) == Decimal("1050")
    finally:
        migrate()
    assert money_problems() == {}
    (ltv,) = rows("SELECT ltv FROM contacts_company WHERE id = %s", [a1.company.pk])[0]
    assert Decimal(str(ltv)) == Decimal("1000")
    cells = rows(
        "SELECT currency, amount FROM deals_companyltv WHERE company_id = %s", [a1.company.pk]
    )
    assert {c: Decimal(str(a)) for c, a in cells} == {"RUB": 1000, "USD": 50}
