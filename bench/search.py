"""Issue 10 — the one search over 1,000,000 deals and 1,000,000 contacts (decision 0019).

A fixed mix of realistic queries, each built from a record the searching user may see: a full
name, the same name with a letter wrong, a word of a company's name, a phone typed the Russian way
(8 9xx xxx-xx-xx), its last 4 digits, an e-mail, an INN. Each is searched through the selector
GET /api/v1/search calls (deals.selectors.search_api: deals, companies and contacts, ranked,
limit 10) as the owner (scope: all) and as the busiest manager (own records), and next to it the
bare SQL of the same candidate queries: the statements the selector sent (captured once), run
through the cursor and fetched, without the ORM, the Python ranking or anything else. After a
warm-up of 3, --iterations (20) of each, alternating; median and p95 per query and over the mix.
Target: the mix's median under 50 ms.

Run by scripts/bench.sh after bench/search_topup.py; alone: DJANGO_SETTINGS_MODULE=bench.settings
PYTHONPATH=. DATABASE_URL=postgres://… .venv/bin/python bench/search.py [--out search.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from voronka.contacts.models import Company, Contact, ContactEmail, ContactPhone  # noqa: E402
from voronka.deals.models import Deal  # noqa: E402
from voronka.deals.selectors import search_api  # noqa: E402
from voronka.identity.models import User  # noqa: E402

WARMUP = 3
TARGET_MS = 50.0
STOP = {"ооо", "ип", "ао", "пао", "зао", "оао", "семья"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values), 2), "p95_ms": round(pct(values, 0.95), 2)}


def pick_people() -> tuple[User, User]:
    owner = (
        User.objects.filter(is_active=True, roles__code="owner").order_by("id").first()
        or User.objects.filter(is_active=True, is_superuser=True).order_by("id").first()
    )
    managers = list(
        User.objects.filter(is_active=True, roles__code="manager").values_list("pk", flat=True)
    )
    if owner is None or not managers:
        raise SystemExit("No owner or manager: seed first (voronka seed)")
    busiest = (
        Contact.objects.filter(responsible_id__in=managers)
        .order_by()
        .values("responsible_id")
        .annotate(n=django.db.models.Count("id"))
        .order_by("-n")
        .first()
    )
    assert busiest is not None
    return owner, User.objects.get(pk=busiest["responsible_id"])


def typo(word: str) -> str:
    """One letter replaced in the middle (а ↔ о, else the next letter of the alphabet)."""
    i = len(word) // 2
    ch = word[i]
    swap = {"а": "о", "о": "а", "е": "и", "и": "е"}.get(ch, chr(ord(ch) + 1))
    return word[:i] + swap + word[i + 1 :]


def russian_format(e164: str) -> str:
    d = e164[2:]  # +7XXXXXXXXXX
    return f"8 {d[:3]} {d[3:6]}-{d[6:8]}-{d[8:]}"


def queries_for(user: User, salt: int, *, own: bool) -> dict[str, str]:
    """The mix, from records `user` may see (a manager's own; the owner's from anywhere)."""
    contacts = Contact.objects.filter(responsible=user) if own else Contact.objects.all()
    deals = Deal.objects.filter(responsible=user) if own else Deal.objects.all()
    ids = list(contacts.order_by("id").values_list("id", flat=True)[salt : salt + 5000 : 997])
    contact = Contact.objects.get(pk=ids[-1])
    phone = ContactPhone.objects.filter(contact=contact).values_list("number", flat=True).first()
    email_contact = (
        ContactEmail.objects.filter(contact__in=contacts)
        .order_by("contact_id")[salt % 50 :]
        .first()
    )
    visible = Company.objects.filter(responsible=user) if own else Company.objects.all()
    companies = visible.exclude(inn="").filter(
        pk__in=deals.order_by("-id").values("company_id")[salt : salt + 2000]
    )
    company = companies.order_by("id")[salt % 20 :].first()
    assert company is not None and phone and email_contact is not None
    words = [w.strip('«»"') for w in company.name.split() if w.lower().strip('«»"') not in STOP]
    word = max(words, key=len) if words else company.name
    return {
        "full name": f"{contact.last_name} {contact.first_name}",
        "name with a typo": f"{typo(contact.last_name)} {contact.first_name}",
        "company word": word,
        "phone 8 9xx": russian_format(phone),
        "last 4 digits": phone[-4:],
        "e-mail": email_contact.address,
        "INN": company.inn,
    }


def fetch(sql: str, params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.description is not None:
            cursor.fetchall()


def bare_statements(user: User, q: str) -> list[tuple[str, Any]]:
    """The SQL the selector sends for `q` (captured on a real run), to replay through the cursor:
    the candidate queries and the loads of the matches."""
    with CaptureQueriesContext(connection) as ctx:
        search_api(user=user, q=q, limit=10)
    return [(query["sql"], None) for query in ctx.captured_queries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args()
    if connection.vendor != "postgresql":
        print("warning: not PostgreSQL — the target is about PostgreSQL", file=sys.stderr)
    owner, manager = pick_people()
    counts = {
        "deals": Deal.objects.count(),
        "contacts": Contact.objects.count(),
        "companies": Company.objects.count(),
    }
    result: dict[str, Any] = {
        "counts": counts,
        "manager": manager.username,
        "load_avg_at_start": os.getloadavg(),
        "queries": {},
    }
    mix: dict[str, list[float]] = {"view": [], "bare": []}
    per_user: dict[str, dict[str, list[float]]] = {}
    print(
        f"search: {counts['deals']:,} deals, {counts['contacts']:,} contacts, "
        f"{counts['companies']:,} companies; owner {owner.username}, manager {manager.username}; "
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    head = f"{'query':<34}{'who':<9}{'median':>9}{'p95':>9}{'bare SQL':>10}{'SQL':>5}{'found':>7}"
    print(head)
    print("-" * len(head))
    for who, user, salt in (("owner", owner, 1234), ("manager", manager, 77)):
        per_user[who] = {"view": [], "bare": []}
        for name, q in queries_for(user, salt, own=who == "manager").items():
            statements = bare_statements(user, q)
            found = search_api(user=user, q=q, limit=10)
            n_found = len(found.deals) + len(found.companies) + len(found.contacts)
            view_ms: list[float] = []
            bare_ms: list[float] = []
            for i in range(WARMUP + opts.iterations):
                t0 = time.perf_counter()
                search_api(user=user, q=q, limit=10)
                t1 = time.perf_counter()
                for sql, _ in statements:
                    fetch(sql, None)
                t2 = time.perf_counter()
                if i >= WARMUP:
                    view_ms.append((t1 - t0) * 1000)
                    bare_ms.append((t2 - t1) * 1000)
            key = f"{name} [{who}]"
            result["queries"][key] = {
                "q": q,
                "view": summary(view_ms),
                "bare_sql": summary(bare_ms),
                "statements": len(statements),
                "found": n_found,
            }
            for bucket in (mix, per_user[who]):
                bucket["view"] += view_ms
                bucket["bare"] += bare_ms
            r = result["queries"][key]
            print(
                f"{name:<34}{who:<9}{r['view']['median_ms']:>7.1f}ms{r['view']['p95_ms']:>7.1f}ms"
                f"{r['bare_sql']['median_ms']:>8.1f}ms{len(statements):>5}{n_found:>7}   «{q}»"
            )
    result["mix"] = {"view": summary(mix["view"]), "bare_sql": summary(mix["bare"])}
    result["by_user"] = {
        who: {"view": summary(v["view"]), "bare_sql": summary(v["bare"])}
        for who, v in per_user.items()
    }
    median = result["mix"]["view"]["median_ms"]
    result["target_ms"] = TARGET_MS
    result["ok"] = median < TARGET_MS
    print("-" * len(head))
    for who, r in result["by_user"].items():
        print(
            f"{'the mix':<34}{who:<9}{r['view']['median_ms']:>7.1f}ms{r['view']['p95_ms']:>7.1f}ms"
            f"{r['bare_sql']['median_ms']:>8.1f}ms"
        )
    print(
        f"{'the mix':<34}{'both':<9}{median:>7.1f}ms{result['mix']['view']['p95_ms']:>7.1f}ms"
        f"{result['mix']['bare_sql']['median_ms']:>8.1f}ms   target median < {TARGET_MS:.0f} ms: "
        f"{'ok' if result['ok'] else 'MISSED'}"
    )
    if opts.out:
        opts.out.write_text(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
