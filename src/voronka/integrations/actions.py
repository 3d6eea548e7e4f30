"""The automation's `webhook` action (decision 0016): a robot, trigger or monitor posts the deal to
an endpoint configured in Settings → Integrations. The action only QUEUES the message in the
run's transaction — committed with the run's `done`, once per run (the run id is its dedup key) —
and the delivery worker sends it, signed and retried (integrations/webhooks/delivery.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import Field

from voronka.automation.registry import Params, action
from voronka.identity.permissions import require_visible
from voronka.integrations.webhooks.payloads import deal_data
from voronka.integrations.webhooks.services import delivery_enqueue, endpoint_for_action
from voronka.kernel.errors import ValidationError

if TYPE_CHECKING:
    from voronka.automation.context import RunContext

RULE_EVENT = "automation.rule"  # the type of a message whose run had no event (a monitor, a delay)


class CallWebhook(Params):
    """endpoint — the id of a WebhookEndpoint (its URL and its own signing secret)."""

    endpoint: int = Field(ge=1)


@action("webhook", CallWebhook, label=gettext_lazy("Вызвать вебхук"), objects=("deal",))
def call_webhook(ctx: RunContext, p: CallWebhook) -> dict[str, Any]:
    deal = ctx.deal
    if deal is None:
        raise ValidationError({"deal": _("Правило действует на сделку, а у объекта её нет")})
    endpoint = endpoint_for_action(p.endpoint)
    # What the message discloses is the deal: the rule's actor (its owner) must see it.
    require_visible(deal, actor=ctx.actor)
    event_type = ctx.event_name or RULE_EVENT
    plan: dict[str, Any] = {"endpoint": endpoint.pk, "type": event_type, "deal": deal.pk}
    if ctx.dry:
        return plan
    data = {
        "event": ctx.event_name,
        "rule": {"id": ctx.rule.pk, "name": ctx.rule.name},
        "deal": deal_data(deal),
    }
    delivery = delivery_enqueue(
        endpoint=endpoint,
        event_type=event_type,
        data=data,
        dedup_key=f"run:{ctx.run.pk}" if ctx.run is not None else "",
        now=ctx.now,
    )
    return {**plan, "delivery": delivery.webhook_id}
