"""docs/events.md, generated from the registries: the events (kernel.events.EVENTS), their
consumers (CONSUMERS) and the periodic jobs (kernel.jobs.PERIODIC).

    .venv/bin/voronka events_doc              # or: python -m voronka.kernel.events_doc
    .venv/bin/voronka events_doc --check      # exit 1 when the file is out of date

A test compares the committed file with `render()`."""

from __future__ import annotations

import datetime as dt
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from voronka.kernel.events import CONSUMERS, EVENTS, consumers_of
from voronka.kernel.jobs import PERIODIC

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "events.md"
ROW_FIELDS = (
    "`id`, `name`, `object_type` + `object_id` (the object the event is about), `actor_kind` + "
    "`actor_user_id` (who acted), `occurred_at` (the product clock), `recorded_at` (the wall "
    "clock at insert), `causation_id` (`request:<id>`, `event:<id>`, `job:<name>:<period>` or "
    "empty) and `depth` (0 for a person's request, +1 for each event a consumer emits while "
    "handling another)"
)


def type_name(annotation: Any) -> str:
    """A payload field's type as written in Python (`int | None`, `dict[str, list[Any]]`)."""
    if annotation is type(None):
        return "None"
    if annotation is Any:
        return "Any"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(map(type_name, args))}]"
    return getattr(annotation, "__name__", str(annotation))


def _every(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def render() -> str:
    out = [
        "# Domain events",
        "",
        "Generated from the registries by `voronka events_doc` (src/voronka/kernel/events_doc.py)"
        " — do not edit by hand: a test fails when this file and the code differ. How events,"
        " consumers and periodic jobs work:"
        " [decision 0012](decisions/0012-events-and-consumers.md).",
        "",
        f"Every event row has {ROW_FIELDS}. The payload below is validated against its schema"
        " (strict JSON types, no other keys) when the event is emitted.",
        "",
        "## Consumers",
        "",
        "| consumer | events | module | what it does |",
        "|---|---|---|---|",
    ]
    for name in sorted(CONSUMERS):
        c = CONSUMERS[name]
        events = ", ".join(f"`{e.name}`" for e in sorted(c.events, key=lambda e: e.name))
        out.append(f"| `{name}` | {events} | `{c.module}` | {c.description} |")
    out += [
        "",
        "## Periodic jobs",
        "",
        "| job | every | module | what it does |",
        "|---|---|---|---|",
    ]
    for name in sorted(PERIODIC):
        job = PERIODIC[name]
        out.append(f"| `{name}` | {_every(job.every)} | `{job.module}` | {job.description} |")
    out += ["", "## Events", ""]
    out += [f"- [`{name}`](#{name.replace('.', '')})" for name in sorted(EVENTS)]
    for name in sorted(EVENTS):
        event = EVENTS[name]
        consumers = ", ".join(f"`{c.name}`" for c in consumers_of(event)) or "—"
        out += [
            "",
            f"### {name}",
            "",
            event.description,
            "",
            f"- Emitted by: `{event.emitted_by}`",
            f"- Declared in: `{event.module}`",
            f"- Consumed by: {consumers}",
            f"- Payload: `{event.payload.__name__}`"
            + ("" if event.payload.model_fields else " (empty)"),
        ]
        if event.payload.model_fields:
            out += ["", "| field | type |", "|---|---|"]
            for field, info in event.payload.model_fields.items():
                shown = type_name(info.annotation).replace("|", "\\|")  # not a table column
                out.append(f"| `{field}` | `{shown}` |")
    return "\n".join(out) + "\n"


def write(path: Path = DOC_PATH) -> bool:
    """Write the file; True when it changed."""
    text = render()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voronka.config.settings")
    django.setup()
    print(f"{DOC_PATH}: {'written' if write() else 'up to date'}")
