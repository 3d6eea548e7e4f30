"""What a webhook says about a deal: a small, stable JSON (amounts as strings, never floats)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voronka.deals.models import Deal


def deal_data(deal: Deal) -> dict[str, Any]:
    company = deal.company
    return {
        "id": deal.pk,
        "title": deal.title,
        "status": deal.status,
        "stage": {"id": deal.stage_id, "name": deal.stage.name},
        "pipeline": {"id": deal.pipeline_id, "name": deal.pipeline.name},
        "amount": str(deal.amount),
        "currency": deal.currency,
        "responsible": {"id": deal.responsible_id, "name": deal.responsible.display_name},
        "company": {"id": company.pk, "name": company.name} if company is not None else None,
    }
