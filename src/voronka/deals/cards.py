"""The kanban card, rendered in Python.

A board shows up to 25 cards per column; through the template engine each card cost about
1 ms (variable lookups, two `{% url %}` reversals, an inclusion tag), which made template
rendering most of the board's time. The same markup built here from escaped strings costs a
fraction of that. `deals/_card.html` and the `deal_cards` tag call this, so every place that
shows a card (the board, "show more", the card returned after a move) shares one definition.

A column's cards are built in one call (`render_cards`): the texts and URLs once per call, a
responsible's avatar once per name (cached), not once per card. The markup is lean (a board is ~175
cards): the clock icon is drawn by CSS (`.deal-foot .sla::before`), the currency is written only
when it is not the main one (app.js reads a missing one as MAIN_CURRENCY).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from html import escape as e
from typing import Any

from django.urls import get_script_prefix, reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from voronka.deals.models import Deal, Stage
from voronka.deals.selectors import BoardCard
from voronka.identity.models import User
from voronka.kernel import clock
from voronka.kernel.display import avatar_style, money, short_name
from voronka.kernel.money import MAIN_CURRENCY


@lru_cache(maxsize=8)
def _url_prefixes(script_prefix: str) -> tuple[str, str]:
    """'/deals/0/' and '/deals/0/move/' reversed once; the id is substituted per card."""
    return reverse("deals:deal-detail", args=[0]), reverse("deals:deal-move", args=[0])


def _with_id(template_url: str, pk: int) -> str:
    return template_url.replace("/0/", f"/{pk}/", 1)


_labels: dict[str | None, dict[str, str]] = {}


def _texts() -> dict[str, str]:
    """The card's fixed texts in the active language, translated and escaped once."""
    lang = get_language()
    if lang not in _labels:
        _labels[lang] = {
            "overdue": (
                f'<span class="mark mark--overdue" title="{e(_("Задача по сделке просрочена"))}">'
                f"{e(_('просрочено'))}</span>"
            ),
            "no_task": (
                f'<span class="mark mark--no-task" title="{e(_("У сделки нет следующей задачи"))}">'
                f"{e(_('нет задачи'))}</span>"
            ),
            "days": e(_("дн.")),
        }
    return _labels[lang]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _who(person: Any) -> str:
    """The responsible's avatar and short name: the same few people on every card."""
    return _who_of(person.pk, person.first_name, person.last_name, person.username)


@lru_cache(maxsize=1024)
def _who_of(pk: int, first_name: str, last_name: str, username: str) -> str:
    person = User(id=pk, first_name=first_name, last_name=last_name, username=username)
    return (
        f'<span class="deal-who"><span class="avatar avatar--xs" style="{e(avatar_style(person))}" '
        f'title="{e(person.display_name)}">{e(person.initials)}</span>'
        f"<span>{e(short_name(person))}</span></span>"
    )


def render_cards(
    deals: Iterable[Deal | BoardCard], stage: Stage, now: dt.datetime | None = None
) -> SafeString:
    """The cards of one stage. Each deal is a `selectors.BoardCard` (or a Deal with its company
    and responsible loaded) marked by `deal_marks` (mark_* attributes)."""
    detail_url, move_url = _url_prefixes(get_script_prefix())
    now = now or clock.now()
    texts = _texts()
    days_word = texts["days"]
    if stage.sla_days:
        limit = f'<span class="sla-limit">/{int(stage.sla_days)}</span>'
        title_text = _("На стадии %(days)s дн., лимит %(limit)s дн.")
    else:
        limit = ""
        title_text = _("На стадии %(days)s дн.")
    titles: dict[int, str] = {}  # days in stage → escaped title
    parts = []
    for deal in deals:
        days = max(0, (now - deal.stage_entered_at).days)
        title = titles.get(days)
        if title is None:
            title = titles[days] = e(title_text % {"days": days, "limit": stage.sla_days})
        mark_overdue = getattr(deal, "mark_overdue", False)
        mark_no_task = getattr(deal, "mark_no_task", False)
        if mark_overdue:
            mark = texts["overdue"]
        elif mark_no_task:
            mark = texts["no_task"]
        else:
            mark = ""
        who = _who(deal.responsible)
        currency = deal.currency
        currency_attr = "" if currency == MAIN_CURRENCY else f' data-currency="{e(currency)}"'
        client = e(deal.company.name)
        pk = deal.pk
        # Every interpolated text goes through e() (html.escape, quotes included).
        parts.append(
            f'<article class="deal-card{" is-attention" if (mark_no_task or mark_overdue) else ""}" '
            f'data-deal-id="{pk}" data-version="{int(deal.version)}" '
            f'data-stage-id="{deal.stage_id}" data-amount="{deal.amount:.2f}"{currency_attr} '
            f'data-move-url="{_with_id(move_url, pk)}">'
            f'<a class="deal-title" href="{_with_id(detail_url, pk)}">'
            f"{e(_short(deal.title))}</a>"
            f'<div class="deal-client" title="{client}">{client}</div>'
            f'<div class="deal-amount">{e(money(deal.amount, currency))}</div>'
            f'<div class="deal-foot">'
            f'<span class="sla{" sla--over" if getattr(deal, "mark_over_sla", False) else ""}" '
            f'title="{title}"><span>{days}{limit} {days_word}</span></span>{mark}{who}'
            f"</div></article>"
        )
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped values only


def render_card(deal: Deal | BoardCard, stage: Stage, now: dt.datetime | None = None) -> SafeString:
    """One card (see render_cards)."""
    return render_cards([deal], stage, now)
