"""The phone widget of the client cards: «Новосибирск, сейчас 21:40», night marked (seed 001)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import translation

from voronka.kernel import clock
from voronka.kernel.normalize import format_phone
from voronka.kernel.phoneinfo import is_night, local_time, phone_info

register = template.Library()


@register.inclusion_tag("contacts/_phone_where.html")
def phone_where(number: str, now: dt.datetime | None = None) -> dict[str, Any]:
    info = phone_info(str(number or ""), translation.get_language())
    local = local_time(info, now or clock.now())
    return {
        "info": info,
        # Formatted here: the template's time filters would convert back to the user's zone.
        "local": local.strftime("%H:%M") if local is not None else "",
        "night": local is not None and is_night(local),
    }


@register.filter
def phone_display(number: str) -> str:
    """A stored E.164 number as people read it: +7 916 700-44-21."""
    return format_phone(str(number or ""))


@register.filter
def days_since(moment: dt.datetime | None) -> int | None:
    """Whole days from `moment` to now (None stays None): the age badges of the company list."""
    if moment is None:
        return None
    return max(0, (clock.now() - moment).days)


@register.inclusion_tag("contacts/_age_badge.html")
def age_badge(moment: dt.datetime | None, warn: int = 30, alert: int = 90) -> dict[str, Any]:
    """A date with a badge by its age: green under `warn` days, orange to `alert`, red after."""
    days = days_since(moment)
    level = "" if days is None else "green" if days < warn else "orange" if days < alert else "red"
    return {"moment": moment, "days": days, "level": level}
