"""Reads for tasks, all through the access scope, one module per subject: lists (a task, the
list, my day, the calendar, history, links), badges (the navigation counters), control (the head
of sales' screen), marks (a deal's marks on the board and in lists); sla is what badges and
control share. Callers import from here."""

from voronka.activities.task_selectors.badges import counters_for
from voronka.activities.task_selectors.control import (
    ControlRow,
    control_department,
    control_departments,
    control_table,
)
from voronka.activities.task_selectors.lists import (
    MyDay,
    TaskFilter,
    TaskLinks,
    calendar_tasks,
    my_day,
    task_get,
    task_history,
    task_links,
    task_list,
    tasks_visible,
)
from voronka.activities.task_selectors.marks import deal_marks

__all__ = [
    "ControlRow",
    "MyDay",
    "TaskFilter",
    "TaskLinks",
    "calendar_tasks",
    "control_department",
    "control_departments",
    "control_table",
    "counters_for",
    "deal_marks",
    "my_day",
    "task_get",
    "task_history",
    "task_links",
    "task_list",
    "tasks_visible",
]
