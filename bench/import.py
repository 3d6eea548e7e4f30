"""Issue 10: importing 100,000 contact rows with duplicate control, on PostgreSQL.

A Bitrix24-format CSV (field codes, `;`-separated, every value quoted, every line ending in `;`)
is generated with realistic duplicates: a share of the rows repeat an earlier client with the
phone written another way (8 …, +7 (…) …) or the e-mail in other case, and a share name a
company. The file is imported through the service the CLI and the worker use (`import_file`:
readers → mapping → contacts.services batches, dedup by keys and fingerprints), then imported
again (nothing may be created). Prints rows/s of both runs.

Target (issue 10): ≥ 2,000 rows/s with dedup.

    DATABASE_URL=postgres://…(empty, throwaway) .venv/bin/python bench/import.py --out import.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_ROWS_PER_S = 2000

FIRST = ["Иван", "Пётр", "Анна", "Мария", "Олег", "Ольга", "Сергей", "Елена", "Дмитрий", "Ирина"]
LAST = ["Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Волков", "Зайцев"]
POSTS = ["директор", "менеджер", "бухгалтер", "инженер", ""]


def generate(rows: int, seed: int = 10) -> bytes:
    """The CSV: ~80 % new clients, ~20 % repeats of an earlier one written differently."""
    rnd = random.Random(seed)
    header = [
        "NAME", "LAST_NAME", "SECOND_NAME", "PHONE_MOBILE", "PHONE_WORK", "EMAIL_WORK",
        "POST", "COMPANY_TITLE", "COMMENTS",
    ]  # fmt: skip
    lines = [";".join(f'"{h}"' for h in header) + ";"]
    clients: list[tuple[str, str, str, int, str]] = []
    for i in range(rows):
        if clients and rnd.random() < 0.2:
            first, last, middle, number, email = rnd.choice(clients)
            phone = f"8 ({number // 10**7}) {number % 10**7}" if rnd.random() < 0.5 else ""
            email = email.upper() if not phone else ""
        else:
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            middle = rnd.choice(["Иванович", "Петровна", ""])
            number = 9_000_000_000 + i * 7 + rnd.randrange(7)
            email = f"user{i}@example.com" if rnd.random() < 0.7 else ""
            clients.append((first, last, middle, number, email))
            phone = f"+7 ({number // 10**7}) {number % 10**7:07d}"
        company = f"ООО Компания {rnd.randrange(2000)}" if rnd.random() < 0.3 else ""
        values = [
            first, last, middle, phone, "", email, rnd.choice(POSTS), company,
            "импорт" if rnd.random() < 0.1 else "",
        ]  # fmt: skip
        lines.append(";".join('"' + v.replace('"', '""') + '"' for v in values) + ";")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", default="")
    opts = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voronka.config.settings")
    os.environ.setdefault("VORONKA_MAX_UPLOAD_BYTES", str(64 * 1024 * 1024))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from voronka.contacts.models import ClientKey, Company, Contact
    from voronka.identity.models import User
    from voronka.kernel.actor import Actor, ActorKind
    from voronka.transfer.services import import_file

    user = User.objects.filter(username="bench-import").first() or User.objects.create_superuser(
        username="bench-import", password=None
    )
    actor = Actor(kind=ActorKind.IMPORT, user=user)
    data = generate(opts.rows)
    results = {}
    for run in ("first", "rerun"):
        contacts_before = Contact.objects.count()
        started = time.perf_counter()
        job = import_file(
            actor=actor, entity="contact", filename="b24.csv", data=data, mapping=None
        )
        seconds = time.perf_counter() - started
        results[run] = {
            "rows": job.total,
            "seconds": round(seconds, 2),
            "rows_per_s": round(job.total / seconds),
            "created": job.created,
            "found": job.found,
            "failed": job.failed,
            "contacts_added": Contact.objects.count() - contacts_before,
        }
        print(
            f"import {run}: {job.total} rows in {seconds:.1f} s = {job.total / seconds:,.0f} rows/s"
            f" (created {job.created}, found {job.found}, errors {job.failed})"
        )
    report = {
        "database": connection.vendor,
        "file_bytes": len(data),
        "contacts": Contact.objects.count(),
        "companies": Company.objects.count(),
        "keys": ClientKey.objects.count(),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        **results,
        "rerun_created_nothing": results["rerun"]["contacts_added"] == 0,
    }
    print(json.dumps(report, ensure_ascii=False))
    if opts.out:
        Path(opts.out).write_text(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
