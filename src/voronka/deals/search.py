"""Finding deals (decision 0019): by the words of the title and of the company's name, in any
order. Candidates: deals whose folded title has every word (deals 0007: pg_trgm / FTS5), and the
deals of the companies whose name has every word (contacts 0004); kernel.search.match decides and
ranks, newest first within a rank."""

from __future__ import annotations

from django.db.models import QuerySet

from voronka.contacts.models import Company
from voronka.contacts.search import (
    CANDIDATES,
    COMPANY_DOC,
    Doc,
    Found,
    bound_for,
    ranked,
    set_typo_threshold,
    words_filter,
)
from voronka.deals.models import Deal
from voronka.kernel.search import Hit, SearchTerms, match, typo_tokens

DEAL_DOC: Doc = ("deals_deal", "deals_deal.title", "search_deal_fts")


def deal_candidates(
    base: QuerySet[Deal], terms: SearchTerms, typo: bool, bound: int = CANDIDATES
) -> list[int]:
    """The exact pass: every word in the title, or every word in the company's name. The second
    pass: some words in the company's name and the others in the title, then the typos."""
    if not terms.tokens:
        return []
    ids: list[int] = []
    if not typo:
        by_title = words_filter(base, DEAL_DOC, terms.tokens)
        ids += list(by_title.order_by().values_list("id", flat=True)[:bound])
        companies = words_filter(Company.objects.all(), COMPANY_DOC, terms.tokens)
        company_ids = list(companies.order_by().values_list("id", flat=True)[:bound])
        if company_ids:
            of_companies = base.filter(company_id__in=company_ids).order_by()
            ids += list(of_companies.values_list("id", flat=True)[:bound])
        return ids
    set_typo_threshold(terms)
    if len(terms.tokens) > 1:  # each word, as typed or a letter off, in one or the other
        companies = Company.objects.all()
        some = words_filter(companies, COMPANY_DOC, terms.tokens, any_=True, typo=True)
        some_ids = list(some.order_by().values_list("id", flat=True)[:bound])
        if some_ids:
            mixed = words_filter(base, DEAL_DOC, terms.tokens, any_=True, typo=True)
            mixed = mixed.filter(company_id__in=some_ids).order_by()
            ids += list(mixed.values_list("id", flat=True)[:bound])
    if typo_tokens(terms):
        by_title = words_filter(base, DEAL_DOC, terms.tokens, typo=True)
        ids += list(by_title.order_by().values_list("id", flat=True)[:bound])
        companies = words_filter(Company.objects.all(), COMPANY_DOC, terms.tokens, typo=True)
        company_ids = list(companies.order_by().values_list("id", flat=True)[:bound])
        if company_ids:
            of_companies = base.filter(company_id__in=company_ids).order_by()
            ids += list(of_companies.values_list("id", flat=True)[:bound])
    return ids


def deal_hit(terms: SearchTerms, deal: Deal) -> Hit | None:
    return match(terms, fields={"title": deal.title, "company": deal.company.name})


def find_deals(
    base: QuerySet[Deal],
    terms: SearchTerms,
    limit: int,
    second: bool = True,
    start: list[Found] | None = None,
) -> list[Found]:
    """The deals of `base` (already scoped, maybe narrowed to a pipeline) matching `terms`: the
    best rank first, the newest first within it; limit + 1 at most."""
    if terms.is_empty:
        return []
    return ranked(
        terms,
        lambda typo: deal_candidates(base, terms, typo, bound_for(limit)),
        lambda ids: list(Deal.objects.filter(pk__in=ids).select_related("company", "stage")),
        lambda deal: deal_hit(terms, deal),
        lambda f: (f.hit.tier, -f.id),
        limit,
        second,
        start,
    )
