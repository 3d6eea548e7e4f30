"""The kanban card, rendered in Python.

A board shows up to 25 cards per column; through the template engine each card cost about
1 ms (variable lookups, two `{% url %}` reversals, an inclusion tag), which made template
rendering most of the board's time. The same markup built here from escaped strings costs a
fraction of that. `deals/_card.html` calls this, so every place that shows a card (the board,
"show more", the card returned after a move) shares one definition.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from html import escape as e

from django.urls import get_script_prefix, reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from voronka.deals.models import Deal, Stage
from voronka.deals.selectors import BoardCard
from voronka.kernel import clock
from voronka.web.templatetags.voronka import avatar_style, money, short_name

_CLOCK_ICON = mark_safe(
    '<svg width="11" height="11" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
    'stroke-width="2.6" aria-hidden="true"><circle cx="12" cy="12" r="9"/>'
    '<path d="M12 7v5l3 2"/></svg>'
)


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
            "overdue_title": e(_("Задача по сделке просрочена")),
            "overdue": e(_("просрочено")),
            "no_task_title": e(_("У сделки нет следующей задачи")),
            "no_task": e(_("нет задачи")),
            "days": e(_("дн.")),
        }
    return _labels[lang]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_card(deal: Deal | BoardCard, stage: Stage, now: dt.datetime | None = None) -> SafeString:
    """One card. `deal` is a `selectors.BoardCard` (or a Deal with its company and
    responsible loaded) marked by `deal_marks` (mark_* attributes)."""
    detail_url, move_url = _url_prefixes(get_script_prefix())
    now = now or clock.now()
    days = max(0, (now - deal.stage_entered_at).days)
    mark_overdue = getattr(deal, "mark_overdue", False)
    mark_no_task = getattr(deal, "mark_no_task", False)
    if stage.sla_days:
        sla_title = _("На стадии %(days)s дн., лимит %(limit)s дн.") % {
            "days": days,
            "limit": stage.sla_days,
        }
        limit = f'<span class="sla-limit">/{int(stage.sla_days)}</span>'
    else:
        sla_title = _("На стадии %(days)s дн.") % {"days": days}
        limit = ""
    texts = _texts()
    if mark_overdue:
        mark = (
            f'<span class="mark mark--overdue" title="{texts["overdue_title"]}">'
            f"{texts['overdue']}</span>"
        )
    elif mark_no_task:
        mark = (
            f'<span class="mark mark--no-task" title="{texts["no_task_title"]}">'
            f"{texts['no_task']}</span>"
        )
    else:
        mark = ""
    person = deal.responsible
    client = e(deal.company.name)
    # Every interpolated text goes through e() (html.escape, quotes included).
    return mark_safe(  # noqa: S308 - built from escaped values only
        f'<article class="deal-card{" is-attention" if (mark_no_task or mark_overdue) else ""}" '
        f'data-deal-id="{deal.pk}" data-version="{int(deal.version)}" '
        f'data-stage-id="{deal.stage_id}" data-amount="{deal.amount:.2f}" '
        f'data-currency="{e(deal.currency)}" '
        f'data-move-url="{_with_id(move_url, deal.pk)}">'
        f'<a class="deal-title" href="{_with_id(detail_url, deal.pk)}">'
        f"{e(_short(deal.title))}</a>"
        f'<div class="deal-client" title="{client}">{client}</div>'
        f'<div class="deal-amount">{e(money(deal.amount, deal.currency))}</div>'
        f'<div class="deal-foot">'
        f'<span class="sla{" sla--over" if getattr(deal, "mark_over_sla", False) else ""}" '
        f'data-sla title="{e(sla_title)}">{_CLOCK_ICON}<span>{days}{limit} {texts["days"]}</span>'
        f"</span>{mark}"
        f'<span class="deal-who"><span class="avatar avatar--xs" style="{e(avatar_style(person))}" '
        f'title="{e(person.display_name)}">{e(person.initials)}</span>'
        f"<span>{e(short_name(person))}</span></span>"
        f"</div></article>"
    )
