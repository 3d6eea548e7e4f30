"""The event catalogue (issue 8, "Events with consumers"; decision 0012): emit() takes only a
declared EventType and validates its payload; no emit() call in src/ passes a string and every
declared event is emitted somewhere (an AST scan); causation and depth; docs/events.md is the
registry's; periodic jobs come from a registry; old schedule claims and consumed events are
pruned with retention settings. Every guard has its negative control."""

from __future__ import annotations

import ast
import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from factories import make_company
from voronka.activities.events import TASK_CREATED
from voronka.automation.jobs import history_prune
from voronka.automation.models import ScheduledRun
from voronka.automation.schedule import period_key, schedule_tick
from voronka.config.env import env_int
from voronka.contacts.events import COMPANY_CREATED, COMPANY_UPDATED, CompanyNamePayload
from voronka.deals.events import DEAL_CREATED
from voronka.kernel import events, events_doc, outbox
from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.events import (
    EVENTS,
    EventError,
    EventType,
    caused_by,
    declare,
    emit,
    handling,
)
from voronka.kernel.jobs import PERIODIC, periodic, register_periodic, unregister_periodic
from voronka.kernel.models import ConsumerPosition, DomainEvent

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "voronka"

# The names stored rows and tests already use: the catalogue keeps them as they were.
NAMES = {
    "company.commented",
    "company.created",
    "company.deleted",
    "company.merge_undone",
    "company.merged",
    "company.updated",
    "contact.commented",
    "contact.created",
    "contact.deleted",
    "contact.merge_undone",
    "contact.merged",
    "contact.updated",
    "deal.commented",
    "deal.created",
    "deal.deleted",
    "deal.lost",
    "deal.reopened",
    "deal.responsible_changed",
    "deal.stage_changed",
    "deal.updated",
    "deal.won",
    "pipeline.created",
    "rule.created",
    "rule.deleted",
    "rule.updated",
    "task.completed",
    "task.created",
    "task.overdue",
    "task.rescheduled",
    "task.updated",
}


@pytest.fixture
def company(personas: Any) -> Any:
    return make_company(responsible=personas["a1"].user, name="ООО Событие")


def _outbox() -> list[DomainEvent]:
    return list(DomainEvent.objects.order_by("id"))


# --- the catalogue and emit() --------------------------------------------------------------------


def test_the_catalogue_keeps_every_name_with_a_schema_description_and_emitter() -> None:
    assert set(EVENTS) == NAMES
    for event in EVENTS.values():
        assert issubclass(event.payload, events.EventPayload)
        assert event.description and "\n" not in event.description
        assert event.emitted_by
        # Each app declares its own events (the kernel declares none).
        assert event.module.startswith("voronka.") and event.module.endswith(".events")
        assert not event.module.startswith("voronka.kernel")


def test_emit_refuses_a_string_and_an_undeclared_type(company: Any, nothing_written: Any) -> None:
    twin = EventType(
        "company.created", CompanyNamePayload, "a look-alike", "nobody", "tests"
    )  # not declared: the registry holds another object under that name
    with nothing_written():
        for bad in ("company.created", twin, None):
            with pytest.raises(EventError):
                emit(bad, obj=company, actor=Actor.system(), payload={"name": "x"})  # type: ignore[arg-type]
    # Control: the declared type with the same payload is written.
    row = emit(COMPANY_CREATED, obj=company, actor=Actor.system(), payload={"name": "x"})
    assert (row.name, row.object_type, row.object_id) == ("company.created", "company", company.pk)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({}, "a field is missing"),
        ({"name": "x", "extra": 1}, "a key outside the schema"),
        ({"name": 5}, "a number where text is expected"),
        ({"name": None}, "null for a required text"),
    ],
)
def test_emit_validates_the_payload_against_its_schema(
    company: Any, nothing_written: Any, payload: dict[str, Any], why: str
) -> None:
    with nothing_written(), pytest.raises(EventError, match="company.created"):
        emit(COMPANY_CREATED, obj=company, actor=Actor.system(), payload=payload)


def test_strict_types_refuse_a_number_as_text_and_store_json_values(
    company: Any, nothing_written: Any, records: Any
) -> None:
    deal = records["a1"].deal
    good = {
        "pipeline": deal.pipeline_id,
        "stage": deal.stage_id,
        "responsible": deal.responsible_id,
        "company": deal.company_id,
        "amount": Decimal("12.50"),
        "currency": "RUB",
        "stage_entered_at": deal.stage_entered_at,
    }
    with nothing_written(), pytest.raises(EventError):
        emit(DEAL_CREATED, obj=deal, actor=Actor.system(), payload={**good, "stage": "7"})
    row = emit(DEAL_CREATED, obj=deal, actor=Actor.system(), payload=good)
    row.refresh_from_db()
    assert row.payload["amount"] == "12.50"  # stored as JSON, as before the catalogue
    moment = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)
    task = records["a1"].task
    stored = emit(
        TASK_CREATED,
        obj=task,
        actor=Actor.system(),
        payload={
            "responsible": 1,
            "deadline": moment,
            "deal": None,
            "type": "call",
            "status": "open",
        },
    )
    assert stored.payload["deadline"] == moment.isoformat()


def test_negative_control_without_validation_a_bad_payload_is_written(
    company: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusals above come from the schema check: switched off, the same call writes."""
    from voronka.kernel.audit import jsonable

    monkeypatch.setattr(events, "validated_payload", lambda event, payload: jsonable(payload))
    row = emit(COMPANY_CREATED, obj=company, actor=Actor.system(), payload={"extra": 1})
    assert row.payload == {"extra": 1}


def test_declare_refuses_a_second_declaration_and_a_bad_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="twice"):
        declare("company.created", CompanyNamePayload, description="again", emitted_by="x")
    for name in ("Company.Created", "company", "company.created!", "a." + "b" * 70):
        with pytest.raises(ImproperlyConfigured):
            declare(name, description="bad", emitted_by="x")
    assert EVENTS["company.created"] is COMPANY_CREATED


# --- the AST scan of src/ ------------------------------------------------------------------------


# emit() writes an event; event_row() builds one for a batch's emit_many(): the same argument.
EMITTERS = ("emit", "event_row")


def _emit_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id in EMITTERS)
            or (isinstance(node.func, ast.Attribute) and node.func.attr in EMITTERS)
        )
    ]


def _event_arg(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg in ("event", "name"):
            return keyword.value
    return None


def emit_call_problems(sources: dict[str, str]) -> list[str]:
    """Every emit() call whose event is a string (or given as `name=`)."""
    problems = []
    for path, text in sources.items():
        for call in _emit_calls(ast.parse(text)):
            arg = _event_arg(call)
            named = any(k.arg == "name" for k in call.keywords)
            stringy = isinstance(arg, ast.Constant | ast.JoinedStr | ast.BinOp) or (
                isinstance(arg, ast.Call) and getattr(arg.func, "id", "") == "str"
            )
            if arg is None or named or stringy:
                problems.append(f"{path}:{call.lineno}")
    return problems


def _identifiers(node: ast.AST) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
    return found


def declared_events(sources: dict[str, str]) -> dict[str, str]:
    """Identifier → event name, from `X = declare("name", …)` in the apps' events.py."""
    declared = {}
    for path, text in sources.items():
        if not path.endswith("events.py"):
            continue
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "declare"
                and isinstance(node.value.args[0], ast.Constant)
            ):
                for target in node.targets:
                    declared[getattr(target, "id", "")] = node.value.args[0].value
    return declared


def never_emitted(sources: dict[str, str]) -> set[str]:
    """Declared event names no emit() call can reach: the identifiers in emit()'s event argument,
    and the values of a module-level dict (EVENT_BY_KIND = {...}) named there."""
    dicts: dict[str, set[str]] = {}
    used: set[str] = set()
    for text in sources.values():
        tree = ast.parse(text)
        for node in ast.walk(tree):
            target = value = None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            if isinstance(target, ast.Name) and isinstance(value, ast.Dict):
                dicts[target.id] = set().union(*(_identifiers(v) for v in value.values))
        for call in _emit_calls(tree):
            arg = _event_arg(call)
            if arg is not None:
                used |= _identifiers(arg)
    for name in list(used):
        used |= dicts.get(name, set())
    return {event for ident, event in declared_events(sources).items() if ident not in used}


def _sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts
    }


def test_no_emit_call_in_src_names_its_event_by_a_string() -> None:
    sources = _sources()
    assert sum(len(_emit_calls(ast.parse(t))) for t in sources.values()) >= 20
    assert emit_call_problems(sources) == []


def test_negative_control_the_scan_sees_string_names() -> None:
    bad = {
        "a.py": 'emit(name="deal.created", obj=d, actor=a)\n',
        "b.py": 'emit("deal.won", obj=d, actor=a)\n',
        "c.py": 'audit.emit(f"{kind}.commented", obj=d, actor=a)\n',
        "d.py": "emit(DEAL_WON, obj=d, actor=a)\n",
    }
    assert emit_call_problems(bad) == ["a.py:1", "b.py:1", "c.py:1"]


def test_every_declared_event_is_emitted_somewhere_and_the_scan_sees_all_of_them() -> None:
    sources = _sources()
    assert set(declared_events(sources).values()) == set(EVENTS)  # none declared out of sight
    assert never_emitted(sources) == set()


def test_negative_control_a_declared_event_nobody_emits_is_found() -> None:
    sources = dict(_sources())
    sources["src/voronka/extra/events.py"] = (
        'DEAL_FORGOTTEN = declare("deal.forgotten", description="x", emitted_by="x")\n'
    )
    assert never_emitted(sources) == {"deal.forgotten"}


# --- causation and depth -------------------------------------------------------------------------


def test_a_request_is_the_cause_of_what_it_emits(api: Any) -> None:
    response = api("a1").post_json(
        "/api/v1/companies", {"name": "ООО Причина"}, HTTP_X_REQUEST_ID="req-42"
    )
    assert response.status_code == 201, response.content
    event = DomainEvent.objects.get(name="company.created", object_id=response.json()["id"])
    assert (event.causation_id, event.depth) == ("request:req-42", 0)


def test_causation_from_the_actor_a_block_and_an_event_being_handled(company: Any) -> None:
    actor = Actor(kind=ActorKind.USER, request_id="abc")
    first = emit(COMPANY_UPDATED, obj=company, actor=actor, payload={"changes": {}})
    assert (first.causation_id, first.depth) == ("request:abc", 0)
    plain = emit(COMPANY_UPDATED, obj=company, actor=Actor.system(), payload={"changes": {}})
    assert (plain.causation_id, plain.depth) == ("", 0)
    with caused_by("job:automation_monitors:123"):
        job = emit(COMPANY_UPDATED, obj=company, actor=actor, payload={"changes": {}})
        with handling(job):
            inner = emit(COMPANY_UPDATED, obj=company, actor=actor, payload={"changes": {}})
            with handling(inner):
                deeper = emit(COMPANY_UPDATED, obj=company, actor=actor, payload={"changes": {}})
    assert (job.causation_id, job.depth) == ("job:automation_monitors:123", 0)
    assert (inner.causation_id, inner.depth) == (f"event:{job.pk}", 1)
    assert (deeper.causation_id, deeper.depth) == (f"event:{inner.pk}", 2)
    after = emit(COMPANY_UPDATED, obj=company, actor=actor, payload={"changes": {}})
    assert after.causation_id == "request:abc"  # the block ended: back to the request


def test_a_cascade_deeper_than_the_bound_is_refused(
    company: Any, nothing_written: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with caused_by("event:1", depth=events.MAX_DEPTH):
        emit(COMPANY_UPDATED, obj=company, actor=Actor.system(), payload={"changes": {}})
    with (
        caused_by("event:1", depth=events.MAX_DEPTH + 1),
        nothing_written(),
        pytest.raises(EventError, match="cascade depth"),
    ):
        emit(COMPANY_UPDATED, obj=company, actor=Actor.system(), payload={"changes": {}})
    # Negative control: with the bound raised the same emit goes through.
    monkeypatch.setattr(events, "MAX_DEPTH", 1000)
    with caused_by("event:1", depth=9):
        assert emit(COMPANY_UPDATED, obj=company, actor=Actor.system(), payload={"changes": {}})


# --- docs/events.md ------------------------------------------------------------------------------


def test_docs_events_md_is_generated_from_the_registry() -> None:
    committed = events_doc.DOC_PATH.read_text(encoding="utf-8")
    assert committed == events_doc.render(), "run `.venv/bin/voronka events_doc`"
    for name in EVENTS:
        assert f"### {name}\n" in committed
    assert "| `notifications` | `task.created`, `task.rescheduled`, `task.updated` |" in committed
    assert "| `responsible` | `int` |" in committed and "| `deal` | `int \\| None` |" in committed


def test_negative_control_a_change_in_the_registry_changes_the_text() -> None:
    before = events_doc.render()
    extra = declare("deal.documented", description="Only in this test.", emitted_by="tests")
    try:
        assert events_doc.render() != before and "### deal.documented" in events_doc.render()
    finally:
        EVENTS.pop(extra.name)
    assert events_doc.render() == before


# --- periodic jobs -------------------------------------------------------------------------------


def test_periodic_jobs_come_from_the_apps_registry() -> None:
    assert {name: (job.every, job.module) for name, job in PERIODIC.items()} == {
        "history_prune": (dt.timedelta(hours=1), "voronka.automation.jobs"),
        "automation_monitors": (dt.timedelta(minutes=1), "voronka.automation.jobs"),
        "webhooks_deliver": (dt.timedelta(seconds=10), "voronka.integrations.jobs"),
        "webhooks_prune": (dt.timedelta(hours=1), "voronka.integrations.jobs"),
        "tasks_overdue": (dt.timedelta(minutes=1), "voronka.activities.jobs"),
        "duplicates_scan": (dt.timedelta(days=1), "voronka.contacts.jobs"),
        "imports_resume": (dt.timedelta(minutes=1), "voronka.transfer.jobs"),
    }
    with pytest.raises(ImproperlyConfigured, match="twice"):
        register_periodic("history_prune", every=dt.timedelta(hours=1), enqueue=lambda: None)
    with pytest.raises(ImproperlyConfigured, match="django-tasks task"):
        periodic("plain", every=dt.timedelta(minutes=5))(lambda: None)
    assert "plain" not in PERIODIC


def test_the_schedule_enqueues_each_registered_job_once_per_period() -> None:
    calls: list[str] = []
    register_periodic(
        "test_every_10_min", every=dt.timedelta(minutes=10), enqueue=lambda: calls.append("x")
    )
    try:
        now = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)  # periods start on the epoch grid
        first = schedule_tick(now)
        assert "test_every_10_min" in first and set(first) >= {
            "history_prune",
            "automation_monitors",
        }
        # 5 and 8 minutes later: a new period only for the jobs running every ≤ 5 minutes.
        frequent = sorted(n for n, j in PERIODIC.items() if j.every <= dt.timedelta(minutes=5))
        assert "automation_monitors" in frequent and "history_prune" not in frequent
        assert schedule_tick(now + dt.timedelta(minutes=5)) == frequent
        assert schedule_tick(now + dt.timedelta(minutes=8)) == frequent
        later = schedule_tick(now + dt.timedelta(minutes=10))
        assert "test_every_10_min" in later
        assert calls == ["x", "x"]
    finally:
        unregister_periodic("test_every_10_min")


# --- pruning -------------------------------------------------------------------------------------

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_old_schedule_claims_are_pruned_but_not_a_current_period(settings: Any) -> None:
    from voronka.automation.schedule import scheduled_runs_prune

    register_periodic("test_monthly", every=dt.timedelta(days=30), enqueue=lambda: None)
    try:
        old = NOW - dt.timedelta(days=10)
        current = period_key(NOW, dt.timedelta(days=30))
        rows = {
            "past": ScheduledRun.objects.create(
                job="automation_monitors", period="1", created_at=old
            ),
            "gone_job": ScheduledRun.objects.create(job="retired_job", period="1", created_at=old),
            "young": ScheduledRun.objects.create(
                job="automation_monitors", period="2", created_at=NOW
            ),
            # Created 10 days ago but its 30-day period is still running: deleting it would let
            # the job be claimed a second time in the same period.
            "current": ScheduledRun.objects.create(
                job="test_monthly", period=current, created_at=old
            ),
        }
        assert scheduled_runs_prune(older_than=NOW - dt.timedelta(days=7), now=NOW) == 2
        left = set(ScheduledRun.objects.values_list("pk", flat=True))
        assert left == {rows["young"].pk, rows["current"].pk}
    finally:
        unregister_periodic("test_monthly")


def _aged(event: DomainEvent, days: int) -> DomainEvent:
    DomainEvent.objects.filter(pk=event.pk).update(
        recorded_at=timezone.now() - dt.timedelta(days=days)
    )
    return event


def _prune_setup(company: Any) -> dict[str, DomainEvent]:
    actor = Actor.system()
    rows = {
        key: emit(COMPANY_UPDATED, obj=company, actor=actor, payload={"changes": {}})
        for key in ("old_passed", "old_unconsumed", "young")
    }
    _aged(rows["old_passed"], 40)
    _aged(rows["old_unconsumed"], 40)
    for name in events.CONSUMERS:  # every consumer passed the first event only
        ConsumerPosition.objects.update_or_create(
            consumer=name, defaults={"position": rows["old_passed"].pk}
        )
    return rows


def test_events_are_pruned_after_retention_once_every_consumer_passed_them(
    company: Any, settings: Any
) -> None:
    settings.VORONKA_EVENT_RETENTION_DAYS = 30
    settings.VORONKA_SCHEDULED_RUN_RETENTION_DAYS = 7
    before = {e.pk for e in _outbox()}
    rows = _prune_setup(company)
    result = history_prune()
    left = {e.pk for e in _outbox()}
    assert result["events"] >= 1
    assert rows["old_passed"].pk not in left
    assert {rows["old_unconsumed"].pk, rows["young"].pk} <= left  # a consumer still owes it / young
    assert before <= left  # the fixture's own events are young
    settings.VORONKA_EVENT_RETENTION_DAYS = 60  # a longer retention keeps a 40-day-old event
    ConsumerPosition.objects.update(position=rows["young"].pk)
    history_prune()
    assert rows["old_unconsumed"].pk in {e.pk for e in _outbox()}


def test_negative_control_without_the_consumer_guard_an_unhandled_event_is_pruned(
    company: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VORONKA_EVENT_RETENTION_DAYS = 30
    rows = _prune_setup(company)
    monkeypatch.setattr(outbox, "passed_by_every_consumer", outbox.head)
    history_prune()
    assert rows["old_unconsumed"].pk not in {e.pk for e in _outbox()}  # the test would see it


# --- settings ------------------------------------------------------------------------------------


def test_retention_settings_are_parsed_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VORONKA_TEST_DAYS", "14")
    assert env_int("VORONKA_TEST_DAYS", 30, minimum=1) == 14
    for bad in ("0", "-3", "2.5", "ten"):
        monkeypatch.setenv("VORONKA_TEST_DAYS", bad)
        with pytest.raises(ImproperlyConfigured, match="VORONKA_TEST_DAYS"):
            env_int("VORONKA_TEST_DAYS", 30, minimum=1)


@pytest.mark.parametrize(
    "name", ["VORONKA_EVENT_RETENTION_DAYS", "VORONKA_SCHEDULED_RUN_RETENTION_DAYS"]
)
def test_a_bad_retention_stops_start_up(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VORONKA_", "DATABASE_URL"))}
    env.update(
        VORONKA_ENV="test",
        VORONKA_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="voronka.config.settings",
        **{name: "0"},
    )
    code = "from django.conf import settings; print(settings.VORONKA_EVENT_RETENTION_DAYS)"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and f"{name} must be at least 1" in bad.stderr
    env[name] = "3"
    good = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
