"""deals.services: create / update / move / delete, required fields, loss reasons, LTV, stage
history, audit + outbox in the same transaction; refusals write nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from factories import make_company, make_contact, make_deal, make_task
from voronka.contacts.models import Company
from voronka.deals import services
from voronka.deals.models import Deal, DealUserCounter, StageChange
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, Conflict, ErrorCode
from voronka.kernel.models import AuditEntry, DomainEvent

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def as_user(records: Any, key: str) -> Actor:
    return Actor.for_user(records[key].user)


def events(deal: Deal) -> list[str]:
    return list(
        DomainEvent.objects.filter(object_type="deal", object_id=deal.pk)
        .order_by("id")
        .values_list("name", flat=True)
    )


def ltv(company: Company) -> Decimal:
    return Company.objects.get(pk=company.pk).ltv


def refused(call: Any, nothing_written: Any) -> ApplicationError:
    with nothing_written(), pytest.raises(ApplicationError) as info:
        call()
    return info.value


# --- create -----------------------------------------------------------------------------------


def test_create_defaults_first_pipeline_first_open_stage_and_actor_as_responsible(
    records: Any, pipeline: Any
) -> None:
    with clock.frozen(T0):
        deal = services.deal_create(
            actor=as_user(records, "a1"),
            data={"title": " Вода ", "company": records["a1"].company.pk},
        )
    assert deal.title == "Вода"
    assert deal.pipeline_id == pipeline.sales.pk and deal.stage_id == pipeline.stages["new"].pk
    assert deal.status == "open" and deal.responsible_id == records["a1"].user.pk
    assert deal.created_by_id == records["a1"].user.pk and deal.version == 1
    assert deal.opened_at == deal.stage_entered_at == T0 and deal.closed_at is None
    assert deal.amount == Decimal("0") and deal.currency == "RUB"
    change = StageChange.objects.get(deal=deal)
    assert (
        change.from_stage_id is None
        and change.to_stage_id == pipeline.stages["new"].pk
        and change.at == T0
    )
    entry = AuditEntry.objects.get(object_type="deal", object_id=deal.pk)
    assert entry.action == "created" and entry.changes["title"] == [None, "Вода"] and entry.at == T0
    assert events(deal) == ["deal.created"]
    payload = DomainEvent.objects.get(object_id=deal.pk, name="deal.created").payload
    assert payload == {
        "pipeline": pipeline.sales.pk,
        "stage": pipeline.stages["new"].pk,
        "responsible": records["a1"].user.pk,
        "company": records["a1"].company.pk,
        "amount": "0",
        "currency": "RUB",
        "stage_entered_at": T0.isoformat(),
    }


def test_create_with_contacts_custom_fields_and_explicit_stage(records: Any, pipeline: Any) -> None:
    deal = services.deal_create(
        actor=as_user(records, "a1"),
        data={
            "title": "Кулер",
            "company": records["a1"].company.pk,
            "stage": pipeline.stages["talks"].pk,
            "amount": "12 500,50",
            "currency": "usd",
            "contacts": [records["a1"].contact.pk],
            "custom": {"f_number": "3", "f_list": "Бета", "f_boolean": "да"},
            "utm_source": "yandex",
        },
    )
    assert deal.stage_id == pipeline.stages["talks"].pk and deal.amount == Decimal("12500.50")
    assert deal.currency == "USD" and deal.utm_source == "yandex"
    assert list(deal.contacts.values_list("pk", flat=True)) == [records["a1"].contact.pk]
    assert deal.custom == {"f_number": "3", "f_list": "Бета", "f_boolean": True}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "1e13"}, "amount"),
        ({"amount": "сто"}, "amount"),
        ({"amount": True}, "amount"),
        ({"currency": "рубль"}, "currency"),
        ({"currency": "ЕВР"}, "currency"),
        ({"company": None}, "company"),
        ({"company": 10**9}, "company"),
        ({"stage": 10**9}, "stage"),
        ({"stage": "new"}, "stage"),
        ({"pipeline": 10**9}, "pipeline"),
        ({"contacts": [10**9]}, "contacts"),
        ({"contacts": "1"}, "contacts"),
        ({"responsible": 10**9}, "responsible"),
        ({"custom": {"f_number": "много"}}, "custom.f_number"),
        ({"custom": {"unknown_key": 1}}, "custom.unknown_key"),
        ({"custom": ["f_number"]}, "custom"),
        ({"comment": "x" * 10001}, "comment"),
        ({"source": "x" * 65}, "source"),
        ({"status": "won"}, "status"),
        ({"version": 5}, "version"),
        ({"created_by": 1}, "created_by"),
        ({"closed_at": "2020-01-01T00:00:00Z"}, "closed_at"),
        ({"ltv": 1}, "ltv"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(
    records: Any, nothing_written: Any, data: dict[str, Any], field: str
) -> None:
    payload = {"title": "Сделка", "company": records["a1"].company.pk, **data}
    error = refused(
        lambda: services.deal_create(actor=as_user(records, "a1"), data=payload), nothing_written
    )
    assert error.status == 422 and field in error.errors, error.errors


def test_create_refuses_stage_of_another_pipeline(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    payload = {
        "title": "X",
        "company": records["a1"].company.pk,
        "pipeline": pipeline.sales.pk,
        "stage": pipeline.other_stages["new"].pk,
    }
    error = refused(
        lambda: services.deal_create(actor=as_user(records, "a1"), data=payload), nothing_written
    )
    assert "stage" in error.errors


def test_create_refuses_foreign_scope_company_and_contacts(
    records: Any, nothing_written: Any
) -> None:
    actor = as_user(records, "a1")
    error = refused(
        lambda: services.deal_create(
            actor=actor, data={"title": "X", "company": records["b1"].company.pk}
        ),
        nothing_written,
    )
    assert "company" in error.errors
    error = refused(
        lambda: services.deal_create(
            actor=actor,
            data={
                "title": "X",
                "company": records["a1"].company.pk,
                "contacts": [records["a2"].contact.pk],
            },
        ),
        nothing_written,
    )
    assert "contacts" in error.errors


def test_create_in_a_stage_with_required_fields_needs_them(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    payload = {
        "title": "X",
        "company": records["a1"].company.pk,
        "stage": pipeline.stages["contract"].pk,
    }
    error = refused(
        lambda: services.deal_create(actor=as_user(records, "a1"), data=payload), nothing_written
    )
    assert error.code == ErrorCode.REQUIRED_FIELDS_MISSING
    assert error.extra["missing_fields"] == [{"key": "contract_no", "name": "Номер договора"}]
    deal = services.deal_create(
        actor=as_user(records, "a1"), data={**payload, "custom": {"contract_no": "Д-1"}}
    )
    assert deal.custom == {"contract_no": "Д-1"}


def test_system_actor_must_name_the_responsible(records: Any, nothing_written: Any) -> None:
    error = refused(
        lambda: services.deal_create(
            actor=Actor.system(), data={"title": "X", "company": records["a1"].company.pk}
        ),
        nothing_written,
    )
    assert "responsible" in error.errors


# --- update -----------------------------------------------------------------------------------


def test_update_changes_fields_bumps_version_and_audits_the_diff(records: Any) -> None:
    deal = records["a1"].deal
    updated = services.deal_update(
        deal=deal,
        actor=as_user(records, "a1"),
        data={"version": 1, "title": "Новое", "amount": "2500", "custom": {"f_string": "x"}},
    )
    assert (
        updated.version == 2 and updated.title == "Новое" and updated.amount == Decimal("2500.00")
    )
    entry = AuditEntry.objects.get(object_type="deal", object_id=deal.pk, action="updated")
    assert entry.changes == {
        "title": ["Сделка a1", "Новое"],
        "amount": [str(deal.amount), "2500.00"],
        "custom": [{}, {"f_string": "x"}],
    }
    assert events(deal) == ["deal.created", "deal.updated"]


def test_update_stale_version_is_a_conflict_and_writes_nothing(
    records: Any, nothing_written: Any
) -> None:
    deal = records["a1"].deal
    services.deal_update(deal=deal, actor=Actor.system(), data={"version": 1, "title": "A"})
    with nothing_written(), pytest.raises(Conflict) as info:
        services.deal_update(deal=deal, actor=Actor.system(), data={"version": 1, "title": "B"})
    assert info.value.as_dict()["current_version"] == 2
    assert Deal.objects.get(pk=deal.pk).title == "A"


@pytest.mark.parametrize(
    "key", ["stage", "pipeline", "status", "closed_at", "created_by", "id", "loss_reason", "ltv"]
)
def test_update_refuses_fields_the_client_may_not_write(
    records: Any, pipeline: Any, nothing_written: Any, key: str
) -> None:
    value = pipeline.stages["won"].pk if key in ("stage", "pipeline") else 1
    error = refused(
        lambda: services.deal_update(
            deal=records["a1"].deal, actor=as_user(records, "a1"), data={key: value}
        ),
        nothing_written,
    )
    assert key in error.errors


def test_reassign_within_scope_emits_responsible_changed_and_moves_counters(records: Any) -> None:
    deal = records["a1"].deal
    a1, a2 = records["a1"].user, records["a2"].user
    services.deal_update(deal=deal, actor=as_user(records, "head_a"), data={"responsible": a2.pk})
    assert Deal.objects.get(pk=deal.pk).responsible_id == a2.pk
    assert events(deal)[-2:] == ["deal.updated", "deal.responsible_changed"]
    entry = AuditEntry.objects.filter(object_type="deal", object_id=deal.pk, action="updated").get()
    assert (
        entry.changes == {"responsible": [a1.pk, a2.pk]}
        and entry.actor_user_id == records["head_a"].user.pk
    )
    counters = dict(DealUserCounter.objects.values_list("responsible_id", "open_deals"))
    assert counters[a1.pk] == 0 and counters[a2.pk] == 2


def test_reassign_outside_scope_is_refused(records: Any, nothing_written: Any) -> None:
    error = refused(
        lambda: services.deal_update(
            deal=records["a1"].deal,
            actor=as_user(records, "head_a"),
            data={"responsible": records["b1"].user.pk},
        ),
        nothing_written,
    )
    assert "responsible" in error.errors


def test_amount_of_a_closed_deal_cannot_change(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    deal = services.deal_move_to_stage(
        deal=records["a1"].deal, stage=pipeline.stages["won"], actor=Actor.system()
    )
    error = refused(
        lambda: services.deal_update(deal=deal, actor=Actor.system(), data={"amount": "1"}),
        nothing_written,
    )
    assert "amount" in error.errors
    services.deal_update(
        deal=deal, actor=Actor.system(), data={"amount": str(deal.amount), "title": "ok"}
    )


def test_update_keeps_required_fields_of_the_current_stage(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    deal = services.deal_move_to_stage(
        deal=records["a1"].deal,
        stage=pipeline.stages["contract"],
        actor=Actor.system(),
        fields={"contract_no": "Д-7"},
    )
    error = refused(
        lambda: services.deal_update(
            deal=deal, actor=Actor.system(), data={"custom": {"contract_no": ""}}
        ),
        nothing_written,
    )
    assert error.code == ErrorCode.REQUIRED_FIELDS_MISSING


# --- move -------------------------------------------------------------------------------------


def test_move_writes_stage_change_with_time_spent_audit_and_event(
    records: Any, pipeline: Any
) -> None:
    with clock.frozen(T0):
        deal = make_deal(
            responsible=records["a1"].user, company=records["a1"].company, title="Путь"
        )
    with clock.frozen(T0 + dt.timedelta(hours=5, seconds=7)):
        moved = services.deal_move_to_stage(
            deal=deal, stage=pipeline.stages["talks"].pk, actor=as_user(records, "a1"), version=1
        )
    assert moved.stage_id == pipeline.stages["talks"].pk and moved.version == 2
    assert moved.stage_entered_at == T0 + dt.timedelta(hours=5, seconds=7)
    change = StageChange.objects.filter(deal=deal).order_by("-id").first()
    assert (change.from_stage_id, change.to_stage_id) == (
        pipeline.stages["new"].pk,
        pipeline.stages["talks"].pk,
    )
    assert change.seconds_in_from == 5 * 3600 + 7 and change.by_id == records["a1"].user.pk
    entry = AuditEntry.objects.get(object_type="deal", object_id=deal.pk, action="stage_changed")
    assert entry.changes == {"stage": [pipeline.stages["new"].pk, pipeline.stages["talks"].pk]}
    assert events(deal) == ["deal.created", "deal.stage_changed"]
    payload = DomainEvent.objects.get(object_id=deal.pk, name="deal.stage_changed").payload
    assert (
        payload["from_stage"] == pipeline.stages["new"].pk
        and payload["to_stage"] == pipeline.stages["talks"].pk
    )


def test_move_to_stage_with_required_fields_lists_the_missing_keys(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    deal = records["a1"].deal
    error = refused(
        lambda: services.deal_move_to_stage(
            deal=deal, stage=pipeline.stages["contract"], actor=Actor.system()
        ),
        nothing_written,
    )
    assert error.code == ErrorCode.REQUIRED_FIELDS_MISSING and error.status == 422
    assert set(error.errors) == {"contract_no"}
    assert error.as_dict()["missing_fields"] == [{"key": "contract_no", "name": "Номер договора"}]
    moved = services.deal_move_to_stage(
        deal=deal,
        stage=pipeline.stages["contract"],
        actor=Actor.system(),
        fields={"contract_no": "Д-42/26"},
    )
    assert moved.custom["contract_no"] == "Д-42/26"


def test_required_builtin_fields_amount_contacts_comment(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    stage = services.stage_create(
        pipeline=pipeline.sales,
        actor=Actor.system(),
        data={"name": "Счёт", "required_fields": ["amount", "contacts", "comment"]},
    )
    deal = make_deal(
        responsible=records["a1"].user, company=records["a1"].company, title="Пусто", amount="0"
    )
    error = refused(
        lambda: services.deal_move_to_stage(deal=deal, stage=stage, actor=Actor.system()),
        nothing_written,
    )
    assert [m["key"] for m in error.extra["missing_fields"]] == ["amount", "contacts", "comment"]
    moved = services.deal_move_to_stage(
        deal=deal,
        stage=stage,
        actor=Actor.system(),
        fields={
            "amount": "990",
            "contacts": [records["a1"].contact.pk],
            "comment": "счёт выставлен",
        },
    )
    assert moved.amount == Decimal("990.00") and moved.comment == "счёт выставлен"
    assert list(moved.contacts.values_list("pk", flat=True)) == [records["a1"].contact.pk]


def test_move_to_a_stage_of_another_pipeline_is_refused(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    error = refused(
        lambda: services.deal_move_to_stage(
            deal=records["a1"].deal, stage=pipeline.other_stages["call"], actor=Actor.system()
        ),
        nothing_written,
    )
    assert error.code == ErrorCode.STAGE_NOT_IN_PIPELINE and "stage" in error.errors


@pytest.mark.parametrize("stage", [10**9, "abc", None])
def test_move_to_an_unknown_stage_is_refused(
    records: Any, nothing_written: Any, stage: Any
) -> None:
    error = refused(
        lambda: services.deal_move_to_stage(
            deal=records["a1"].deal, stage=stage, actor=Actor.system()
        ),
        nothing_written,
    )
    assert "stage" in error.errors


def test_move_with_a_stale_version_conflicts(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    deal = records["a1"].deal
    services.deal_update(deal=deal, actor=Actor.system(), data={"title": "bump"})
    with nothing_written(), pytest.raises(Conflict):
        services.deal_move_to_stage(
            deal=deal, stage=pipeline.stages["talks"], actor=Actor.system(), version=1
        )


def test_bad_custom_value_in_move_fields_is_refused(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    error = refused(
        lambda: services.deal_move_to_stage(
            deal=records["a1"].deal,
            stage=pipeline.stages["talks"],
            actor=Actor.system(),
            fields={"f_date": "завтра"},
        ),
        nothing_written,
    )
    assert "custom.f_date" in error.errors


def test_lost_requires_a_loss_reason(records: Any, pipeline: Any, nothing_written: Any) -> None:
    deal = records["a1"].deal
    error = refused(
        lambda: services.deal_move_to_stage(
            deal=deal, stage=pipeline.stages["lost"], actor=Actor.system()
        ),
        nothing_written,
    )
    assert error.code == ErrorCode.LOSS_REASON_REQUIRED and "loss_reason" in error.errors
    error = refused(
        lambda: services.deal_move_to_stage(
            deal=deal, stage=pipeline.stages["lost"], actor=Actor.system(), loss_reason=10**9
        ),
        nothing_written,
    )
    assert "loss_reason" in error.errors
    reason = pipeline.loss_reasons[1]
    with clock.frozen(T0):
        lost = services.deal_move_to_stage(
            deal=deal,
            stage=pipeline.stages["lost"],
            actor=Actor.system(),
            loss_reason=reason.pk,
            loss_comment="  дорого  ",
        )
    assert (
        lost.status == "lost" and lost.loss_reason_id == reason.pk and lost.loss_comment == "дорого"
    )
    assert lost.closed_at == T0
    assert events(deal)[-2:] == ["deal.stage_changed", "deal.lost"]
    assert (
        DomainEvent.objects.get(object_id=deal.pk, name="deal.lost").payload["loss_reason"]
        == reason.pk
    )
    entry = AuditEntry.objects.get(object_type="deal", object_id=deal.pk, action="stage_changed")
    assert entry.changes["loss_reason"] == [None, reason.name]
    # Reopening clears the loss.
    reopened = services.deal_move_to_stage(
        deal=deal, stage=pipeline.stages["talks"], actor=Actor.system()
    )
    assert (
        reopened.loss_reason_id is None and reopened.closed_at is None and reopened.status == "open"
    )
    assert events(deal)[-1] == "deal.reopened"


def test_ltv_is_kept_on_won_unwon_and_delete(records: Any, pipeline: Any) -> None:
    company = records["a1"].company
    first = records["a1"].deal  # 5000
    second = make_deal(responsible=records["a1"].user, company=company, title="Ещё", amount="700")
    assert ltv(company) == 0
    services.deal_move_to_stage(deal=first, stage=pipeline.stages["won"], actor=Actor.system())
    assert ltv(company) == first.amount
    assert events(first)[-2:] == ["deal.stage_changed", "deal.won"]
    services.deal_move_to_stage(deal=second, stage=pipeline.stages["won"], actor=Actor.system())
    assert ltv(company) == first.amount + Decimal("700")
    services.deal_move_to_stage(
        deal=first, stage=pipeline.stages["talks"], actor=Actor.system()
    )  # un-won
    assert ltv(company) == Decimal("700")
    services.deal_delete(deal=Deal.objects.get(pk=second.pk), actor=Actor.system())
    assert ltv(company) == 0
    # Won → lost also takes the amount off.
    services.deal_move_to_stage(deal=first, stage=pipeline.stages["won"], actor=Actor.system())
    services.deal_move_to_stage(
        deal=first,
        stage=pipeline.stages["lost"],
        actor=Actor.system(),
        loss_reason=pipeline.loss_reasons[0],
    )
    assert ltv(company) == 0


def test_won_deal_created_directly_counts_in_ltv(records: Any, pipeline: Any) -> None:
    company = records["a2"].company
    deal = make_deal(
        responsible=records["a2"].user,
        company=company,
        title="Сразу",
        amount="300",
        stage=pipeline.stages["won"],
    )
    assert deal.status == "won" and deal.closed_at is not None and ltv(company) == Decimal("300")


def test_ltv_follows_a_won_deal_moved_to_another_company(records: Any, pipeline: Any) -> None:
    """Reassigning the company of a won deal moves its amount between the companies' LTV."""
    deal = services.deal_move_to_stage(
        deal=records["a1"].deal, stage=pipeline.stages["won"], actor=Actor.system()
    )
    other = records["a1"].spare_company
    services.deal_update(deal=deal, actor=Actor.system(), data={"company": other.pk})
    assert ltv(records["a1"].company) == 0 and ltv(other) == deal.amount


def test_amount_of_a_closed_deal_cannot_change_through_a_move(
    records: Any, pipeline: Any, nothing_written: Any
) -> None:
    """Moving a won deal to the same (or another closed) stage with a new amount would change
    a closed deal's amount behind the LTV's back."""
    deal = services.deal_move_to_stage(
        deal=records["a1"].deal, stage=pipeline.stages["won"], actor=Actor.system()
    )
    error = refused(
        lambda: services.deal_move_to_stage(
            deal=deal, stage=pipeline.stages["won"], actor=Actor.system(), fields={"amount": "1"}
        ),
        nothing_written,
    )
    assert "amount" in error.errors
    assert ltv(records["a1"].company) == deal.amount
    reopened = services.deal_move_to_stage(
        deal=deal, stage=pipeline.stages["talks"], actor=Actor.system(), fields={"amount": "1"}
    )
    assert reopened.amount == Decimal("1.00") and ltv(records["a1"].company) == 0


def test_delete_audits_emits_and_removes_history(records: Any) -> None:
    deal = records["a1"].deal
    pk = deal.pk
    services.deal_delete(deal=deal, actor=as_user(records, "head_a"))
    assert (
        not Deal.objects.filter(pk=pk).exists()
        and not StageChange.objects.filter(deal_id=pk).exists()
    )
    entry = AuditEntry.objects.get(object_type="deal", object_id=pk, action="deleted")
    assert (
        entry.changes["title"] == ["Сделка a1", None]
        and entry.actor_user_id == records["head_a"].user.pk
    )
    assert (
        DomainEvent.objects.filter(object_type="deal", object_id=pk).order_by("-id")[0].name
        == "deal.deleted"
    )
    assert DealUserCounter.objects.get(responsible=records["a1"].user).open_deals == 0


def test_delete_refused_while_open_tasks_exist(records: Any, nothing_written: Any) -> None:
    deal = records["a1"].deal
    make_task(responsible=records["a1"].user, deal=deal)
    error = refused(lambda: services.deal_delete(deal=deal, actor=Actor.system()), nothing_written)
    assert error.code == ErrorCode.IN_USE


# --- one transaction: a failure after writing leaves nothing ------------------------------------


def _failing_emit_on(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """emit() of the event `name` fails (wherever in the services it is emitted from)."""
    from voronka.kernel import events

    real = events.validated_payload

    def validated_payload(event: Any, payload: Any) -> Any:
        if event.name == name:
            raise RuntimeError(f"outbox refused {name}")
        return real(event, payload)

    monkeypatch.setattr(events, "validated_payload", validated_payload)


@pytest.mark.parametrize("event", ["deal.created"])
def test_create_failing_late_leaves_no_deal_audit_event_or_history(
    records: Any, monkeypatch: pytest.MonkeyPatch, nothing_written: Any, event: str
) -> None:
    _failing_emit_on(event, monkeypatch)
    with nothing_written(), pytest.raises(RuntimeError):
        services.deal_create(
            actor=as_user(records, "a1"), data={"title": "X", "company": records["a1"].company.pk}
        )


@pytest.mark.parametrize("event", ["deal.stage_changed", "deal.won"])
def test_move_to_won_failing_late_rolls_back_stage_history_ltv_and_audit(
    records: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch, nothing_written: Any, event: str
) -> None:
    """deal.won is emitted after the stage, the StageChange, the audit row and the LTV were
    written: a failure there must roll all of them back."""
    deal = records["a1"].deal
    _failing_emit_on(event, monkeypatch)
    with nothing_written(), pytest.raises(RuntimeError):
        services.deal_move_to_stage(deal=deal, stage=pipeline.stages["won"], actor=Actor.system())
    fresh = Deal.objects.get(pk=deal.pk)
    assert (fresh.stage_id, fresh.status, fresh.version) == (pipeline.stages["new"].pk, "open", 1)
    assert ltv(records["a1"].company) == 0


@pytest.mark.parametrize("event", ["deal.updated", "deal.responsible_changed"])
def test_update_failing_late_rolls_back(
    records: Any, monkeypatch: pytest.MonkeyPatch, nothing_written: Any, event: str
) -> None:
    deal = records["a1"].deal
    _failing_emit_on(event, monkeypatch)
    with nothing_written(), pytest.raises(RuntimeError):
        services.deal_update(
            deal=deal,
            actor=Actor.system(),
            data={"title": "Z", "responsible": records["a2"].user.pk},
        )
    fresh = Deal.objects.get(pk=deal.pk)
    assert (fresh.title, fresh.responsible_id, fresh.version) == (
        "Сделка a1",
        records["a1"].user.pk,
        1,
    )


def test_delete_failing_late_keeps_the_deal(
    records: Any, monkeypatch: pytest.MonkeyPatch, nothing_written: Any
) -> None:
    _failing_emit_on("deal.deleted", monkeypatch)
    with nothing_written(), pytest.raises(RuntimeError):
        services.deal_delete(deal=records["a1"].deal, actor=Actor.system())


def test_events_and_audit_rows_carry_the_actor(records: Any, pipeline: Any) -> None:
    actor = as_user(records, "head_a")
    deal = services.deal_create(
        actor=actor,
        data={
            "title": "Актор",
            "company": records["a1"].company.pk,
            "responsible": records["a1"].user.pk,
        },
    )
    services.deal_move_to_stage(deal=deal, stage=pipeline.stages["talks"], actor=actor)
    for entry in AuditEntry.objects.filter(object_type="deal", object_id=deal.pk):
        assert (entry.actor_kind, entry.actor_user_id) == ("user", records["head_a"].user.pk)
    for event in DomainEvent.objects.filter(object_type="deal", object_id=deal.pk):
        assert (event.actor_kind, event.actor_user_id) == ("user", records["head_a"].user.pk)


def test_contacts_and_companies_factories_for_other_tests(records: Any) -> None:
    company = make_company(responsible=records["a1"].user, name="ООО Ф")
    contact = make_contact(responsible=records["a1"].user, company=company, first_name="Ф")
    deal = make_deal(
        responsible=records["a1"].user, company=company, title="Ф", contacts=[contact.pk]
    )
    assert deal.company_id == company.pk and list(deal.contacts.all()) == [contact]
