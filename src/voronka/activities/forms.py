"""Form parsing for the task screens: plain dicts handed to the services (which validate)."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from voronka.activities.inputs import TASK

# The task's fields a form posts as they are, from the one declaration (activities/inputs.py);
# the deadline comes as a date and a time, the version only with an edit.
TASK_POSTED = [k for k in TASK.fields if k not in ("deadline", "version")]


def task_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in TASK_POSTED:
        value = post.get(key)
        if value not in (None, ""):
            data[key] = value
    date, time = post.get("deadline_date", ""), post.get("deadline_time", "")
    if post.get("deadline"):
        data["deadline"] = post["deadline"]
    elif date:
        data["deadline"] = f"{date}T{time or '18:00'}"
    return data
