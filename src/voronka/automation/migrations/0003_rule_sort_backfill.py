"""A stage's robots run in their `sort` order, then by id (issue 9). Rules made before the order
could be changed all have sort 0: number each stage's robots 1…n in the order they ran (id), so
a new robot goes after them and moving one up or down swaps two distinct places."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def number_robots(apps: Any, schema_editor: Any) -> None:
    Rule = apps.get_model("automation", "Rule")
    robots = Rule.objects.filter(kind="robot", stage__isnull=False).order_by(
        "stage_id", "sort", "id"
    )
    stage, place, changed = None, 0, []
    for robot in robots.only("id", "stage_id", "sort"):
        if robot.stage_id != stage:
            stage, place = robot.stage_id, 0
        place += 1
        if robot.sort != place:
            robot.sort = place
            changed.append(robot)
    Rule.objects.bulk_update(changed, ["sort"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("automation", "0002_engine")]

    operations = [migrations.RunPython(number_robots, migrations.RunPython.noop)]
