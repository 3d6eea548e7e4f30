"""Reads of deals and pipelines — always through the access scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, cast

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from voronka.contacts.search import Found, find_companies, find_contacts
from voronka.contacts.selectors import companies_visible, contacts_visible
from voronka.deals.models import (
    Deal,
    DealBoardCounter,
    DealQuerySet,
    DealUserCounter,
    LossReason,
    Pipeline,
    Stage,
    StageSemantic,
)
from voronka.deals.search import find_deals
from voronka.identity.models import User
from voronka.identity.scopes import in_department_q, scope_filter, scope_key
from voronka.kernel import clock, dates
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.money import MoneySums
from voronka.kernel.pagination import Page, keyset_page
from voronka.kernel.prepared import prepared_rows
from voronka.kernel.search import SearchTerms

BOARD_CARDS_PER_STAGE = 25


def pipelines_list() -> list[Pipeline]:
    return list(Pipeline.objects.filter(is_active=True).prefetch_related("stages"))


class PipelineRef(NamedTuple):
    pk: int
    name: str


def pipelines_nav() -> list[PipelineRef]:
    """The active pipelines for the navigation of every page (compiled once, kernel.prepared)."""
    rows = prepared_rows(
        "pipelines_nav", lambda: Pipeline.objects.filter(is_active=True).values_list("pk", "name")
    )
    return [PipelineRef(pk, name) for pk, name in rows]


def loss_reasons_active() -> list[LossReason]:
    return list(LossReason.objects.active().select_related("warming_stage"))


def stage_get_or_none(stage_id: int | None) -> Stage | None:
    return Stage.objects.filter(pk=stage_id).first() if stage_id else None


def pipeline_get(pipeline_id: int) -> Pipeline:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).prefetch_related("stages").first()
    if pipeline is None:
        raise NotFound(_("Нет такой воронки"))
    return pipeline


_PIPELINE_FIELDS = tuple(f.attname for f in Pipeline._meta.concrete_fields)
_STAGE_FIELDS = tuple(f.attname for f in Stage._meta.concrete_fields)


def board_pipeline(pipeline_id: int) -> tuple[Pipeline, list[Stage]]:
    """The pipeline and its stages in order, for the board: pipeline_get's two queries with the
    prefetch cost the board ~2 ms of Python; these two are compiled once (kernel.prepared)."""
    rows = prepared_rows(
        "board_pipeline",
        lambda pipeline: Pipeline.objects.filter(pk=pipeline).values_list(*_PIPELINE_FIELDS),
        pipeline=pipeline_id,
    )
    if not rows:
        raise NotFound(_("Нет такой воронки"))
    db = Pipeline.objects.db
    pipeline = Pipeline.from_db(db, _PIPELINE_FIELDS, rows[0])
    stages = [
        Stage.from_db(db, _STAGE_FIELDS, row)
        for row in prepared_rows(
            "board_stages",
            lambda pipeline: (
                Stage.objects.filter(pipeline_id=pipeline)
                .order_by("sort", "id")
                .values_list(*_STAGE_FIELDS)
            ),
            pipeline=pipeline_id,
        )
    ]
    for stage in stages:
        stage.pipeline = pipeline
    return pipeline, stages


LIST_MATCHES = 200  # a list's or the board's `q`: at most this many best matches


def deal_text_q(q: str, *, base: QuerySet[Deal]) -> Q:
    """The deal list's and the board's search box: the deals of `base` the search finds for `q`
    (title and company name, any order, typos, ё/е — deals.search), its LIST_MATCHES best."""
    found = find_deals(base, SearchTerms.parse(q), LIST_MATCHES)
    return Q(pk__in=[f.id for f in found][:LIST_MATCHES])


def deals_visible(user: User) -> DealQuerySet:
    return cast(DealQuerySet, scope_filter(Deal.objects.all(), user, "deal"))


def deal_get(*, user: User, deal_id: int) -> Deal:
    """A deal the user may see, or NotFound (never reveals that it exists).

    The loss reason and the author load on use (only the card shows them, and only when set):
    with their two outer joins PostgreSQL spent 2.3 ms planning this query against 0.56 ms
    without them (execution: ~0.1 ms)."""
    deal = (
        deals_visible(user)
        .select_related("company", "responsible", "stage", "pipeline")
        .filter(pk=deal_id)
        .first()
    )
    if deal is None:
        raise NotFound(_("Сделка не найдена"))
    return deal


DEAL_VALUES = (
    "id",
    "title",
    "pipeline_id",
    "stage_id",
    "status",
    "amount",
    "currency",
    "responsible_id",
    "company_id",
    "company__name",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "comment",
    "custom",
    "opened_at",
    "closed_at",
    "stage_entered_at",
    "loss_reason_id",
    "loss_comment",
    "version",
    "created_at",
    "updated_at",
)


def deal_values(*, user: User, deal_id: int) -> dict[str, Any]:
    """A deal the user may see as one row of values (DEAL_VALUES, joined to its company only)
    plus its sorted contact ids under "contacts", or NotFound. For the API's deal: deal_get's
    seven-table join cost PostgreSQL ten times more to plan than to run (2.6 vs 0.23 ms), and the
    model instances more Python time than the whole answer. Both queries are compiled once
    (kernel.prepared): building them cost more than running them."""
    rows = prepared_rows(
        ("deal_values", scope_key(user, "deal")),
        lambda deal: deals_visible(user).filter(pk=deal).order_by().values_list(*DEAL_VALUES)[:1],
        deal=deal_id,
    )
    if not rows:
        raise NotFound(_("Сделка не найдена"))
    row = dict(zip(DEAL_VALUES, rows[0], strict=True))
    contacts = prepared_rows(
        "deal_contact_ids",
        lambda deal: (
            Deal.contacts.through.objects.filter(deal_id=deal)
            .order_by("contact_id")
            .values_list("contact_id")
        ),
        deal=deal_id,
    )
    row["contacts"] = [contact_id for (contact_id,) in contacts]
    return row


def deal_stats(qs: QuerySet[Deal]) -> dict[str, Any]:
    """How many deals, how many open, and the open ones' amount per currency (one query):
    {"n": int, "open_n": int, "open_sums": MoneySums}."""
    is_open = Q(status=StageSemantic.OPEN)
    rows = (
        qs.order_by()
        .values("currency")
        .annotate(
            n=Count("id"), open_n=Count("id", filter=is_open), s=Sum("amount", filter=is_open)
        )
    )
    stats: dict[str, Any] = {"n": 0, "open_n": 0, "open_sums": MoneySums()}
    for row in rows:
        stats["n"] += row["n"]
        stats["open_n"] += row["open_n"]
        stats["open_sums"].add(row["currency"], row["s"])
    return stats


# --- board -----------------------------------------------------------------------------------


class CompanyRef(NamedTuple):
    id: int
    name: str


@dataclass(slots=True)
class BoardCard:
    """What a kanban card shows, read as a row of values: building ~175 model instances (each
    with its company and responsible) cost several times the queries themselves."""

    pk: int
    title: str
    amount: Decimal
    currency: str
    stage_id: int
    stage_entered_at: dt.datetime
    version: int
    open_tasks: int
    next_task_deadline: dt.datetime | None
    status: str
    company: CompanyRef
    responsible: User
    # set by activities.task_selectors.deal_marks
    mark_no_task: bool = False
    mark_overdue: bool = False
    mark_over_sla: bool = False

    @property
    def id(self) -> int:
        return self.pk


_CARD_VALUES = (
    "id",
    "title",
    "amount",
    "currency",
    "stage_id",
    "stage_entered_at",
    "version",
    "open_tasks",
    "next_task_deadline",
    "status",
    "company_id",
    "company__name",
    "responsible_id",
    "responsible__first_name",
    "responsible__last_name",
    "responsible__username",
)


def board_cards(qs: QuerySet[Deal], people: dict[int, User] | None = None) -> list[BoardCard]:
    """The newest-in-stage cards of `qs` (already filtered and sliced by the caller's order)."""
    return _cards_of_rows(qs.values_list(*_CARD_VALUES), people)


def _cards_of_rows(
    rows: Iterable[tuple[Any, ...]], people: dict[int, User] | None
) -> list[BoardCard]:
    people = {} if people is None else people
    cards = []
    for row in rows:
        (pk, title, amount, currency, stage_id, entered, version, open_tasks, next_deadline,
         status, company_id, company_name, rid, first, last, username) = row  # fmt: skip
        person = people.get(rid)
        if person is None:
            person = people[rid] = User(id=rid, first_name=first, last_name=last, username=username)
        cards.append(
            BoardCard(
                pk,
                title,
                amount,
                currency,
                stage_id,
                entered,
                version,
                open_tasks,
                next_deadline,
                status,
                CompanyRef(company_id, company_name),
                person,
            )
        )
    return cards


def _run_now(
    key: Hashable, build: Callable[..., QuerySet[Any]], **values: int
) -> list[tuple[Any, ...]]:
    """prepared_rows' signature, but the QuerySet built and run each time."""
    return list(build(**values))


def _newest_in_stage(qs: QuerySet[Deal]) -> QuerySet[Deal]:
    return qs.order_by("-stage_entered_at", "-id")


def _columns_cards(
    key: Hashable,
    deals: Callable[[], QuerySet[Deal]],
    stage_ids: list[int],
    people: dict[int, User],
    run: Callable[..., list[tuple[Any, ...]]] = prepared_rows,
) -> dict[int, list[BoardCard]]:
    """The newest cards of each stage of `deals()`: one query per stage, compiled once per `key`
    (kernel.prepared — compiling the ORM query cost about twice what running it did, ~7 columns
    per board). `key` names everything `deals()` depends on."""

    def column(stage: int) -> QuerySet[Deal]:
        newest = _newest_in_stage(deals().filter(stage_id=stage))[:BOARD_CARDS_PER_STAGE]
        return newest.values_list(*_CARD_VALUES)

    return {
        sid: _cards_of_rows(run(("board_column", key), column, stage=sid), people)
        for sid in stage_ids
    }


@dataclass
class BoardColumn:
    stage: Stage
    count: int = 0
    sums: MoneySums = field(default_factory=MoneySums)  # per currency, never added together
    cards: list[BoardCard] = field(default_factory=list)
    # Set by the board view: what "show more" says is left in the column.
    hidden_count: int = 0
    hidden_sums: MoneySums = field(default_factory=MoneySums)

    @property
    def has_more(self) -> bool:
        return self.count > len(self.cards)


def days_in_stage(deal: Deal, now: dt.datetime | None = None) -> int:
    now = now or clock.now()
    return max(0, (now - deal.stage_entered_at).days)


def pipeline_board(
    *,
    pipeline: Pipeline,
    user: User,
    responsible: int | None = None,
    q: str = "",
    stages: list[Stage] | None = None,
) -> list[BoardColumn]:
    """Columns with count and sums per stage and the newest cards of each (2 + stages queries).

    The sums are per currency (one aggregate grouped by stage and currency). Without a text
    search the counts and sums come from the maintained `DealBoardCounter` (a few rows per
    stage) instead of aggregating the pipeline's deals (hundreds of thousands of rows on a big
    base); a search has to count the matching deals."""
    if stages is None:  # the caller has not read them with the pipeline (board_pipeline)
        stages = list(pipeline.stages.all())
    stage_ids = tuple(s.pk for s in stages)
    key = (pipeline.pk, scope_key(user, "deal"), responsible, q)
    found: Q | None = None

    def deals() -> QuerySet[Deal]:
        nonlocal found
        base = deals_visible(user).filter(pipeline_id=pipeline.pk)
        if responsible:
            base = base.filter(responsible_id=responsible)
        if q:
            if found is None:  # searched once per board (the columns reuse it)
                found = deal_text_q(q, base=base)
            base = base.filter(found)
        return base

    def totals() -> QuerySet[Any]:
        if q:  # a search counts the matching deals
            rows = deals().values("stage_id", "currency").annotate(n=Count("id"), s=Sum("amount"))
        else:
            cells = scope_filter(
                DealBoardCounter.objects.filter(stage_id__in=stage_ids), user, "deal"
            )
            if responsible:
                cells = cells.filter(responsible_id=responsible)
            rows = cells.values("stage_id", "currency").annotate(n=Sum("count"), s=Sum("amount"))
        return rows.order_by().values_list("stage_id", "currency", "n", "s")

    columns = {s.pk: BoardColumn(stage=s) for s in stages}
    # A search's matches change with the data: its queries are not compiled once (kernel.prepared).
    run = prepared_rows if not q else _run_now
    for stage_id, currency, n, amount in run(("board_totals", stage_ids, key), totals):
        col = columns.get(stage_id)
        if col is not None and n:
            col.count += n
            col.sums.add(currency, amount or Decimal("0"))
    people: dict[int, User] = {}
    non_empty = [pk for pk, col in columns.items() if col.count]
    for pk, cards in _columns_cards(key, deals, non_empty, people, run).items():
        columns[pk].cards = cards
    return [columns[s.pk] for s in stages]


def board_column_page(
    *,
    pipeline: Pipeline,
    stage: Stage,
    user: User,
    offset: int,
    responsible: int | None = None,
    q: str = "",
) -> list[BoardCard]:
    base = deals_visible(user).filter(pipeline=pipeline, stage=stage)
    if responsible:
        base = base.filter(responsible_id=responsible)
    if q:
        base = base.filter(deal_text_q(q, base=base))
    return board_cards(_newest_in_stage(base)[offset : offset + BOARD_CARDS_PER_STAGE])


# --- list ------------------------------------------------------------------------------------

SORTS = {
    "-id": ("id", True),
    "id": ("id", False),
    "-amount": ("amount", True),
    "amount": ("amount", False),
    "-opened_at": ("opened_at", True),
    "opened_at": ("opened_at", False),
    "-stage_entered_at": ("stage_entered_at", True),
    "stage_entered_at": ("stage_entered_at", False),
    "title": ("title", False),
    "-title": ("title", True),
}


@dataclass
class DealFilter:
    pipeline: int | None = None
    stage: int | None = None
    responsible: int | None = None
    status: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    opened_from: dt.date | None = None
    opened_to: dt.date | None = None
    q: str = ""
    company: int | None = None
    department: int | None = None  # responsible in this department or its sub-departments
    no_task: bool = False
    over_sla: bool = False
    sort: str = "-id"

    @classmethod
    def from_params(cls, params: Any) -> DealFilter:
        """Parse query parameters strictly; a bad value is a 4xx naming the parameter."""
        errors: dict[str, str] = {}
        result = cls()

        def get(name: str) -> str:
            value = params.get(name)
            return "" if value is None else str(value).strip()

        for name in ("pipeline", "stage", "responsible", "company", "department"):
            raw = get(name)
            if raw:
                try:
                    number = int(raw)
                    if number < 1 or number > 2**62:
                        raise ValueError
                    setattr(result, name, number)
                except ValueError:
                    errors[name] = _("Ожидается номер")
        for name in ("amount_min", "amount_max"):
            raw = get(name)
            if raw:
                try:
                    amount = Decimal(raw.replace(",", ".").replace(" ", ""))
                    if not amount.is_finite() or abs(amount) > Decimal("1e14"):
                        raise InvalidOperation
                    setattr(result, name, amount)
                except InvalidOperation:
                    errors[name] = _("Ожидается сумма")
        for name in ("opened_from", "opened_to"):
            raw = get(name)
            if raw:
                try:
                    setattr(result, name, dates.parse_day(raw, field=name))
                except ValidationError as exc:
                    errors.update(exc.errors)
        result.no_task = get("no_task") in ("1", "true")
        result.over_sla = get("over_sla") in ("1", "true")
        status = get("status")
        if status:
            if status not in StageSemantic.values:
                errors["status"] = _("Статус: open, won или lost")
            result.status = status
        q = get("q")
        if len(q) > 200:
            errors["q"] = _("Не длиннее 200 символов")
        result.q = q
        sort = get("sort") or "-id"
        if sort not in SORTS:
            errors["sort"] = _("Сортировка: %(values)s") % {"values": ", ".join(SORTS)}
        result.sort = sort
        if errors:
            raise ValidationError(errors)
        return result

    def apply(self, qs: DealQuerySet) -> DealQuerySet:
        if self.pipeline:
            qs = qs.filter(pipeline_id=self.pipeline)
        if self.stage:
            qs = qs.filter(stage_id=self.stage)
        if self.responsible:
            qs = qs.filter(responsible_id=self.responsible)
        if self.company:
            qs = qs.filter(company_id=self.company)
        if self.department:
            qs = qs.filter(in_department_q(self.department))
        if self.status:
            qs = qs.filter(status=self.status)
        if self.amount_min is not None:
            qs = qs.filter(amount__gte=self.amount_min)
        if self.amount_max is not None:
            qs = qs.filter(amount__lte=self.amount_max)
        if self.opened_from:
            qs = qs.filter(opened_at__gte=dates.day_start(self.opened_from))
        if self.opened_to:
            qs = qs.filter(opened_at__lt=dates.day_range(self.opened_to)[1])
        if self.q:
            qs = qs.filter(deal_text_q(self.q, base=qs))
        if self.no_task:
            qs = qs.needing_next_task()
        if self.over_sla:
            qs = qs.over_stage_sla(clock.now())  # the product clock, as the counters use
        return qs


def deal_order(sort: str) -> tuple[str, ...]:
    """The keyset order of a list sort: the field, then the id as the tie-break."""
    field_name, desc = SORTS[sort]
    sign = "-" if desc else ""
    return (f"{sign}id",) if field_name == "id" else (f"{sign}{field_name}", f"{sign}id")


def deal_list(
    *, user: User, filters: DealFilter, limit: int = 50, cursor: str | None = None
) -> Page[Deal]:
    """One keyset page of the deals list (model instances for the HTML list)."""
    qs = filters.apply(deals_visible(user)).for_list()
    return keyset_page(qs, order=deal_order(filters.sort), cursor=cursor, limit=limit)


LIST_VALUES = (
    "id",
    "title",
    "pipeline_id",
    "stage_id",
    "status",
    "amount",
    "currency",
    "responsible_id",
    "company_id",
    "company__name",
    "opened_at",
    "closed_at",
    "stage_entered_at",
    "version",
)


def deal_list_values(
    *, user: User, filters: DealFilter, limit: int = 50, cursor: str | None = None
) -> Page[dict[str, Any]]:
    """The API list: plain rows (no model instances), serialized without per-row schemas."""
    qs = filters.apply(deals_visible(user)).values(*LIST_VALUES)
    return keyset_page(qs, order=deal_order(filters.sort), cursor=cursor, limit=limit)


# --- the header search ---------------------------------------------------------------------------


def deal_search(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Deal]:
    """Visible deals matching `terms` (title and company name), best first, newest first within a
    rank; limit + 1 rows."""
    return [f.obj for f in deal_found(user=user, terms=terms, limit=limit)]


def deal_found(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Found]:
    return find_deals(deals_visible(user), terms, limit)


@dataclass
class SearchResults:
    """What the header search found, per group (each list cut at `limit`; `more_*` says there is
    more, which the full lists show with the same query). `matched` maps (group, id) to what
    matched ("name", "phone", …) and the rank."""

    q: str
    limit: int
    deals: list[Deal] = field(default_factory=list)
    companies: list[Any] = field(default_factory=list)
    contacts: list[Any] = field(default_factory=list)
    more_deals: bool = False
    more_companies: bool = False
    more_contacts: bool = False
    found: dict[str, list[Found]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.deals or self.companies or self.contacts)


def search_everything(*, user: User, q: str, limit: int = 5) -> SearchResults:
    """Deals by title and company name, companies by name/INN/phone/e-mail, contacts by
    name/phone/e-mail — all within the user's scope, ranked (kernel.search.match: the exact
    phone/INN/e-mail first, then whole words, prefixes, typos)."""
    terms = SearchTerms.parse(q)
    result = SearchResults(q=terms.text, limit=limit)
    if terms.is_empty:
        return result
    # The exact pass in every group first; the second (typos, words split between a deal's
    # title and its company) only while the three groups together show fewer than `limit`.
    finders = {
        "deals": lambda *a: find_deals(deals_visible(user), terms, limit, *a),
        "companies": lambda *a: find_companies(companies_visible(user), terms, limit, *a),
        "contacts": lambda *a: find_contacts(contacts_visible(user), terms, limit, *a),
    }
    groups = {name: find(False) for name, find in finders.items()}
    if terms.tokens and sum(len(found) for found in groups.values()) < limit:
        for name, find in finders.items():
            if len(groups[name]) <= limit:
                groups[name] = find(True, groups[name])
    result.found = {name: found[:limit] for name, found in groups.items()}
    for found in result.found.values():
        for f in found:
            f.obj.search_hit = f.hit  # what the dropdown says matched (web/_search_why.html)
    result.deals = [f.obj for f in result.found["deals"]]
    result.companies = [f.obj for f in result.found["companies"]]
    result.contacts = [f.obj for f in result.found["contacts"]]
    result.more_deals = len(groups["deals"]) > limit
    result.more_companies = len(groups["companies"]) > limit
    result.more_contacts = len(groups["contacts"]) > limit
    return result


SEARCH_API_MAX = 50


def search_api(*, user: User, q: str | None, limit: int = 10) -> SearchResults:
    """GET /api/v1/search: search_everything with the API's checks (q up to 200 characters,
    limit 1–50); a refused value is a 4xx naming the parameter."""
    errors: dict[str, str] = {}
    q = (q or "").strip()
    if len(q) > 200:
        errors["q"] = _("Не длиннее 200 символов")
    if not 1 <= limit <= SEARCH_API_MAX:
        errors["limit"] = _("От 1 до %(n)s") % {"n": SEARCH_API_MAX}
    if errors:
        raise ValidationError(errors)
    return search_everything(user=user, q=q, limit=limit)


def open_deals_by_user(user_ids: Iterable[int]) -> dict[int, int]:
    """Open deals per responsible (the maintained counter of ADR 0003): "least loaded" of a
    robot's distribution."""
    ids = list(user_ids)
    counts = dict(
        DealUserCounter.objects.filter(responsible_id__in=ids).values_list(
            "responsible_id", "open_deals"
        )
    )
    return {pk: counts.get(pk, 0) for pk in ids}
