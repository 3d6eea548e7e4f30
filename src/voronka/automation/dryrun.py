"""The dry run (issue 9, "Automation as code and dry run"): what rules would have done over a
stretch of the stored history — tasks per robot, notifications, moves, SLA breaches — so a head
of sales can try a rule before switching it on. `voronka automation dry-run rules.yaml` replays
a file's rules (validated as import validates them, never saved); `rule_dry_run(rule, …)` one
stored rule ("what would this robot have done last month", the UI). Both return a DryRunReport.

Nothing is written, belt and braces: the replay runs in a transaction rolled back at its end
(`sandbox`), and every action gets a context with `dry=True` (`dry_context`), so it only returns
its plan (registry.py: every action honours ctx.dry). The runs are unsaved RuleRun objects going
through the executor's own `build_context` / `perform`.

What is replayed, in [since, until) (until: at most now):
* robots — every StageChange into the robot's stage: the run is due at the entry plus the delay
  (a robot waiting for an event: that event's first occurrence in the same stage visit, plus the
  delay), and skipped "left_stage" when the deal's next StageChange came first;
* triggers — their event's occurrences: task.completed (Task.completed_at, tasks of a deal), and
  deal.created / deal.stage_changed / deal.won / deal.lost / deal.reopened (the stage history);
* monitors — deal_over_sla: stage visits longer than the stage's sla_days, at the moment they
  passed it; overdue_task: tasks whose deadline (plus the rule's grace `after_minutes`) passed
  while they were open (completed late or never).
Conditions are checked, and actions plan, against the deal as it is now, placed in the stage it
was in at the run's moment (stage and entry time from the history). Runs due after `until` are
reported as pending.

Not replayed (reported): other monitors and events; cascades (a replayed move does not start the
next stage's robots); a task's deadline before it was rescheduled (the current one is used).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from voronka.activities.models import Task
from voronka.automation.context import RunContext
from voronka.automation.executor import PERMANENT, build_context, perform
from voronka.automation.models import Rule, RuleKind, RuleRun
from voronka.automation.monitors import OverdueTask
from voronka.automation.registry import MONITORS
from voronka.automation.rules_io import import_actor, rules_load
from voronka.automation.services import CONFIGURE
from voronka.deals.models import Stage, StageChange, StageSemantic, stage_sla_breach_at
from voronka.identity.models import User
from voronka.identity.permissions import require_actor_flag
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ValidationError

STAGE_EVENTS = frozenset(
    {"deal.created", "deal.stage_changed", "deal.won", "deal.lost", "deal.reopened"}
)
TASK_EVENTS = frozenset({"task.completed"})
REPLAYED_EVENTS = STAGE_EVENTS | TASK_EVENTS
REPLAYED_MONITORS = frozenset({"deal_over_sla", "overdue_task"})
# What a done run of an action counts as in the report.
EFFECTS = {
    "create_task": "tasks",
    "notify": "notifications",
    "move_stage": "moves",
    "set_field": "field_changes",
    "change_responsible": "reassignments",
    "copy_to_pipeline": "deals",
    "create_deal": "deals",
}


# --- the two guards -------------------------------------------------------------------------------


@contextmanager
def sandbox() -> Iterator[None]:
    """Whatever the replay writes is rolled back (the second guard; the first: dry contexts)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def dry_context(run: RuleRun, *, now: dt.datetime) -> RunContext | None:
    """The run's context, dry: its action returns what it would do and writes nothing."""
    return build_context(run, now=now, dry=True)


# --- the report ---------------------------------------------------------------------------------


@dataclass
class Item:
    """One run the rule would have had: its object, deal, moment and outcome."""

    object_type: str
    object_id: int
    deal: int | None
    at: dt.datetime
    outcome: str  # done, skipped, failed, pending (due after the window)
    reason: str = ""
    plan: dict[str, Any] | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object_type": self.object_type,
            "object_id": self.object_id,
            "deal": self.deal,
            "at": self.at.isoformat(),
            "outcome": self.outcome,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.plan is not None:
            out["plan"] = self.plan
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class RuleReport:
    rule: Rule
    line: int | None = None  # the rule's line in the file (a file's rules)
    done: int = 0
    failed: int = 0
    pending: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    effects: Counter[str] = field(default_factory=Counter)
    items: list[Item] = field(default_factory=list)
    not_replayed: str = ""

    @property
    def runs(self) -> int:
        return len(self.items)

    def add(self, item: Item) -> None:
        self.items.append(item)
        if item.outcome == "done":
            self.done += 1
            plan = item.plan or {}
            if not plan.get("unchanged"):
                self.effects[EFFECTS.get(self.rule.action, self.rule.action)] += 1
        elif item.outcome == "skipped":
            self.skipped[item.reason] += 1
        elif item.outcome == "failed":
            self.failed += 1
        else:
            self.pending += 1

    def as_dict(self, *, items: bool = True) -> dict[str, Any]:
        rule = self.rule
        out: dict[str, Any] = {
            "rule": {
                "id": rule.pk,
                "name": rule.name,
                "kind": rule.kind,
                "action": rule.action,
                "stage": rule.stage_id,
                "event": rule.event,
                "monitor": rule.monitor,
                "line": self.line,
            },
            "runs": self.runs,
            "done": self.done,
            "skipped": dict(sorted(self.skipped.items())),
            "failed": self.failed,
            "pending": self.pending,
            "effects": dict(sorted(self.effects.items())),
        }
        if self.not_replayed:
            out["not_replayed"] = self.not_replayed
        if items:
            out["items"] = [item.as_dict() for item in self.items]
        return out


@dataclass
class DryRunReport:
    since: dt.datetime
    until: dt.datetime
    rules: list[RuleReport]

    def totals(self) -> dict[str, Any]:
        effects: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        for report in self.rules:
            effects.update(report.effects)
            skipped.update(report.skipped)
        return {
            "runs": sum(r.runs for r in self.rules),
            "done": sum(r.done for r in self.rules),
            "skipped": dict(sorted(skipped.items())),
            "failed": sum(r.failed for r in self.rules),
            "pending": sum(r.pending for r in self.rules),
            "effects": dict(sorted(effects.items())),
        }

    def as_dict(self, *, items: bool = True) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "rules": [r.as_dict(items=items) for r in self.rules],
            "totals": self.totals(),
        }


# --- the history --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """A deal's stay in a stage: from its StageChange to the deal's next one (None: no move
    before the window's end)."""

    change: int
    deal: int
    stage: int
    from_stage: int | None
    entered: dt.datetime
    end: dt.datetime | None


@dataclass(frozen=True)
class Occurrence:
    event: str
    deal: int
    object_type: str
    object_id: int
    at: dt.datetime
    key: str


class History:
    """The stage history and task completions of the window, read once for every rule."""

    def __init__(self, since: dt.datetime, until: dt.datetime, *, lookback: dt.timedelta) -> None:
        self.since, self.until = since, until
        self.stages: dict[int, Stage] = {s.pk: s for s in Stage.objects.all()}
        rows = (
            StageChange.objects.filter(at__gte=since - lookback, at__lt=until)
            .order_by("deal_id", "at", "id")
            .values_list("id", "deal_id", "from_stage_id", "to_stage_id", "at")
        )
        self.visits: dict[int, list[Visit]] = {}
        for deal, group in groupby(rows.iterator(), key=itemgetter(1)):
            changes = list(group)
            self.visits[deal] = [
                Visit(
                    change=row[0],
                    deal=deal,
                    stage=row[3],
                    from_stage=row[2],
                    entered=row[4],
                    end=changes[i + 1][4] if i + 1 < len(changes) else None,
                )
                for i, row in enumerate(changes)
            ]
        self._all = sorted(
            (v for visits in self.visits.values() for v in visits),
            key=lambda v: (v.entered, v.change),
        )
        self._entries = [v for v in self._all if since <= v.entered < until]
        self._occurrences: dict[str, list[Occurrence]] = {}
        self._by_deal: dict[str, dict[int, list[Occurrence]]] = {}

    def all_visits(self) -> list[Visit]:
        return self._all

    def entries(self) -> list[Visit]:
        """The stage entries of the window, in time order."""
        return self._entries

    def stage_at(self, deal: int, at: dt.datetime) -> tuple[int, dt.datetime] | None:
        """(stage, entered at) of the deal at that moment."""
        last = None
        for visit in self.visits.get(deal, ()):
            if visit.entered > at:
                break
            last = visit
        if last is not None:
            return last.stage, last.entered
        row = (
            StageChange.objects.filter(deal_id=deal, at__lte=at)
            .order_by("-at", "-id")
            .values_list("to_stage_id", "at")
            .first()
        )
        return (row[0], row[1]) if row is not None else None

    def _stage_event(self, event: str, visit: Visit) -> bool:
        stage = self.stages[visit.stage]
        if event == "deal.created":
            return visit.from_stage is None
        if event == "deal.stage_changed":
            return visit.from_stage is not None
        if event == "deal.won":
            return stage.semantic == StageSemantic.WON
        if event == "deal.lost":
            return stage.semantic == StageSemantic.LOST
        before = self.stages.get(visit.from_stage) if visit.from_stage is not None else None
        return (
            event == "deal.reopened"
            and before is not None
            and before.is_closed
            and stage.semantic == StageSemantic.OPEN
        )

    def _completions(self) -> list[Occurrence]:
        rows = (
            Task.objects.filter(
                completed_at__gte=self.since, completed_at__lt=self.until, deal__isnull=False
            )
            .order_by("completed_at", "id")
            .values_list("id", "deal_id", "completed_at")
        )
        return [
            Occurrence("task.completed", deal, "task", pk, at, f"done{pk}")
            for pk, deal, at in rows.iterator()
            if deal is not None and at is not None
        ]

    def occurrences(self, event: str) -> list[Occurrence]:
        """The event's occurrences in the window, in time order (read once per event)."""
        if event not in self._occurrences:
            if event in TASK_EVENTS:
                found = self._completions()
            else:
                found = [
                    Occurrence(event, v.deal, "deal", v.deal, v.entered, f"c{v.change}")
                    for v in self._entries
                    if self._stage_event(event, v)
                ]
            self._occurrences[event] = found
            by_deal: dict[int, list[Occurrence]] = {}
            for occurrence in found:
                by_deal.setdefault(occurrence.deal, []).append(occurrence)
            self._by_deal[event] = by_deal
        return self._occurrences[event]

    def first_after(
        self, event: str, deal: int, after: dt.datetime, before: dt.datetime
    ) -> Occurrence | None:
        """The deal's first occurrence of the event in (after, before)."""
        self.occurrences(event)
        for occurrence in self._by_deal[event].get(deal, ()):
            if after < occurrence.at < before:
                return occurrence
        return None


# --- the replay ---------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ApplicationError):
        details = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        return exc.message + (f" ({details})" if details else "")
    return str(exc) or type(exc).__name__


class Replay:
    def __init__(self, history: History) -> None:
        self.history = history

    def rule(self, rule: Rule, line: int | None = None) -> RuleReport:
        report = RuleReport(rule=rule, line=line)
        if rule.kind == RuleKind.ROBOT:
            self._robot(rule, report)
        elif rule.kind == RuleKind.TRIGGER:
            self._trigger(rule, report)
        else:
            self._monitor(rule, report)
        return report

    def _run(
        self,
        report: RuleReport,
        run: RuleRun,
        *,
        deal: int | None,
        placed: tuple[int, dt.datetime] | None,
    ) -> None:
        """Run one unsaved run at its due moment, dry; `placed`: the deal's stage and entry
        then."""
        at = run.due_at

        def item(outcome: str, **extra: Any) -> Item:
            return Item(run.object_type, run.object_id, deal, at, outcome, **extra)

        if at >= self.history.until:
            report.add(item("pending"))
            return
        ctx = dry_context(run, now=at)
        if ctx is None:
            report.add(item("skipped", reason="object_gone"))
            return
        if ctx.deal is not None:
            deal = ctx.deal.pk
            if placed is not None:
                stage = self.history.stages[placed[0]]
                ctx.deal.stage = stage
                ctx.deal.status = stage.semantic
                ctx.deal.stage_entered_at = placed[1]
        try:
            outcome = perform(run, ctx)
        except PERMANENT as exc:
            report.add(item("failed", error=_error_text(exc)[:500]))
            return
        if "skipped" in outcome:
            report.add(item("skipped", reason=str(outcome["skipped"])))
        else:
            report.add(item("done", plan=outcome))

    def _robot(self, rule: Rule, report: RuleReport) -> None:
        if rule.event and rule.event not in REPLAYED_EVENTS:
            report.not_replayed = _("Событие «%s» не восстанавливается из истории") % rule.event
            return
        delay = dt.timedelta(seconds=rule.delay_seconds)
        for visit in self.history.entries():
            if visit.stage != rule.stage_id:
                continue
            run = RuleRun(
                rule=rule,
                object_type="deal",
                object_id=visit.deal,
                key=f"c{visit.change}",
                context={"stage": visit.stage, "entered_at": visit.entered.isoformat()},
            )
            moment = visit.entered
            if rule.event:
                occurrence = self.history.first_after(
                    rule.event, visit.deal, visit.entered, visit.end or self.history.until
                )
                if occurrence is None:  # waited in vain: left, or still waiting
                    run.due_at = visit.end or self.history.until
                    outcome = "skipped" if visit.end is not None else "pending"
                    reason = "left_stage" if visit.end is not None else "waiting"
                    report.add(
                        Item("deal", visit.deal, visit.deal, run.due_at, outcome, reason=reason)
                    )
                    continue
                moment = occurrence.at
            run.due_at = moment + delay
            if visit.end is not None and visit.end <= run.due_at:
                report.add(
                    Item("deal", visit.deal, visit.deal, run.due_at, "skipped", reason="left_stage")
                )
                continue
            self._run(report, run, deal=visit.deal, placed=(visit.stage, visit.entered))

    def _trigger(self, rule: Rule, report: RuleReport) -> None:
        if rule.event not in REPLAYED_EVENTS:
            report.not_replayed = _("Событие «%s» не восстанавливается из истории") % rule.event
            return
        delay = dt.timedelta(seconds=rule.delay_seconds)
        for occurrence in self.history.occurrences(rule.event):
            then = self.history.stage_at(occurrence.deal, occurrence.at)
            if then is None or self.history.stages[then[0]].pipeline_id != rule.pipeline_id:
                continue  # the planner plans triggers of the deal's pipeline only
            run = RuleRun(
                rule=rule,
                object_type=occurrence.object_type,
                object_id=occurrence.object_id,
                key=occurrence.key,
                context={"deal": occurrence.deal},
                due_at=occurrence.at + delay,
            )
            placed = self.history.stage_at(occurrence.deal, run.due_at)
            self._run(report, run, deal=occurrence.deal, placed=placed)

    def _monitor(self, rule: Rule, report: RuleReport) -> None:
        kind = MONITORS.get(rule.monitor)
        if kind is None or rule.monitor not in REPLAYED_MONITORS:
            report.not_replayed = _("Монитор «%s» не восстанавливается из истории") % rule.monitor
            return
        params = kind.params.model_validate(
            {k: v for k, v in (rule.monitor_params or {}).items() if k != "every_minutes"}
        )
        if isinstance(params, OverdueTask):
            self._overdue(rule, report, grace=dt.timedelta(minutes=params.after_minutes))
        else:
            self._over_sla(rule, report)

    def _over_sla(self, rule: Rule, report: RuleReport) -> None:
        """A stage visit longer than its stage's limit, found when it passed the limit (a deal
        that left exactly at the limit was not over it: models.stage_sla_cutoff)."""
        delay = dt.timedelta(seconds=rule.delay_seconds)
        found = []
        for visit in self.history.all_visits():
            stage = self.history.stages[visit.stage]
            if stage.sla_days is None or stage.semantic != StageSemantic.OPEN:
                continue
            breach = stage_sla_breach_at(visit.entered, stage.sla_days)
            if not self.history.since <= breach < self.history.until:
                continue
            if visit.end is not None and visit.end <= breach:
                continue
            found.append((breach, visit))
        for breach, visit in sorted(found, key=lambda f: (f[0], f[1].change)):
            run = RuleRun(
                rule=rule,
                object_type="deal",
                object_id=visit.deal,
                key=f"s{visit.stage}:{visit.entered.isoformat()}",
                due_at=breach + delay,
            )
            placed = self.history.stage_at(visit.deal, run.due_at)
            self._run(report, run, deal=visit.deal, placed=placed)

    def _overdue(self, rule: Rule, report: RuleReport, *, grace: dt.timedelta) -> None:
        """A task past its deadline (plus the grace) while still open: completed later, or
        never."""
        delay = dt.timedelta(seconds=rule.delay_seconds)
        history = self.history
        rows = (
            Task.objects.filter(
                deadline__gte=history.since - grace, deadline__lt=history.until - grace
            )
            .order_by("deadline", "id")
            .values_list("id", "deadline", "completed_at", "created_at", "deal_id")
        )
        for pk, deadline, completed_at, created_at, deal in rows.iterator():
            fire = deadline + grace
            if completed_at is not None and completed_at <= fire:
                continue  # done in time
            if created_at > fire:
                continue  # created already late: no sweep saw it open before its deadline
            run = RuleRun(
                rule=rule,
                object_type="task",
                object_id=pk,
                key=f"d{deadline.isoformat()}",
                due_at=fire + delay,
            )
            placed = history.stage_at(deal, run.due_at) if deal is not None else None
            self._run(report, run, deal=deal, placed=placed)


def _lookback(rules: Sequence[Rule]) -> dt.timedelta:
    """How far before the window the stage history is needed: a visit that passes its stage's
    limit inside the window may have started up to the longest limit before it."""
    if not any(r.kind == RuleKind.MONITOR and r.monitor == "deal_over_sla" for r in rules):
        return dt.timedelta(0)
    longest = max((s.sla_days or 0 for s in Stage.objects.with_sla()), default=0)
    return dt.timedelta(days=longest)


def dry_run(
    rules: Sequence[Rule],
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    lines: Sequence[int | None] | None = None,
) -> DryRunReport:
    """What `rules` (stored or not) would have done in [since, until), written nowhere."""
    now = clock.now()
    end = min(until or now, now)
    if since >= end:
        raise ValidationError({"since": _("Начало периода должно быть раньше его конца")})
    with sandbox():
        replay = Replay(History(since, end, lookback=_lookback(rules)))
        reports = [
            replay.rule(rule, lines[i] if lines is not None else None)
            for i, rule in enumerate(rules)
        ]
    return DryRunReport(since=since, until=end, rules=reports)


def rule_dry_run(
    rule: Rule, since: dt.datetime, until: dt.datetime | None = None, *, actor: Actor
) -> DryRunReport:
    """One stored rule: what would this robot have done (the UI, `--rule`). Only someone who
    may configure the rules may replay one (the right the rule services and selectors check:
    a replay shows the deals and people the rule touched)."""
    require_actor_flag(actor, CONFIGURE)
    return dry_run([rule], since=since, until=until)


def file_dry_run(
    *,
    text: str,
    owner: User,
    since: dt.datetime,
    until: dt.datetime | None = None,
    filename: str = "rules.yaml",
) -> DryRunReport:
    """A file's rules, validated as import validates them and owned by `owner`, never saved.
    The owner is whoever replays them (`--as`, as import): they must be allowed to configure."""
    require_actor_flag(import_actor(owner), CONFIGURE)
    loaded = rules_load(text=text, owner=owner, filename=filename)
    return dry_run(
        [item.rule for item in loaded],
        since=since,
        until=until,
        lines=[item.line for item in loaded],
    )
