"""Form parsing for the task screens: plain dicts handed to the services (which validate)."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict


def task_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ("type", "responsible", "comment", "deal", "contact", "company"):
        value = post.get(key)
        if value not in (None, ""):
            data[key] = value
    date, time = post.get("deadline_date", ""), post.get("deadline_time", "")
    if post.get("deadline"):
        data["deadline"] = post["deadline"]
    elif date:
        data["deadline"] = f"{date}T{time or '18:00'}"
    return data
