"""The robot form's condition pickers, the order of a stage's robots, the dry run's own check
(issue 9): a condition on a field that holds an id is picked, validated against the tables and
shown by name; robots run in the order the stage lists them (↑/↓, the API's `sort`, the YAML
file); `dryrun.rule_dry_run` refuses whoever may not configure the rules."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from tests.factories import make_company, make_deal

from voronka.activities.models import Task
from voronka.automation import dryrun, services
from voronka.automation.models import Rule, RuleRun
from voronka.automation.rules_io import rules_export, rules_import
from voronka.automation.services import rule_create, rule_move, rule_update
from voronka.deals.models import Deal, LossReason
from voronka.deals.services import deal_move_to_stage
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ValidationError
from voronka.kernel.models import AuditEntry
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(personas: dict[str, Any]) -> Actor:
    return Actor.for_user(personas["owner"].user)


def robot(owner: Actor, stage: Any, name: str = "Перезвонить", **extra: Any) -> Rule:
    data: dict[str, Any] = {
        "kind": "robot",
        "name": name,
        "stage": stage.pk,
        "action": "create_task",
        "params": {"comment": name},
    }
    data.update(extra)
    return rule_create(actor=owner, data=data)


def refused(owner: Actor, stage: Any, conditions: list[dict[str, Any]], **extra: Any) -> dict:
    with pytest.raises(ValidationError) as exc:
        robot(owner, stage, conditions=conditions, **extra)
    return exc.value.errors


def order(stage: Any) -> list[str]:
    return list(Rule.objects.robots_of(stage.pk).values_list("name", flat=True))


# --- conditions: validated against the tables ------------------------------------------------------


def test_a_condition_naming_a_missing_or_wrong_record_is_refused_naming_its_row(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    talks = pipeline.stages["talks"]
    a1 = personas["a1"].user
    errors = refused(
        owner,
        talks,
        [
            {"field": "amount", "op": "gte", "value": 100},
            {"field": "responsible", "op": "eq", "value": 999_999},
        ],
    )
    assert errors == {"conditions.1.value": "Условие 2: нет сотрудника с номером 999999"}
    errors = refused(owner, talks, [{"field": "responsible", "op": "eq", "value": "Иванов"}])
    assert errors["conditions.0.value"].startswith("Условие 1: «Иванов» — не номер записи")
    errors = refused(owner, talks, [{"field": "company", "op": "eq", "value": 999_999}])
    assert errors == {"conditions.0.value": "Условие 1: нет компании с номером 999999"}
    known = LossReason.objects.order_by("pk").first()
    assert known is not None  # one that exists beside one that does not: only the missing named
    value = [known.pk, 999_999]
    errors = refused(owner, talks, [{"field": "loss_reason", "op": "in", "value": value}])
    assert errors == {"conditions.0.value": "Условие 1: нет причины проигрыша с номером 999999"}
    # A stage of another pipeline never holds for a robot of this one.
    other = pipeline.other_stages["new"]
    errors = refused(owner, talks, [{"field": "stage", "op": "eq", "value": other.pk}])
    assert errors == {"conditions.0.value": "Условие 1: стадия из другой воронки"}
    # A task type, a list field's option that is not one.
    errors = refused(owner, talks, [{"field": "task.type", "op": "eq", "value": "fax"}])
    assert "Нет такого типа задачи: fax" in errors["conditions.0.value"]
    errors = refused(owner, talks, [{"field": "custom.f_list", "op": "eq", "value": "Омега"}])
    assert "В списке поля нет значения «Омега»" in errors["conditions.0.value"]
    # What exists is stored, the ids as numbers.
    company = make_company(responsible=a1, name="ООО Условие")
    reason = pipeline.loss_reasons[0]
    rule = robot(
        owner,
        talks,
        conditions=[
            {"field": "responsible", "op": "in", "value": [str(a1.pk)]},
            {"field": "company", "op": "eq", "value": str(company.pk)},
            {"field": "loss_reason", "op": "eq", "value": reason.pk},
            {"field": "stage", "op": "ne", "value": pipeline.stages["new"].pk},
            {"field": "custom.f_list", "op": "in", "value": ["Альфа", "Бета"]},
        ],
    )
    assert rule.conditions[0]["value"] == [a1.pk]
    assert rule.conditions[1]["value"] == company.pk


def test_the_comparison_must_fit_the_field(owner: Actor, pipeline: Any) -> None:
    talks = pipeline.stages["talks"]
    errors = refused(owner, talks, [{"field": "responsible", "op": "gte", "value": 1}])
    assert list(errors) == ["conditions.0"]
    assert "Условие 1" in errors["conditions.0"] and "«≥»" in errors["conditions.0"]
    assert "Ответственный" in errors["conditions.0"]
    errors = refused(owner, talks, [{"field": "company", "op": "in", "value": [1]}])
    assert "Условие 1" in errors["conditions.0"]
    errors = refused(owner, talks, [{"field": "title", "op": "lt", "value": 3}])
    assert "Условие 1" in errors["conditions.0"]
    # A custom field's kind comes from its type: no "≥" on a list, "≥" on a number.
    errors = refused(owner, talks, [{"field": "custom.f_list", "op": "gte", "value": 1}])
    assert "Условие 1: сравнение «≥» не подходит" in errors["conditions.0.op"]
    robot(owner, talks, conditions=[{"field": "custom.f_number", "op": "gte", "value": 5}])


def test_negative_control_without_the_reference_check_a_missing_id_is_stored(
    owner: Actor, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check switched off: the test above would see the missing user accepted."""
    monkeypatch.setattr(
        services,
        "check_references",
        lambda conditions, pipeline: ([c.model_dump(mode="json") for c in conditions], {}),
    )
    rule = robot(
        owner,
        pipeline.stages["talks"],
        conditions=[{"field": "responsible", "op": "eq", "value": 999_999}],
    )
    assert rule.conditions[0]["value"] == 999_999


def test_the_api_refuses_a_missing_id_with_the_row_in_its_key(
    api: Any, pipeline: Any, personas: dict[str, Any]
) -> None:
    body = {
        "kind": "robot",
        "name": "Перезвонить",
        "stage": pipeline.stages["talks"].pk,
        "action": "create_task",
        "params": {"comment": "Перезвонить"},
        "conditions": [
            {"field": "responsible", "op": "eq", "value": personas["a1"].user.pk},
            {"field": "stage", "op": "eq", "value": 999_999},
        ],
    }
    resp = api("owner").post_json("/api/v1/automation/rules", body)
    assert resp.status_code == 422, resp.content
    assert "conditions.1.value" in resp.json()["errors"]
    body["conditions"] = body["conditions"][:1]
    resp = api("owner").post_json("/api/v1/automation/rules", body)
    assert resp.status_code == 201
    assert resp.json()["conditions"] == [
        {"field": "responsible", "op": "eq", "value": personas["a1"].user.pk}
    ]


def test_a_condition_on_a_list_field_and_a_loss_reason_holds_when_the_deal_has_it(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    """Through the engine: the picked values are compared as the deal holds them."""
    from voronka.automation.executor import run_until_idle

    a1 = personas["a1"].user
    robot(
        owner,
        pipeline.stages["talks"],
        name="Для Альфы и Беты",
        conditions=[
            {"field": "custom.f_multi", "op": "in", "value": ["Бета"]},
            {"field": "responsible", "op": "eq", "value": a1.pk},
        ],
    )
    company = make_company(responsible=a1, name="ООО Мульти")
    yes = make_deal(responsible=a1, company=company, title="Да", stage=pipeline.stages["new"])
    no = make_deal(responsible=a1, company=company, title="Нет", stage=pipeline.stages["new"])
    Deal.objects.filter(pk=yes.pk).update(custom={"f_multi": ["Альфа", "Бета"]})
    Deal.objects.filter(pk=no.pk).update(custom={"f_multi": ["Гамма"]})
    for deal in (yes, no):
        deal.refresh_from_db()
        deal_move_to_stage(deal=deal, stage=pipeline.stages["talks"], actor=Actor.for_user(a1))
    for _ in range(5):
        events_dispatch("automation", respect_backoff=False)
        run_until_idle()
    assert Task.objects.filter(deal=yes, comment="Для Альфы и Беты").count() == 1
    assert not Task.objects.filter(deal=no, comment="Для Альфы и Беты").exists()


# --- the form: pickers, names -------------------------------------------------------------------


def _form_url(pipeline: Any) -> str:
    return f"/settings/pipelines/{pipeline.sales.pk}/automation/new/"


def test_the_form_picks_a_user_a_company_a_stage_and_shows_names_when_reopened(
    web: Any, pipeline: Any, personas: dict[str, Any]
) -> None:
    talks = pipeline.stages["talks"]
    a1, a2 = personas["a1"].user, personas["a2"].user
    company = make_company(responsible=a1, name="ООО Выбранная")
    post = {
        "kind": "robot",
        "name": "С условиями",
        "stage": str(talks.pk),
        "enabled": "on",
        "action": "create_task",
        "p-create_task-comment": "Позвонить",
        "p-create_task-responsible.kind": "deal",
        "p-create_task-deadline.kind": "after",
        "p-create_task-deadline.amount": "1",
        "p-create_task-deadline.unit": "days",
        "delay_amount": "0",
        "delay_unit": "minutes",
        # rows by index (the page's order); each row's value from its kind's widget
        "cond-0-field": "responsible",
        "cond-0-kind": "user",
        "cond-0-op": "in",
        "cond-0-user": [str(a1.pk), str(a2.pk)],
        "cond-0-text": "ignored",
        "cond-3-field": "company",
        "cond-3-kind": "company",
        "cond-3-op": "eq",
        "cond-3-company": str(company.pk),
        "cond-3-q": "ООО Выбранная",
        "cond-5-field": "stage",
        "cond-5-kind": "stage",
        "cond-5-op": "ne",
        "cond-5-stage": str(pipeline.stages["new"].pk),
        "cond-6-field": "amount",
        "cond-6-kind": "number",
        "cond-6-op": "gte",
        "cond-6-text": "1000",
        "cond-7-field": "",  # the empty row
        "cond-7-op": "eq",
    }
    client = web("owner")
    resp = client.post(_form_url(pipeline), post)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    rule = Rule.objects.get(name="С условиями")
    assert rule.conditions == [
        {"field": "responsible", "op": "in", "value": [a1.pk, a2.pk]},
        {"field": "company", "op": "eq", "value": company.pk},
        {"field": "stage", "op": "ne", "value": pipeline.stages["new"].pk},
        {"field": "amount", "op": "gte", "value": "1000"},
    ]
    html = client.get(f"/settings/automation/rules/{rule.pk}/").content.decode()
    # The people's select: by department, the picked ones selected.
    assert '<optgroup label="Отдел продаж A">' in html or '<optgroup label="Группа A-1">' in html
    assert f'<option value="{a1.pk}" selected>{a1.display_name}</option>' in html
    assert 'name="cond-0-user" aria-label="Сотрудник" multiple' in html
    # The company picker shows the company's name; no "new company" in a condition.
    assert 'value="ООО Выбранная" data-label="ООО Выбранная"' in html
    assert f'name="cond-1-company" value="{company.pk}"' in html
    assert '"create": "0"' in html
    # The stage select offers this pipeline's stages only.
    row = html[html.index('name="cond-2-stage"') :]
    row = row[: row.index("</select>")]
    assert f'<option value="{pipeline.stages["new"].pk}" selected>' in row
    assert str(pipeline.other.name) not in row
    # The pipeline screen's card says who, not which number.
    board = client.get(f"/settings/pipelines/{pipeline.sales.pk}/automation/").content.decode()
    card = board[board.index(f'id="rule-{rule.pk}"') :]
    card = card[: card.index("</article>")]
    assert f"Ответственный ∈ {a1.display_name}, {a2.display_name}" in card
    assert "Компания = ООО Выбранная" in card
    assert f"Стадия ≠ {pipeline.stages['new'].name}" in card
    assert "Сумма ≥ 1000" in card


def test_the_form_offers_only_the_comparisons_that_fit_and_names_a_bad_row(
    web: Any, pipeline: Any, personas: dict[str, Any]
) -> None:
    client = web("owner")
    html = client.get(
        _form_url(pipeline) + f"?kind=robot&stage={pipeline.stages['talks'].pk}"
    ).content.decode()
    gte = html[html.index('<option value="gte" data-kinds="') :]
    kinds = gte[len('<option value="gte" data-kinds="') : gte.index('"', 33)].split()
    assert kinds == ["number"]
    contains = html[html.index('<option value="contains" data-kinds="') :]
    assert contains.split('"')[3].split() == ["text"]
    # A list field's options are a select of their own.
    assert 'name="cond-0-choice-f_list"' in html and '<option value="Бета">Бета</option>' in html
    # A user who is not (any more) a user: the row keeps what was posted and says which row.
    resp = client.post(
        _form_url(pipeline),
        {
            "kind": "robot",
            "name": "Плохое условие",
            "stage": str(pipeline.stages["talks"].pk),
            "action": "create_task",
            "p-create_task-comment": "Позвонить",
            "cond-0-field": "amount",
            "cond-0-kind": "number",
            "cond-0-op": "gte",
            "cond-0-text": "5",
            "cond-1-field": "responsible",
            "cond-1-kind": "user",
            "cond-1-op": "eq",
            "cond-1-user": "999999",
        },
    )
    assert resp.status_code == 422
    html = resp.content.decode()
    row = html[html.index('data-index="1"') :]
    row = row[: row.index('data-index="2"')]
    assert "Условие 2: нет сотрудника с номером 999999" in row


def test_a_dismissed_user_in_a_condition_is_still_shown_by_name(
    web: Any, pipeline: Any, personas: dict[str, Any], owner: Actor
) -> None:
    deact = personas["deact"].user
    rule = robot(
        owner,
        pipeline.stages["talks"],
        conditions=[{"field": "responsible", "op": "eq", "value": deact.pk}],
    )
    html = web("owner").get(f"/settings/automation/rules/{rule.pk}/").content.decode()
    assert '<optgroup label="Неактивные">' in html
    assert f'<option value="{deact.pk}" selected>{deact.display_name} (уволен)</option>' in html


def test_the_company_picker_of_a_condition_offers_no_new_company(
    web: Any, personas: dict[str, Any]
) -> None:
    make_company(responsible=personas["a1"].user, name="ООО Поиск")
    client = web("owner")
    html = client.get("/companies/picker/?q=Поиск&picker=cond-0-company&create=0").content.decode()
    assert "ООО Поиск" in html and "data-create" not in html
    html = client.get("/companies/picker/?q=Поиск&picker=deal-company").content.decode()
    assert "data-create" in html  # the deal form's picker keeps its "new company"


# --- robot order -----------------------------------------------------------------------------------


def test_new_robots_go_last_and_move_up_and_down(owner: Actor, pipeline: Any) -> None:
    talks = pipeline.stages["talks"]
    a, b, c = (robot(owner, talks, name) for name in ("A", "B", "C"))
    assert [a.sort, b.sort, c.sort] == [1, 2, 3]
    version, owner_id = c.version, c.owner_id
    moved = rule_move(actor=owner, rule_id=c.pk, step=-1)
    assert order(talks) == ["A", "C", "B"] and moved.sort == 2
    assert AuditEntry.objects.filter(action="moved", object_id=str(c.pk)).exists()
    c.refresh_from_db()
    assert (c.version, c.owner_id) == (version, owner_id)  # the order is the stage's
    rule_move(actor=owner, rule_id=c.pk, step=-1)
    rule_move(actor=owner, rule_id=c.pk, step=-1)  # already first: stays
    assert order(talks) == ["C", "A", "B"]
    rule_move(actor=owner, rule_id=a.pk, step=1)
    assert order(talks) == ["C", "B", "A"]
    # Another stage's robots are not touched; a robot moved to another stage goes last there.
    won = pipeline.stages["won"]
    robot(owner, won, "W")
    rule_update(actor=owner, rule_id=a.pk, data={"stage": won.pk})
    assert order(won) == ["W", "A"] and order(talks) == ["C", "B"]


def test_only_robots_move_and_only_for_who_may_configure(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    trigger = rule_create(
        actor=owner,
        data={
            "kind": "trigger",
            "name": "Встреча",
            "stage": pipeline.stages["talks"].pk,
            "event": "task.completed",
        },
    )
    with pytest.raises(ValidationError):
        rule_move(actor=owner, rule_id=trigger.pk, step=1)
    a = robot(owner, pipeline.stages["talks"], "A")
    with pytest.raises(ApplicationError) as exc:
        rule_move(actor=Actor.for_user(personas["a1"].user), rule_id=a.pk, step=1)
    assert exc.value.status == 403


def test_the_board_moves_a_robot_in_place(web: Any, owner: Actor, pipeline: Any) -> None:
    talks = pipeline.stages["talks"]
    a, b = robot(owner, talks, "Первый"), robot(owner, talks, "Второй")
    client = web("owner")
    board = client.get(f"/settings/pipelines/{pipeline.sales.pk}/automation/").content.decode()
    assert 'aria-label="Робот «Второй» — раньше"' in board
    first = board[board.index(f'id="rule-{a.pk}"') :]
    assert 'title="Выполнять раньше" disabled' in first[: first.index("</article>")]
    resp = client.post(
        f"/settings/automation/rules/{b.pk}/move/", {"step": "-1"}, HTTP_HX_REQUEST="true"
    )
    assert resp.status_code == 200
    zone = resp.content.decode()
    assert f'id="robots-{talks.pk}"' in zone
    assert zone.index(f'id="rule-{b.pk}"') < zone.index(f'id="rule-{a.pk}"')
    resp = client.post(f"/settings/automation/rules/{b.pk}/move/", {"step": "1"})
    assert resp.status_code == 302 and resp["Location"].endswith(f"#rule-{b.pk}")
    assert order(talks) == ["Первый", "Второй"]
    # Someone who may not configure: 403, nothing moves.
    resp = web("a1").post(f"/settings/automation/rules/{b.pk}/move/", {"step": "-1"})
    assert resp.status_code == 403 and order(talks) == ["Первый", "Второй"]


def test_the_api_and_the_file_keep_the_order(api: Any, owner: Actor, pipeline: Any) -> None:
    talks = pipeline.stages["talks"]
    a, b, c = (robot(owner, talks, name) for name in ("A", "B", "C"))
    resp = api("owner").patch_json(f"/api/v1/automation/rules/{a.pk}", {"sort": 9})
    assert resp.status_code == 200 and resp.json()["sort"] == 9
    assert order(talks) == ["B", "C", "A"]
    listed = api("owner").get(f"/api/v1/automation/rules?stage={talks.pk}").json()["items"]
    assert [r["name"] for r in listed] == ["B", "C", "A"]
    rule_move(actor=owner, rule_id=c.pk, step=-1)
    assert order(talks) == ["C", "B", "A"]
    text = rules_export()
    rules_import(actor=owner, text=text, replace=True)
    assert order(talks) == ["C", "B", "A"]
    assert rules_export() == text


def test_the_planner_plans_a_stages_robots_in_their_order_and_the_executor_keeps_it(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    """Runs of one event are planned in robot order: their ids follow it, and the executor
    claims by (due_at, id), so robots with the same delay act in that order."""
    from voronka.automation.executor import run_until_idle

    talks = pipeline.stages["talks"]
    names = ["Первый", "Второй", "Третий"]
    made = [robot(owner, talks, name) for name in names]
    rule_move(actor=owner, rule_id=made[2].pk, step=-1)
    rule_move(actor=owner, rule_id=made[2].pk, step=-1)  # Третий, Первый, Второй
    assert order(talks) == ["Третий", "Первый", "Второй"]
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Порядок")
    deal = make_deal(responsible=a1, company=company, title="Порядок", stage=pipeline.stages["new"])
    events_dispatch("automation", respect_backoff=False)
    deal_move_to_stage(deal=deal, stage=talks, actor=Actor.for_user(a1))
    events_dispatch("automation", respect_backoff=False)
    runs = list(RuleRun.objects.filter(object_id=deal.pk).order_by("id"))
    assert [r.rule.name for r in runs] == ["Третий", "Первый", "Второй"]
    run_until_idle()
    tasks = Task.objects.filter(deal=deal).order_by("id").values_list("comment", flat=True)
    assert list(tasks) == ["Третий", "Первый", "Второй"]


def test_negative_control_the_order_test_sees_robots_planned_by_id(
    owner: Actor, pipeline: Any, personas: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planner reading the robots by id: the runs come out in creation order, so the test
    above would fail."""
    from voronka.automation import planner

    talks = pipeline.stages["talks"]
    made = [robot(owner, talks, name) for name in ("Первый", "Второй")]
    rule_move(actor=owner, rule_id=made[1].pk, step=-1)
    real = planner.RuleBook.load

    def by_id(cls: Any) -> Any:
        book = real()
        for robots in book.robots.values():
            robots.sort(key=lambda r: r.pk)
        return book

    monkeypatch.setattr(planner.RuleBook, "load", classmethod(by_id))
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Порядок")
    deal = make_deal(responsible=a1, company=company, title="Порядок", stage=pipeline.stages["new"])
    events_dispatch("automation", respect_backoff=False)
    deal_move_to_stage(deal=deal, stage=talks, actor=Actor.for_user(a1))
    events_dispatch("automation", respect_backoff=False)
    runs = RuleRun.objects.filter(object_id=deal.pk).order_by("id")
    assert [r.rule.name for r in runs] == ["Первый", "Второй"]  # not the stage's order


def test_the_migration_numbers_each_stages_robots_in_the_order_they_ran(
    owner: Actor, pipeline: Any
) -> None:
    talks, won = pipeline.stages["talks"], pipeline.stages["won"]
    made = [robot(owner, stage, name) for stage, name in ((talks, "A"), (won, "W"), (talks, "B"))]
    Rule.objects.filter(pk__in=[r.pk for r in made]).update(sort=0)
    migration = importlib.import_module("voronka.automation.migrations.0003_rule_sort_backfill")
    migration.number_robots(django_apps, None)
    sorts = dict(Rule.objects.filter(kind="robot").values_list("name", "sort"))
    assert sorts == {"A": 1, "B": 2, "W": 1}


# --- the dry run checks its own right ---------------------------------------------------------------


def test_the_dry_run_refuses_who_may_not_configure(
    owner: Actor, pipeline: Any, personas: dict[str, Any]
) -> None:
    rule = robot(owner, pipeline.stages["talks"])
    until = clock.now()
    since = until - dt.timedelta(days=30)
    manager = Actor.for_user(personas["a1"].user)
    with pytest.raises(ApplicationError) as exc:
        dryrun.rule_dry_run(rule, since, until, actor=manager)
    assert exc.value.status == 403
    assert dryrun.rule_dry_run(rule, since, until, actor=owner).rules[0].runs == 0
    with pytest.raises(ApplicationError) as exc:
        dryrun.file_dry_run(text=rules_export(), owner=personas["a1"].user, since=since)
    assert exc.value.status == 403


def test_negative_control_the_dry_run_without_its_check_serves_a_manager(
    owner: Actor, pipeline: Any, personas: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dryrun, "require_actor_flag", lambda actor, flag: None)
    rule = robot(owner, pipeline.stages["talks"])
    until = clock.now()
    manager = Actor.for_user(personas["a1"].user)
    report = dryrun.rule_dry_run(rule, until - dt.timedelta(days=1), until, actor=manager)
    assert report.rules[0].runs == 0  # served: the test above would see no refusal


def test_the_file_names_a_loss_reason_in_a_condition(owner: Actor, pipeline: Any) -> None:
    reason = pipeline.loss_reasons[0]
    robot(
        owner,
        pipeline.stages["talks"],
        conditions=[{"field": "loss_reason", "op": "eq", "value": reason.pk}],
    )
    text = rules_export()
    assert f"value: {reason.name}" in text
    rules_import(actor=owner, text=text, replace=True)
    assert Rule.objects.get(kind="robot").conditions[0]["value"] == reason.pk
    with pytest.raises(ValidationError) as exc:
        rules_import(actor=owner, text=text.replace(reason.name, "Нет такой"), replace=True)
    assert "Нет причины проигрыша «Нет такой»" in str(exc.value.errors)
