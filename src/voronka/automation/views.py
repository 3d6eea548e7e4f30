"""The automation screens (can_configure; issue 9): a pipeline's robots and triggers as a row of
cards under each stage column, the monitors, the run log with retry, and a rule's dry run over
the last month. Thin: the selectors and services check the right again and do the work; the
form is read and rendered by automation/forms.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from voronka.automation import dryrun, selectors, services
from voronka.automation.forms import (
    Pickers,
    action_label,
    condition_text,
    delay_text,
    event_label,
    monitor_label,
    monitor_summary,
    read_rule,
    rule_form,
)
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.automation.selectors import Choice, RunCounts
from voronka.deals.selectors import pipeline_get, pipelines_nav
from voronka.identity.permissions import actor_has_flag
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound
from voronka.kernel.fields import to_id_or_none
from voronka.web.http import error_status, is_htmx, next_url, not_found, ui_actor

CONFIGURE = "can_configure"
RUNS_PER_PAGE = 50
DRY_RUN_DAYS = 30
DRY_RUN_ITEMS = 20
# The icon of a robot's card by its action (templates/automation/_icon.html draws them).
ICONS = {
    "create_task": "task",
    "notify": "bell",
    "notify_overdue": "bell",
    "set_field": "pencil",
    "change_responsible": "user",
    "move_stage": "arrow",
    "copy_to_pipeline": "copy",
    "create_deal": "plus",
    "webhook": "link",
}


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"code": 403}, status=403)


def configure_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Only people who may configure see the screens (the selectors and services check it
    again: a refusal there is a 403 too, a missing rule a 404)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not actor_has_flag(ui_actor(request), CONFIGURE):
            return _forbidden(request)
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            return not_found(request)
        except ApplicationError as exc:
            if exc.code == ErrorCode.FORBIDDEN or exc.status == 403:
                return _forbidden(request)
            raise

    return wrapper


def _pickers(actor: Actor) -> Pickers:
    pickers = Pickers(selectors.rule_form_choices(actor=actor))
    try:  # the webhook action's endpoints (an app above the engine; absent: a number field)
        from voronka.integrations.webhooks.selectors import endpoint_list

        pickers.endpoints = [Choice(e.pk, e.name) for e in endpoint_list(actor=actor)]
    except ImportError:  # pragma: no cover - the integrations app is part of the project
        pass
    return pickers


# --- the cards ------------------------------------------------------------------------------------


@dataclass
class Card:
    """A rule as a card: what it does, when, under which conditions, how it went lately."""

    rule: Rule
    counts: RunCounts = field(default_factory=RunCounts)
    condition_texts: list[str] = field(default_factory=list)  # names, not ids
    first: bool = False  # the first / last robot of its stage (its ↑ / ↓ does nothing)
    last: bool = False

    @property
    def icon(self) -> str:
        return ICONS.get(self.rule.action, "bolt")

    @property
    def action_label(self) -> str:
        return action_label(self.rule.action)

    @property
    def delay(self) -> str:
        return delay_text(self.rule.delay_seconds)

    @property
    def conditions(self) -> int:
        return len(self.rule.conditions or [])

    @property
    def event(self) -> str:
        return event_label(self.rule.event) if self.rule.event else ""

    @property
    def monitor(self) -> str:
        return monitor_label(self.rule.monitor)

    @property
    def summary(self) -> str:
        return monitor_summary(self.rule)


def _cards(actor: Actor, rules: list[Rule]) -> list[Card]:
    since = clock.now() - dt.timedelta(hours=24)
    counts = selectors.run_counts(actor=actor, rule_ids=[r.pk for r in rules], since=since)
    names = selectors.condition_names([c for r in rules for c in r.conditions or []])
    return [
        Card(
            r,
            counts.get(r.pk, RunCounts()),
            [condition_text(c, names) for c in r.conditions or [] if isinstance(c, dict)],
        )
        for r in rules
    ]


@dataclass
class Column:
    stage: Any
    robots: list[Card] = field(default_factory=list)
    triggers: list[Card] = field(default_factory=list)


def _automation_tabs(actor: Actor, section: str, pipeline_id: int | None = None) -> dict[str, Any]:
    return {
        "auto_section": section,
        "auto_pipelines": pipelines_nav(),
        "auto_pipeline": pipeline_id,
        "failed_count": selectors.runs_failed_count(actor=actor),
    }


@configure_required
@require_GET
def automation_home(request: HttpRequest) -> HttpResponse:
    """Settings → Automation: the first pipeline's robots (the monitors when there is none)."""
    pipelines = pipelines_nav()
    if not pipelines:
        return redirect("automation:monitors")
    return redirect("automation:pipeline", pipeline_id=pipelines[0].pk)


@configure_required
@require_GET
def pipeline_automation(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    actor = ui_actor(request)
    pipeline = pipeline_get(pipeline_id)
    cards = _cards(actor, selectors.pipeline_rules(actor=actor, pipeline_id=pipeline.pk))
    columns = {s.pk: Column(s) for s in pipeline.stages.all()}
    for card in cards:
        column = columns.get(card.rule.stage_id or 0)
        if column is None:
            continue
        (column.triggers if card.rule.kind == RuleKind.TRIGGER else column.robots).append(card)
    for column in columns.values():
        if column.robots:
            column.robots[0].first = column.robots[-1].last = True
    return render(
        request,
        "automation/pipeline.html",
        {
            "pipeline": pipeline,
            "columns": list(columns.values()),
            "robots_total": sum(len(c.robots) for c in columns.values()),
            "triggers_total": sum(len(c.triggers) for c in columns.values()),
            **_automation_tabs(actor, "pipeline", pipeline.pk),
        },
    )


# --- the rule form --------------------------------------------------------------------------------


def _back_url(rule_kind: str, pipeline_id: int | None, rule_id: int | None = None) -> str:
    if rule_kind == RuleKind.MONITOR or pipeline_id is None:
        url = reverse("automation:monitors")
    else:
        url = reverse("automation:pipeline", kwargs={"pipeline_id": pipeline_id})
    return url + (f"#rule-{rule_id}" if rule_id else "")


def _form_page(
    request: HttpRequest,
    *,
    kind: str,
    data: dict[str, Any],
    pipeline: Any,
    rule: Rule | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> HttpResponse:
    actor = ui_actor(request)
    form = rule_form(
        kind=kind,
        data=data,
        errors=errors or {},
        pickers=_pickers(actor),
        rule=rule,
        message=message,
    )
    stage_name = ""
    if pipeline is not None:
        stage_name = next((s.name for s in pipeline.stages.all() if s.pk == data.get("stage")), "")
    return render(
        request,
        "automation/rule_form.html",
        {
            "form": form,
            "pipeline": pipeline,
            "stage_name": stage_name,
            "back": _back_url(kind, pipeline.pk if pipeline is not None else None),
            **_automation_tabs(
                actor,
                "monitors" if kind == RuleKind.MONITOR else "pipeline",
                pipeline.pk if pipeline is not None else None,
            ),
        },
        status=status,
    )


def _new_defaults(kind: str, stage: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": kind, "enabled": True, "stage": stage, "conditions": []}
    if kind == RuleKind.ROBOT:
        data.update(name=_("Новый робот"), action="create_task")
    elif kind == RuleKind.TRIGGER:
        data.update(name=_("Новый триггер"), event="task.completed")
    else:
        data.update(name=_("Новый монитор"), monitor="overdue_task", action="notify_overdue")
    return data


def _save(
    request: HttpRequest, *, kind: str, pipeline: Any, rule: Rule | None = None
) -> HttpResponse:
    actor = ui_actor(request)
    data = read_rule(request.POST, kind=kind)
    try:
        if rule is None:
            saved = services.rule_create(actor=actor, data=data)
            messages.success(request, _("Правило «%(name)s» добавлено") % {"name": saved.name})
        else:
            version = to_id_or_none(request.POST.get("version"))
            saved = services.rule_update(
                actor=actor, rule_id=rule.pk, data={**data, "version": version}
            )
            messages.success(request, _("Правило «%(name)s» сохранено") % {"name": saved.name})
    except ApplicationError as exc:
        if exc.status == 403:
            raise
        if exc.status == 409:
            exc.message = _(
                "Правило успело измениться у другого пользователя: обновите страницу, "
                "ваши значения показаны ниже"
            )
        return _form_page(
            request,
            kind=kind,
            data=data,
            pipeline=pipeline,
            rule=rule,
            errors=exc.errors,
            message=exc.message,
            status=error_status(exc),
        )
    return redirect(_back_url(kind, saved.pipeline_id, saved.pk))


@configure_required
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    """A new robot (`?kind=robot&stage=…`) or trigger (`?kind=trigger&stage=…`) of a pipeline."""
    pipeline = pipeline_get(pipeline_id)
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind", RuleKind.ROBOT)
    if kind not in (RuleKind.ROBOT, RuleKind.TRIGGER):
        kind = RuleKind.ROBOT
    if request.method == "POST":
        return _save(request, kind=kind, pipeline=pipeline)
    stage = to_id_or_none(request.GET.get("stage"))
    return _form_page(request, kind=kind, data=_new_defaults(kind, stage), pipeline=pipeline)


@configure_required
@require_http_methods(["GET", "POST"])
def monitor_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, kind=RuleKind.MONITOR, pipeline=None)
    return _form_page(
        request, kind=RuleKind.MONITOR, data=_new_defaults(RuleKind.MONITOR, None), pipeline=None
    )


@configure_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    actor = ui_actor(request)
    rule = selectors.rule_get(actor=actor, rule_id=rule_id)
    pipeline = pipeline_get(rule.pipeline_id) if rule.pipeline_id else None
    if request.method == "POST":
        return _save(request, kind=rule.kind, pipeline=pipeline, rule=rule)
    return _form_page(
        request, kind=rule.kind, data=services.rule_input(rule), pipeline=pipeline, rule=rule
    )


# --- switch, delete, dry run -----------------------------------------------------------------------


@configure_required
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Switch a rule on or off (`enabled` = the state wanted, so a double click does no harm)."""
    actor = ui_actor(request)
    rule = selectors.rule_get(actor=actor, rule_id=rule_id)
    wanted = request.POST.get("enabled", "0") in ("1", "on", "true")
    if wanted != rule.enabled:
        rule = services.rule_update(actor=actor, rule_id=rule.pk, data={"enabled": wanted})
    if is_htmx(request):
        card = _cards(actor, [rule])[0]
        if rule.kind == RuleKind.ROBOT and rule.stage_id is not None:  # its ↑/↓ as on the board
            ids = [r.pk for r in selectors.stage_robots(actor=actor, stage_id=rule.stage_id)]
            card.first, card.last = ids[:1] == [rule.pk], ids[-1:] == [rule.pk]
        template = (
            "automation/_monitor_row.html"
            if rule.kind == RuleKind.MONITOR
            else "automation/_trigger.html"
            if rule.kind == RuleKind.TRIGGER
            else "automation/_robot_card.html"
        )
        return render(request, template, {"card": card})
    return redirect(next_url(request, _back_url(rule.kind, rule.pipeline_id, rule.pk)))


@configure_required
@require_POST
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Move a robot one place up (`step=-1`) or down (`step=1`) among its stage's robots; htmx
    gets the stage's robot zone again, a plain form goes back to the card."""
    actor = ui_actor(request)
    step = -1 if request.POST.get("step") == "-1" else 1
    try:
        rule = services.rule_move(actor=actor, rule_id=rule_id, step=step)
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise
        messages.error(request, exc.message)
        return redirect(next_url(request, reverse("automation:home")))
    if is_htmx(request) and rule.stage_id is not None:
        cards = _cards(actor, selectors.stage_robots(actor=actor, stage_id=rule.stage_id))
        if cards:
            cards[0].first = cards[-1].last = True
        return render(
            request,
            "automation/_robots.html",
            {
                "robots": cards,
                "stage_id": rule.stage_id,
                "pipeline_id": rule.pipeline_id,
                "moved": rule.pk,
            },
        )
    return redirect(_back_url(rule.kind, rule.pipeline_id, rule.pk))


@configure_required
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    actor = ui_actor(request)
    rule = selectors.rule_get(actor=actor, rule_id=rule_id)
    back = _back_url(rule.kind, rule.pipeline_id)
    services.rule_delete(actor=actor, rule_id=rule.pk)
    messages.success(request, _("Правило «%(name)s» удалено") % {"name": rule.name})
    return redirect(next_url(request, back))


@dataclass(frozen=True)
class ItemRow:
    item: dryrun.Item
    reason: str


@dataclass
class DryRunView:
    rule: Rule
    report: dryrun.RuleReport
    since: dt.datetime
    until: dt.datetime

    @property
    def items(self) -> list[ItemRow]:
        reasons = skip_reasons()
        return [
            ItemRow(item, reasons.get(item.reason, item.reason))
            for item in self.report.items[:DRY_RUN_ITEMS]
        ]

    @property
    def bars(self) -> list[tuple[str, str, int, int]]:
        """(key, label, count, percent of the runs) per outcome, for the bar chart."""
        total = max(self.report.runs, 1)
        skipped = sum(self.report.skipped.values())
        rows = [
            ("done", _("Выполнено"), self.report.done),
            ("skipped", _("Пропущено"), skipped),
            ("failed", _("Ошибка"), self.report.failed),
            ("pending", _("Позже периода"), self.report.pending),
        ]
        return [(k, label, n, round(100 * n / total)) for k, label, n in rows]

    @property
    def skipped(self) -> list[tuple[str, int]]:
        reasons = skip_reasons()
        return [(reasons.get(k, k), n) for k, n in sorted(self.report.skipped.items())]

    @property
    def effects(self) -> list[tuple[str, int]]:
        labels = effect_labels()
        return [(labels.get(k, k), n) for k, n in sorted(self.report.effects.items())]


def effect_labels() -> dict[str, str]:
    return {
        "tasks": _("задачи"),
        "notifications": _("уведомления"),
        "moves": _("переводы по стадиям"),
        "field_changes": _("изменения полей"),
        "reassignments": _("смены ответственного"),
        "deals": _("новые сделки"),
    }


def skip_reasons() -> dict[str, str]:
    """Why a run was skipped (executor.skip_reason and the dry run), in words."""
    return {
        "left_stage": _("сделка ушла со стадии"),
        "conditions": _("не выполнены условия"),
        "no_deal": _("нет сделки"),
        "other_pipeline": _("сделка в другой воронке"),
        "deal_closed": _("сделка закрыта"),
        "already_there": _("сделка уже на стадии или дальше"),
        "object_gone": _("объект удалён"),
        "gone": _("объект удалён"),
    }


@configure_required
@require_GET
def rule_dry_run(request: HttpRequest, rule_id: int) -> HttpResponse:
    """What the rule would have done over the last 30 days (replayed, nothing written)."""
    actor = ui_actor(request)
    rule = selectors.rule_get(actor=actor, rule_id=rule_id)
    until = clock.now()
    since = until - dt.timedelta(days=DRY_RUN_DAYS)
    result = dryrun.rule_dry_run(rule, since, until, actor=actor)
    view = DryRunView(rule, result.rules[0], result.since, result.until)
    template = "automation/_dry_run.html" if is_htmx(request) else "automation/dry_run.html"
    context: dict[str, Any] = {"dry": view, "back": _back_url(rule.kind, rule.pipeline_id, rule.pk)}
    if not is_htmx(request):
        context.update(_automation_tabs(actor, "pipeline", rule.pipeline_id))
    return render(request, template, context)


# --- monitors -------------------------------------------------------------------------------------


@configure_required
@require_GET
def monitors(request: HttpRequest) -> HttpResponse:
    actor = ui_actor(request)
    cards = _cards(actor, selectors.rules_list(actor=actor, kind=RuleKind.MONITOR))
    return render(
        request,
        "automation/monitors.html",
        {"cards": cards, **_automation_tabs(actor, "monitors")},
    )


# --- the run log ----------------------------------------------------------------------------------

RUN_TABS = [
    RunStatus.FAILED,
    "",
    RunStatus.PENDING,
    RunStatus.WAITING,
    RunStatus.DONE,
    RunStatus.SKIPPED,
]


@dataclass
class RunRow:
    run: RuleRun
    deal: int | None

    @property
    def reason(self) -> str:
        """Why a skipped run did nothing, in words."""
        if self.run.status != RunStatus.SKIPPED:
            return ""
        key = str((self.run.result or {}).get("skipped", ""))
        return skip_reasons().get(key, key)


def _run_rows(runs: list[RuleRun]) -> list[RunRow]:
    deals = selectors.run_deals(runs)
    return [RunRow(r, deals.get((r.object_type, r.object_id))) for r in runs]


@configure_required
@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    """The run log: failed runs first (with their error and a retry), every status on a tab,
    one rule's runs; pages by the selector's cursor."""
    actor = ui_actor(request)
    status = request.GET.get("status", RunStatus.FAILED)
    if status != "" and status not in RunStatus.values:
        status = RunStatus.FAILED
    rule_id = to_id_or_none(request.GET.get("rule"))
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.runs_page(
            actor=actor, status=status or None, rule=rule_id, cursor=cursor, limit=RUNS_PER_PAGE
        )
    except ApplicationError as exc:
        if exc.status == 403:
            raise
        cursor = None
        page = selectors.runs_page(
            actor=actor, status=status or None, rule=rule_id, limit=RUNS_PER_PAGE
        )
    tab_labels = {
        RunStatus.FAILED: _("Ошибки"),
        "": _("Все"),
        RunStatus.PENDING: _("В очереди"),
        RunStatus.WAITING: _("Ждут события"),
        RunStatus.DONE: _("Выполнены"),
        RunStatus.SKIPPED: _("Пропущены"),
    }
    tabs = [(value, tab_labels[value]) for value in RUN_TABS]
    return render(
        request,
        "automation/runs.html",
        {
            "rows": _run_rows(page.items),
            "next_cursor": page.next_cursor,
            "cursor": cursor,
            "status": status,
            "tabs": tabs,
            "rule_id": rule_id,
            "rules": selectors.rules_list(actor=actor),
            **_automation_tabs(actor, "runs"),
        },
    )


@configure_required
@require_POST
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    actor = ui_actor(request)
    try:
        run = services.rule_run_retry(actor=actor, run_id=run_id)
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise
        if is_htmx(request):
            return HttpResponse(exc.message, status=error_status(exc))
        messages.error(request, exc.message)
        return redirect(next_url(request, reverse("automation:runs")))
    if is_htmx(request):
        return render(request, "automation/_run_row.html", {"row": _run_rows([run])[0]})
    messages.success(request, _("Запуск поставлен в очередь"))
    return redirect(next_url(request, reverse("automation:runs")))
