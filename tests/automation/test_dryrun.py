"""The dry run (issue 9): a hand-built history with known answers, replayed against a rule file
and against one stored rule — and nothing written, by either of its two guards alone.

The history (T0 = Monday 2 November 2026, 10:00 Moscow; Продажа: Новая (limit 3 days),
Переговоры (limit 7 days), Договор, Успешно, Отказ; every deal a1's, whose head is head_a):

    T0          A, B, C created in Новая (C: 500 000); tasks t1 (A, meeting, due T0+3d),
                t2 (C, call, due T0+3d), t3 (B, call, due T0+4d)
    T0+12h      t1 completed (in time)                  A still in Новая
    T0+1d       A → Переговоры
    T0+1d+1h    B → Переговоры
    T0+1d+1h30  B → Новая                               (left Переговоры after 30 minutes)
    T0+2d       C → Переговоры
    T0+5d       t2 completed (late: due T0+3d)
    T0+10d      A → Успешно                             (9 days in Переговоры: over its 7)
    t3 is never completed; B stays in Новая from T0+1d+1h30 (over its 3 days at T0+4d+1h30)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from tests.factories import make_company, make_deal, make_task, table_counts

from voronka.activities.models import Task
from voronka.activities.tasks_services import task_complete
from voronka.automation import dryrun
from voronka.automation.dryrun import DryRunReport, file_dry_run, rule_dry_run
from voronka.automation.executor import build_context
from voronka.automation.models import Rule
from voronka.automation.rules_io import RulesFileError
from voronka.automation.services import rule_create
from voronka.deals.models import Deal
from voronka.deals.services import deal_move_to_stage
from voronka.kernel import clock
from voronka.kernel.actor import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_builtin_rules(db: None) -> None:
    """These tests count the file's rules: the built-in monitors (automation.defaults) go."""
    from voronka.automation.models import Rule

    Rule.objects.exclude(builtin="").delete()


T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
SINCE, UNTIL = T0 - H, T0 + 20 * D

RULES = """\
rules:
- kind: robot
  name: Позвонить после КП
  pipeline: Продажа
  stage: Переговоры
  delay_seconds: 3600
  action: create_task
  params:
    comment: Позвонить по «{deal.title}»
    deadline: {kind: after, amount: 1, unit: days}
- kind: robot
  name: Крупная сделка
  pipeline: Продажа
  stage: Переговоры
  conditions:
  - {field: amount, op: gte, value: 100000}
  action: notify
  params:
    to: {kind: head}
    text: Крупная сделка «{deal.title}»
- kind: trigger
  name: Встреча → Переговоры
  pipeline: Продажа
  stage: Переговоры
  event: task.completed
  conditions:
  - {field: task.type, op: eq, value: meeting}
- kind: monitor
  name: Дольше срока стадии
  monitor: deal_over_sla
  action: create_task
  params:
    comment: Сделка «{deal.title}» дольше срока стадии
    responsible: {kind: head}
- kind: monitor
  name: Просрочка
  monitor: overdue_task
  action: notify
  params:
    text: Просрочена задача
- kind: monitor
  name: День рождения
  monitor: contact_birthday
  action: create_task
  params: {comment: Поздравить}
"""


@pytest.fixture
def history(personas: dict[str, Any], pipeline: Any) -> dict[str, Any]:
    a1 = personas["a1"].user
    stages = pipeline.stages
    me = Actor.for_user(a1)

    def move(deal: Deal, stage: Any, at: dt.datetime) -> None:
        with clock.frozen(at):
            deal_move_to_stage(deal=Deal.objects.get(pk=deal.pk), stage=stage, actor=me)

    def complete(task: Task, at: dt.datetime) -> None:
        with clock.frozen(at):
            task_complete(task=Task.objects.get(pk=task.pk), actor=me, result="Сделано")

    with clock.frozen(T0):
        company = make_company(responsible=a1, name="ООО История")
        a, b, c = (
            make_deal(responsible=a1, company=company, title=title, stage=stages["new"], amount=amt)
            for title, amt in (("A", 1000), ("B", 1000), ("C", 500000))
        )
        t1 = make_task(responsible=a1, deal=a, days=3)
        Task.objects.filter(pk=t1.pk).update(type="meeting")
        t2 = make_task(responsible=a1, deal=c, days=3)
        t3 = make_task(responsible=a1, deal=b, days=4)
    complete(t1, T0 + 12 * H)
    move(a, stages["talks"], T0 + D)
    move(b, stages["talks"], T0 + D + H)
    move(b, stages["new"], T0 + D + 90 * dt.timedelta(minutes=1))
    move(c, stages["talks"], T0 + 2 * D)
    complete(t2, T0 + 5 * D)
    move(a, stages["won"], T0 + 10 * D)
    return {"a": a, "b": b, "c": c, "t1": t1, "t2": t2, "t3": t3, "a1": a1}


def owner_of(personas: dict[str, Any]) -> Any:
    return personas["owner"].user


def by_name(report: DryRunReport) -> dict[str, dict[str, Any]]:
    return {r.rule.name: r.as_dict() for r in report.rules}


def summary(rule: dict[str, Any]) -> tuple[Any, ...]:
    return (rule["runs"], rule["done"], rule["skipped"], rule["failed"], rule["pending"])


def test_the_replay_gives_the_known_answers(
    history: dict[str, Any], personas: dict[str, Any], pipeline: Any
) -> None:
    report = file_dry_run(text=RULES, owner=owner_of(personas), since=SINCE, until=UNTIL)
    rules = by_name(report)
    a, b, c = history["a"].pk, history["b"].pk, history["c"].pk
    a1, head = history["a1"].pk, personas["head_a"].user.pk
    new, talks = pipeline.stages["new"].pk, pipeline.stages["talks"].pk

    # Robot with a one-hour delay: A and C stayed; B left Переговоры after 30 minutes.
    robot = rules["Позвонить после КП"]
    assert summary(robot) == (3, 2, {"left_stage": 1}, 0, 0)
    assert robot["effects"] == {"tasks": 2}
    assert robot["rule"]["line"] == 2 and robot["rule"]["id"] is None
    done = [i for i in robot["items"] if i["outcome"] == "done"]
    assert [(i["deal"], i["at"]) for i in done] == [
        (a, (T0 + D + H).isoformat()),
        (c, (T0 + 2 * D + H).isoformat()),
    ]
    assert [dt.datetime.fromisoformat(i["plan"]["deadline"]) for i in done] == [
        T0 + 2 * D,  # a day after entering the stage
        T0 + 3 * D,
    ]
    assert {i["plan"]["responsible"] for i in done} == {a1}
    assert done[0]["plan"]["comment"] == "Позвонить по «A»"
    [left] = [i for i in robot["items"] if i["outcome"] == "skipped"]
    assert (left["deal"], left["reason"]) == (b, "left_stage")

    # Conditions: only C is large.
    big = rules["Крупная сделка"]
    assert summary(big) == (3, 1, {"conditions": 2}, 0, 0)
    [notified] = [i for i in big["items"] if i["outcome"] == "done"]
    assert notified["deal"] == c
    assert notified["plan"] == {"user": head, "text": "Крупная сделка «C»", "channel": "in_app"}

    # Trigger: t1 (a meeting) completed while A was in Новая → moved; t2 found C already there
    # (A is in Успешно today: the replay places the deal in its stage of that moment).
    trigger = rules["Встреча → Переговоры"]
    assert summary(trigger) == (2, 1, {"already_there": 1}, 0, 0)
    assert trigger["effects"] == {"moves": 1}
    moved = trigger["items"][0]
    assert (moved["object_type"], moved["object_id"], moved["deal"]) == (
        "task",
        history["t1"].pk,
        a,
    )
    assert moved["plan"] == {"deal": a, "from_stage": new, "stage": talks}
    assert moved["at"] == (T0 + 12 * H).isoformat()

    # Stage limits from the history: B in Новая, A and C in Переговоры.
    sla = rules["Дольше срока стадии"]
    assert summary(sla) == (3, 3, {}, 0, 0)
    assert [(i["deal"], i["at"]) for i in sla["items"]] == [
        (b, (T0 + 4 * D + 90 * dt.timedelta(minutes=1)).isoformat()),
        (a, (T0 + 8 * D).isoformat()),
        (c, (T0 + 9 * D).isoformat()),
    ]
    assert {i["plan"]["responsible"] for i in sla["items"]} == {head}
    assert sla["effects"] == {"tasks": 3}

    # Overdue: t2 completed late, t3 never; t1 was done in time.
    overdue = rules["Просрочка"]
    assert summary(overdue) == (2, 2, {}, 0, 0)
    assert [(i["object_id"], i["at"]) for i in overdue["items"]] == [
        (history["t2"].pk, (T0 + 3 * D).isoformat()),
        (history["t3"].pk, (T0 + 4 * D).isoformat()),
    ]
    assert {i["plan"]["user"] for i in overdue["items"]} == {a1}

    birthday = rules["День рождения"]
    assert birthday["runs"] == 0 and "contact_birthday" in birthday["not_replayed"]

    assert report.totals() == {
        "runs": 13,
        "done": 9,
        "skipped": {"already_there": 1, "conditions": 2, "left_stage": 1},
        "failed": 0,
        "pending": 0,
        "effects": {"moves": 1, "notifications": 3, "tasks": 5},
    }
    assert not Rule.objects.exists()  # the file's rules were never saved


def test_the_window_bounds_the_replay_and_later_runs_are_pending(
    history: dict[str, Any], personas: dict[str, Any]
) -> None:
    since, until = T0 + D + 30 * dt.timedelta(minutes=1), T0 + D + 90 * dt.timedelta(minutes=1)
    rules = by_name(file_dry_run(text=RULES, owner=owner_of(personas), since=since, until=until))
    # B entered at T0+1d+1h (A's entry is before the window); its run is due at T0+1d+2h.
    assert summary(rules["Позвонить после КП"]) == (1, 0, {}, 0, 1)
    assert summary(rules["Крупная сделка"]) == (1, 0, {"conditions": 1}, 0, 0)
    assert rules["Дольше срока стадии"]["runs"] == 0
    assert rules["Встреча → Переговоры"]["runs"] == 0


def test_conditions_read_the_deal_as_it_is_now(
    history: dict[str, Any], personas: dict[str, Any]
) -> None:
    Deal.objects.filter(pk=history["a"].pk).update(amount=250000)
    rules = by_name(file_dry_run(text=RULES, owner=owner_of(personas), since=SINCE, until=UNTIL))
    big = rules["Крупная сделка"]
    assert summary(big) == (3, 2, {"conditions": 1}, 0, 0)


def test_a_robot_waiting_for_an_event_acts_when_it_comes_in_the_same_stage_visit(
    history: dict[str, Any], personas: dict[str, Any]
) -> None:
    text = """\
rules:
- kind: robot
  name: После выполненной задачи
  pipeline: Продажа
  stage: Новая
  event: task.completed
  action: notify
  params: {text: Задача выполнена}
"""
    [robot] = file_dry_run(text=text, owner=owner_of(personas), since=SINCE, until=UNTIL).as_dict()[
        "rules"
    ]
    # A: t1 completed while in Новая; B's first and C's stays: no completion before they left;
    # B's second stay (from T0+1d+1h30) is still waiting.
    assert summary(robot) == (4, 1, {"left_stage": 2}, 0, 1)
    [done] = [i for i in robot["items"] if i["outcome"] == "done"]
    assert (done["deal"], done["at"]) == (history["a"].pk, (T0 + 12 * H).isoformat())


def test_one_stored_rule(history: dict[str, Any], personas: dict[str, Any], pipeline: Any) -> None:
    rule = rule_create(
        actor=Actor.for_user(owner_of(personas)),
        data={
            "kind": "robot",
            "name": "Позвонить после КП",
            "stage": pipeline.stages["talks"].pk,
            "delay_seconds": 3600,
            "enabled": False,  # trying it before switching it on
            "action": "create_task",
            "params": {"comment": "Позвонить", "deadline": {"amount": 1, "unit": "days"}},
        },
    )
    report = rule_dry_run(rule, SINCE, UNTIL, actor=Actor.for_user(owner_of(personas)))
    [only] = report.as_dict()["rules"]
    assert only["rule"]["id"] == rule.pk
    assert summary(only) == (3, 2, {"left_stage": 1}, 0, 0)
    assert only["effects"] == {"tasks": 2}
    assert not rule.runs.exists()


def test_a_refused_action_is_reported_as_failed(
    history: dict[str, Any], personas: dict[str, Any]
) -> None:
    a2 = personas["a2"].user
    a2.is_active = False
    a2.save(update_fields=["is_active"])
    text = RULES.split("- kind: robot\n  name: Крупная")[0].replace(
        "    deadline:", "    responsible: {kind: user, user: a2}\n    deadline:"
    )
    rules = by_name(file_dry_run(text=text, owner=owner_of(personas), since=SINCE, until=UNTIL))
    robot = rules["Позвонить после КП"]
    assert summary(robot) == (3, 0, {"left_stage": 1}, 2, 0)
    assert "активного" in robot["items"][0]["error"]


# --- nothing is written: each guard alone suffices; with both off the test sees writes -----------


def _write_guard_off(monkeypatch: pytest.MonkeyPatch, *, sandbox: bool, dry: bool) -> None:
    if not sandbox:
        monkeypatch.setattr(dryrun, "sandbox", contextlib.nullcontext)
    if not dry:
        monkeypatch.setattr(
            dryrun, "dry_context", lambda run, *, now: build_context(run, now=now, dry=False)
        )


@pytest.mark.parametrize(("sandbox", "dry"), [(True, True), (True, False), (False, True)])
def test_nothing_is_written(
    history: dict[str, Any],
    personas: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    sandbox: bool,
    dry: bool,
) -> None:
    _write_guard_off(monkeypatch, sandbox=sandbox, dry=dry)
    before = table_counts()
    report = file_dry_run(text=RULES, owner=owner_of(personas), since=SINCE, until=UNTIL)
    assert report.totals()["done"] == 9
    assert table_counts() == before


def test_control_with_both_guards_off_the_replay_writes(
    history: dict[str, Any], personas: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_guard_off(monkeypatch, sandbox=False, dry=False)
    before = table_counts()
    file_dry_run(text=RULES, owner=owner_of(personas), since=SINCE, until=UNTIL)
    after = table_counts()
    assert after != before
    assert after["activities_task"] > before["activities_task"]


# --- the command ---------------------------------------------------------------------------------


def test_the_command_reports_json_and_a_table(
    history: dict[str, Any], personas: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    args = ["dry-run", str(path), "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    out = io.StringIO()
    before = table_counts()
    call_command("voronka_automation", *args, "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["totals"]["effects"] == {"moves": 1, "notifications": 3, "tasks": 5}
    assert len(data["rules"][0]["items"]) == 3
    table = io.StringIO()
    call_command("voronka_automation", *args, stdout=table)
    text = table.getvalue()
    assert "Позвонить после КП (line 2)" in text and "left_stage 1" in text
    assert "moves 1, notifications 3, tasks 5" in text.splitlines()[-1]
    assert table_counts() == before


def test_the_command_takes_dates_and_a_stored_rule(
    history: dict[str, Any], personas: dict[str, Any], pipeline: Any
) -> None:
    rule = rule_create(
        actor=Actor.for_user(owner_of(personas)),
        data={
            "kind": "robot",
            "name": "Звонок",
            "stage": pipeline.stages["talks"].pk,
            "action": "create_task",
            "params": {"comment": "Позвонить"},
        },
    )
    out = io.StringIO()
    call_command(
        "voronka_automation",
        "dry-run",
        "--rule",
        str(rule.pk),
        "--since",
        "2026-11-02",  # local midnight: before T0 (10:00)
        "--until",
        "2026-11-03",  # the whole day included: A (at 10:00) and B (11:00) entered then
        "--format",
        "json",
        stdout=out,
    )
    [only] = json.loads(out.getvalue())["rules"]
    assert (only["runs"], only["done"]) == (2, 2)


def test_a_bad_file_is_rejected_before_the_replay(
    history: dict[str, Any], personas: dict[str, Any]
) -> None:
    bad = RULES.replace("unit: days", "unit: weeks")
    with pytest.raises(RulesFileError) as caught:
        file_dry_run(text=bad, owner=owner_of(personas), since=SINCE, until=UNTIL)
    assert caught.value.lines()[0].startswith("rules.yaml:10: params.deadline.unit: ")
