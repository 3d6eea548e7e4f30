"""Automation as code: `voronka automation export | import` (issue 9). The file names stages,
pipelines and users, never ids; import validates through the rule services, in one transaction,
and a bad file is rejected whole with line-numbered errors."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from voronka.automation.models import Rule
from voronka.automation.rules_io import (
    RulesFileError,
    configuring_user,
    import_actor,
    rules_export,
    rules_import,
)
from voronka.automation.services import rule_create, rule_input
from voronka.deals.models import Pipeline
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_builtin_rules(db: None) -> None:
    """These tests count the file's rules: the built-in monitors (automation.defaults) go."""
    from voronka.automation.models import Rule

    Rule.objects.exclude(builtin="").delete()


@pytest.fixture
def owner(personas: dict[str, Any]) -> Actor:
    return Actor.for_user(personas["owner"].user)


def some_rules(owner: Actor, pipeline: Any, personas: dict[str, Any]) -> list[Rule]:
    stages, other = pipeline.stages, pipeline.other_stages
    a2 = personas["a2"].user
    specs: list[dict[str, Any]] = [
        {
            "kind": "robot",
            "name": "Подтвердить получение КП",
            "stage": stages["talks"].pk,
            "delay_seconds": 3600,
            "action": "create_task",
            "params": {
                "comment": "Позвонить по «{deal.title}»",
                "responsible": {"kind": "user", "user": a2.pk},
                "deadline": {"kind": "after", "amount": 1, "unit": "working_days"},
            },
            "conditions": [
                {"field": "amount", "op": "gte", "value": "100000"},
                {"field": "responsible", "op": "in", "value": [a2.pk, personas["a1"].user.pk]},
            ],
        },
        {
            "kind": "robot",
            "name": "Проигрыш → Обзвон",
            "stage": stages["lost"].pk,
            "action": "copy_to_pipeline",
            "params": {"stage": other["call"].pk, "responsible": {"kind": "head"}},
        },
        {
            "kind": "trigger",
            "name": "Встреча проведена → Переговоры",
            "event": "task.completed",
            "stage": stages["talks"].pk,
            "conditions": [{"field": "task.type", "op": "eq", "value": "meeting"}],
        },
        {
            "kind": "monitor",
            "name": "Просрочка → руководителю",
            "monitor": "overdue_task",
            "monitor_params": {"after_minutes": 60, "every_minutes": 5},
            "action": "notify",
            "enabled": False,
            "params": {"to": {"kind": "head"}, "text": "Просрочена задача"},
        },
        {
            "kind": "robot",
            "name": "Раздать",
            "stage": other["new"].pk,
            "action": "change_responsible",
            "params": {
                "mode": "least_loaded",
                "department": a2.department_id,
                "users": [a2.pk],
            },
        },
    ]
    return [rule_create(actor=owner, data=spec) for spec in specs]


def stored_inputs() -> list[str]:
    """The stored rules' inputs (ids included), in a canonical order."""
    # Canonical JSON: PostgreSQL's jsonb keeps keys in its own order, not the order written.
    return sorted(json.dumps(rule_input(r), sort_keys=True) for r in Rule.objects.all())


def test_the_file_names_pipelines_stages_and_users_not_ids(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    some_rules(owner, pipeline, personas)
    data = yaml.safe_load(rules_export())
    assert data["version"] == 1
    robot, tunnel, trigger, monitor, spread = _by_name(data)
    assert robot["pipeline"] == "Продажа" and robot["stage"] == "Переговоры"
    assert robot["params"]["responsible"] == {"kind": "user", "user": "a2"}
    assert robot["conditions"][1]["value"] == ["a2", "a1"]
    assert robot["delay_seconds"] == 3600
    assert tunnel["params"]["stage"] == {"pipeline": "Обзвон", "stage": "Звонок"}
    assert trigger == {
        "kind": "trigger",
        "name": "Встреча проведена → Переговоры",
        "pipeline": "Продажа",
        "stage": "Переговоры",
        "event": "task.completed",
        "conditions": [{"field": "task.type", "op": "eq", "value": "meeting"}],
    }  # defaults left out; a trigger's action is its move
    assert monitor["enabled"] is False and "pipeline" not in monitor
    assert spread["params"]["department"] == "Отдел продаж A"
    assert spread["params"]["users"] == ["a2"]


def _by_name(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    by_name = {r["name"]: r for r in data["rules"]}
    return tuple(
        by_name[n]
        for n in (
            "Подтвердить получение КП",
            "Проигрыш → Обзвон",
            "Встреча проведена → Переговоры",
            "Просрочка → руководителю",
            "Раздать",
        )
    )


def test_export_then_import_round_trips(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    before = [rule_input(r) for r in some_rules(owner, pipeline, personas)]
    text = rules_export()
    result = rules_import(actor=owner, text=text, replace=True)
    assert result.deleted == 5 and len(result.created) == 5
    assert stored_inputs() == sorted(json.dumps(b, sort_keys=True) for b in before)
    assert rules_export() == text
    assert set(Rule.objects.values_list("owner_id", flat=True)) == {personas["owner"].user.pk}


def test_import_without_replace_adds(owner: Actor, pipeline: Any, personas: dict[str, Any]) -> None:
    some_rules(owner, pipeline, personas)
    rules_import(actor=owner, text=rules_export())
    assert Rule.objects.count() == 10


def test_ids_are_resolved_against_this_installation(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    """The same names on another installation mean other ids: a pipeline created later has
    other stage ids than the file's source, and the file still lands on the named stages."""
    text = """
rules:
- kind: robot
  name: В новом
  pipeline: Новая воронка
  stage: Первая
  action: move_stage
  params: {stage: Вторая}
"""
    from voronka.deals.services import pipeline_create

    created = pipeline_create(
        actor=owner,
        name="Новая воронка",
        stages=[{"name": "Первая", "semantic": "open"}, {"name": "Вторая", "semantic": "open"}],
    )
    first, second = created.stages.order_by("sort")[:2]
    [rule] = rules_import(actor=owner, text=text).created
    assert (rule.pipeline_id, rule.stage_id, rule.params) == (
        created.pk,
        first.pk,
        {"stage": second.pk},
    )


BAD = """\
version: 1
rules:
- kind: robot
  name: Хороший
  pipeline: Продажа
  stage: Переговоры
  action: create_task
  params:
    comment: Позвонить
- kind: robot
  name: Плохой
  pipeline: Продажа
  stage: Нет такой
  action: create_task
  params:
    type: sms
    comment: ''
  conditions:
  - {field: amount, op: gte, value: 1}
  - {field: nope, op: eq, value: 1}
- kind: robot
  name: ''
  stage: Переговоры
  delay_seconds: -5
- kind: monitor
  name: Чужой пользователь
  monitor: overdue_task
  action: notify
  params:
    to: {kind: user, user: nobody}
    text: Просрочка
- kind: trigger
  name: Не та воронка
  pipeline: Нет воронки
  stage: Переговоры
  event: task.completed
"""


def test_a_bad_file_is_rejected_whole_with_line_numbers(
    owner: Actor, pipeline: Any, personas: dict[str, Any], nothing_written: Any
) -> None:
    some_rules(owner, pipeline, personas)
    with nothing_written(), pytest.raises(RulesFileError) as caught:
        rules_import(actor=owner, text=BAD, filename="rules.yaml", replace=True)
    lines = caught.value.lines()
    assert lines[0] == "rules.yaml:13: stage: Нет стадии «Нет такой» в воронке «Продажа»"
    assert lines[1].startswith("rules.yaml:16: params.type: Input should be 'call'")
    assert lines[2].startswith("rules.yaml:17: params.comment: Не короче 1 символов")
    assert lines[3].startswith("rules.yaml:20: conditions.1.field: ")
    assert lines[4].startswith("rules.yaml:22: name: ")
    assert lines[5].startswith("rules.yaml:24: delay_seconds: ")
    assert lines[6] == "rules.yaml:30: params.to.user: Нет пользователя «nobody»"
    assert lines[7] == "rules.yaml:34: pipeline: Нет воронки «Нет воронки»"
    assert len(lines) == 8, lines
    assert Rule.objects.count() == 5  # --replace deleted nothing: the whole import rolled back


def test_control_without_the_transaction_a_bad_file_leaves_its_good_rules(
    owner: Actor, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rejection test above would see it: the good first rule of BAD stays behind."""
    from types import SimpleNamespace

    from voronka.automation import rules_io

    monkeypatch.setattr(rules_io, "transaction", SimpleNamespace(atomic=contextlib.nullcontext))
    with pytest.raises(RulesFileError):
        rules_import(actor=owner, text=BAD)
    assert list(Rule.objects.values_list("name", flat=True)) == ["Хороший"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n- kind: robot\n  name: [x\n", "rules.yaml:4: YAML: "),
        ("", "rules.yaml:1: Файл пуст"),
        ("rules: {}\n", "rules.yaml:1: rules: Ожидается список правил"),
        ("version: 2\nrules: []\n", "rules.yaml:1: version: Поддерживается версия 1"),
        ("rules: []\nextra: 1\n", "rules.yaml:2: extra: Неизвестный ключ"),
        ("rules:\n- just text\n", "rules.yaml:2: Правило — это словарь полей"),
        (
            "rules:\n- kind: robot\n  name: a\n  colour: red\n",
            "rules.yaml:4: colour: Поле нельзя изменить",
        ),
        (
            "rules:\n- kind: robot\n  name: a\n  name: b\n",
            "rules.yaml:4: rules.0.name: Ключ повторяется",
        ),
    ],
)
def test_a_malformed_file_names_its_line(
    owner: Actor, pipeline: Any, text: str, expected: str
) -> None:
    with pytest.raises(RulesFileError) as caught:
        rules_import(actor=owner, text=text, filename="rules.yaml")
    assert caught.value.lines()[0].startswith(expected), caught.value.lines()


def test_an_ambiguous_stage_name_asks_for_the_pipeline(owner: Actor, pipeline: Any) -> None:
    from voronka.deals.services import pipeline_create

    pipeline_create(actor=owner, name="Ещё", stages=[{"name": "Переговоры", "semantic": "open"}])
    text = (
        "rules:\n- kind: monitor\n  name: m\n  monitor: deal_without_task\n  action: move_stage\n"
        "  params: {stage: Переговоры}\n"
    )
    with pytest.raises(RulesFileError) as caught:
        rules_import(actor=owner, text=text)
    assert caught.value.lines() == [
        "rules.yaml:6: params.stage: Стадий «Переговоры» несколько: укажите воронку"
    ]
    ok = text.replace("{stage: Переговоры}", "{stage: {pipeline: Ещё, stage: Переговоры}}")
    [rule] = rules_import(actor=owner, text=ok).created
    assert rule.params["stage"] == Pipeline.objects.get(name="Ещё").stages.get().pk


def test_only_a_configurer_imports(pipeline: Any, personas: dict[str, Any]) -> None:
    text = "rules: []\n"
    manager = Actor.for_user(personas["a1"].user)
    with pytest.raises(ApplicationError):
        rules_import(actor=manager, text=text)
    with pytest.raises(ApplicationError):
        configuring_user("a1")
    with pytest.raises(ApplicationError):
        configuring_user("deact")
    assert configuring_user() == min(
        (personas[k].user for k in ("owner", "admin")), key=lambda u: u.pk
    )
    assert configuring_user("admin") == personas["admin"].user
    assert import_actor(personas["admin"].user).kind == "import"


def test_the_command_exports_and_imports(
    owner: Actor, pipeline: Any, personas: dict[str, Any], tmp_path: Path
) -> None:
    some_rules(owner, pipeline, personas)
    out = io.StringIO()
    call_command("voronka_automation", "export", stdout=out)
    path = tmp_path / "rules.yaml"
    path.write_text(out.getvalue(), encoding="utf-8")
    done = io.StringIO()
    call_command(
        "voronka_automation", "import", str(path), "--replace", "--as", "admin", stdout=done
    )
    assert "imported 5 rule(s) as admin, replaced 5" in done.getvalue()
    assert set(Rule.objects.values_list("owner_id", flat=True)) == {personas["admin"].user.pk}
    path.write_text(BAD, encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("voronka_automation", "import", str(path), stderr=err)
    assert f"{path}:13: stage: Нет стадии «Нет такой» в воронке «Продажа»" in err.getvalue()
    assert Rule.objects.count() == 5


def test_the_cli_maps_automation_to_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import django.core.management

    from voronka.config import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(django.core.management, "execute_from_command_line", seen.append)
    monkeypatch.setattr("sys.argv", ["voronka", "automation", "export"])
    cli.main()
    assert seen == [["voronka", "voronka_automation", "export"]]


# --- property: any valid rule set survives export → import ------------------------------------

WHO = st.sampled_from(["deal", "head", "a1", "a2"])
# What a person can type: no control characters (the input cleaner drops them, decision 0011).
TYPED = st.characters(blacklist_categories=("Cc", "Cs"))


def _who(choice: str, personas: dict[str, Any]) -> dict[str, Any]:
    if choice in ("deal", "head"):
        return {"kind": choice}
    return {"kind": "user", "user": personas[choice].user.pk}


@st.composite
def rule_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["robot", "trigger", "monitor"]))
    action = draw(st.sampled_from(["create_task", "notify", "move_stage", "set_field"]))
    return {
        "kind": kind,
        "name": draw(st.text(TYPED, min_size=1, max_size=30).filter(lambda s: s.strip())),
        "enabled": draw(st.booleans()),
        "sort": draw(st.integers(0, 10_000)),
        "stage": draw(st.sampled_from(["new", "talks", "won", "o:call", "o:new"])),
        "delay": draw(st.integers(0, 366 * 24 * 3600)),
        "action": action,
        "who": draw(WHO),
        "text": draw(st.text(TYPED, min_size=1, max_size=60).filter(lambda s: s.strip())),
        "target": draw(st.sampled_from(["new", "talks", "o:call"])),
        "amount": draw(st.one_of(st.integers(0, 10**9), st.decimals(0, 10**6, places=2).map(str))),
        "cond_user": draw(st.sampled_from(["a1", "a2", "owner"])),
        "cond_stage": draw(st.sampled_from(["new", "talks", "o:new"])),
        "conditions": draw(st.integers(0, 3)),
        "monitor": draw(st.sampled_from(["overdue_task", "deal_over_sla", "deal_without_task"])),
    }


def _stage(key: str, pipeline: Any) -> Any:
    return pipeline.other_stages[key[2:]] if key.startswith("o:") else pipeline.stages[key]


def _data(spec: dict[str, Any], pipeline: Any, personas: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "create_task": {"comment": spec["text"], "responsible": _who(spec["who"], personas)},
        "notify": {"text": spec["text"][:500], "to": _who(spec["who"], personas)},
        "move_stage": {"stage": _stage(spec["target"], pipeline).pk},
        "set_field": {"field": "source", "value": spec["text"]},
    }[spec["action"]]
    cond_stage = _stage(spec["cond_stage"], pipeline)
    own = _stage(spec["stage"], pipeline)
    if spec["kind"] != "monitor" and cond_stage.pipeline_id != own.pipeline_id:
        cond_stage = own  # a robot's or trigger's condition names a stage of its own pipeline
    conditions = [
        {"field": "amount", "op": "gte", "value": spec["amount"]},
        {"field": "responsible", "op": "eq", "value": personas[spec["cond_user"]].user.pk},
        {"field": "stage", "op": "in", "value": [cond_stage.pk]},
    ][: spec["conditions"]]
    data: dict[str, Any] = {
        "kind": spec["kind"],
        "name": spec["name"],
        "enabled": spec["enabled"],
        "sort": spec["sort"],
        "delay_seconds": spec["delay"],
        "conditions": conditions,
        "action": spec["action"],
        "params": params,
    }
    if spec["kind"] == "monitor":
        data["monitor"] = spec["monitor"]
        if spec["action"] == "move_stage" or spec["action"] == "set_field":
            data["monitor"] = "deal_without_task"
    else:
        data["stage"] = _stage(spec["stage"], pipeline).pk
    if spec["kind"] == "trigger":
        data["event"] = "task.completed"
    return data


@hypothesis_settings(max_examples=25)
@given(specs=st.lists(rule_specs(), min_size=1, max_size=4))
def test_property_any_rule_set_round_trips(
    specs: list[dict[str, Any]], owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    with transaction.atomic():
        before = [
            rule_input(rule_create(actor=owner, data=_data(spec, pipeline, personas)))
            for spec in specs
        ]
        text = rules_export()
        rules_import(actor=owner, text=text, replace=True)
        assert stored_inputs() == sorted(json.dumps(b, sort_keys=True) for b in before)
        assert rules_export() == text
        transaction.set_rollback(True)


def test_built_in_rules_are_exported_by_slug_and_retuned_not_duplicated_by_import(
    owner: Actor,
) -> None:
    from voronka.automation.defaults import rules_ensure_defaults

    assert rules_ensure_defaults() == 2
    text = rules_export()
    assert "builtin: overdue_head" in text and "builtin: overdue_responsible" in text
    retuned = text.replace("after_minutes: 1440", "after_minutes: 120")
    assert retuned != text
    rules_import(actor=owner, text=retuned, filename="rules.yaml", replace=True)
    head = Rule.objects.get(builtin="overdue_head")
    assert head.monitor_params["after_minutes"] == 120 and head.owner == owner.user
    assert Rule.objects.count() == 2  # retuned in place, nothing deleted or doubled
    with pytest.raises(RulesFileError) as caught:
        rules_import(
            actor=owner, text=text.replace("overdue_head", "no_such_rule"), filename="r.yaml"
        )
    [line] = caught.value.lines()
    assert line.startswith("r.yaml:") and ": builtin: " in line, line
