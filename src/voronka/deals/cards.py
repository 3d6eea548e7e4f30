"""The kanban's columns and cards, rendered in Python.

A board shows up to 25 cards per column; through the template engine each card cost about
1 ms (variable lookups, two `{% url %}` reversals, an inclusion tag), which made template
rendering most of the board's time. The same markup built here from escaped strings costs a
fraction of that. `deals/_card.html` and the `deal_cards` tag call this, so every place that
shows a card (the board, "show more", the card returned after a move) shares one definition.

A column's cards are built in one call (`render_cards`): the texts and URLs once per call, a
responsible's avatar once per name (cached), not once per card. The markup is lean (a board is ~175
cards): the clock icon is drawn by CSS (`.deal-foot .sla::before`), the currency is written only
when it is not the main one (app.js reads a missing one as MAIN_CURRENCY).

The columns around the cards (`render_columns`: name, count, sums per currency, SLA, "show
more") are built here too: through the template engine their heads cost about 0.5 ms each, more
than a column's cards.
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
from voronka.deals.selectors import BoardCard, BoardColumn
from voronka.identity.models import User
from voronka.kernel import clock
from voronka.kernel.display import avatar_style, money, money_sums, short_name
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


_column_labels: dict[str | None, dict[str, str]] = {}


def _column_texts() -> dict[str, str]:
    """The column's fixed texts in the active language, translated (and escaped, but for the
    two with a number still to put in) once."""
    lang = get_language()
    if lang not in _column_labels:
        _column_labels[lang] = {
            "required": e(_("Для входа на стадию нужно заполнить поля")),
            "sla_title": e(_("Лимит на стадии")),
            "sla": _("лимит %(n)s дн."),
            "won": e(_("Успех")),
            "lost": e(_("Провал")),
            "more": _("Показать ещё %(n)s"),
            "empty": e(_("Перетащите сделку сюда")),
        }
    return _column_labels[lang]


def render_columns(
    columns: Iterable[BoardColumn], pipeline_id: int, query: str, now: dt.datetime
) -> SafeString:
    """The board's columns (`#board`, also the htmx answer to the filters): each column's head
    and its cards. `query` is the filters' query string the "show more" links keep; each
    column's `hidden_count` / `hidden_sums` (set by the board view) is what they show."""
    texts = _column_texts()
    parts = [f'<div class="board" id="board" data-pipeline="{int(pipeline_id)}">']
    for col in columns:
        stage = col.stage
        name = e(stage.name)
        required = (
            f'<span class="column-req" title="{texts["required"]}">✱</span>'
            if stage.required_fields
            else ""
        )
        if stage.sla_days:
            sla = (
                f'<span class="column-sla" title="{texts["sla_title"]}">'
                f"{e(texts['sla'] % {'n': stage.sla_days})}</span>"
            )
        elif stage.semantic in ("won", "lost"):
            sla = (
                f'<span class="column-sla column-sla--{stage.semantic}">'
                f"{texts[stage.semantic]}</span>"
            )
        else:
            sla = ""
        if col.has_more:
            offset = f"{query}&offset={len(col.cards)}" if query else f"offset={len(col.cards)}"
            url = e(f"{reverse('deals:board-more', args=[pipeline_id, stage.pk])}?{offset}")
            tail = (
                f'<div class="load-more"><a class="btn btn--sm btn--ghost" href="{url}" '
                f'hx-get="{url}" hx-target="closest .load-more" hx-swap="outerHTML">'
                f"{e(texts['more'] % {'n': col.hidden_count})}</a></div>"
            )
        elif not col.count:
            tail = f'<div class="column-empty">{texts["empty"]}</div>'
        else:
            tail = ""
        parts.append(
            f'<section class="column column--{e(stage.semantic)}" style="--stage: {e(stage.color)}" '
            f'data-hidden="{int(col.hidden_count)}" data-hidden-sums="{e(col.hidden_sums.as_json())}" '
            f'data-stage="{stage.pk}">'
            f'<header class="column-head"><div class="column-title">'
            f'<span class="column-dot"></span><span class="column-name" title="{name}">{name}</span>'
            f'{required}<span class="column-count" data-count>{int(col.count)}</span></div>'
            f'<div class="column-meta"><span class="column-sum" data-sum>{money_sums(col.sums)}</span>'
            f'{sla}</div><div class="column-bar"></div></header>'
            f'<div class="column-body" data-stage-id="{stage.pk}" data-stage-name="{name}">'
            f"{render_cards(col.cards, stage, now)}{tail}</div></section>"
        )
    parts.append("</div>")
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped values only
