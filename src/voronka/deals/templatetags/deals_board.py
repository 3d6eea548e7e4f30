"""``{% deal_card deal stage %}`` — the kanban card (see voronka.deals.cards)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.safestring import SafeString

from voronka.deals.cards import render_card
from voronka.deals.models import Deal, Stage

register = template.Library()


@register.simple_tag
def deal_card(deal: Deal, stage: Stage, now: dt.datetime | None = None) -> SafeString:
    return render_card(deal, stage, now)
