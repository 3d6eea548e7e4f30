"""Bench only: tops the cached bench cluster up to 1,000,000 contacts (issue 10's search and
duplicate benchmarks) with one phone and one e-mail each, recombined from the seeded contacts
(a last name of one, first and middle names of another, the company and the responsible of the
first). Cached: a cluster that already has the contacts is left as it is (the row count is the
marker). Never part of the demo seeder (its output keys the bench cache).

  DATABASE_URL=postgres://… .venv/bin/python bench/search_topup.py [--contacts 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import psycopg

TOPUP_SQL = """
WITH src AS (
  SELECT g, a.last_name, b.first_name, b.middle_name, a.company_id, a.responsible_id
  FROM generate_series(1::bigint, %(n)s) AS g
  JOIN contacts_contact a ON a.id = 1 + (g * 7919) %% %(base)s
  JOIN contacts_contact b ON b.id = 1 + (g * 104729 + 17) %% %(base)s
)
INSERT INTO contacts_contact (created_at, updated_at, last_name, first_name, middle_name,
  position, messengers, consent_calls, consent_mailing, comment, custom, version, company_id,
  responsible_id)
SELECT now(), now(), last_name, first_name, middle_name, '', '{}', true, false, '', '{}', 1,
  company_id, responsible_id
FROM src
"""
PHONES_SQL = """
INSERT INTO contacts_contactphone (number, kind, contact_id)
SELECT '+79' || lpad(((id * 48271 + 12345) %% 1000000000)::text, 9, '0'), 'mobile', id
FROM contacts_contact WHERE id > %(base)s
"""
EMAILS_SQL = """
INSERT INTO contacts_contactemail (address, kind, contact_id)
SELECT split_part(e.address, '@', 1) || '.' || c.id || '@' || split_part(e.address, '@', 2),
  'work', c.id
FROM contacts_contact c
JOIN contacts_contactemail e ON e.contact_id = 1 + (c.id * 7919) %% %(base)s
WHERE c.id > %(base)s
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=False) as conn:
        count = conn.execute("SELECT count(*) FROM contacts_contact").fetchone()[0]
        if count >= args.contacts:
            print(f"search_topup: {count} contacts already (cached)")
            return 0
        base = conn.execute("SELECT max(id) FROM contacts_contact").fetchone()[0]
        if base != count:
            print("search_topup: contact ids are not dense; not topping up", file=sys.stderr)
            return 1
        started = time.monotonic()
        params = {"n": args.contacts - count, "base": base}
        conn.execute(TOPUP_SQL, params)
        conn.execute(PHONES_SQL, params)
        conn.execute(EMAILS_SQL, params)
        conn.commit()
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        for table in ("contacts_contact", "contacts_contactphone", "contacts_contactemail"):
            conn.execute(f"VACUUM ANALYZE {table}")
    print(f"search_topup: {count} → {args.contacts} contacts in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
