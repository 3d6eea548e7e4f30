"""Duplicate control at scale (issue 10), on the bench cluster (≥ 1,000,000 contacts after
bench/search_topup.py):

  keys      the normalized keys of every contact and company (`voronka duplicates reindex`):
            built once, kept in the cached cluster (the seeder writes rows around the services)
  check     the duplicate check of one new record as the API makes it
            (contacts.duplicate_selectors.duplicate_check, as the owner), for a mix of records:
            a stored phone typed another way, a stored e-mail in capitals, a stored name with its
            birthday, a new person with a common name, a new phone — median and p99
            (target p99 < 10 ms)
  scan      the full scan of the contacts (dedup.find_groups) in a process of its own: seconds
            and that process's peak memory (target < 3 minutes on 2 cores)
  quality   precision and recall of the scan on the labelled set (voronka.demo.duplicates) and
            on splink's fake_1000 (../shared/fixtures/entity_resolution), in memory
            (target ≥ 0.95 each)

  DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=postgres://… .venv/bin/python bench/dedup.py \
      [--checks 400] [--out dedup.json] [--skip-scan]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from voronka.contacts.dedup import contact_keys, reindex  # noqa: E402
from voronka.contacts.duplicate_selectors import duplicate_check  # noqa: E402
from voronka.contacts.keys import address_key  # noqa: E402
from voronka.contacts.matching import Profile, scan_profiles  # noqa: E402
from voronka.contacts.models import (  # noqa: E402
    ClientEntity,
    ClientKey,
    Contact,
    ContactEmail,
    ContactPhone,
    KeyKind,
)
from voronka.demo.duplicates import labelled_set  # noqa: E402
from voronka.identity.models import User  # noqa: E402
from voronka.kernel.normalize import normalize_email, normalize_phone  # noqa: E402

FAKE_1000 = (
    Path(__file__).resolve().parents[2] / "shared/fixtures/entity_resolution/splink_datasets"
)
CHECK_P99_MS = 10.0
SCAN_SECONDS = 180.0
QUALITY = 0.95


def ensure_keys() -> dict[str, Any]:
    """Build the keys when the cluster has contacts without them (once per cached cluster)."""
    result: dict[str, Any] = {}
    for entity, model in ((ClientEntity.CONTACT, Contact), (ClientEntity.COMPANY, None)):
        with connection.cursor() as cursor:
            table = "contacts_contact" if model else "contacts_company"
            cursor.execute(f"SELECT max(id) FROM {table}")
            top = cursor.fetchone()[0] or 0
            cursor.execute(
                "SELECT max(object_id) FROM contacts_clientkey WHERE entity = %s", [entity]
            )
            keyed = cursor.fetchone()[0] or 0
        if keyed >= top:
            result[entity] = {"cached": True}
            continue
        started = time.perf_counter()
        count = reindex(entity, batch=10_000)
        seconds = time.perf_counter() - started
        result[entity] = {"records": count, "seconds": round(seconds, 1)}
        print(f"  keys of {count:,} {entity} records: {seconds:.0f} s ({count / seconds:,.0f}/s)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_clientkey")
        cursor.execute("SELECT count(*) FROM contacts_clientkey")
        result["rows"] = cursor.fetchone()[0]
    return result


def _reformat(e164: str) -> str:
    d = e164[2:]
    return f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


def check_inputs(n: int, rng: random.Random) -> list[dict[str, Any]]:
    top = Contact.objects.order_by("-id").values_list("id", flat=True).first() or 1
    ids = [rng.randrange(1, top + 1) for _ in range(n)]
    contacts = {
        c.pk: c for c in Contact.objects.filter(pk__in=ids).prefetch_related("phones", "emails")
    }
    inputs: list[dict[str, Any]] = []
    for i, object_id in enumerate(ids):
        c = contacts.get(object_id)
        if c is None:
            continue
        name = f"{c.last_name} {c.first_name}"
        phones = [p.number for p in c.phones.all()]
        emails = [e.address for e in c.emails.all()]
        kind = i % 5
        if kind == 0 and phones:
            inputs.append({"phone": _reformat(phones[0]), "name": "Клиент"})
        elif kind == 1 and emails:
            inputs.append({"email": emails[0].upper(), "name": name})
        elif kind == 2:
            inputs.append({"name": name, "birthday": str(c.birthday or "1980-01-01")})
        elif kind == 3:
            inputs.append({"name": f"{name} {c.middle_name}"})  # a common name, nothing else
        else:
            inputs.append({"phone": f"+7999{rng.randrange(1000000, 9999999)}", "name": name})
    return inputs


def bench_check(n: int) -> dict[str, Any]:
    owner = User.objects.filter(is_active=True, roles__contact_scope="all").first() or (
        User.objects.filter(is_superuser=True).first() or User.objects.first()
    )
    rng = random.Random(10)
    inputs = check_inputs(n, rng)
    for data in inputs[:20]:  # warm-up
        duplicate_check(user=owner, data=data, entity="contact")
    times: list[float] = []
    found = exact = 0
    for data in inputs:
        started = time.perf_counter()
        result = duplicate_check(user=owner, data=data, entity="contact")
        times.append((time.perf_counter() - started) * 1000)
        found += bool(result)
        exact += any(c["exact"] for c in result)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return {
        "checks": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(times[-1], 2),
        "with_candidates": found,
        "with_exact": exact,
        "target_p99_ms": CHECK_P99_MS,
    }


SCAN_CHILD = """
import json, os, resource, sys, time
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
import django
django.setup()
from voronka.contacts.dedup import find_groups
started = time.perf_counter()
groups = find_groups("contact")
seconds = time.perf_counter() - started
sizes = [len(g.ids) for g in groups]
print(json.dumps({"seconds": round(seconds, 1), "groups": len(groups),
    "records_in_groups": sum(sizes), "largest_group": max(sizes, default=0),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def bench_scan() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM contacts_contact")
        contacts = cursor.fetchone()[0]
    done = subprocess.run(
        [sys.executable, "-c", SCAN_CHILD],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["contacts"] = contacts
    result["target_seconds"] = SCAN_SECONDS
    return result


def _pairs(groups: list[list[int]], truth: dict[int, Any]) -> dict[str, float]:
    pred = {p for ids in groups for p in itertools.combinations(sorted(ids), 2)}
    clusters: dict[Any, list[int]] = {}
    for object_id, cluster in truth.items():
        clusters.setdefault(cluster, []).append(object_id)
    true = {p for ids in clusters.values() for p in itertools.combinations(sorted(ids), 2)}
    hit = len(pred & true)
    return {
        "precision": round(hit / max(1, len(pred)), 3),
        "recall": round(hit / max(1, len(true)), 3),
        "true_pairs": len(true),
        "predicted_pairs": len(pred),
    }


def _clean(values: list[str], normalizer: Any) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(normalizer(value))
        except ValueError:
            continue
    return out


def bench_quality() -> dict[str, Any]:
    keys_of: dict[int, list[tuple[str, str]]] = {}
    truth: dict[int, Any] = {}
    for object_id, (data, cluster) in enumerate(labelled_set(), start=1):
        keys_of[object_id] = contact_keys(
            last_name=data["last_name"],
            first_name=data["first_name"],
            middle_name=data["middle_name"],
            birthday=data["birthday"],
            phones=_clean(data["phones"], normalize_phone),
            emails=_clean(data["emails"], normalize_email),
            company_id=object_id,  # each its own family company, as contact_create gives
        )
        truth[object_id] = cluster
    groups = scan_profiles([Profile.of(i, k) for i, k in keys_of.items()], keys_of)
    result = {"labelled": {"records": len(truth), **_pairs([g.ids for g in groups], truth)}}
    if (FAKE_1000 / "fake_1000.csv").exists():
        keys_of, truth = {}, {}
        with open(FAKE_1000 / "fake_1000.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                object_id = int(row["unique_id"])
                keys = contact_keys(
                    last_name=row["surname"],
                    first_name=row["first_name"],
                    birthday=dt.date.fromisoformat(row["dob"]) if row["dob"] else None,
                    emails=[row["email"]] if row["email"] else [],
                )
                if row["city"]:
                    keys.append((KeyKind.ADDRESS, address_key(row["city"])))
                keys_of[object_id], truth[object_id] = keys, row["cluster"]
        groups = scan_profiles([Profile.of(i, k) for i, k in keys_of.items()], keys_of)
        result["fake_1000"] = {"records": len(truth), **_pairs([g.ids for g in groups], truth)}
    return result


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=400)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--skip-scan", action="store_true")
    opts = parser.parse_args()
    out: dict[str, Any] = {}
    print("== duplicate control (issue 10)", flush=True)
    out["keys"] = ensure_keys()
    out["contacts"] = Contact.objects.count()
    out["phones"] = ContactPhone.objects.count()
    out["emails"] = ContactEmail.objects.count()
    out["key_rows"] = ClientKey.objects.count()
    out["check"] = bench_check(opts.checks)
    c = out["check"]
    print(
        f"  check of one new record over {out['contacts']:,} contacts: median {c['median_ms']} ms, "
        f"p99 {c['p99_ms']} ms (target p99 < {CHECK_P99_MS:g} ms: "
        f"{verdict(c['p99_ms'] < CHECK_P99_MS)}); {c['with_exact']}/{c['checks']} found exact",
        flush=True,
    )
    if not opts.skip_scan:
        out["scan"] = bench_scan()
        s = out["scan"]
        print(
            f"  full scan of {s['contacts']:,} contacts: {s['seconds']} s, {s['groups']:,} groups "
            f"({s['records_in_groups']:,} records, largest {s['largest_group']}), peak memory "
            f"{s['peak_rss_mb']} MB (target < {SCAN_SECONDS:g} s: "
            f"{verdict(s['seconds'] < SCAN_SECONDS)})",
            flush=True,
        )
    out["quality"] = bench_quality()
    for name, q in out["quality"].items():
        ok = q["precision"] >= QUALITY and q["recall"] >= QUALITY
        print(
            f"  {name}: precision {q['precision']}, recall {q['recall']} over {q['true_pairs']:,} "
            f"true pairs (target ≥ {QUALITY}: {verdict(ok)})",
            flush=True,
        )
    if opts.out:
        opts.out.write_text(json.dumps(out, ensure_ascii=False, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
