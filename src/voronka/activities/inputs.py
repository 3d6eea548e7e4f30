"""The input fields of tasks and comments: the one declaration the services clean by, and the
API schemas and forms are checked against (kernel.inputs)."""

from __future__ import annotations

from voronka.kernel.inputs import EntityInput, In, Kind

TASK = EntityInput(
    "task",
    {
        "type": In(Kind.CHOICE, required=True),
        "responsible": In(Kind.ID, required=True),
        # The deadline moves only with a reason (task_reschedule), never by an update.
        "deadline": In(Kind.MOMENT, required=True, update=False),
        "comment": In(Kind.TEXT, max_length=5000, required=True),
        "deal": In(Kind.ID, update=False),
        "contact": In(Kind.ID, update=False),
        "company": In(Kind.ID, update=False),
        "version": In(Kind.VERSION, create=False),
    },
)

TASK_COMPLETE = EntityInput(
    "task_complete",
    {
        "result": In(Kind.TEXT, max_length=5000, required=True),
        "version": In(Kind.VERSION),
        "next_task": In(Kind.OBJECT),
    },
)

TASK_RESCHEDULE = EntityInput(
    "task_reschedule",
    {
        "deadline": In(Kind.MOMENT, required=True),
        "reason": In(Kind.TEXT, max_length=2000, required=True),
        "version": In(Kind.VERSION),
    },
)

COMMENT = EntityInput("comment", {"text": In(Kind.TEXT, max_length=10000, required=True)})
