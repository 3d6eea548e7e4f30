"""tasks_create(requests): the batch form of task_create (issue 9) — the same rows as N
task_create calls one by one, all or nothing, each request checked as its own actor and naming
its own cause, in a bounded number of queries."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from factories import make_company, make_contact, make_deal, table_counts
from tasks.support import MSK, maintained_vs_recounted
from voronka.activities.models import Task, TaskDayCounter
from voronka.activities.tasks_services import NewTask, task_create, tasks_create
from voronka.deals.models import Deal, DealUserCounter
from voronka.identity.models import User
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ValidationError
from voronka.kernel.events import Cause, caused_by
from voronka.kernel.models import AuditEntry, DomainEvent

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 18, 15, 0, tzinfo=MSK)
KEYS = ("a1", "a2", "a11", "b1")


def deadline(days: int, hour: int) -> str:
    day = NOW.date() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=MSK).isoformat()


def build_set(users: dict[str, Any], pipeline: Any, tag: str) -> dict[str, Any]:
    """A company, a contact and two deals per responsible."""
    out: dict[str, Any] = {}
    for key in KEYS:
        company = make_company(responsible=users[key], name=f"ООО {tag} {key}")
        out[f"company:{key}"] = company
        out[f"contact:{key}"] = make_contact(
            responsible=users[key], company=company, first_name=f"К {tag} {key}"
        )
        for n in range(2):
            out[f"deal:{key}:{n}"] = make_deal(
                responsible=users[key],
                company=company,
                title=f"Сделка {tag} {key} {n}",
                stage=pipeline.stages["new"],
            )
    return out


def plan(users: dict[str, Any], objs: dict[str, Any]) -> list[dict[str, Any]]:
    """Tasks over several deals (several per deal), contacts, companies, days, responsibles."""
    items: list[dict[str, Any]] = []
    for i, key in enumerate(KEYS):
        for n in range(2):
            for k in range(n + 1):  # deal 0: one task, deal 1: two tasks
                items.append(
                    {
                        "type": ["call", "meeting", "email", "other"][(i + k) % 4],
                        "responsible": users[KEYS[(i + k) % len(KEYS)]].pk,
                        "deadline": deadline(k - 1, 9 + n + i),
                        "comment": f"Задача {key} {n} {k} «кавычки»",
                        "deal": objs[f"deal:{key}:{n}"].pk,
                    }
                )
        items.append(
            {
                "type": "call",
                "responsible": users[key].pk,
                "deadline": deadline(i, 12),
                "comment": f"Контакт {key}",
                "contact": objs[f"contact:{key}"].pk,
            }
        )
        items.append(
            {
                "type": "email",
                "responsible": users[key].pk,
                "deadline": deadline(-i, 18),
                "comment": f"Компания {key}",
                "company": objs[f"company:{key}"].pk,
            }
        )
    return items


def cells() -> Counter[tuple[Any, ...]]:
    return Counter(
        {(c.responsible_id, c.link, c.day): c.count for c in TaskDayCounter.objects.all()}
    )


def user_cells() -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for c in DealUserCounter.objects.all():
        out[(c.responsible_id, "open")] += c.open_deals
        out[(c.responsible_id, "without_task")] += c.without_task
    return out


def delta(after: Counter[Any], before: Counter[Any]) -> dict[Any, int]:
    keys = after.keys() | before.keys()
    return {k: after[k] - before[k] for k in keys if after[k] != before[k]}


LINKS = ("deal", "contact", "company")


def relabel(value: Any, mapping: dict[str, dict[int, int]], kind: str = "") -> Any:
    """Replace the twin set's ids by the batch set's, by kind: the keys deal/contact/company/
    task of audit changes and event payloads (ids of different kinds may be equal)."""
    if isinstance(value, dict):
        return {k: relabel(v, mapping, k if k in mapping else kind) for k, v in value.items()}
    if isinstance(value, list):
        return [relabel(v, mapping, kind) for v in value]
    if isinstance(value, tuple):
        return tuple(relabel(v, mapping, kind) for v in value)
    if kind and isinstance(value, int) and not isinstance(value, bool):
        return mapping[kind].get(value, value)
    return value


def audit_rows(obj_type: str, obj_id: int, action: str) -> list[tuple[Any, ...]]:
    return list(
        AuditEntry.objects.filter(object_type=obj_type, object_id=obj_id, action=action)
        .order_by("id")
        .values_list("actor_kind", "actor_user_id", "at", "changes")
    )


@pytest.fixture
def users(personas: dict[str, Any]) -> dict[str, Any]:
    return {k: personas[k].user for k in (*KEYS, "owner", "head_a", "head_b", "deact")}


def test_a_batch_leaves_the_same_rows_as_one_by_one(users: dict[str, Any], pipeline: Any) -> None:
    compare_batch_with_one_by_one(users, pipeline)


def test_negative_control_a_batch_only_bug_is_detected(
    users: dict[str, Any], pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison is not vacuous: a bug that shows only in batches of more than one (the
    day counters of the first task only) makes it fail (one by one, each batch is one task)."""
    from voronka.activities import tasks_services

    real = tasks_services._track_tasks
    monkeypatch.setattr(tasks_services, "_track_tasks", lambda tasks, sign: real(tasks[:1], sign))
    with pytest.raises(AssertionError):
        compare_batch_with_one_by_one(users, pipeline)


def compare_batch_with_one_by_one(users: dict[str, Any], pipeline: Any) -> None:
    with clock.frozen(NOW - dt.timedelta(hours=3)):
        batch_set = build_set(users, pipeline, "Б")
        twin_set = build_set(users, pipeline, "Т")
    batch_items, twin_items = plan(users, batch_set), plan(users, twin_set)
    assert len(batch_items) >= 20
    owner = Actor.for_user(users["owner"])
    mapping: dict[str, dict[int, int]] = {kind: {} for kind in (*LINKS, "task")}
    for key, obj in twin_set.items():
        mapping[key.split(":")[0]][obj.pk] = batch_set[key].pk
    events_before = DomainEvent.objects.count()

    cells0, users0 = cells(), user_cells()
    with clock.frozen(NOW):
        batch = tasks_create([NewTask(owner, item) for item in batch_items])
    cells1, users1 = cells(), user_cells()
    with clock.frozen(NOW):
        singles = [task_create(actor=owner, data=item) for item in twin_items]
    cells2, users2 = cells(), user_cells()

    assert len(batch) == len(singles) == len(batch_items)
    assert all(t.pk is not None for t in batch)
    # the counters: the same change
    assert delta(cells1, cells0) == delta(cells2, cells1) != {}
    assert delta(users1, users0) == delta(users2, users1) != {}
    # the deals' own bookkeeping
    for key, obj in batch_set.items():
        if key.startswith("deal:"):
            a, b = Deal.objects.get(pk=obj.pk), Deal.objects.get(pk=twin_set[key].pk)
            assert (a.open_tasks, a.next_task_deadline) == (b.open_tasks, b.next_task_deadline), key
            assert a.open_tasks == int(key[-1]) + 1
    # the tasks, their audit rows and events
    assert DomainEvent.objects.count() - events_before == 2 * len(batch)
    for mine, theirs in zip(batch, singles, strict=True):
        a, b = Task.objects.get(pk=mine.pk), Task.objects.get(pk=theirs.pk)
        fields = ("type", "responsible_id", "deadline", "comment", "status", "created_by_id")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
        for link in ("deal_id", "contact_id", "company_id"):
            kind = link.removesuffix("_id")
            assert getattr(a, link) == relabel(getattr(b, link), mapping, kind), link
        assert (a.created_at, a.updated_at) == (b.created_at, b.updated_at)
        task_map = {**mapping, "task": {b.pk: a.pk}}
        created_a = audit_rows("task", a.pk, "created")
        created_b = audit_rows("task", b.pk, "created")
        assert len(created_a) == 1
        assert created_a == relabel(created_b, task_map)
        if a.deal_id is not None:
            on_deal_a = audit_rows("deal", a.deal_id, "task_created")
            on_deal_b = audit_rows("deal", b.deal_id, "task_created")
            assert len(on_deal_a) == Deal.objects.get(pk=a.deal_id).open_tasks
            assert on_deal_a == on_deal_b
        ev_a = list(
            DomainEvent.objects.filter(name="task.created", object_id=a.pk, object_type="task")
        )
        ev_b = list(
            DomainEvent.objects.filter(name="task.created", object_id=b.pk, object_type="task")
        )
        assert len(ev_a) == len(ev_b) == 1
        fields = ("actor_kind", "actor_user_id", "occurred_at", "causation_id", "depth")
        assert [getattr(ev_a[0], f) for f in fields] == [getattr(ev_b[0], f) for f in fields]
        assert ev_a[0].payload == relabel(ev_b[0].payload, task_map)
        assert ev_a[0].payload["responsible"] == a.responsible_id
        assert ev_a[0].payload["deal"] == a.deal_id
    assert maintained_vs_recounted() == {}


def test_audit_and_events_of_a_batch_per_task(users: dict[str, Any], pipeline: Any) -> None:
    """Two audit rows per deal task (the task's "created", the deal's "task_created"), one per
    task without a deal, one task.created event each."""
    with clock.frozen(NOW - dt.timedelta(hours=3)):
        objs = build_set(users, pipeline, "А")
    items = plan(users, objs)
    audit0 = AuditEntry.objects.count()
    tasks = tasks_create([NewTask(Actor.system(), item) for item in items])
    on_deals = sum(1 for t in tasks if t.deal_id is not None)
    assert AuditEntry.objects.count() - audit0 == len(tasks) + on_deals
    assert DomainEvent.objects.filter(
        name="task.created", object_id__in=[t.pk for t in tasks]
    ).count() == len(tasks)


# --- all or nothing -------------------------------------------------------------------------


@pytest.fixture
def scoped(users: dict[str, Any], pipeline: Any) -> dict[str, Any]:
    with clock.frozen(NOW - dt.timedelta(hours=3)):
        return build_set(users, pipeline, "С")


def good_items(users: dict[str, Any], objs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "call",
            "responsible": users["a1"].pk,
            "deadline": deadline(1, 10),
            "comment": f"Хорошая {n}",
            "deal": objs[f"deal:a1:{n}"].pk,
        }
        for n in range(2)
    ]


BAD = {
    "deadline": {"deadline": "завтра"},
    "responsible_inactive": {"responsible": "user:deact"},
    "responsible_out_of_scope": {"responsible": "user:b1"},
    "deal_not_an_id": {"deal": "abc"},
    "deal_out_of_scope": {"deal": "deal:b1:0"},
    "responsible_bool": {"responsible": True},
    "deal_true": {"deal": True},
    "company_out_of_scope": {"deal": None, "company": "company:b1"},
}
FIELD = {
    "deadline": "deadline",
    "responsible_inactive": "responsible",
    "responsible_out_of_scope": "responsible",
    "deal_not_an_id": "deal",
    "deal_out_of_scope": "deal",
    "responsible_bool": "responsible",
    "deal_true": "deal",
    "company_out_of_scope": "company",
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("where", [0, 2])
def test_one_invalid_item_refuses_the_whole_batch(
    users: dict[str, Any], scoped: dict[str, Any], case: str, where: int
) -> None:
    a1 = Actor.for_user(users["a1"])
    items = good_items(users, scoped)
    bad = {**items[0], "comment": "Плохая"}
    for key, value in BAD[case].items():
        if isinstance(value, str) and value.startswith("user:"):
            value = users[value[5:]].pk
        elif isinstance(value, str) and ":" in value:
            value = scoped[value].pk
        bad[key] = value
    if bad.get("deal") is None:
        bad.pop("deal")
    items.insert(where, bad)
    before = table_counts()
    cells0, deals0 = (
        cells(),
        list(Deal.objects.values_list("pk", "open_tasks", "next_task_deadline")),
    )
    with pytest.raises(ValidationError) as caught:
        tasks_create([NewTask(a1, item) for item in items])
    assert FIELD[case] in caught.value.errors, caught.value.errors
    assert table_counts() == before
    assert cells() == cells0
    assert list(Deal.objects.values_list("pk", "open_tasks", "next_task_deadline")) == deals0


def test_the_good_items_alone_pass(users: dict[str, Any], scoped: dict[str, Any]) -> None:
    """The control of the all-or-nothing test: without the bad item the batch is written."""
    a1 = Actor.for_user(users["a1"])
    tasks = tasks_create([NewTask(a1, item) for item in good_items(users, scoped)])
    assert Task.objects.filter(pk__in=[t.pk for t in tasks]).count() == 2


def test_each_request_is_scoped_by_its_own_actor(
    users: dict[str, Any], scoped: dict[str, Any]
) -> None:
    a1, b1 = Actor.for_user(users["a1"]), Actor.for_user(users["b1"])
    mine_a = {**good_items(users, scoped)[0]}
    mine_b = {
        "type": "call",
        "responsible": users["b1"].pk,
        "deadline": deadline(1, 11),
        "comment": "b1 о своей",
        "deal": scoped["deal:b1:0"].pk,
    }
    tasks = tasks_create([NewTask(a1, mine_a), NewTask(b1, mine_b)])
    assert [t.deal_id for t in tasks] == [mine_a["deal"], mine_b["deal"]]
    assert [t.created_by_id for t in tasks] == [users["a1"].pk, users["b1"].pk]
    # the deal a1 can see, asked for by b1 (who cannot): refused for b1, though a1 sees it
    before = table_counts()
    with pytest.raises(ValidationError) as caught:
        tasks_create(
            [
                NewTask(a1, mine_a),
                NewTask(b1, {**mine_b, "deal": scoped["deal:a1:1"].pk}),
            ]
        )
    assert "deal" in caught.value.errors
    # and the other way round: a1 asking for b1's deal
    with pytest.raises(ValidationError) as caught:
        tasks_create([NewTask(b1, mine_b), NewTask(a1, {**mine_a, "deal": scoped["deal:b1:1"].pk})])
    assert "deal" in caught.value.errors
    assert table_counts() == before


def test_each_request_names_its_own_cause(users: dict[str, Any], scoped: dict[str, Any]) -> None:
    system = Actor.system()
    first, second, third = (
        {**item, "responsible": users["a1"].pk}
        for item in [*good_items(users, scoped), good_items(users, scoped)[0]]
    )
    with caused_by("job:outer:1", depth=0):
        tasks = tasks_create(
            [
                NewTask(system, first, cause=Cause("rule:1:run:7", 2)),
                NewTask(system, second, cause=Cause("rule:3:run:9", 4)),
                NewTask(system, third),  # no cause of its own: the caller's
            ]
        )
    got = [
        DomainEvent.objects.values_list("causation_id", "depth").get(
            name="task.created", object_id=t.pk
        )
        for t in tasks
    ]
    assert got == [("rule:1:run:7", 2), ("rule:3:run:9", 4), ("job:outer:1", 0)]


# --- queries ---------------------------------------------------------------------------------


def queries_for(
    n: int, users: dict[str, Any], pipeline: Any, tag: str, *, fresh_actors: bool = False
) -> int:
    """Queries of tasks_create for n tasks on n deals. fresh_actors: each request's actor holds
    its own instance of the same user, as the automation's runs do (rule_actor of each run's
    rule, loaded with select_related)."""
    a1 = users["a1"]
    with clock.frozen(NOW - dt.timedelta(hours=3)):
        company = make_company(responsible=a1, name=f"ООО Запросы {tag}")
        deals = [
            make_deal(
                responsible=a1, company=company, title=f"З{tag}{i}", stage=pipeline.stages["new"]
            )
            for i in range(n)
        ]
    owner = users["owner"]
    requests = [
        NewTask(
            Actor.for_user(User.objects.get(pk=owner.pk) if fresh_actors else owner),
            {
                "type": "call",
                "responsible": a1.pk,
                "deadline": deadline(i % 3, 10),
                "comment": f"Звонок {i}",
                "deal": deal.pk,
            },
        )
        for i, deal in enumerate(deals)
    ]
    with CaptureQueriesContext(connection) as captured:
        tasks_create(requests)
    assert Task.objects.filter(deal__in=deals).count() == n
    return len(captured.captured_queries)


@pytest.mark.parametrize("fresh_actors", [False, True], ids=["one_actor", "actor_per_request"])
def test_queries_do_not_grow_with_the_batch(
    users: dict[str, Any], pipeline: Any, fresh_actors: bool
) -> None:
    queries_for(3, users, pipeline, "warm")  # first-use lookups (caches) out of the count
    ten = queries_for(10, users, pipeline, "10", fresh_actors=fresh_actors)
    fifty = queries_for(50, users, pipeline, "50", fresh_actors=fresh_actors)
    print(f"\n[queries] tasks_create: 10 tasks → {ten}, 50 tasks → {fifty}")
    assert fifty == ten
    assert fifty <= 40
