"""The automation's `webhook` action: it only queues a delivery, in the run's transaction, once
per run (the run's id is the dedup key) — a replayed run queues nothing more, a rolled-back run
leaves nothing queued, a dry run queues nothing; the payload is the deal (amount as a string),
the rule and the event. The rule's actor must see the deal it discloses. Negative control: the
dedup key dropped, a replayed run queues a second message."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from factories import make_company, make_deal

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(
    configurer: Any, pipeline: Any, allow_private: None, make_endpoint: Any
) -> dict[str, Any]:
    from voronka.automation.models import Rule, RuleRun

    owner = configurer["owner"]
    company = make_company(responsible=configurer["manager"], name="ООО Ромашка")
    deal = make_deal(
        responsible=configurer["manager"],
        company=company,
        title="Поставка насосов",
        stage=pipeline.stages["talks"],
        amount=Decimal("1234567.50"),
    )
    endpoint = make_endpoint("http://127.0.0.1:9/hook", name="Учёт")
    rule = Rule.objects.create(
        kind="robot",
        name="Сообщить в учёт",
        owner=owner,
        stage=pipeline.stages["talks"],
        action="webhook",
        params={"endpoint": endpoint.pk},
    )
    run = RuleRun.objects.create(rule=rule, object_type="deal", object_id=deal.pk, key="e1")
    return {"deal": deal, "endpoint": endpoint, "rule": rule, "run": run, "company": company}


def context(world: dict[str, Any], *, dry: bool = False, owner: Any = None) -> Any:
    from voronka.automation.context import RunContext, rule_actor

    rule = world["rule"]
    if owner is not None:
        rule.owner = owner
    return RunContext(
        rule=rule,
        actor=rule_actor(rule, run_id=world["run"].pk),
        now=T0,
        object_type="deal",
        obj=world["deal"],
        deal=world["deal"],
        run=world["run"],
        event_name="deal.stage_changed",
        dry=dry,
    )


def run_action(world: dict[str, Any], **kw: Any) -> dict[str, Any]:
    from django.db import transaction

    from voronka.automation.registry import ACTIONS

    spec = ACTIONS["webhook"]
    params = spec.params.model_validate(world["rule"].params)
    with transaction.atomic():
        return spec.run(context(world, **kw), params)


def queued() -> list[Any]:
    from voronka.integrations.models import WebhookDelivery

    return list(WebhookDelivery.objects.all())


def test_the_action_is_registered_for_deals() -> None:
    from voronka.automation.registry import ACTIONS

    spec = ACTIONS["webhook"]
    assert spec.objects == frozenset({"deal"})
    assert spec.params.model_validate({"endpoint": 3}).endpoint == 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        spec.params.model_validate({"endpoint": 3, "url": "http://x"})  # unknown keys refused


def test_queues_the_deal_once_per_run(world: dict[str, Any]) -> None:
    result = run_action(world)
    [delivery] = queued()
    assert result["delivery"] == delivery.webhook_id and result["endpoint"] == world["endpoint"].pk
    assert delivery.status == "pending" and delivery.attempts == 0
    assert delivery.dedup_key == f"run:{world['run'].pk}"
    payload = delivery.payload
    assert payload["type"] == "deal.stage_changed" and payload["timestamp"] == T0.isoformat()
    data = payload["data"]
    assert data["event"] == "deal.stage_changed"
    assert data["rule"] == {"id": world["rule"].pk, "name": "Сообщить в учёт"}
    deal = data["deal"]
    assert deal["id"] == world["deal"].pk and deal["title"] == "Поставка насосов"
    assert deal["amount"] == "1234567.50" and isinstance(deal["amount"], str)
    assert deal["currency"] == "RUB"
    assert deal["stage"]["name"] and deal["pipeline"]["name"]
    assert deal["company"] == {"id": world["company"].pk, "name": "ООО Ромашка"}
    assert deal["responsible"]["id"] == world["deal"].responsible_id
    # The run replayed (at-least-once delivery of its event): still one message.
    again = run_action(world)
    assert again["delivery"] == delivery.webhook_id and len(queued()) == 1


def test_control_without_the_dedup_key_a_replay_queues_twice(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from voronka.integrations import actions
    from voronka.integrations.webhooks.services import delivery_enqueue

    def no_key(**kw: Any) -> Any:
        return delivery_enqueue(**{**kw, "dedup_key": ""})

    monkeypatch.setattr(actions, "delivery_enqueue", no_key)
    run_action(world)
    run_action(world)
    assert len(queued()) == 2


def test_a_rolled_back_run_leaves_nothing_queued(world: dict[str, Any]) -> None:
    from django.db import transaction

    from voronka.automation.registry import ACTIONS

    spec = ACTIONS["webhook"]

    class Fenced(Exception):
        pass

    with pytest.raises(Fenced), transaction.atomic():
        spec.run(context(world), spec.params.model_validate(world["rule"].params))
        raise Fenced  # the run's done lost its lease: the whole transaction goes
    assert queued() == []


def test_a_dry_run_queues_nothing(world: dict[str, Any]) -> None:
    plan = run_action(world, dry=True)
    assert plan == {
        "endpoint": world["endpoint"].pk,
        "type": "deal.stage_changed",
        "deal": world["deal"].pk,
    }
    assert queued() == []


def test_a_disabled_or_missing_endpoint_fails_the_run(world: dict[str, Any]) -> None:
    from voronka.integrations.webhooks.services import endpoint_set_enabled
    from voronka.kernel.actor import Actor
    from voronka.kernel.errors import ValidationError

    endpoint_set_enabled(actor=Actor.system(), endpoint_id=world["endpoint"].pk, enabled=False)
    with pytest.raises(ValidationError):
        run_action(world)
    world["rule"].params = {"endpoint": 99999}
    with pytest.raises(ValidationError):
        run_action(world)
    assert queued() == []


def test_the_rule_owner_must_see_the_deal(world: dict[str, Any], configurer: Any) -> None:
    """A rule owned by a manager who does not see the deal discloses nothing."""
    from voronka.identity.models import User
    from voronka.identity.services import roles_ensure_defaults
    from voronka.kernel.errors import NotFound

    stranger = User.objects.create_user(username="wh_stranger")
    stranger.roles.add(roles_ensure_defaults()["manager"])
    with pytest.raises(NotFound):
        run_action(world, owner=stranger)
    assert queued() == []
