"""Pipeline, stage and custom-field configuration services, and custom-field value validation
for every type (good and bad values)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from factories import make_deal
from voronka.customfields import services as customfield_services
from voronka.deals import services
from voronka.deals.models import Pipeline, Stage
from voronka.kernel.actor import Actor
from voronka.kernel.customfields import clean_custom, clean_value, missing_fields
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.models import AuditEntry, CustomField

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system()


def refused(call: Any, nothing_written: Any) -> ApplicationError:
    with nothing_written(), pytest.raises(ApplicationError) as info:
        call()
    return info.value


# --- pipelines and stages ---------------------------------------------------------------------


def test_pipeline_create_with_default_stages_is_audited(db: None) -> None:
    pipeline = services.pipeline_create(actor=SYSTEM, name="  Опт  ")
    assert pipeline.name == "Опт"
    assert list(pipeline.stages.values_list("semantic", flat=True)) == [
        "open",
        "open",
        "won",
        "lost",
    ]
    assert list(pipeline.stages.values_list("sort", flat=True)) == [0, 1, 2, 3]
    assert AuditEntry.objects.filter(
        object_type="pipeline", object_id=pipeline.pk, action="created"
    ).exists()
    second = services.pipeline_create(actor=SYSTEM, name="Розница")
    assert second.sort == pipeline.sort + 1


@pytest.mark.parametrize("name", ["", "   ", "x" * 121])
def test_pipeline_name_is_validated(db: None, nothing_written: Any, name: str) -> None:
    error = refused(lambda: services.pipeline_create(actor=SYSTEM, name=name), nothing_written)
    assert "name" in error.errors


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"name": "A", "semantic": "maybe"}, "semantic"),
        ({"name": "A", "color": "red"}, "color"),
        ({"name": "A", "sla_days": -1}, "sla_days"),
        ({"name": "A", "sla_days": 3651}, "sla_days"),
        ({"name": "A", "sla_days": True}, "sla_days"),
        ({"name": "A", "required_fields": ["no_such_field"]}, "required_fields"),
        ({"name": "A", "required_fields": "contract_no"}, "required_fields"),
        ({"semantic": "open"}, "name"),
        ({"name": "A", "probability": 10}, "probability"),
    ],
)
def test_stage_specs_are_validated_and_nothing_is_created(
    pipeline: Any, nothing_written: Any, spec: dict[str, Any], field: str
) -> None:
    error = refused(
        lambda: services.pipeline_create(actor=SYSTEM, name="P", stages=[spec]), nothing_written
    )
    assert field in error.errors
    error = refused(
        lambda: services.stage_create(pipeline=pipeline.sales, actor=SYSTEM, data=spec),
        nothing_written,
    )
    assert field in error.errors


def test_stage_create_appends_and_update_is_audited(pipeline: Any) -> None:
    stage = services.stage_create(
        pipeline=pipeline.sales,
        actor=SYSTEM,
        data={
            "name": "Счёт",
            "color": "#ABCDEF",
            "sla_days": 2,
            "required_fields": ["f_money", "f_money", "amount"],
        },
    )
    assert stage.sort == max(s.sort for s in pipeline.sales.stages.exclude(pk=stage.pk)) + 1
    assert stage.color == "#abcdef" and stage.required_fields == ["f_money", "amount"]
    services.stage_update(
        stage=stage, actor=SYSTEM, data={"name": "Счёт выставлен", "sla_days": None}
    )
    stage.refresh_from_db()
    assert stage.name == "Счёт выставлен" and stage.sla_days is None
    entry = AuditEntry.objects.get(object_type="stage", object_id=stage.pk, action="updated")
    assert entry.changes == {"name": ["Счёт", "Счёт выставлен"], "sla_days": [2, None]}


def test_stage_semantic_cannot_change_while_deals_sit_there(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    error = refused(
        lambda: services.stage_update(
            stage=pipeline.stages["new"], actor=SYSTEM, data={"semantic": "won"}
        ),
        nothing_written,
    )
    assert error.code == ErrorCode.IN_USE
    services.stage_update(stage=pipeline.stages["talks"], actor=SYSTEM, data={"semantic": "won"})


def test_stages_reorder(pipeline: Any, nothing_written: Any) -> None:
    ids = list(pipeline.sales.stages.order_by("sort").values_list("pk", flat=True))
    new_order = list(reversed(ids))
    services.stages_reorder(pipeline=pipeline.sales, actor=SYSTEM, order=new_order)
    assert list(pipeline.sales.stages.order_by("sort").values_list("pk", flat=True)) == new_order
    for bad in (ids[:-1], [*ids, ids[0]], ["x"], [*ids[:-1], pipeline.other_stages["new"].pk]):
        error = refused(
            lambda bad=bad: services.stages_reorder(
                pipeline=pipeline.sales, actor=SYSTEM, order=bad
            ),
            nothing_written,
        )
        assert "order" in error.errors


def test_stage_delete_rules(records: Any, pipeline: Any, nothing_written: Any) -> None:
    # Deals sit in it.
    assert (
        refused(
            lambda: services.stage_delete(stage=pipeline.stages["new"], actor=SYSTEM),
            nothing_written,
        ).code
        == ErrorCode.IN_USE
    )
    # In the history of a deal (moved away since).
    deal = make_deal(
        responsible=records["a1"].user,
        company=records["a1"].company,
        title="H",
        stage=pipeline.other_stages["call"],
    )
    services.deal_move_to_stage(deal=deal, stage=pipeline.other_stages["new"], actor=SYSTEM)
    assert (
        refused(
            lambda: services.stage_delete(stage=pipeline.other_stages["call"], actor=SYSTEM),
            nothing_written,
        ).code
        == ErrorCode.IN_USE
    )
    # The empty stage goes, audited.
    empty = pipeline.other_stages["empty"]
    pk = empty.pk
    services.stage_delete(stage=empty, actor=SYSTEM)
    assert not Stage.objects.filter(pk=pk).exists()
    assert AuditEntry.objects.filter(object_type="stage", object_id=pk, action="deleted").exists()


def test_the_last_open_stage_cannot_be_deleted(db: None, nothing_written: Any) -> None:
    pipeline = services.pipeline_create(
        actor=SYSTEM,
        name="P",
        stages=[{"name": "Only", "semantic": "open"}, {"name": "Won", "semantic": "won"}],
    )
    only = pipeline.stages.get(name="Only")
    assert (
        refused(lambda: services.stage_delete(stage=only, actor=SYSTEM), nothing_written).code
        == ErrorCode.IN_USE
    )


def test_pipeline_rename_is_audited(pipeline: Any, nothing_written: Any) -> None:
    services.pipeline_rename(pipeline=pipeline.sales, actor=SYSTEM, name="Продажи")
    assert Pipeline.objects.get(pk=pipeline.sales.pk).name == "Продажи"
    entry = AuditEntry.objects.get(
        object_type="pipeline", object_id=pipeline.sales.pk, action="updated"
    )
    assert entry.changes == {"name": ["Продажа", "Продажи"]}
    assert (
        "name"
        in refused(
            lambda: services.pipeline_rename(pipeline=pipeline.sales, actor=SYSTEM, name=""),
            nothing_written,
        ).errors
    )


# --- custom field definitions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"key": "Bad Key", "name": "X", "type": "string"}, "key"),
        ({"key": "1abc", "name": "X", "type": "string"}, "key"),
        ({"key": "amount", "name": "X", "type": "number"}, "key"),  # a built-in
        ({"key": "contract_no", "name": "X", "type": "string"}, "key"),  # exists already
        ({"key": "k", "name": "X", "type": "blob"}, "type"),
        ({"key": "k", "name": "X", "type": "list"}, "choices"),
        ({"key": "k", "name": "X", "type": "list", "choices": ["ok", ""]}, "choices"),
        ({"key": "k", "name": "X", "type": "string", "entity": "lead"}, "entity"),
        ({"key": "k", "type": "string"}, "name"),
        ({"key": "k", "name": "X", "type": "string", "required": True}, "required"),
    ],
)
def test_custom_field_definitions_are_validated(
    pipeline: Any, nothing_written: Any, data: dict[str, Any], field: str
) -> None:
    error = refused(
        lambda: customfield_services.custom_field_create(actor=SYSTEM, data=data), nothing_written
    )
    assert field in error.errors


def test_custom_field_create_and_update(pipeline: Any) -> None:
    field = customfield_services.custom_field_create(
        actor=SYSTEM,
        data={
            "entity": "company",
            "key": "tier",
            "name": "Уровень",
            "type": "list",
            "choices": [" A ", "B"],
        },
    )
    assert field.choices == ["A", "B"] and field.entity == "company"
    # The same key may exist for another entity.
    customfield_services.custom_field_create(
        actor=SYSTEM, data={"entity": "contact", "key": "tier", "name": "Уровень", "type": "string"}
    )
    customfield_services.custom_field_update(
        field=field, actor=SYSTEM, data={"choices": ["A", "B", "C"], "is_active": False}
    )
    field.refresh_from_db()
    assert field.choices == ["A", "B", "C"] and field.is_active is False
    assert AuditEntry.objects.filter(object_type="customfield", object_id=field.pk).count() == 2
    with pytest.raises(ValidationError):
        clean_custom("company", {"tier": "A"})  # inactive fields are unknown


# --- values of every type ---------------------------------------------------------------------

GOOD: list[tuple[str, Any, Any]] = [
    ("string", "  текст  ", "текст"),
    ("string", 42, "42"),
    ("string", "a\u202eb\u200bc", "abc"),  # bidi override and zero-width space dropped
    ("number", "1 234,5", "1234.5"),
    ("number", 7, "7"),
    ("number", "-0.50", "-0.5"),
    ("number", "10.000", "10"),
    ("money", "1500", {"amount": "1500.00", "currency": "RUB"}),
    ("money", {"amount": "99.999", "currency": "usd"}, {"amount": "100.00", "currency": "USD"}),
    ("list", "Бета", "Бета"),
    ("multi", ["Гамма", "Альфа"], ["Альфа", "Гамма"]),  # the definition's order
    ("multi", "Бета", ["Бета"]),
    ("date", "2026-02-28", "2026-02-28"),
    ("date", dt.date(2026, 1, 5), "2026-01-05"),
    ("datetime", "2026-02-28T10:00:00+03:00", "2026-02-28T07:00:00+00:00"),
    ("datetime", "2026-02-28 10:00", "2026-02-28T07:00:00+00:00"),  # naive: the server zone (MSK)
    ("boolean", True, True),
    ("boolean", "Да", True),
    ("boolean", "off", False),
    ("boolean", 0, False),
    ("address", "Москва, Тверская, 1", "Москва, Тверская, 1"),
    ("link", "https://example.ru/path?q=1", "https://example.ru/path?q=1"),
    ("link", "example.ru", "https://example.ru"),  # a bare host is a web address (as a website)
    ("string", "", None),
    ("multi", [], None),
]
BAD: list[tuple[str, Any]] = [
    ("string", ["a"]),
    ("string", {"a": 1}),
    ("string", True),
    ("string", "x" * 1001),
    ("number", "abc"),
    ("number", "1e20"),
    ("number", "NaN"),
    ("number", "Infinity"),
    ("number", True),
    ("number", [1]),
    ("money", "рубль"),
    ("money", {"amount": "1", "currency": "RUBL"}),
    ("money", {"amount": "1", "currency": 643}),
    ("list", "Дельта"),
    ("list", ["Альфа"]),
    ("multi", ["Альфа", "Дельта"]),
    ("multi", [1]),
    ("multi", {"Альфа": True}),
    ("date", "28.02.2026"),
    ("date", "2026-02-30"),
    ("datetime", "вчера"),
    ("datetime", "2026-13-01T00:00"),
    ("boolean", "может быть"),
    ("boolean", [True]),
    ("link", "javascript:alert(1)"),
    ("link", "ftp://example.ru"),
    ("link", "data:text/html,<script>alert(1)</script>"),
    ("file", "abc"),
    ("file", True),
    ("file", 10**9),
]


@pytest.mark.parametrize(("ftype", "raw", "expected"), GOOD)
def test_custom_value_good(pipeline: Any, ftype: str, raw: Any, expected: Any) -> None:
    assert clean_value(pipeline.fields[f"f_{ftype}"], raw) == expected


@pytest.mark.parametrize(("ftype", "raw"), BAD)
def test_custom_value_bad_raises_value_error_only(pipeline: Any, ftype: str, raw: Any) -> None:
    with pytest.raises(ValueError) as info:
        clean_value(pipeline.fields[f"f_{ftype}"], raw)
    assert str(info.value)  # a user-facing message


def test_file_field_accepts_a_stored_file_of_that_entity(pipeline: Any) -> None:
    token = pipeline.stored_file.token
    assert clean_value(pipeline.fields["f_file"], token) == token
    for guessable in (pipeline.stored_file.pk, str(pipeline.stored_file.pk)):  # decision 0009
        with pytest.raises(ValueError):
            clean_value(pipeline.fields["f_file"], guessable)
    other_entity = CustomField(entity="company", key="doc", name="Doc", type="file")
    with pytest.raises(ValueError):
        clean_value(other_entity, token)


def test_every_type_roundtrips_through_a_deal(records: Any, pipeline: Any) -> None:
    values = {
        "f_string": "s",
        "f_number": "3.5",
        "f_money": {"amount": "10", "currency": "RUB"},
        "f_list": "Альфа",
        "f_multi": ["Бета"],
        "f_date": "2026-01-01",
        "f_datetime": "2026-01-01T12:00:00+00:00",
        "f_boolean": False,
        "f_address": "Казань",
        "f_link": "http://x.ru",
        "f_file": pipeline.stored_file.token,
    }
    deal = services.deal_update(deal=records["a1"].deal, actor=SYSTEM, data={"custom": values})
    assert deal.custom == {**values, "f_money": {"amount": "10.00", "currency": "RUB"}}


def test_clean_custom_names_every_bad_key(pipeline: Any) -> None:
    with pytest.raises(ValidationError) as info:
        clean_custom("deal", {"f_number": "x", "f_date": "y", "f_string": "ok", "zzz": 1})
    assert set(info.value.errors) == {"custom.f_number", "custom.f_date", "custom.zzz"}


def test_missing_fields_treats_empty_values_as_missing() -> None:
    values = {"a": "", "b": [], "c": None, "d": {}, "e": "x", "f": 0, "g": False}
    assert missing_fields(values, ["a", "b", "c", "d", "e", "f", "g", "h"]) == [
        "a",
        "b",
        "c",
        "d",
        "h",
    ]


def test_money_rounding_is_half_even_to_cents(pipeline: Any) -> None:
    assert clean_value(pipeline.fields["f_money"], "0.005") == {"amount": "0.00", "currency": "RUB"}
    assert Decimal(clean_value(pipeline.fields["f_money"], "0.015")["amount"]) == Decimal("0.02")
