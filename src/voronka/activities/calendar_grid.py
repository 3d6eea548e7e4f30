"""The calendar's time grid: days as columns, hours as rows (presentation only — the tasks come
from task_selectors.calendar_tasks, every write from tasks_services).

Rows: "earlier" (00:00–07:59), one row per hour 8:00 … 20:00, "later" (21:00–23:59). A task
sits in the row of its deadline (in the current zone), ordered by time; a slot knows the hour
a task dropped into it gets (the row's hour; 7:00 for "earlier", 21:00 for "later" — the
reschedule form shows it and lets the user correct it), whether it is over and where the "now"
line crosses it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from voronka.activities.models import Task, TaskStatus

FIRST_HOUR = 8
LAST_HOUR = 20
EARLY = "early"
LATE = "late"


def row_key(moment: dt.datetime) -> str:
    """The row of a moment: "early", "08" … "20" or "late" (in the current zone)."""
    hour = timezone.localtime(moment).hour
    if hour < FIRST_HOUR:
        return EARLY
    if hour > LAST_HOUR:
        return LATE
    return f"{hour:02d}"


def _bounds(day: dt.date, key: str) -> tuple[dt.datetime, dt.datetime]:
    def at(hour: int) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min)) + dt.timedelta(hours=hour)

    if key == EARLY:
        return at(0), at(FIRST_HOUR)
    if key == LATE:
        return at(LAST_HOUR + 1), at(24)
    hour = int(key)
    return at(hour), at(hour + 1)


@dataclass
class Slot:
    day: dt.date
    key: str
    drop_hour: int  # the hour a task dropped here gets
    tasks: list[Task] = field(default_factory=list)
    is_past: bool = False
    is_today: bool = False
    is_focus: bool = False
    now_percent: float | None = None  # where the "now" line crosses the slot (top = 0)


@dataclass
class Row:
    key: str
    label: str
    slots: list[Slot]

    @property
    def is_hour(self) -> bool:
        return self.key not in (EARLY, LATE)


@dataclass
class Day:
    day: dt.date
    is_today: bool
    is_weekend: bool
    is_focus: bool
    count: int
    overdue: int


@dataclass
class Grid:
    days: list[Day]
    rows: list[Row]


def is_overdue(task: Task, now: dt.datetime) -> bool:
    return task.status == TaskStatus.OPEN and task.deadline < now


def calendar_grid(
    tasks_by_day: dict[dt.date, list[Task]],
    *,
    now: dt.datetime,
    focus: dt.date | None = None,
    early_label: str = "",
    late_label: str = "",
) -> Grid:
    """Tasks by local day (ordered by deadline) → the grid. `focus` is the day a phone shows of
    a week."""
    today = timezone.localtime(now).date()
    days = sorted(tasks_by_day)
    keys = [EARLY, *(f"{h:02d}" for h in range(FIRST_HOUR, LAST_HOUR + 1)), LATE]
    labels = {EARLY: early_label, LATE: late_label}
    drop = {EARLY: FIRST_HOUR - 1, LATE: LAST_HOUR + 1}
    rows = [Row(key=k, label=labels.get(k, f"{k}:00"), slots=[]) for k in keys]
    for day in days:
        placed: dict[str, list[Task]] = {k: [] for k in keys}
        for task in tasks_by_day[day]:
            placed[row_key(task.deadline)].append(task)
        for row in rows:
            start, end = _bounds(day, row.key)
            slot = Slot(
                day=day,
                key=row.key,
                drop_hour=drop[row.key] if row.key in drop else int(row.key),
                tasks=placed[row.key],
                is_past=end <= now,
                is_today=day == today,
                is_focus=day == focus,
            )
            if start <= now < end:
                slot.now_percent = round(100 * (now - start) / (end - start), 1)
            row.slots.append(slot)
    return Grid(
        days=[
            Day(
                day=day,
                is_today=day == today,
                is_weekend=day.weekday() >= 5,
                is_focus=day == focus,
                count=len(tasks_by_day[day]),
                overdue=sum(is_overdue(t, now) for t in tasks_by_day[day]),
            )
            for day in days
        ],
        rows=rows,
    )
