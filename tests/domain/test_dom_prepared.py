"""ORM queries compiled once per process (kernel.prepared, issue 8 "thin in time").

`prepared_rows` keeps the SQL of a QuerySet per key and runs it again with new values. What must
hold: the rows are the QuerySet's own (values, types, order) on every call; a query is compiled
once per key; what the key names — for the scoped reads the scope's user ids — decides which SQL
runs, so a change of scope between two requests of the same process is seen at once; whatever
cannot be compiled safely runs the plain QuerySet (never different rows, never an error the ORM
would not raise).

Negative controls: a key that leaves the scope out shows another manager's deal and board; a
data cache in place of the compile cache shows a renamed pipeline, a new stage and a new person
too late.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Q

from factories import make_company, make_deal
from voronka.deals import selectors
from voronka.deals.models import Deal, Pipeline, Stage
from voronka.identity.models import User
from voronka.identity.scopes import assignable_people
from voronka.kernel import prepared
from voronka.kernel.errors import NotFound
from voronka.kernel.prepared import prepared_rows

pytestmark = pytest.mark.django_db

COLUMNS = ("id", "title", "amount", "stage_entered_at", "custom", "company__name")


def _deals_of(responsible: int) -> Any:
    return Deal.objects.filter(responsible_id=responsible).order_by("-id").values_list(*COLUMNS)


def test_rows_are_the_querysets_compiled_once_per_key(personas: Any, records: Any) -> None:
    owner, a1 = personas["owner"].user, personas["a1"].user
    company = make_company(responsible=a1, name="ООО Подготовка")
    make_deal(responsible=a1, company=company, title="P1", amount="12.50", custom={})
    built: list[int] = []

    def build(responsible: int) -> Any:
        built.append(responsible)
        return _deals_of(responsible)

    key = ("test-rows", "by responsible")
    for user in (a1, owner, a1, personas["b1"].user):
        rows = prepared_rows(key, build, responsible=user.pk)
        assert rows == list(_deals_of(user.pk))  # values, Python types (Decimal, aware datetimes)
    assert len(built) == 1  # compiled once, with the placeholder; never again
    assert any(isinstance(row[2], Decimal) for row in prepared_rows(key, build, responsible=a1.pk))


def test_what_cannot_be_compiled_safely_runs_the_queryset(personas: Any, records: Any) -> None:
    a1 = personas["a1"].user
    expected = list(_deals_of(a1.pk))
    assert expected
    # The placeholder twice in the parameters: the plain QuerySet, on every call.
    twice = lambda x: (  # noqa: E731
        Deal.objects.filter(Q(responsible_id=x) | Q(company__responsible_id=x))
        .order_by("-id")
        .values_list(*COLUMNS)
    )
    assert prepared_rows(("test-twice",), twice, x=a1.pk) == list(twice(a1.pk))
    assert prepared._compiled[("test-twice",)] == prepared._PLAIN
    # Nothing to ask the database (`pk__in=[]`): no rows, and the key is not "empty for good".
    nothing = lambda x: Deal.objects.filter(pk__in=[]).values_list("id")  # noqa: E731
    assert prepared_rows(("test-nothing",), nothing, x=1) == []
    # A value outside 64 bits: the ORM's own answer (no such deal), not a database error.
    one = lambda deal: Deal.objects.filter(pk=deal).values_list(*COLUMNS)  # noqa: E731
    assert prepared_rows(("test-huge",), one, deal=expected[0][0]) == expected[:1]
    assert prepared_rows(("test-huge",), one, deal=10**30) == list(one(10**30)) == []


def _other_managers_deal(personas: Any, records: Any) -> Deal:
    return Deal.objects.get(pk=records["a2"].deal.pk)


def test_deal_values_scope_is_in_the_key(personas: Any, records: Any) -> None:
    """The owner's read compiles the deal query without a scope; a manager's read of the same
    deal in the same process must still be refused."""
    deal = _other_managers_deal(personas, records)
    assert selectors.deal_values(user=personas["owner"].user, deal_id=deal.pk)["id"] == deal.pk
    with pytest.raises(NotFound):
        selectors.deal_values(user=personas["a1"].user, deal_id=deal.pk)
    assert selectors.deal_values(user=personas["a2"].user, deal_id=deal.pk)["id"] == deal.pk


def test_control_a_key_without_the_scope_leaks(
    personas: Any, records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the broken key is a key of its own: what it compiles serves no other test)
    monkeypatch.setattr(selectors, "scope_key", lambda user, entity: "no scope in the key")
    deal = _other_managers_deal(personas, records)
    selectors.deal_values(user=personas["owner"].user, deal_id=deal.pk)
    assert selectors.deal_values(user=personas["a1"].user, deal_id=deal.pk)["id"] == deal.pk


def _board_titles(user: User, pipeline: Pipeline) -> set[str]:
    columns = selectors.pipeline_board(pipeline=pipeline, user=user)
    return {card.title for col in columns for card in col.cards}


def test_board_follows_a_change_of_department_at_once(
    personas: Any, pipeline: Any, records: Any
) -> None:
    head = personas["head_a"].user
    assert "Сделка a1" in _board_titles(head, pipeline.sales)
    a1 = personas["a1"].user
    a1.department = personas["b1"].user.department
    a1.save(update_fields=["department"])
    head = User.objects.get(pk=head.pk)  # the next request: scopes are read again
    assert "Сделка a1" not in _board_titles(head, pipeline.sales)


def test_control_board_key_without_scope_shows_others_deals(
    personas: Any, pipeline: Any, records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the broken key is a key of its own: what it compiles serves no other test)
    monkeypatch.setattr(selectors, "scope_key", lambda user, entity: "no scope in the key")
    _board_titles(personas["owner"].user, pipeline.sales)
    assert "Сделка a2" in _board_titles(personas["a1"].user, pipeline.sales)


# --- what the pages show stays current: queries are kept, never their rows -------------------


def _rename_add_stage_and_person(pipeline: Any, personas: Any) -> tuple[str, Stage, User]:
    from voronka.deals.services import pipeline_rename, stage_create
    from voronka.kernel.actor import Actor

    actor = Actor.for_user(personas["owner"].user)
    pipeline_rename(actor=actor, pipeline=pipeline.sales, name="Продажа 2")
    stage = stage_create(
        actor=actor, pipeline=pipeline.sales, data={"name": "Новая стадия", "semantic": "open"}
    )
    person = User.objects.create_user(
        username="newcomer", first_name="Новый", last_name="Сотрудник"
    )
    return "Продажа 2", stage, person


def _reads(pipeline: Any, personas: Any) -> tuple[list[str], list[int], list[str]]:
    owner = User.objects.get(pk=personas["owner"].user.pk)
    columns = selectors.pipeline_board(pipeline=selectors.pipeline_get(pipeline.pk), user=owner)
    return (
        [p.name for p in selectors.pipelines_nav()],
        [col.stage.pk for col in columns],
        [p.display_name for p in assignable_people(owner, "deal")],
    )


def _check_current(pipeline: Any, personas: Any) -> None:
    _reads(pipeline.sales, personas)  # compiled (and, were rows kept, remembered)
    name, stage, person = _rename_add_stage_and_person(pipeline, personas)
    names, stage_ids, people = _reads(pipeline.sales, personas)
    assert name in names and stage.pk in stage_ids and person.display_name in people


def test_renamed_pipeline_new_stage_and_new_person_show_at_once(
    personas: Any, pipeline: Any, records: Any
) -> None:
    _check_current(pipeline, personas)


def test_control_a_rows_cache_would_show_them_late(
    personas: Any, pipeline: Any, records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: dict[Any, Any] = {}
    original = prepared.prepared_rows

    def rows_cache(key: Any, build: Any, **values: int) -> Any:
        if (key, tuple(values.items())) not in kept:
            kept[key, tuple(values.items())] = original(key, build, **values)
        return kept[key, tuple(values.items())]

    for module in (selectors, prepared, __import__("voronka.identity.scopes").identity.scopes):
        monkeypatch.setattr(module, "prepared_rows", rows_cache)
    with pytest.raises(AssertionError):
        _check_current(pipeline, personas)
