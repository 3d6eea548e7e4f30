"""RELIABILITY row 2 — AUTHZ-AGGREGATE-LEAK. For every principal the visible id sets come from
plain SQL (authz/oracle.py, independent of scopes.py) and are compared with every list and
search of the API (with and without filters and q), the selectors behind the list and the
kanban (counts and sums per column, cards, "more" pages), the counters and the control table.
Figures: leaked ids, missing ids, absolute aggregate differences — all must be 0. The negative
control switches the scope filter off and must see leaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from authz import oracle
from authz.harness import quiet_request_logs, record_figures
from authz.matrix import ACTIVE, PRINCIPALS
from factories import make_deal, while_active
from negative_controls import no_scope_filter
from voronka.deals import selectors
from voronka.deals.selectors import (
    BOARD_CARDS_PER_STAGE,
    DealFilter,
    board_column_page,
    pipeline_board,
)
from voronka.identity.models import User

pytestmark = pytest.mark.django_db


@dataclass
class Tally:
    checks: int = 0
    leaked: int = 0
    missing: int = 0
    aggregate_diff: Decimal = Decimal("0")
    details: list[str] = field(default_factory=list)

    def compare(self, where: str, got: set[int], expected: set[int]) -> None:
        self.checks += 1
        leaked, missing = got - expected, expected - got
        self.leaked += len(leaked)
        self.missing += len(missing)
        if leaked or missing:
            self.details.append(f"{where}: leaked {sorted(leaked)} missing {sorted(missing)}")

    def aggregate(self, where: str, got: Decimal | int, expected: Decimal | int) -> None:
        self.checks += 1
        diff = abs(Decimal(got) - Decimal(expected))
        self.aggregate_diff += diff
        if diff:
            self.details.append(f"{where}: got {got}, expected {expected}")

    def figures(self) -> dict[str, Any]:
        return {
            "comparisons": self.checks,
            "leaked_ids": self.leaked,
            "missing_ids": self.missing,
            "aggregate_abs_difference": str(self.aggregate_diff),
        }


@pytest.fixture
def world(records: Any, pipeline: Any) -> dict[str, Any]:
    """The fixture records plus deals in every stage of both pipelines with varied amounts."""
    keys = list(records)
    specs = [("talks", "1500.50"), ("won", "2000"), ("lost", "375.25"), ("contract", "999")]
    with while_active(records["deact"].user):
        for i, key in enumerate(keys):
            add_deals(i, key, records[key], specs, pipeline)
    return {"records": records, "pipeline": pipeline}


def add_deals(i: int, key: str, rec: Any, specs: list[tuple[str, str]], pipeline: Any) -> None:
    for j, (stage, amount) in enumerate(specs):
        if (i + j) % 2:
            continue
        custom = {"contract_no": f"Д-{i}"} if stage == "contract" else {}
        lost = {"loss_reason": pipeline.loss_reasons[0].pk} if stage == "lost" else {}
        make_deal(
            **lost,
            responsible=rec.user,
            company=rec.company,
            title=f"Аггрегат {key} {stage}",
            stage=pipeline.stages[stage],
            amount=amount,
            currency="USD" if (i + j) % 4 == 0 else "RUB",  # column sums are per currency
            custom=custom,
        )
    if i % 3 == 0:
        make_deal(
            responsible=rec.user,
            company=rec.spare_company,
            title=f"Обзвон {key}",
            stage=pipeline.other_stages["call"],
            amount="10",
        )


def user_of(personas: Any, key: str) -> Any:
    persona = personas[key]
    if persona.user is None:
        return AnonymousUser()
    return User.objects.get(pk=persona.pk)  # fresh: no cached scope


def api_ids(client: Any, path: str, params: dict[str, Any]) -> set[int] | None:
    """All ids of a paginated API list (None when the call is refused)."""
    ids: list[int] = []
    cursor = None
    for _ in range(200):
        query = dict(params, limit=7)
        if cursor:
            query["cursor"] = cursor
        response = client.get(path, query)
        if response.status_code != 200:
            return None
        body = response.json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(ids) == len(set(ids)), f"duplicates in {path} {params}"
    return set(ids)


def check_principal(key: str, personas: Any, api: Any, world: dict[str, Any], tally: Tally) -> None:
    pipeline = world["pipeline"]
    records = world["records"]
    persona = personas[key]
    uid = persona.pk if persona.user is not None and key in ACTIVE else None
    user = user_of(personas, key)
    client = api(key)
    deals = oracle.visible_ids(uid, "deal")

    # --- API lists (every page), with and without filters ----------------------------------------
    lists: list[tuple[str, str, dict[str, Any], set[int]]] = [
        ("deal", "/api/v1/deals", {}, deals),
        (
            "deal",
            "/api/v1/deals",
            {"pipeline": pipeline.sales.pk},
            oracle.visible_ids(uid, "deal", "t.pipeline_id = %s", (pipeline.sales.pk,)),
        ),
        (
            "deal",
            "/api/v1/deals",
            {"q": "Аггрегат"},
            oracle.visible_ids(uid, "deal", "t.title LIKE %s", ("%Аггрегат%",)),
        ),
        (
            "deal",
            "/api/v1/deals",
            {"q": "Запасная"},  # matches the company name
            oracle.visible_ids(
                uid,
                "deal",
                "t.company_id IN (SELECT id FROM contacts_company WHERE name LIKE %s)",
                ("%Запасная%",),
            ),
        ),
        (
            "deal",
            "/api/v1/deals",
            {"status": "won", "sort": "-amount"},
            oracle.visible_ids(uid, "deal", "t.status = %s", ("won",)),
        ),
        ("company", "/api/v1/companies", {}, oracle.visible_ids(uid, "company")),
        (
            "company",
            "/api/v1/companies",
            {"q": "Компания"},
            oracle.visible_ids(uid, "company", "t.name LIKE %s", ("%Компания%",)),
        ),
        ("contact", "/api/v1/contacts", {}, oracle.visible_ids(uid, "contact")),
        (
            "contact",
            "/api/v1/contacts",
            {"q": "Контакт"},
            oracle.visible_ids(uid, "contact", "t.first_name LIKE %s", ("%Контакт%",)),
        ),
        ("task", "/api/v1/tasks", {}, oracle.visible_ids(uid, "task")),
    ]
    for stage in pipeline.stages.values():
        lists.append(
            (
                "deal",
                "/api/v1/deals",
                {"stage": stage.pk},
                oracle.visible_ids(uid, "deal", "t.stage_id = %s", (stage.pk,)),
            )
        )
    for owner in ("a1", "a11", "b1", "deact", "admin", "head_root"):
        rid = records[owner].user.pk
        lists.append(
            (
                "deal",
                "/api/v1/deals",
                {"responsible": rid},
                oracle.visible_ids(uid, "deal", "t.responsible_id = %s", (rid,)),
            )
        )
        lists.append(
            (
                "company",
                "/api/v1/companies",
                {"responsible": rid},
                oracle.visible_ids(uid, "company", "t.responsible_id = %s", (rid,)),
            )
        )
        lists.append(
            (
                "task",
                "/api/v1/tasks",
                {"responsible": rid},
                oracle.visible_ids(uid, "task", "t.responsible_id = %s", (rid,)),
            )
        )
    for _entity, path, params, expected in lists:
        got = api_ids(client, path, params)
        if got is None:  # refused: only for principals without a user
            assert key not in ACTIVE, f"{key} refused {path} {params}"
            got = set()
        tally.compare(f"{key} {path} {params}", got, expected)

    # --- selectors behind the list and the board ---------------------------------------------------
    rows = selectors.deal_list(user=user, filters=DealFilter(), limit=200).items
    tally.compare(f"{key} selectors.deal_list", {d.pk for d in rows}, deals)
    values = selectors.deal_list_values(user=user, filters=DealFilter(q="Сделка"), limit=200).items
    tally.compare(
        f"{key} selectors.deal_list_values q",
        {r["id"] for r in values},
        oracle.visible_ids(
            uid,
            "deal",
            "t.title LIKE %s OR t.company_id IN (SELECT id FROM contacts_company WHERE name LIKE %s)",
            ("%Сделка%", "%Сделка%"),
        ),
    )
    for pipe in (pipeline.sales, pipeline.other):
        in_pipe = oracle.visible_ids(uid, "deal", "t.pipeline_id = %s", (pipe.pk,))
        expected = oracle.board_aggregates(in_pipe, pipe.pk)
        columns = pipeline_board(pipeline=pipe, user=user)
        cards: set[int] = set()
        for col in columns:
            n, sums = expected.get(col.stage.pk, (0, {}))
            tally.aggregate(f"{key} board {pipe.name}/{col.stage.name} count", col.count, n)
            for currency in sorted({*sums, *col.sums}):
                tally.aggregate(
                    f"{key} board {pipe.name}/{col.stage.name} sum {currency}",
                    col.sums.get(currency, Decimal("0")),
                    sums.get(currency, Decimal("0")),
                )
            shown = {c.pk for c in col.cards}
            tally.aggregate(
                f"{key} board {pipe.name}/{col.stage.name} cards shown",
                len(shown),
                min(n, BOARD_CARDS_PER_STAGE),
            )
            more = board_column_page(pipeline=pipe, stage=col.stage, user=user, offset=0)
            cards |= shown | {c.pk for c in more}
        tally.compare(f"{key} board cards {pipe.name}", cards, in_pipe)
        filtered = pipeline_board(pipeline=pipe, user=user, q="Аггрегат")
        tally.aggregate(
            f"{key} board q count {pipe.name}",
            sum(c.count for c in filtered),
            len(in_pipe & oracle.visible_ids(uid, "deal", "t.title LIKE %s", ("%Аггрегат%",))),
        )

    # --- counters and the control table -----------------------------------------------------------
    response = client.get("/api/v1/me/counters")
    if key in ACTIVE:
        counters = response.json()
        open_n, without = oracle.open_deal_counts(deals)
        tally.aggregate(f"{key} counters open_deals", counters["open_deals"], open_n)
        tally.aggregate(
            f"{key} counters deals_without_task", counters["deals_without_task"], without
        )
        control = client.get("/api/v1/control")
        if control.status_code == 200:
            allowed = oracle.visible_users(uid, "task")
            users = {row["user"] for row in control.json()["rows"]}
            tally.compare(
                f"{key} control rows ⊆ visible users",
                users,
                users if allowed is None else users & allowed,
            )
            open_by_users = oracle.open_deal_counts(
                oracle.visible_ids(
                    uid,
                    "deal",
                    f"t.responsible_id IN ({', '.join(str(u) for u in users) or 'NULL'})",
                )
            )[0]
            tally.aggregate(
                f"{key} control open_deals total",
                control.json()["totals"]["open_deals"],
                open_by_users,
            )
    else:
        assert response.status_code == 401


def run_all(personas: Any, api: Any, world: dict[str, Any], principals: list[str]) -> Tally:
    tally = Tally()
    with quiet_request_logs():
        for key in principals:
            check_principal(key, personas, api, world, tally)
    return tally


def test_no_aggregate_leaks(personas: Any, api: Any, world: dict[str, Any]) -> None:
    tally = run_all(personas, api, world, PRINCIPALS)
    figures = {"principals": len(PRINCIPALS), **tally.figures()}
    record_figures("AUTHZ-AGGREGATE-LEAK", figures)
    assert tally.checks > 400
    assert (tally.leaked, tally.missing, tally.aggregate_diff) == (0, 0, 0), "\n".join(
        tally.details[:40]
    )


def test_negative_control_scope_filter_off_leaks(
    personas: Any, api: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_scope_filter(monkeypatch)
    tally = run_all(personas, api, world, ["a1", "head_a", "b1"])
    record_figures("AUTHZ-AGGREGATE-LEAK negative control", tally.figures())
    assert tally.leaked > 0 and tally.aggregate_diff > 0


# --- UI pages -----------------------------------------------------------------------------------


def shown(html: str, text: str) -> bool:
    import html as htmllib
    import re

    return (
        re.search(re.escape(htmllib.escape(text, quote=False)) + r"(?![\w])", html) is not None
        or re.search(re.escape(text) + r"(?![\w])", html) is not None
    )


def test_no_leaks_on_ui_pages(personas: Any, web: Any, world: dict[str, Any]) -> None:
    """Every UI list (deal list, both boards, companies, contacts, task list) shows exactly the
    records the oracle allows: each record's unique title appears iff it is visible."""
    from voronka.activities.models import Task
    from voronka.contacts.models import Company, Contact
    from voronka.deals.models import Deal

    pipeline = world["pipeline"]
    tally = Tally()
    pages = [
        (
            "deal",
            "/deals/",
            lambda: Deal.objects.filter(pipeline__in=[pipeline.sales, pipeline.other]),
            "title",
        ),
        (
            "deal",
            f"/pipelines/{pipeline.sales.pk}/board/",
            lambda: Deal.objects.filter(pipeline=pipeline.sales),
            "title",
        ),
        (
            "deal",
            f"/pipelines/{pipeline.other.pk}/board/",
            lambda: Deal.objects.filter(pipeline=pipeline.other),
            "title",
        ),
        ("company", "/companies/", lambda: Company.objects.all(), "name"),
        ("contact", "/contacts/", lambda: Contact.objects.all(), "first_name"),
        ("task", "/tasks/list/?status=open", lambda: Task.objects.all(), None),
    ]
    with quiet_request_logs():
        for key in PRINCIPALS:
            if key not in ACTIVE or key == "integration":
                continue
            client = web(key)
            uid = personas[key].pk
            for entity, url, rows, attr in pages:
                response = client.get(url)
                assert response.status_code == 200, (key, url, response.status_code)
                html = response.content.decode()
                expected = oracle.visible_ids(uid, entity)
                if attr is None:  # tasks: their detail links
                    got = {t.pk for t in rows() if f"/tasks/{t.pk}/" in html}
                    universe = {t.pk for t in rows()}
                else:
                    objects = list(rows())
                    universe = {o.pk for o in objects}
                    got = {o.pk for o in objects if shown(html, getattr(o, attr))}
                tally.compare(f"{key} {url}", got, expected & universe)
    record_figures("AUTHZ-AGGREGATE-LEAK UI pages", tally.figures())
    assert tally.checks > 40
    assert (tally.leaked, tally.missing) == (0, 0), "\n".join(tally.details[:30])


def test_negative_control_ui_pages_leak_with_the_scope_filter_off(
    personas: Any, web: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from voronka.deals.models import Deal

    no_scope_filter(monkeypatch)
    html = web("a1").get("/deals/").content.decode()
    expected = oracle.visible_ids(personas["a1"].pk, "deal")
    leaked = {d.pk for d in Deal.objects.all() if shown(html, d.title)} - expected
    record_figures("AUTHZ-AGGREGATE-LEAK UI negative control", {"leaked_ids": len(leaked)})
    assert leaked
