"""Counters (issue 3): the red badges and the head of sales' control table against a hand-built
fixture whose numbers are known, and the maintained counters against a recount after random
operations (seeded and Hypothesis-generated), with a negative control that corrupts a counter.

The world (tasks/support.py: build_world) at NOW = Wed 18.03.2026 15:00 MSK, per responsible:

  user    open tasks (deadline, link)                      open deals (stage, entered, tasks)
  a1      Tue 10:00 D1 · today 18:00 D1 · Thu 10:00 D4 ·   D1 new −1 h (2 open) · D2 talks −2 d (0) ·
          today 09:00 D5 · Mon 12:00 D7(lost) ·            D3 new −5 d (0, over SLA) ·
          Tue 12:00 contact · today 17:00 company          D4 new −3 d −1 min (1, over SLA) ·
          (+ one done today, one done deal D6/D7 closed)   D5 new −3 d +1 min (1, within SLA)
  a2      today 14:59 E1 · Thu 12:00 E3 · today 15:00      E1 talks −8 d (1, over) · E2 new Sun
          company · today 15:01 company (+ done yesterday)  00:30 (0, over) · E3 Обзвон −30 d (1)
  a11     Tue 23:59 F1 · today 23:59 contact ·             F1 new −2 d (1)
          Thu 00:00 contact
  head_a  Tue 10.03 09:00 company                          H1 new −4 d (0, over)
  deact   —                                                X1 new −1 h (0)
  b1      Tue 08:00 G2 · today 20:00 G2                    G1 new −10 d (0, over) · G2 new −1 h (2)
  owner   —                                                O1 new, entered at NOW (0)
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

import pytest
from django.db import transaction
from django.db.models import F
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tasks.support import (
    NOW,
    OPS,
    OpRunner,
    World,
    actor_of,
    local,
    maintained_vs_recounted,
    record_figures,
)
from voronka.activities.counters import counters_snapshot, task_counters_rebuild
from voronka.activities.models import TaskDayCounter
from voronka.activities.task_selectors import (
    calendar_tasks,
    control_table,
    counters_for,
    deal_marks,
    my_day,
)
from voronka.contacts.models import Company
from voronka.deals.models import (
    CompanyLtv,
    Deal,
    DealBoardCounter,
    DealStageDayCounter,
    DealUserCounter,
)
from voronka.kernel import clock

pytestmark = pytest.mark.django_db

FIELDS = (
    "overdue_tasks",
    "tasks_today",
    "deals_without_task",
    "deals_over_sla",
    "open_deals",
    "deals_overdue_tasks",
    "contacts_overdue_tasks",
    "companies_overdue_tasks",
)


def c(*values: int) -> dict[str, int]:
    return dict(zip(FIELDS, values, strict=True))


# Per responsible (from the table above), in FIELDS order.
PER_USER = {
    #          overdue today without over  open deals_od contacts_od companies_od
    "a1": c(4, 2, 2, 2, 5, 3, 1, 0),  # overdue: Tue D1, today 09:00 D5, Mon D7, Tue contact
    "a2": c(1, 2, 1, 2, 3, 1, 0, 0),  # 14:59 is overdue; 15:00 (== now) and 15:01 are today
    "a11": c(1, 1, 0, 0, 1, 1, 0, 0),  # Thu 00:00 is tomorrow in Moscow (today in UTC)
    "head_a": c(1, 0, 1, 1, 1, 0, 0, 1),
    "deact": c(0, 0, 1, 0, 1, 0, 0, 0),
    "b1": c(1, 1, 1, 1, 2, 1, 0, 0),
    "owner": c(0, 0, 1, 0, 1, 0, 0, 0),
}
# Per persona: the sum over the responsibles in its scope, written out by hand.
DEPT_A = c(7, 5, 5, 5, 11, 5, 1, 1)  # a1 + a2 + a11 + head_a + deact
EVERYONE = c(8, 6, 7, 6, 14, 6, 1, 1)  # DEPT_A + b1 + owner
EXPECTED = {
    "a1": PER_USER["a1"],
    "a2": PER_USER["a2"],
    "a11": PER_USER["a11"],
    "b1": PER_USER["b1"],
    "head_a": DEPT_A,
    "head_b": PER_USER["b1"],  # department B: b1 (head_b itself has nothing)
    "head_root": EVERYONE,  # the root department's subtree: everyone with a department
    "owner": EVERYONE,
    "admin": EVERYONE,
    "integration": PER_USER["a1"],  # a1's second token
}


def only(counters: dict[str, Any]) -> dict[str, int]:
    return {k: counters[k] for k in FIELDS}


def test_counters_for_each_persona_match_the_hand_computed_numbers(
    world: World, personas: Any
) -> None:
    with clock.frozen(NOW):
        got = {key: only(counters_for(user=personas[key].user)) for key in EXPECTED}
    assert got == EXPECTED


def test_api_me_counters_match_for_each_persona(world: World, api: Any) -> None:
    with clock.frozen(NOW):
        for key, expected in EXPECTED.items():
            response = api(key).get_json("/api/v1/me/counters")
            assert response.status_code == 200, (key, response.content)
            body = response.json()
            assert only(body) == expected, key
            assert body["unread_notifications"] == 0  # every task was created by its responsible
            assert dt.datetime.fromisoformat(body["at"]) == NOW


def test_me_counters_refuse_anonymous_and_deactivated(world: World, api: Any) -> None:
    assert api("anonymous").get_json("/api/v1/me/counters").status_code == 401
    assert api("deact").get_json("/api/v1/me/counters").status_code == 401


def test_counters_move_with_the_clock(world: World, personas: Any) -> None:
    """Half a minute before NOW the 14:59 task is not yet overdue; at tomorrow 00:30 today's
    tasks have all become overdue and Thursday's are today."""
    a2, a1 = personas["a2"].user, personas["a1"].user
    with clock.frozen(local(0, 14, 58)):
        assert only(counters_for(user=a2))["overdue_tasks"] == 0
        assert only(counters_for(user=a2))["tasks_today"] == 3
    with clock.frozen(local(1, 0, 30)):
        got = only(counters_for(user=a1))
    # a1 at Thu 00:30: overdue = 4 + today 18:00 + today 17:00 company = 6; today = Thu 10:00 D4.
    assert (got["overdue_tasks"], got["tasks_today"]) == (6, 1)


# --- control table ------------------------------------------------------------------------------

ROW_FIELDS = (
    "open_deals",
    "deals_without_task",
    "overdue_tasks",
    "oldest_overdue",
    "deals_over_sla",
    "tasks_today",
    "tasks_done_today",
)
CONTROL_A = {  # active users of department A and its sub-department, by hand
    "a1": (5, 2, 4, local(-2, 12), 2, 2, 1),  # oldest: Mon 12:00 on the lost deal; 1 done today
    "a2": (3, 1, 1, local(0, 14, 59), 2, 2, 0),  # its done task was completed yesterday
    "a11": (1, 0, 1, local(-1, 23, 59), 0, 1, 0),
    "head_a": (1, 1, 1, local(-8, 9), 1, 0, 0),
}  # deact is not on the screen: deactivated users have no row


def control_rows(body: dict[str, Any], users: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    by_id = {u.pk: k for k, u in users.items()}
    rows = {}
    for row in body["rows"]:
        values = [row[f] for f in ROW_FIELDS]
        values[3] = dt.datetime.fromisoformat(values[3]) if values[3] else None
        rows[by_id[row["user"]]] = tuple(values)
    return rows


def test_control_table_for_the_head(world: World, api: Any, users: Any) -> None:
    dept_a = users["a1"].department
    with clock.frozen(NOW):
        response = api("head_a").get_json("/api/v1/control", {"department": dept_a.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert control_rows(body, users) == CONTROL_A
    assert body["department"] == dept_a.pk
    assert body["totals"] == {
        "open_deals": 10,
        "deals_without_task": 4,
        "overdue_tasks": 7,
        "deals_over_sla": 5,
        "tasks_today": 5,
        "tasks_done_today": 1,
    }


def test_control_table_sub_department_default_and_owner(world: World, api: Any, users: Any) -> None:
    sub = users["a11"].department
    with clock.frozen(NOW):
        sub_rows = control_rows(
            api("head_a").get_json("/api/v1/control", {"department": sub.pk}).json(), users
        )
        default_rows = control_rows(api("head_a").get_json("/api/v1/control").json(), users)
        owner_a = control_rows(
            api("owner")
            .get_json("/api/v1/control", {"department": users["a1"].department_id})
            .json(),
            users,
        )
        owner_all = control_rows(api("owner").get_json("/api/v1/control").json(), users)
        root_a = control_rows(
            api("head_root")
            .get_json("/api/v1/control", {"department": users["a1"].department_id})
            .json(),
            users,
        )
    assert sub_rows == {"a11": CONTROL_A["a11"]}
    assert default_rows == CONTROL_A  # a head without ?department= sees their own department
    assert owner_a == CONTROL_A == root_a
    # The owner's whole-company screen: every active user, zeros included.
    assert set(owner_all) == {
        "owner",
        "admin",
        "head_root",
        "head_a",
        "head_b",
        "a1",
        "a2",
        "a11",
        "b1",
    }
    assert owner_all["b1"] == (2, 1, 1, local(-1, 8), 1, 1, 0)
    assert owner_all["owner"] == (1, 1, 0, None, 0, 0, 0)
    assert {k: owner_all[k] for k in CONTROL_A} == CONTROL_A


def test_control_table_refused_outside_the_scope(world: World, api: Any, users: Any) -> None:
    dept_a, dept_b = users["a1"].department, users["b1"].department
    with clock.frozen(NOW):
        assert api("a1").get_json("/api/v1/control", {"department": dept_a.pk}).status_code == 403
        assert api("a1").get_json("/api/v1/control").status_code == 403
        assert (
            api("head_a").get_json("/api/v1/control", {"department": dept_b.pk}).status_code == 404
        )
        assert (
            api("head_b").get_json("/api/v1/control", {"department": dept_a.pk}).status_code == 404
        )
        assert api("head_a").get_json("/api/v1/control", {"department": 10**9}).status_code == 404
        assert api("anonymous").get_json("/api/v1/control").status_code == 401


def test_control_table_selector_matches_the_api(world: World, users: Any) -> None:
    with clock.frozen(NOW):
        rows = control_table(user=users["head_a"], department_id=users["a1"].department_id)
    by_id = {u.pk: k for k, u in users.items()}
    got = {
        by_id[r.user.pk]: (
            r.open_deals,
            r.deals_without_task,
            r.overdue_tasks,
            r.oldest_overdue,
            r.deals_over_sla,
            r.tasks_today,
            r.tasks_done_today,
        )
        for r in rows
    }
    assert got == CONTROL_A


# --- marks, my day, calendar --------------------------------------------------------------------


def test_deal_marks(world: World) -> None:
    deals = list(Deal.objects.filter(pk__in=[d.pk for d in world.deals.values()]))
    with clock.frozen(NOW):
        deal_marks(deals)
    label = {d.pk: k for k, d in world.deals.items()}
    marks = {label[d.pk]: (d.mark_no_task, d.mark_overdue, d.mark_over_sla) for d in deals}
    assert marks == {
        "D1": (False, True, False),
        "D2": (True, False, False),
        "D3": (True, False, True),
        "D4": (False, False, True),
        "D5": (False, True, False),
        "D6": (False, False, False),
        "D7": (False, False, False),
        "E1": (False, True, True),
        "E2": (True, False, True),
        "E3": (False, False, False),
        "F1": (False, True, False),
        "H1": (True, False, True),
        "X1": (True, False, False),
        "G1": (True, False, True),
        "G2": (False, True, False),
        "O1": (True, False, False),
    }


def test_my_day_and_calendar(world: World, users: Any) -> None:
    t = world.tasks
    with clock.frozen(NOW):
        day = my_day(user=users["a1"])
        head_view = my_day(user=users["head_a"], responsible=users["a11"])
        manager_view = my_day(user=users["a1"], responsible=users["a2"])
        week = calendar_tasks(user=users["a1"], start=NOW.date() - dt.timedelta(days=2), days=4)
    assert [x.pk for x in day.overdue] == [
        t[k].pk for k in ("a1_lost", "a1_yday", "a1_contact", "a1_morning")
    ]
    assert [x.pk for x in day.today] == [t["a1_company"].pk, t["a1_later"].pk]
    assert [x.pk for x in day.tomorrow] == [t["a1_tomorrow"].pk]
    assert day.later == []
    assert [x.pk for x in head_view.overdue] == [t["a11_f1"].pk]
    assert [x.pk for x in head_view.tomorrow] == [t["a11_tomorrow"].pk]
    assert manager_view.overdue == manager_view.today == []  # another manager's day: nothing
    by_day = {d: [x.pk for x in items] for d, items in week.items()}
    assert by_day == {
        local(-2, 0).date(): [t["a1_done"].pk, t["a1_lost"].pk],
        local(-1, 0).date(): [t["a1_yday"].pk, t["a1_contact"].pk],
        local(0, 0).date(): [t["a1_morning"].pk, t["a1_company"].pk, t["a1_later"].pk],
        local(1, 0).date(): [t["a1_tomorrow"].pk],
    }


# --- maintained == recounted ----------------------------------------------------------------------

PERSONA_KEYS = ("owner", "head_root", "head_a", "head_b", "a1", "a2", "a11", "b1")


def all_counters(users: dict[str, Any], at: dt.datetime) -> dict[str, dict[str, int]]:
    with clock.frozen(at):
        return {k: only(counters_for(user=users[k])) for k in PERSONA_KEYS}


def test_world_counters_equal_their_recount(world: World) -> None:
    assert maintained_vs_recounted() == {}


def test_random_operations_keep_maintained_equal_to_recounted(
    world: World, users: Any, pipeline: Any
) -> None:
    seed = 20260318
    rng = random.Random(seed)
    runner = OpRunner(users, pipeline, NOW)
    checkpoints = 0
    for step in range(1, 161):
        runner.run(rng.choice(OPS), rng.randrange(2**32))
        if step % 40 == 0:
            before = all_counters(users, runner.now)
            assert maintained_vs_recounted() == {}, (seed, step, runner.outcomes)
            assert all_counters(users, runner.now) == before  # the badges did not move either
            checkpoints += 1
    ok = sum(n for k, n in runner.outcomes.items() if k.endswith(": ok"))
    record_figures(
        "TASK-COUNTERS maintained==recounted (random)",
        {
            "seed": seed,
            "operations": 160,
            "applied": ok,
            "refused_or_noop": 160 - ok,
            "checkpoints": checkpoints,
            "differences": 0,
        },
    )
    assert ok >= 80, runner.outcomes  # the sequence really exercised the services


HYPOTHESIS_BUDGET = 50.0  # seconds of examples; with the world's setup the test stays under 60 s


def test_hypothesis_operations_keep_maintained_equal_to_recounted(
    world: World, users: Any, pipeline: Any
) -> None:
    """Hypothesis-generated operation sequences. Each example runs in a savepoint rolled back
    afterwards, so every example starts from the hand-built world. Bounded in time: once the
    budget is spent the remaining examples do nothing (and are not counted)."""
    started = time.monotonic()
    executed: list[int] = []

    @hsettings(max_examples=120, deadline=None)
    @given(
        ops=st.lists(
            st.tuples(st.sampled_from(OPS), st.integers(0, 2**32 - 1)), min_size=1, max_size=12
        )
    )
    def check(ops: list[tuple[str, int]]) -> None:
        if time.monotonic() - started > HYPOTHESIS_BUDGET:
            return
        with transaction.atomic():
            runner = OpRunner(users, pipeline, NOW)
            for op, seed in ops:
                runner.run(op, seed)
            before = all_counters(users, runner.now)
            assert maintained_vs_recounted() == {}, (ops, runner.outcomes)
            assert all_counters(users, runner.now) == before
            transaction.set_rollback(True)
        executed.append(len(ops))

    check()
    elapsed = time.monotonic() - started
    record_figures(
        "TASK-COUNTERS maintained==recounted (hypothesis)",
        {
            "examples_run": len(executed),
            "operations": sum(executed),
            "differences": 0,
            "seconds": round(elapsed, 1),
        },
    )
    assert elapsed <= 60, elapsed
    assert len(executed) >= 5, "too few examples ran within the time budget to mean anything"


CORRUPTIONS = {
    "task day bucket +1": lambda: TaskDayCounter.objects.filter(
        pk=TaskDayCounter.objects.filter(count__gt=0).order_by("pk").values("pk")[:1]
    ).update(count=F("count") + 1),
    "deal without-task -1": lambda: DealUserCounter.objects.filter(
        pk=DealUserCounter.objects.filter(without_task__gt=0).order_by("pk").values("pk")[:1]
    ).update(without_task=F("without_task") - 1),
    "stage day bucket moved": lambda: DealStageDayCounter.objects.filter(
        pk=DealStageDayCounter.objects.filter(count__gt=0).order_by("pk").values("pk")[:1]
    ).update(day=dt.date(2000, 1, 1)),
    "board cell amount +1": lambda: DealBoardCounter.objects.filter(
        pk=DealBoardCounter.objects.filter(count__gt=0).order_by("pk").values("pk")[:1]
    ).update(amount=F("amount") + 1),
    "board cell in another currency": lambda: DealBoardCounter.objects.filter(
        pk=DealBoardCounter.objects.filter(count__gt=0).order_by("pk").values("pk")[:1]
    ).update(currency="XXX"),
    "company LTV cell +1": lambda: CompanyLtv.objects.filter(
        pk=CompanyLtv.objects.filter(amount__gt=0).order_by("pk").values("pk")[:1]
    ).update(amount=F("amount") + 1),
    "company.ltv +1": lambda: Company.objects.filter(
        pk=Company.objects.filter(ltv__gt=0).order_by("pk").values("pk")[:1]
    ).update(ltv=F("ltv") + 1),
    "company.deals_count +1": lambda: Company.objects.filter(
        pk=Company.objects.filter(deals_count__gt=0).order_by("pk").values("pk")[:1]
    ).update(deals_count=F("deals_count") + 1),
    "company.won_count -1": lambda: Company.objects.filter(
        pk=Company.objects.filter(won_count__gt=0).order_by("pk").values("pk")[:1]
    ).update(won_count=F("won_count") - 1),
    "company.last_purchase_at moved": lambda: Company.objects.filter(
        pk=Company.objects.filter(won_count__gt=0).order_by("pk").values("pk")[:1]
    ).update(last_purchase_at=dt.datetime(2001, 1, 1, tzinfo=dt.UTC)),
    "deal open_tasks +1": lambda: Deal.objects.filter(
        pk=Deal.objects.filter(open_tasks__gt=0).order_by("pk").values("pk")[:1]
    ).update(open_tasks=F("open_tasks") + 1),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_negative_control_a_corrupted_counter_is_detected(
    world: World, users: Any, corruption: str
) -> None:
    """The oracle is not vacuous: one counter row changed behind the services' back makes the
    maintained snapshot differ from the recount."""
    assert maintained_vs_recounted() == {}
    assert CORRUPTIONS[corruption]() == 1
    before = counters_snapshot()
    task_counters_rebuild()
    assert before != counters_snapshot(), corruption


def test_negative_control_a_service_that_skips_a_counter_is_caught(
    world: World, users: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The random-sequence check goes red when one service stops maintaining its day bucket."""
    from voronka.activities import tasks_services

    monkeypatch.setattr(tasks_services, "_track_task", lambda task, sign: None)
    runner = OpRunner(users, pipeline, NOW)
    rng = random.Random(7)
    for _ in range(20):
        runner.run(
            rng.choice(["task_create", "task_complete", "task_reschedule", "task_reassign"]),
            rng.randrange(2**32),
        )
    differences = maintained_vs_recounted()
    assert "task_days" in differences, (differences, runner.outcomes)


def test_negative_control_corrupted_bucket_moves_a_badge(world: World, users: Any) -> None:
    """...and a corrupted bucket is visible in the badges, then repaired by the rebuild."""
    before = all_counters(users, NOW)
    bucket = TaskDayCounter.objects.get(responsible=users["a2"], link="company", day=NOW.date())
    TaskDayCounter.objects.filter(pk=bucket.pk).update(count=F("count") + 3)
    corrupted = all_counters(users, NOW)
    assert corrupted["a2"]["tasks_today"] == before["a2"]["tasks_today"] + 3
    task_counters_rebuild()
    assert all_counters(users, NOW) == before


def test_rebuild_is_fast_enough_to_be_the_oracle(world: World) -> None:
    started = time.monotonic()
    task_counters_rebuild()
    assert time.monotonic() - started < 10


def test_deleting_a_contact_or_company_with_open_tasks_keeps_the_counters(
    world: World, users: Any, nothing_written: Any
) -> None:
    """Tasks hang on contacts and companies too. Deleting one used to cascade its open tasks
    away and leave their day buckets, the deal's open-task count and the "without task" counter
    behind (found by this test; contacts/services.py now refuses, like deal_delete does)."""
    from factories import make_company, make_contact
    from tasks.support import new_task
    from voronka.activities.tasks_services import task_complete
    from voronka.contacts.services import company_delete, contact_delete
    from voronka.kernel.actor import Actor
    from voronka.kernel.errors import ApplicationError, ErrorCode

    a2, system = users["a2"], Actor.system()
    with clock.frozen(NOW):
        lonely = make_company(responsible=a2, name="ООО Только задачи")
        t1 = new_task(a2, local(0, 19), company=lonely)
        contact = make_contact(responsible=a2, company=world.companies["a2"], first_name="Пётр")
        t2 = new_task(a2, local(-1, 9), contact=contact, deal=world.deals["E2"])
        before = all_counters(users, NOW)
        for delete in (
            lambda: company_delete(company=lonely, actor=system),
            lambda: contact_delete(contact=contact, actor=system),
        ):
            with nothing_written(), pytest.raises(ApplicationError) as exc:
                delete()
            assert exc.value.code == ErrorCode.IN_USE
        assert maintained_vs_recounted() == {}
        assert all_counters(users, NOW) == before
        task_complete(task=t1, actor=actor_of(a2), result="Готово")
        task_complete(task=t2, actor=actor_of(a2), result="Готово")
        company_delete(company=lonely, actor=system)  # done tasks do not hold a deletion
        contact_delete(contact=contact, actor=system)
        assert maintained_vs_recounted() == {}


# What each counter kept by `deals.counters.deal_state_changed` shows as in counters_snapshot().
DROPPED_COUNTER_SHOWS_IN = {
    "board": {"deal_board"},
    "open_deals": {"deal_days", "deal_users"},
    "ltv": {"company_ltv", "company_ltv_main"},
    "company": {"company_counts"},
}


@pytest.mark.parametrize("counter", sorted(DROPPED_COUNTER_SHOWS_IN))
def test_negative_control_bookkeeping_that_drops_a_counter_is_caught(
    world: World, users: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch, counter: str
) -> None:
    """Every deal write and every task opened or closed on a deal goes through
    `deal_state_changed`; with one of its counters dropped, random deal and task operations
    leave that counter differing from its recount (so the random-sequence tests above would
    see it)."""
    from voronka.deals import counters

    assert set(counters.MAINTAINED) == set(DROPPED_COUNTER_SHOWS_IN)  # a new one needs its row
    assert maintained_vs_recounted() == {}
    monkeypatch.delitem(counters.MAINTAINED, counter)
    runner = OpRunner(users, pipeline, NOW)
    rng = random.Random(11)
    ops = ["deal_create", "deal_move", "deal_amount", "deal_reassign", "deal_company"]
    for _ in range(40):
        runner.run(rng.choice([*ops, "task_create", "task_complete"]), rng.randrange(2**32))
    differences = maintained_vs_recounted()
    assert set(differences) == DROPPED_COUNTER_SHOWS_IN[counter], (differences, runner.outcomes)
