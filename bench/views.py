"""The plain view the API list is compared with: no authentication, no scope, no ninja — one
ORM query for the same columns and rows as the owner's first page of GET /api/v1/deals
(?limit=50), serialized by Django's JsonResponse."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from voronka.deals.models import Deal

COLUMNS = (
    "id",
    "title",
    "pipeline_id",
    "stage_id",
    "status",
    "amount",
    "currency",
    "responsible_id",
    "company_id",
    "company__name",
    "opened_at",
    "closed_at",
    "stage_entered_at",
    "version",
)


def plain_deals(request: HttpRequest) -> JsonResponse:
    rows = list(Deal.objects.order_by("-id").values(*COLUMNS)[:50])
    return JsonResponse({"items": rows, "next_cursor": None})
