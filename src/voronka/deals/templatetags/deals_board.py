"""``{% deal_card deal stage %}`` — the kanban card; ``{% deal_cards cards stage %}`` — a column's
cards in one call; ``{% board_columns columns pipeline_id query now %}`` — the board's columns
(see voronka.deals.cards)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString

from voronka.deals.cards import render_card, render_cards, render_columns
from voronka.deals.models import Deal, Stage
from voronka.deals.selectors import BoardCard, BoardColumn

register = template.Library()


@register.simple_tag
def deal_card(deal: Deal, stage: Stage, now: dt.datetime | None = None) -> SafeString:
    return render_card(deal, stage, now)


@register.simple_tag
def deal_cards(
    deals: Iterable[Deal | BoardCard], stage: Stage, now: dt.datetime | None = None
) -> SafeString:
    return render_cards(deals, stage, now)


@register.simple_tag
def board_columns(
    columns: Iterable[BoardColumn], pipeline_id: int, query: str, now: dt.datetime
) -> SafeString:
    return render_columns(columns, pipeline_id, query, now)
