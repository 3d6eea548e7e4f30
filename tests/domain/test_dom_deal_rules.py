"""The two named rules of the methodology (issue 8, "one rule in one place"):

* "needs a next task" — an open deal with no open task;
* "over the stage SLA" — an open deal that entered its stage before
  `stage_sla_cutoff(now, stage.sla_days)` (exactly at the limit is not over).

Each is defined once in `voronka.deals.models` with a query form (`Deal.objects
.needing_next_task()`, `.over_stage_sla(now)`) and a per-object form (`needs_next_task`,
`is_over_stage_sla`, the marks of cards and lists, the `over_sla` template filter). These tests
check that every form gives the same answer on a varied set of deals at a frozen clock, the
boundary included, and that no copy of either rule reappears in the source (with a negative
control that plants one).
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from factories import make_company, make_deal
from voronka.activities.task_selectors import counters_for, deal_marks
from voronka.deals.counters import deal_counters_rebuild
from voronka.deals.models import (
    Deal,
    Stage,
    is_over_stage_sla,
    needs_next_task,
    stage_sla_cutoff,
)
from voronka.deals.selectors import DealFilter, board_cards
from voronka.kernel import clock
from voronka.web.templatetags.voronka import over_sla

NOW = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)


@pytest.fixture
def varied(personas: Any, pipeline: Any) -> dict[str, Deal]:
    """Deals in every kind of stage (limit 3 and 7 days, a limit of 0, no limit, won, lost), each
    entered around its stage's limit — exactly at it, a microsecond either side, long before,
    just now — with 0, 1 or 2 open tasks."""
    owner = personas["owner"].user
    a1 = personas["a1"].user
    zero = pipeline.other_stages["call"]
    Stage.objects.filter(pk=zero.pk).update(sla_days=0)  # a limit of 0 days is a limit
    stages = {**pipeline.stages, "zero": zero, "plain": pipeline.other_stages["new"]}
    limits = {"new": 3, "talks": 7, "zero": 0}
    with clock.frozen(NOW):
        company = make_company(responsible=a1, name="ООО Правила")
        deals: dict[str, Deal] = {}
        n = 0
        for key, stage in stages.items():
            days = limits.get(key, 5)
            offsets = {
                "at": dt.timedelta(days=days),
                "before": dt.timedelta(days=days) + US,
                "after": dt.timedelta(days=days) - US,
                "long": dt.timedelta(days=days + 40),
                "now": dt.timedelta(0),
            }
            for label, offset in offsets.items():
                n += 1
                extra: dict[str, Any] = {}
                if stage.required_fields:
                    extra["custom"] = {"contract_no": "Д-1"}
                if stage.semantic == "lost":
                    extra["loss_reason"] = pipeline.loss_reasons[0].pk
                deal = make_deal(
                    responsible=a1 if n % 2 else owner,
                    company=company,
                    title=f"{key}-{label}",
                    stage=stage,
                    **extra,
                )
                Deal.objects.filter(pk=deal.pk).update(
                    stage_entered_at=NOW - offset, open_tasks=n % 3
                )
                deals[f"{key}-{label}"] = deal
        deal_counters_rebuild()  # the rows were changed behind the services: recount
    return {k: Deal.objects.select_related("stage").get(pk=d.pk) for k, d in deals.items()}


def ids(qs: Any) -> set[int]:
    return set(qs.values_list("pk", flat=True))


def test_over_stage_sla_boundary(varied: dict[str, Deal]) -> None:
    """Exactly at the limit is not over; a microsecond more is."""
    over = ids(Deal.objects.over_stage_sla(NOW))
    for key, limit in (("new", 3), ("talks", 7), ("zero", 0)):
        assert stage_sla_cutoff(NOW, limit) == NOW - dt.timedelta(days=limit)
        assert varied[f"{key}-at"].pk not in over
        assert varied[f"{key}-after"].pk not in over
        assert varied[f"{key}-before"].pk in over
        assert varied[f"{key}-long"].pk in over
    assert varied["zero-now"].pk not in over  # entered at `now`: not before it
    for key in ("contract", "plain", "won", "lost"):  # no limit, or closed
        assert not {varied[f"{key}-{label}"].pk for label in ("before", "long")} & over


def test_query_and_per_object_forms_agree(varied: dict[str, Deal], personas: Any) -> None:
    deals = list(varied.values())
    sla_of = {d.pk: d.stage.sla_days for d in deals}
    with clock.frozen(NOW):
        over_q = ids(Deal.objects.over_stage_sla(NOW))
        over_q_default_stages = ids(Deal.objects.over_stage_sla(clock.now()))
        needs_q = ids(Deal.objects.needing_next_task())
        listed_over = ids(DealFilter(over_sla=True).apply(Deal.objects.all()))
        listed_needs = ids(DealFilter(no_task=True).apply(Deal.objects.all()))
        over_obj = {d.pk for d in deals if d.is_over_stage_sla(NOW)}
        over_fn = {d.pk for d in deals if is_over_stage_sla(d, sla_of[d.pk], NOW)}
        over_tag = {
            d.pk for d in deals if d.status == "open" and over_sla(d.stage_entered_at, sla_of[d.pk])
        }
        needs_obj = {d.pk for d in deals if d.needs_next_task()}
        needs_fn = {d.pk for d in deals if needs_next_task(d)}
        deal_marks(deals)
        cards = board_cards(Deal.objects.filter(pk__in=[d.pk for d in deals]))
        deal_marks(cards)
        owner_counts = counters_for(user=personas["owner"].user)
    marks_over = {d.pk for d in deals if d.mark_over_sla}
    marks_needs = {d.pk for d in deals if d.mark_no_task}
    cards_over = {c.id for c in cards if c.mark_over_sla}
    cards_needs = {c.id for c in cards if c.mark_no_task}
    # The set is varied enough to mean something: some deals on each side of each rule.
    assert 0 < len(over_q) < len(deals) and 0 < len(needs_q) < len(deals)
    assert over_q == over_q_default_stages == listed_over == over_obj == over_fn == over_tag
    assert over_q == marks_over == cards_over
    assert needs_q == listed_needs == needs_obj == needs_fn == marks_needs == cards_needs
    # The counters (day buckets + the boundary day's range) count the same deals.
    assert owner_counts["deals_over_sla"] == len(over_q)
    assert owner_counts["deals_without_task"] == len(needs_q)


def test_negative_control_a_drifted_copy_disagrees(
    varied: dict[str, Deal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agreement check is not vacuous: marks computed by a copy that drifted at the
    boundary ("at the limit is over") or by another clock differ from the query form."""
    from voronka.activities.task_selectors import marks

    def at_the_limit_is_over(deal: Any, sla_days: int | None, now: dt.datetime) -> bool:
        return (
            deal.status == "open"
            and sla_days is not None
            and now - deal.stage_entered_at >= dt.timedelta(days=sla_days)
        )

    deals = list(varied.values())
    over_q = ids(Deal.objects.over_stage_sla(NOW))
    with monkeypatch.context() as m:
        m.setattr(marks, "is_over_stage_sla", at_the_limit_is_over)
        deal_marks(deals, NOW)
    assert {d.pk for d in deals if d.mark_over_sla} != over_q
    deal_marks(deals)  # the wall clock (December 2026), not the frozen NOW
    assert {d.pk for d in deals if d.mark_over_sla} != over_q


def test_list_filter_reads_the_product_clock(varied: dict[str, Deal]) -> None:
    """The deal list's "over the stage limit" filter used `timezone.now()`: at a frozen clock
    it disagreed with the counters and the marks. A day later the deals at (or just inside)
    each limit are over, and so is the one that entered a 0-day stage at `now`."""
    with clock.frozen(NOW):
        today = ids(DealFilter(over_sla=True).apply(Deal.objects.all()))
    with clock.frozen(NOW + dt.timedelta(days=1)):
        tomorrow = ids(DealFilter(over_sla=True).apply(Deal.objects.all()))
    assert today == ids(Deal.objects.over_stage_sla(NOW))
    assert tomorrow - today == {
        varied[f"{key}-{label}"].pk for key in ("new", "talks", "zero") for label in ("at", "after")
    } | {varied["zero-now"].pk}


# --- no copy of either rule outside the one place -------------------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "voronka"
THE_PLACE = SRC / "deals" / "models.py"
# Uses of `sla_days` arithmetic that do not decide "over the limit", with the reason.
ALLOWED = {
    "demo/management/commands/voronka_demo.py": "the demo picks times around a stage's limit",
}
SQL_COPY = re.compile(r"open_tasks\s*(=|==|<=?)\s*0\b|sla_days\s*[*+-]", re.IGNORECASE)


@dataclass(frozen=True)
class Copy:
    path: str
    line: int
    what: str


def _mentions_sla_days(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr == "sla_days")
        or (isinstance(n, ast.Name) and n.id == "sla_days")
        for n in ast.walk(node)
    )


def _is_sla(node: ast.AST) -> bool:
    """`x.sla_days` (or `x.sla_days or 14`) itself, not a dict or call holding it (a message
    formatted with `%` shows the limit; it computes nothing)."""
    if isinstance(node, ast.BoolOp):
        return any(_is_sla(v) for v in node.values)
    return (isinstance(node, ast.Attribute) and node.attr == "sla_days") or (
        isinstance(node, ast.Name) and node.id == "sla_days"
    )


def _is_open_tasks(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "open_tasks") or (
        isinstance(node, ast.Name) and node.id == "open_tasks"
    )


def rule_copies(path: Path, source: str) -> list[Copy]:
    """Copies of the two rules in one module: a filter on `open_tasks=0` (or any `open_tasks__`
    lookup), `x.open_tasks` compared with a number, a `sla_days__` lookup, `sla_days` in
    arithmetic or in a `timedelta(...)`, and the same in SQL strings."""
    rel = str(path.relative_to(SRC)) if path.is_relative_to(SRC) else str(path)
    found: list[Copy] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.keyword) and node.arg:
            if node.arg.startswith("open_tasks__") or (
                node.arg == "open_tasks"
                and isinstance(node.value, ast.Constant)
                and node.value.value == 0
            ):
                found.append(Copy(rel, node.value.lineno, f"{node.arg}= filter"))
            if node.arg.startswith("sla_days__"):
                found.append(Copy(rel, node.value.lineno, f"{node.arg}= filter"))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_open_tasks(s) for s in sides) and any(
                isinstance(s, ast.Constant) and isinstance(s.value, int) for s in sides
            ):
                found.append(Copy(rel, line, "open_tasks compared with a number"))
        elif isinstance(node, ast.BinOp) and (_is_sla(node.left) or _is_sla(node.right)):
            found.append(Copy(rel, line, "sla_days arithmetic"))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "timedelta"
            and any(_mentions_sla_days(k.value) for k in node.keywords)
        ):
            found.append(Copy(rel, line, "timedelta(days=...sla_days)"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL_COPY.search(node.value)
        ):
            found.append(Copy(rel, line, "the rule in SQL"))
    return found


def copies_in_tree() -> list[Copy]:
    found: list[Copy] = []
    for path in sorted(SRC.rglob("*.py")):
        if path == THE_PLACE or "migrations" in path.parts:
            continue
        rel = str(path.relative_to(SRC))
        if rel in ALLOWED:
            continue
        found.extend(rule_copies(path, path.read_text(encoding="utf-8")))
    for path in sorted(SRC.rglob("*.html")):  # templates: no arithmetic on the limit either
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"sla_days\s*\|\s*add|open_tasks\s*==\s*0|open_tasks\s*<", text):
                found.append(Copy(str(path.relative_to(SRC)), n, "the rule in a template"))
    return found


def test_no_copy_of_the_rules_outside_deals_models() -> None:
    assert copies_in_tree() == []
    for rel in ALLOWED:  # nothing stale in the allowance
        assert rule_copies(SRC / rel, (SRC / rel).read_text(encoding="utf-8")), rel


@pytest.mark.parametrize(
    "planted",
    [
        "qs = Deal.objects.filter(status='open', open_tasks=0)",
        "qs = qs.filter(open_tasks__lt=1)",
        "flag = deal.status == 'open' and deal.open_tasks == 0",
        "over = deal.stage_entered_at < now - dt.timedelta(days=stage.sla_days)",
        "stages = Stage.objects.filter(sla_days__isnull=False)",
        "limit = stage.sla_days * 86400",
        "sql = 'SELECT COUNT(*) FROM deal WHERE open_tasks = 0'",
    ],
)
def test_negative_control_a_planted_copy_is_found(planted: str) -> None:
    assert rule_copies(SRC / "deals" / "selectors.py", planted)


def test_the_definitions_themselves_are_what_the_guard_looks_for() -> None:
    """The guard is not blind to the one place: run over deals/models.py it finds the rules."""
    whats = {c.what for c in rule_copies(THE_PLACE, THE_PLACE.read_text(encoding="utf-8"))}
    assert {"open_tasks= filter", "sla_days__isnull= filter"} <= whats
