"""Server-side timings of the pages of issue 2, in-process, against the bare SQL they need.

Each page is requested through Django's test Client (the whole middleware stack, the session
or the Bearer token, the view, the template or the JSON) and its wall time measured; between
two requests the same script runs the hand-written SQL that fetches the same data through
`connection.cursor()` (the "bare SQL"). View and SQL alternate in one loop, so load from
elsewhere on the machine hits both alike. After a warm-up of 5, `--iterations` (30) of each;
median and p95 are printed, and the ratio of the medians (view / bare SQL).

The bare SQL of a page = one query that authenticates the caller (the API token, or the
session then the user, with the user's role scopes joined) + the queries that read the data
the page shows, written by hand, each fetched into Python tuples. No ORM, no templates, no JSON.

Pages, for the owner (scope: all) and for a manager (scope: own deals):
  board      GET /pipelines/<big>/board/      the pipeline with the most open deals
  list       GET /api/v1/deals?limit=50      the first page
  list-deep  GET /api/v1/deals?limit=50&cursor=…   page 2001 (rows 100,001–100,050) for the
             owner, the middle page for the manager (or the middle page of a smaller data set);
             the cursor is the one next_cursor hands out there
  card-api   GET /api/v1/deals/<id>
  card-ui    GET /deals/<id>/
Also EXPLAIN (ANALYZE, BUFFERS) of the board's aggregate and of the list queries, and the
size of each answer as the page makes it and on the wire with Accept-Encoding: gzip (the timed
requests ask for no compression, so its cost is not in their times).

Run by scripts/bench.sh; alone: DJANGO_SETTINGS_MODULE=bench.settings PYTHONPATH=. \
DATABASE_URL=postgres://… .venv/bin/python bench/timings.py
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from voronka.deals.models import Deal, Pipeline  # noqa: E402
from voronka.deals.selectors import BOARD_CARDS_PER_STAGE, deal_order  # noqa: E402
from voronka.identity.models import User  # noqa: E402
from voronka.identity.services import api_token_create  # noqa: E402
from voronka.kernel.pagination import encode_cursor as _encode_cursor  # noqa: E402

WARMUP = 5


def encode_cursor(last_id: int) -> str:
    """The list's cursor after the deal `last_id` (newest first), as next_cursor hands it out."""
    return _encode_cursor(Deal, deal_order("-id"), [last_id])


DEEP_OFFSET = 100_000  # page 2001 of 50


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 2),
        "p95_ms": round(pct(values, 0.95) * 1000, 2),
        "min_ms": round(min(values) * 1000, 2),
        # CPU time of this process (Python side; the database server's time is not in it)
        "cpu_median_ms": round(statistics.median(cpu) * 1000, 2),
        "n": len(values),
    }


# --- the bare SQL of each page --------------------------------------------------------------

CARD_COLUMNS = (
    "d.id, d.title, d.amount, d.currency, d.stage_id, d.pipeline_id, d.stage_entered_at, d.version, "
    "d.open_tasks, d.next_task_deadline, d.status, c.id, c.name, u.id, u.first_name, u.last_name, "
    "u.username"
)
LIST_COLUMNS = (
    "d.id, d.title, d.pipeline_id, d.stage_id, d.status, d.amount, d.currency, d.responsible_id, "
    "d.company_id, c.name, d.opened_at, d.closed_at, d.stage_entered_at, d.version"
)


def fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class Caller:
    """How the bare SQL authenticates: by the API token's digest or by the session key."""

    def __init__(
        self, *, token: str | None = None, session_key: str | None = None, user_id: int
    ) -> None:
        self.digest = hashlib.sha256(token.encode()).hexdigest() if token else None
        self.session_key = session_key
        self.user_id = user_id

    def authenticate(self) -> None:
        roles = (
            "(SELECT array_agg(r.deal_scope) FROM identity_user_roles ur JOIN identity_role r "
            "ON r.id = ur.role_id WHERE ur.user_id = u.id)"
        )
        if self.digest:
            rows = fetch(
                f"SELECT u.id, u.is_active, u.department_id, u.language, t.last_used_at, {roles} "
                f"FROM identity_apitoken t JOIN identity_user u ON u.id = t.user_id "
                f"WHERE t.digest = %s AND t.revoked_at IS NULL",
                [self.digest],
            )
        else:
            fetch(
                "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > now()",
                [self.session_key],
            )
            rows = fetch(
                f"SELECT u.id, u.is_active, u.department_id, u.language, u.password, {roles} "
                f"FROM identity_user u WHERE u.id = %s",
                [self.user_id],
            )
        if not rows:
            raise SystemExit("bare SQL: the caller does not authenticate")


def scope_sql(manager_id: int | None) -> tuple[str, list[Any]]:
    return ("AND d.responsible_id = %s", [manager_id]) if manager_id else ("", [])


def bare_board(pipeline_id: int, manager_id: int | None) -> int:
    """Pipeline + stages, count and sum per stage (from the maintained board cells, as the page
    reads them), the newest 25 cards of every non-empty stage (with company and responsible),
    the people of the responsible filter."""
    scope, extra = scope_sql(manager_id)
    cell_scope = scope.replace("d.responsible_id", "b.responsible_id")
    fetch("SELECT id, name, sort FROM deals_pipeline WHERE id = %s", [pipeline_id])
    stages = fetch(
        "SELECT id, name, sort, semantic, color, sla_days, required_fields FROM deals_stage "
        "WHERE pipeline_id = %s ORDER BY sort, id",
        [pipeline_id],
    )
    sums = fetch(
        f"SELECT b.stage_id, b.currency, SUM(b.count), SUM(b.amount) "
        f"FROM deals_dealboardcounter b "
        f"WHERE b.stage_id IN ({', '.join(str(s[0]) for s in stages)}) {cell_scope} "
        f"GROUP BY b.stage_id, b.currency",
        extra,
    )
    counts: dict[int, int] = {}
    for stage_id, _currency, count, _total in sums:  # a sum per currency (decision 0010)
        counts[stage_id] = counts.get(stage_id, 0) + (count or 0)
    rows = 0
    for stage_id, count in counts.items():
        if count and any(s[0] == stage_id for s in stages):
            rows += len(
                fetch(
                    f"SELECT {CARD_COLUMNS} FROM deals_deal d "
                    f"JOIN contacts_company c ON c.id = d.company_id "
                    f"JOIN identity_user u ON u.id = d.responsible_id "
                    f"WHERE d.pipeline_id = %s AND d.stage_id = %s {scope} "
                    f"ORDER BY d.stage_entered_at DESC, d.id DESC LIMIT {BOARD_CARDS_PER_STAGE}",
                    [pipeline_id, stage_id, *extra],
                )
            )
    if manager_id:
        fetch(
            "SELECT id, first_name, last_name, username FROM identity_user WHERE id = %s",
            [manager_id],
        )
    else:
        fetch(
            "SELECT id, first_name, last_name, username FROM identity_user WHERE is_active "
            "ORDER BY last_name, first_name, username",
            [],
        )
    return rows


def bare_list(manager_id: int | None, before_id: int | None) -> int:
    conds, params = [], []
    if manager_id:
        conds.append("d.responsible_id = %s")
        params.append(manager_id)
    if before_id:
        conds.append("d.id < %s")
        params.append(before_id)
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return len(
        fetch(
            f"SELECT {LIST_COLUMNS} FROM deals_deal d JOIN contacts_company c ON c.id = d.company_id "
            f"{where} ORDER BY d.id DESC LIMIT 51",
            params,
        )
    )


def bare_card_api(deal_id: int, manager_id: int | None) -> int:
    scope, extra = scope_sql(manager_id)
    rows = fetch(
        f"SELECT d.*, c.name FROM deals_deal d JOIN contacts_company c ON c.id = d.company_id "
        f"WHERE d.id = %s {scope}",
        [deal_id, *extra],
    )
    fetch(
        "SELECT contact_id FROM deals_deal_contacts WHERE deal_id = %s ORDER BY contact_id",
        [deal_id],
    )
    return len(rows)


def bare_card_ui(deal_id: int, manager_id: int | None) -> int:
    """The deal with company, responsible, stage, pipeline; the pipeline's stages; contacts with
    phones and e-mails; tasks; the timeline (audit entries, comments, stage moves)."""
    scope, extra = scope_sql(manager_id)
    deal = fetch(
        f"SELECT d.pipeline_id, d.*, c.*, u.*, s.*, p.* FROM deals_deal d "
        f"JOIN contacts_company c ON c.id = d.company_id "
        f"JOIN identity_user u ON u.id = d.responsible_id "
        f"JOIN deals_stage s ON s.id = d.stage_id JOIN deals_pipeline p ON p.id = d.pipeline_id "
        f"WHERE d.id = %s {scope}",
        [deal_id, *extra],
    )
    pipeline_id = deal[0][0]
    fetch("SELECT * FROM deals_stage WHERE pipeline_id = %s ORDER BY sort, id", [pipeline_id])
    fetch(
        "SELECT k.*, ph.number, em.address FROM deals_deal_contacts dc "
        "JOIN contacts_contact k ON k.id = dc.contact_id "
        "LEFT JOIN contacts_contactphone ph ON ph.contact_id = k.id "
        "LEFT JOIN contacts_contactemail em ON em.contact_id = k.id WHERE dc.deal_id = %s",
        [deal_id],
    )
    fetch(
        "SELECT t.*, u.first_name, u.last_name FROM activities_task t "
        "JOIN identity_user u ON u.id = t.responsible_id WHERE t.deal_id = %s "
        "ORDER BY t.status DESC, t.deadline LIMIT 50",
        [deal_id],
    )
    fetch(
        "SELECT a.*, u.first_name, u.last_name FROM kernel_auditentry a "
        "LEFT JOIN identity_user u ON u.id = a.actor_user_id "
        "WHERE a.object_type = 'deal' AND a.object_id = %s ORDER BY a.at DESC, a.id DESC LIMIT 500",
        [deal_id],
    )
    fetch(
        "SELECT m.*, u.first_name FROM activities_comment m LEFT JOIN identity_user u ON u.id = m.author_id "
        "WHERE m.object_type = 'deal' AND m.object_id = %s ORDER BY m.created_at DESC LIMIT 500",
        [deal_id],
    )
    fetch(
        "SELECT sc.*, f.name, t.name, u.first_name, u.last_name FROM deals_stagechange sc "
        "LEFT JOIN deals_stage f ON f.id = sc.from_stage_id JOIN deals_stage t ON t.id = sc.to_stage_id "
        "LEFT JOIN identity_user u ON u.id = sc.by_id WHERE sc.deal_id = %s ORDER BY sc.at, sc.id LIMIT 500",
        [deal_id],
    )
    return len(deal)


# --- measuring -------------------------------------------------------------------------------


class Request:
    """One page request (the timed view); `wire_bytes` asks for it as a browser does."""

    def __init__(self, client: Client, url: str, check: Callable[[Any], None] | None = None):
        self.client, self.url, self.check = client, url, check

    def __call__(self) -> None:
        response = self.client.get(self.url)
        if response.status_code != 200:
            raise SystemExit(f"{self.url}: HTTP {response.status_code} {response.content[:300]!r}")
        if self.check:
            self.check(response)

    def wire_bytes(self) -> dict[str, Any]:
        """The body's size as the page makes it and as it travels with Accept-Encoding: gzip
        (the timed requests send no Accept-Encoding: the compression is not in their times)."""
        response = self.client.get(self.url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
        wire = len(response.content)
        encoding = response.get("Content-Encoding", "")
        raw = len(gzip.decompress(response.content)) if encoding == "gzip" else wire
        return {"raw": raw, "wire": wire, "encoding": encoding or "identity"}


def request(client: Client, url: str, check: Callable[[Any], None] | None = None) -> Request:
    return Request(client, url, check)


def measure(view: Callable[[], None], bare: Callable[[], Any], iterations: int) -> dict[str, Any]:
    for _ in range(WARMUP):
        view()
        bare()
    view_t, bare_t, view_c, bare_c = [], [], [], []
    for _ in range(iterations):
        started, cpu = time.perf_counter(), time.thread_time()
        view()
        view_t.append(time.perf_counter() - started)
        view_c.append(time.thread_time() - cpu)
        started, cpu = time.perf_counter(), time.thread_time()
        bare()
        bare_t.append(time.perf_counter() - started)
        bare_c.append(time.thread_time() - cpu)
    result = {"view": summary(view_t, view_c), "bare_sql": summary(bare_t, bare_c)}
    result["ratio"] = round(
        result["view"]["median_ms"] / max(result["bare_sql"]["median_ms"], 1e-6), 2
    )
    return result


def count_queries(view: Callable[[], None]) -> int:
    with CaptureQueriesContext(connection) as captured:
        view()
    return len(captured.captured_queries)


def explain(sql: str, params: list[Any]) -> dict[str, Any]:
    rows = fetch(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
    plan = rows[0][0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]
    text = fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
    return {
        "execution_ms": round(top["Execution Time"], 2),
        "planning_ms": round(top["Planning Time"], 2),
        "plan": "\n".join(r[0] for r in text),
    }


def items_check(expected: int) -> Callable[[Any], None]:
    def check(response: Any) -> None:
        items = json.loads(response.content)["items"]
        if len(items) != expected:
            raise SystemExit(
                f"{response.request['PATH_INFO']}: {len(items)} items, expected {expected}"
            )

    return check


def pick_people() -> tuple[User, User]:
    owner = (
        User.objects.filter(is_active=True, roles__code="owner").order_by("id").first()
        or User.objects.filter(is_active=True, is_superuser=True).order_by("id").first()
    )
    if owner is None:
        raise SystemExit("No active owner: seed first (voronka seed)")
    managers = User.objects.filter(is_active=True, roles__code="manager").values_list(
        "pk", flat=True
    )
    busiest = (
        Deal.objects.filter(responsible_id__in=list(managers))
        .order_by()
        .values("responsible_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if busiest is None:
        raise SystemExit("No manager with deals: seed first (voronka seed)")
    return owner, User.objects.get(pk=busiest["responsible_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args()
    if connection.vendor != "postgresql":
        print("warning: not PostgreSQL — the targets are about PostgreSQL", file=sys.stderr)
    started = time.monotonic()

    owner, manager = pick_people()
    open_by_pipeline = (
        Deal.objects.filter(status="open")
        .order_by()
        .values("pipeline_id")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    big = open_by_pipeline.first()
    if big is None:
        raise SystemExit("No open deals: seed first (voronka seed)")
    pipeline = Pipeline.objects.get(pk=big["pipeline_id"])
    totals = {
        "deals": Deal.objects.count(),
        "big_pipeline": {
            "id": pipeline.pk,
            "name": pipeline.name,
            "open_deals": big["n"],
            "deals": Deal.objects.filter(pipeline=pipeline).count(),
        },
        "manager": {
            "id": manager.pk,
            "username": manager.username,
            "deals": Deal.objects.filter(responsible=manager).count(),
            "big_pipeline_deals": Deal.objects.filter(
                responsible=manager, pipeline=pipeline
            ).count(),
        },
        "owner": {"id": owner.pk, "username": owner.username},
    }
    print(
        f"deals {totals['deals']:,}; board pipeline «{pipeline.name}» #{pipeline.pk}: "
        f"{big['n']:,} open of {totals['big_pipeline']['deals']:,}; manager {manager.username}: "
        f"{totals['manager']['deals']:,} deals ({totals['manager']['big_pipeline_deals']:,} on the board)"
    )

    deal_id = (
        Deal.objects.filter(responsible=manager, pipeline=pipeline, status="open")
        .order_by("-id")
        .values_list("pk", flat=True)
        .first()
    )
    owner_offset = min(DEEP_OFFSET, totals["deals"] // 2)
    owner_deep = Deal.objects.order_by("-id").values_list("pk", flat=True)[owner_offset - 1]
    manager_offset = min(DEEP_OFFSET, totals["manager"]["deals"] // 2)
    manager_deep = (
        Deal.objects.filter(responsible=manager)
        .order_by("-id")
        .values_list("pk", flat=True)[manager_offset - 1]
    )

    # The cursor format must be the one next_cursor hands out: follow it for a few pages.
    tokens = {
        name: api_token_create(user=user, name="bench")[1]
        for name, user in (("owner", owner), ("manager", manager))
    }
    api_owner = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['owner']}")
    url = "/api/v1/deals?limit=50"
    for _ in range(3):
        page = json.loads(api_owner.get(url).content)
        url = f"/api/v1/deals?limit=50&cursor={page['next_cursor']}"
    expected = encode_cursor(page["items"][-1]["id"])
    if page["next_cursor"] != expected:
        raise SystemExit(f"cursor format changed: {page['next_cursor']} != {expected}")

    deep = {
        "owner": (owner_deep, owner_offset // 50 + 1),
        "manager": (manager_deep, manager_offset // 50 + 1),
    }
    results: dict[str, Any] = {
        "totals": totals,
        "deal_id": deal_id,
        "pages": {},
        "queries": {},
        "bytes": {},
    }
    n = opts.iterations
    for name, user in (("owner", owner), ("manager", manager)):
        scope_id = manager.pk if name == "manager" else None
        api = Client(HTTP_AUTHORIZATION=f"Bearer {tokens[name]}")
        web = Client()
        web.force_login(user)
        by_token = Caller(token=tokens[name], user_id=user.pk)
        by_session = Caller(session_key=web.session.session_key, user_id=user.pk)
        before_id, page_no = deep[name]
        cursor = encode_cursor(before_id)

        def bare(caller: Caller, read: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                caller.authenticate()
                return read()

            return run

        pages: dict[str, tuple[Request, Callable[[], Any]]] = {
            "board": (
                request(web, f"/pipelines/{pipeline.pk}/board/"),
                bare(by_session, lambda s=scope_id: bare_board(pipeline.pk, s)),
            ),
            "list": (
                request(api, "/api/v1/deals?limit=50", items_check(50)),
                bare(by_token, lambda s=scope_id: bare_list(s, None)),
            ),
            f"list-deep (page {page_no})": (
                request(api, f"/api/v1/deals?limit=50&cursor={cursor}", items_check(50)),
                bare(by_token, lambda s=scope_id, b=before_id: bare_list(s, b)),
            ),
            "card-api": (
                request(api, f"/api/v1/deals/{deal_id}"),
                bare(by_token, lambda s=scope_id: bare_card_api(deal_id, s)),
            ),
            "card-ui": (
                request(web, f"/deals/{deal_id}/"),
                bare(by_session, lambda s=scope_id: bare_card_ui(deal_id, s)),
            ),
        }
        for page_name, (view, bare) in pages.items():
            key = f"{page_name} [{name}]"
            results["pages"][key] = measure(view, bare, n)
            results["queries"][key] = count_queries(view)
            size = results["bytes"][key] = view.wire_bytes()
            r = results["pages"][key]
            print(
                f"  {key:<34} view {r['view']['median_ms']:8.2f} ms (p95 {r['view']['p95_ms']:8.2f})   "
                f"bare SQL {r['bare_sql']['median_ms']:8.2f} ms (p95 {r['bare_sql']['p95_ms']:8.2f})   "
                f"x{r['ratio']:.2f}   {results['queries'][key]} queries   "
                f"(CPU: view {r['view']['cpu_median_ms']:.1f} ms, bare {r['bare_sql']['cpu_median_ms']:.1f} ms)   "
                f"{size['raw']:,} B, {size['wire']:,} B on the wire ({size['encoding']})",
                flush=True,
            )

    # Where the board's time goes: the aggregate and one column of cards, as EXPLAIN ANALYZE.
    stage_id = (
        Deal.objects.filter(pipeline=pipeline, status="open")
        .order_by()
        .values("stage_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("stage_id", flat=True)
        .first()
    )
    agg = "SELECT d.stage_id, d.currency, COUNT(*), SUM(d.amount) FROM deals_deal d WHERE d.pipeline_id = %s {} GROUP BY d.stage_id, d.currency"
    cards = (
        f"SELECT {CARD_COLUMNS} FROM deals_deal d JOIN contacts_company c ON c.id = d.company_id "
        f"JOIN identity_user u ON u.id = d.responsible_id WHERE d.pipeline_id = %s AND d.stage_id = %s {{}} "
        f"ORDER BY d.stage_entered_at DESC, d.id DESC LIMIT {BOARD_CARDS_PER_STAGE}"
    )
    listq = (
        f"SELECT {LIST_COLUMNS} FROM deals_deal d JOIN contacts_company c ON c.id = d.company_id "
        f"{{}} ORDER BY d.id DESC LIMIT 51"
    )
    cells = (
        "SELECT b.stage_id, b.currency, SUM(b.count), SUM(b.amount) FROM deals_dealboardcounter b "
        "JOIN deals_stage s ON s.id = b.stage_id WHERE s.pipeline_id = %s {} "
        "GROUP BY b.stage_id, b.currency"
    )
    explains = {
        "board cells (what the page reads) [owner]": explain(cells.format(""), [pipeline.pk]),
        "board cells (what the page reads) [manager]": explain(
            cells.format("AND b.responsible_id = %s"), [pipeline.pk, manager.pk]
        ),
        "board aggregate, recounted (before the cells) [owner]": explain(
            agg.format(""), [pipeline.pk]
        ),
        "board aggregate [manager]": explain(
            agg.format("AND d.responsible_id = %s"), [pipeline.pk, manager.pk]
        ),
        "board cards, biggest stage [owner]": explain(cards.format(""), [pipeline.pk, stage_id]),
        "board cards, biggest stage [manager]": explain(
            cards.format("AND d.responsible_id = %s"), [pipeline.pk, stage_id, manager.pk]
        ),
        "list first page [owner]": explain(listq.format(""), []),
        "list deep page [owner]": explain(listq.format("WHERE d.id < %s"), [owner_deep]),
        "list first page [manager]": explain(
            listq.format("WHERE d.responsible_id = %s"), [manager.pk]
        ),
    }
    results["explain"] = explains
    print("EXPLAIN ANALYZE (execution time):")
    for key, value in explains.items():
        print(f"  {key:<40} {value['execution_ms']:8.2f} ms")
    results["seconds"] = round(time.monotonic() - started, 1)
    results["iterations"] = n
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
