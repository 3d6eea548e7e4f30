"""Tasks and comments (the timeline) of merged clients move to the kept one (contacts.relinks;
decision 0021)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _lazy

from voronka.activities.models import Comment, Task
from voronka.contacts.relinks import column_relinker

for _entity in ("contact", "company"):
    column_relinker(
        _entity,
        "tasks",
        model=Task,
        column=f"{_entity}_id",
        label=_lazy("Задачи"),
        versioned=True,
        order=30,
    )
    column_relinker(
        _entity,
        "comments",
        model=Comment,
        column="object_id",
        where={"object_type": _entity},
        label=_lazy("Комментарии"),
        order=40,
    )
