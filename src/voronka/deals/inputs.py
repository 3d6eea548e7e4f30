"""The input fields of deals, pipelines and stages: the one declaration the services clean by,
and the API schemas and forms are checked against (kernel.inputs)."""

from __future__ import annotations

from voronka.kernel.inputs import EntityInput, In, Kind

DEAL = EntityInput(
    "deal",
    {
        "title": In(Kind.TEXT, max_length=255, required=True),
        "pipeline": In(Kind.ID, update=False),  # the stage changes by a move, never an update
        "stage": In(Kind.ID, update=False),
        "amount": In(Kind.MONEY),
        "currency": In(Kind.CODE, max_length=3),
        "responsible": In(Kind.ID),
        "company": In(Kind.ID, required=True),
        "contacts": In(Kind.IDS),
        "source": In(Kind.TEXT, max_length=64),
        "utm_source": In(Kind.TEXT, max_length=128),
        "utm_medium": In(Kind.TEXT, max_length=128),
        "utm_campaign": In(Kind.TEXT, max_length=128),
        "utm_content": In(Kind.TEXT, max_length=128),
        "utm_term": In(Kind.TEXT, max_length=128),
        "comment": In(Kind.TEXT, max_length=10000),
        "custom": In(Kind.OBJECT),
        "version": In(Kind.VERSION, create=False),
        # Created straight into a lost stage, a deal takes its loss reason as a move there does.
        "loss_reason": In(Kind.ID, update=False),
        "loss_comment": In(Kind.TEXT, max_length=1000, update=False),
    },
)

# A move (deal_move_to_stage): not a create/update pair, but its texts share the deal's limits.
DEAL_MOVE = EntityInput(
    "deal_move",
    {
        "stage": In(Kind.ID, required=True),
        "version": In(Kind.VERSION),
        "fields": In(Kind.OBJECT),
        "loss_reason": In(Kind.ID),
        "loss_comment": DEAL.fields["loss_comment"],
    },
)

PIPELINE = EntityInput("pipeline", {"name": In(Kind.TEXT, max_length=120, required=True)})

STAGE = EntityInput(
    "stage",
    {
        "name": In(Kind.TEXT, max_length=120, required=True),
        "semantic": In(Kind.CHOICE),
        "color": In(Kind.CODE),  # #RRGGBB, checked by its pattern
        "sla_days": In(Kind.NUMBER),
        "required_fields": In(Kind.LIST),
    },
)
