"""Money per currency (decision 0010): the board cells get the currency in their key, the won
amount of each company is kept per currency (CompanyLtv), and `Company.ltv` holds the main
currency only. The cells and the LTV are refilled from the deals with the same SQL as
`deals.counters.deal_counters_rebuild`."""

import django.db.models.deletion
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models

MAIN_CURRENCY = "RUB"  # voronka.kernel.money.MAIN_CURRENCY when this was written


def _tables(apps, schema_editor):
    qn = schema_editor.connection.ops.quote_name
    return (
        qn,
        qn(apps.get_model("deals", "DealBoardCounter")._meta.db_table),
        qn(apps.get_model("deals", "Deal")._meta.db_table),
    )


def _check_now(schema_editor):
    """PostgreSQL: run the deferred foreign-key checks of the rows just written now — an
    ALTER TABLE later in this transaction refuses to run while trigger events are pending."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def board_per_currency(apps, schema_editor):
    qn, counter, deal = _tables(apps, schema_editor)
    schema_editor.execute(f"DELETE FROM {counter}")
    schema_editor.execute(
        f"INSERT INTO {counter} (stage_id, responsible_id, currency, count, amount) "
        f"SELECT stage_id, responsible_id, currency, COUNT(*), COALESCE(SUM(amount), 0) "
        f"FROM {deal} GROUP BY stage_id, responsible_id, currency"
    )
    _check_now(schema_editor)


def board_mixed(apps, schema_editor):
    """Backwards: the old cells (stage, responsible), amounts of every currency added."""
    qn, counter, deal = _tables(apps, schema_editor)
    schema_editor.execute(f"DELETE FROM {counter}")
    schema_editor.execute(
        f"INSERT INTO {counter} (stage_id, responsible_id, currency, count, amount) "
        f"SELECT stage_id, responsible_id, '{MAIN_CURRENCY}', COUNT(*), COALESCE(SUM(amount), 0) "
        f"FROM {deal} GROUP BY stage_id, responsible_id"
    )
    _check_now(schema_editor)


def _set_company_ltv(apps, schema_editor, *, main_only: bool):
    qn, _counter, deal = _tables(apps, schema_editor)
    company = qn(apps.get_model("contacts", "Company")._meta.db_table)
    only = f"AND d.currency = '{MAIN_CURRENCY}'" if main_only else ""
    total = (
        f"COALESCE((SELECT SUM(d.amount) FROM {deal} d WHERE d.company_id = {company}.id "
        f"AND d.status = 'won' {only}), 0)"
    )
    # Only companies with a won deal in another currency can change.
    schema_editor.execute(
        f"UPDATE {company} SET ltv = {total} WHERE id IN (SELECT company_id FROM {deal} "
        f"WHERE status = 'won' AND currency <> '{MAIN_CURRENCY}') AND ltv <> {total}"
    )
    _check_now(schema_editor)


def ltv_per_currency(apps, schema_editor):
    qn, _counter, deal = _tables(apps, schema_editor)
    ltv = qn(apps.get_model("deals", "CompanyLtv")._meta.db_table)
    schema_editor.execute(
        f"INSERT INTO {ltv} (company_id, currency, amount) "
        f"SELECT company_id, currency, SUM(amount) FROM {deal} WHERE status = 'won' "
        f"GROUP BY company_id, currency"
    )
    _set_company_ltv(apps, schema_editor, main_only=True)


def ltv_mixed(apps, schema_editor):
    _set_company_ltv(apps, schema_editor, main_only=False)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_initial"),
        ("deals", "0005_deal_board_counter"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="dealboardcounter", name="dealboard_uniq"),
        migrations.AddField(
            model_name="dealboardcounter",
            name="currency",
            field=models.CharField(default=MAIN_CURRENCY, max_length=3),
            preserve_default=False,
        ),
        migrations.RunPython(board_per_currency, board_mixed),
        migrations.AddConstraint(
            model_name="dealboardcounter",
            constraint=models.UniqueConstraint(
                fields=("stage", "responsible", "currency"), name="dealboard_cur_uniq"
            ),
        ),
        migrations.CreateModel(
            name="CompanyLtv",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("currency", models.CharField(max_length=3)),
                (
                    "amount",
                    models.DecimalField(
                        db_default=Decimal("0"),
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=20,
                    ),
                ),
                (
                    "company",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ltv_cells",
                        to="contacts.company",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("company", "currency"), name="companyltv_uniq")
                ],
            },
        ),
        migrations.RunPython(ltv_per_currency, ltv_mixed),
    ]
