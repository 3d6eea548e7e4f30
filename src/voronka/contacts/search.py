"""Finding companies and contacts (decision 0019): the database gives bounded candidates from its
indexes (contacts 0004: pg_trgm and reversed phones on PostgreSQL, FTS5 tables on SQLite), then
kernel.search.match decides and ranks in Python — the same answer on both databases.

Candidates come in two passes: the exact one (every word a substring of the folded name, or the
phone/INN/e-mail keys), then, only while fewer than `limit` records were found, the typo pass
(words of 5+ letters looked up by trigram similarity)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet

from voronka.contacts.models import Company, Contact, ContactEmail, ContactPhone
from voronka.kernel.search import (
    TYPO_MIN,
    Hit,
    SearchTerms,
    fold,
    match,
    pg_fold_sql,
    sql_fold,
    typo_similarity,
    typo_tokens,
)

MIN_CANDIDATES = 20  # per pass and per kind of key (bound_for: 3 × what is shown)
CANDIDATES = 200  # the default bound of a candidate query called on its own

# (table, SQL of the text, its SQLite FTS5 table): the expressions the indexes are built on.
Doc = tuple[str, str, str]
CONTACT_DOC: Doc = (
    "contacts_contact",
    "contacts_contact.last_name || ' ' || contacts_contact.first_name || ' ' || "
    "contacts_contact.middle_name",
    "search_contact_fts",
)
COMPANY_DOC: Doc = ("contacts_company", "contacts_company.name", "search_company_fts")


@dataclass
class Found:
    """One record a search found: its rank (the hit) and the record itself."""

    obj: Any
    hit: Hit

    @property
    def id(self) -> int:
        return int(self.obj.pk)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _case_variants(word: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((word, word.capitalize(), word.upper())))


def _trigrams(token: str) -> list[str]:
    return list(dict.fromkeys(token[i : i + 3] for i in range(len(token) - 2)))


def words_filter(
    qs: QuerySet[Any], doc: Doc, tokens: Sequence[str], *, typo: bool = False, any_: bool = False
) -> QuerySet[Any]:
    """`qs` narrowed to rows whose folded `doc` (table, SQL of the text, FTS table) has every
    token as a substring; with `any_`, some token of 3+ letters. With `typo`: one of the typo
    tokens (kernel.search.typo_tokens) only similar — a letter off — and every other token a
    substring (one branch per typo token, OR-ed: each branch keeps the selective exact words)."""
    table, expr, fts = doc
    if not any(len(t) >= 3 for t in tokens):
        return qs.none()  # no trigram to look up: the index would be read whole
    if any_:
        tokens = [t for t in tokens if len(t) >= 3]
    fuzzy = [t for t in tokens if len(t) >= TYPO_MIN and t.isalpha()] if typo else []
    if typo and not fuzzy and not any_:
        return qs.none()
    if is_postgres():
        folded = pg_fold_sql(expr)

        def exact(token: str) -> tuple[str, str]:
            return f"{folded} LIKE %s", f"%{_like_escape(sql_fold(token))}%"

        def similar(token: str) -> tuple[str, str]:
            return f"%s <%% {folded}", sql_fold(token)

        if typo and any_:
            groups = [[exact(t)] for t in tokens] + [[similar(t)] for t in fuzzy]
            joiner = " OR "
        elif typo:
            groups = [[similar(t)] + [exact(u) for u in tokens if u != t] for t in fuzzy]
            joiner = " OR "
        else:
            groups = [[exact(t)] for t in tokens]
            joiner = " OR " if any_ else " AND "
        where = joiner.join("(" + " AND ".join(c for c, _ in g) + ")" for g in groups)
        return qs.extra(where=[where], params=[p for g in groups for _, p in g])
    long_tokens = [t for t in tokens if len(t) >= 3]
    sub = f"SELECT rowid FROM {fts} WHERE 1"
    params: list[Any] = []
    if typo and any_:
        any_grams = [f'"{g}"' for t in fuzzy for g in _trigrams(t)]
        sub += f" AND {fts} MATCH %s"
        params.append(" OR ".join([f'"{t}"' for t in long_tokens] + any_grams))
    elif typo:
        # A branch per typo token: one of its trigrams (a word of 6+ letters keeps one whatever
        # letter is wrong), or — 5 letters, the middle one wrong — its two ends around any
        # letters; and every other word as typed.
        branches = []
        for t in fuzzy:
            grams = " OR ".join(f'"{g}"' for g in _trigrams(t))
            others = "".join(f' AND "{u}"' for u in long_tokens if u != t)
            variants = _case_variants(t)
            ends = " OR ".join("doc LIKE %s" for _ in variants)
            params += [f"%{v[:2]}%{v[3:]}%" for v in variants]
            params.append(f"({grams}){others}")
            branches.append(f"({ends} OR rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH %s))")
        sub += " AND (" + " OR ".join(branches) + ")"
    else:
        match_text = (" OR " if any_ else " AND ").join(f'"{t}"' for t in long_tokens)
        sub += f" AND {fts} MATCH %s"
        params.append(match_text)
    for token in tokens:  # shorter than a trigram: a bounded scan of the FTS table's text
        if len(token) < 3 and not any_:
            variants = _case_variants(token)
            sub += " AND (" + " OR ".join("doc LIKE %s" for _ in variants) + ")"
            params.extend(f"%{v}%" for v in variants)  # a token is letters and digits only
    return qs.extra(where=[f'"{table}"."id" IN ({sub})'], params=params)


def set_typo_threshold(terms: SearchTerms) -> None:
    """pg_trgm's `<%` finds words at least as alike as a one-letter typo of the shortest typo
    token keeps (kernel.search.typo_similarity). Set before each typo pass: a SET made inside a
    transaction that rolls back is undone, so it is never assumed to stay."""
    tokens = typo_tokens(terms)
    if is_postgres() and tokens:
        with connection.cursor() as cursor:
            value = float(typo_similarity(tokens))
            cursor.execute(f"SET pg_trgm.word_similarity_threshold = {value}")


def phone_part_filter(qs: QuerySet[Any], column: str, terms: SearchTerms) -> QuerySet[Any]:
    """Rows whose phone `column` (E.164) ends with the typed digits (4+) or, 5+ digits, contains
    them (PostgreSQL: the trigram index on the number, contacts 0004)."""
    digits = terms.tail
    pattern = f"%{digits}" if len(digits) < 5 else f"%{digits}%"
    if is_postgres():
        sql = f'"{column}" LIKE %s'  # unqualified: also inside a subquery (aliased U0)
        return qs.extra(where=[sql], params=[pattern])
    lookup = "endswith" if len(digits) < 5 else "contains"
    return qs.filter(**{f"{column}__{lookup}": digits})


def email_part_filter(qs: QuerySet[Any], column: str, part: str) -> QuerySet[Any]:
    """Rows whose e-mail `column` contains `part` (PostgreSQL: the trigram index on lower())."""
    if is_postgres():
        sql = f'lower("{column}") LIKE %s'
        return qs.extra(where=[sql], params=[f"%{_like_escape(part)}%"])
    return qs.filter(**{f"{column}__icontains": part})


def bound_for(limit: int) -> int:
    """How many candidates a pass reads for `limit` results: a few times what is shown (the
    ranking then picks within them), at least MIN_CANDIDATES."""
    return max(MIN_CANDIDATES, 3 * (limit + 1))


def _ids(qs: QuerySet[Any], bound: int = CANDIDATES) -> list[int]:
    return list(qs.order_by().values_list("id", flat=True)[:bound])


def ranked(
    terms: SearchTerms,
    candidates: Callable[[bool], Iterable[int]],
    load: Callable[[list[int]], list[Model]],
    judge: Callable[[Any], Hit | None],
    sort_key: Callable[[Found], Any],
    limit: int,
    second: bool = True,
    start: list[Found] | None = None,
) -> list[Found]:
    """The shared shape of every search: candidates (the exact pass, then — with `second` and
    while too few were found — the second pass: typos), loaded, judged by kernel.search.match,
    sorted by rank; at most limit + 1. `start`: the hits of an exact pass already run."""
    seen: set[int] = {f.id for f in start or ()}
    found: list[Found] = list(start or ())
    for typo in (False, True):
        if not typo and start is not None:  # the exact pass was run already: these are its hits
            continue
        if typo and (not second or len(found) > limit or not terms.tokens):
            break
        ids = [pk for pk in dict.fromkeys(candidates(typo)) if pk not in seen]
        seen.update(ids)
        if not ids:
            continue
        for obj in load(ids):
            hit = judge(obj)
            if hit is not None:
                found.append(Found(obj, hit))
    found.sort(key=sort_key)
    return found[: limit + 1]


# --- companies ---------------------------------------------------------------------------------


def company_candidates(
    base: QuerySet[Company], terms: SearchTerms, typo: bool, bound: int = CANDIDATES
) -> list[int]:
    ids: list[int] = []
    if typo:
        if not typo_tokens(terms):
            return []
        set_typo_threshold(terms)
        return _ids(words_filter(base, COMPANY_DOC, terms.tokens, typo=True), bound)
    if terms.inn:
        ids += _ids(base.filter(inn=terms.inn))
    elif terms.digits:
        ids += _ids(base.filter(inn__startswith=terms.digits))
    if terms.phone:
        ids += _ids(base.filter(phone=terms.phone))
    elif terms.tail:
        ids += _ids(phone_part_filter(base, "phone", terms))
        if terms.phone_part:
            ids += _ids(base.filter(phone__startswith="+" + terms.phone_part))
    if terms.email:
        ids += _ids(base.filter(email=terms.email))
    elif terms.email_part:
        ids += _ids(email_part_filter(base, "email", terms.email_part))
    if terms.tokens:
        ids += _ids(words_filter(base, COMPANY_DOC, terms.tokens), bound)
    return ids


def company_hit(terms: SearchTerms, company: Company) -> Hit | None:
    return match(
        terms,
        fields={"name": company.name},
        phones=[company.phone] if company.phone else [],
        emails=[company.email] if company.email else [],
        inn=company.inn,
    )


def find_companies(
    base: QuerySet[Company],
    terms: SearchTerms,
    limit: int,
    second: bool = True,
    start: list[Found] | None = None,
) -> list[Found]:
    """The companies of `base` (already scoped) matching `terms`, best first: limit + 1 at most
    (`second`: look for typos too while fewer were found)."""
    if terms.is_empty:
        return []
    return ranked(
        terms,
        lambda typo: company_candidates(base, terms, typo, bound_for(limit)),
        lambda ids: list(Company.objects.filter(pk__in=ids)),
        lambda company: company_hit(terms, company),
        lambda f: (f.hit.tier, fold(f.obj.name), f.id),
        limit,
        second,
        start,
    )


# --- contacts ----------------------------------------------------------------------------------


def contact_candidates(
    base: QuerySet[Contact], terms: SearchTerms, typo: bool, bound: int = CANDIDATES
) -> list[int]:
    if typo:
        if not typo_tokens(terms):
            return []
        set_typo_threshold(terms)
        return _ids(words_filter(base, CONTACT_DOC, terms.tokens, typo=True), bound)
    ids: list[int] = []
    phones = ContactPhone.objects.all()
    by_phone = None
    if terms.phone:
        by_phone = phones.filter(number=terms.phone)
    elif terms.tail:
        by_phone = phone_part_filter(phones, "number", terms)
        if terms.phone_part:
            part = phones.filter(number__startswith="+" + terms.phone_part)
            ids += _ids(base.filter(pk__in=part.values("contact_id")[:CANDIDATES]))
    if by_phone is not None:
        ids += _ids(base.filter(pk__in=by_phone.values("contact_id")[:CANDIDATES]))
    emails = ContactEmail.objects.all()
    by_email = None
    if terms.email:
        by_email = emails.filter(address=terms.email)
    elif terms.email_part:
        by_email = email_part_filter(emails, "address", terms.email_part)
    if by_email is not None:
        ids += _ids(base.filter(pk__in=by_email.values("contact_id")[:CANDIDATES]))
    if terms.tokens:
        ids += _ids(words_filter(base, CONTACT_DOC, terms.tokens), bound)
    return ids


def contact_hit(terms: SearchTerms, contact: Contact) -> Hit | None:
    return match(
        terms,
        fields={"name": contact.full_name},
        phones=[p.number for p in contact.phones.all()],
        emails=[e.address for e in contact.emails.all()],
    )


def find_contacts(
    base: QuerySet[Contact],
    terms: SearchTerms,
    limit: int,
    second: bool = True,
    start: list[Found] | None = None,
) -> list[Found]:
    """The contacts of `base` (already scoped) matching `terms`, best first: limit + 1 at most
    (`second`: look for typos too while fewer were found)."""
    if terms.is_empty:
        return []
    return ranked(
        terms,
        lambda typo: contact_candidates(base, terms, typo, bound_for(limit)),
        lambda ids: list(
            Contact.objects.filter(pk__in=ids)
            .select_related("company")
            .prefetch_related("phones", "emails")
        ),
        lambda contact: contact_hit(terms, contact),
        lambda f: (f.hit.tier, fold(f.obj.full_name), f.id),
        limit,
        second,
        start,
    )
