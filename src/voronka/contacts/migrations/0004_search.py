"""Search (decision 0019): the candidates of kernel.search's one matching rule come from indexes.

PostgreSQL: pg_trgm GIN indexes on the folded names of contacts and companies (translate():
Cyrillic one-to-one onto ASCII and upper onto lower case, the same map as kernel.search's
PG_FOLD_FROM/PG_FOLD_TO — a test keeps them equal), trigram indexes on phone numbers (their
last digits, a part) and e-mails (the INN's and the phones' prefixes use the existing _like indexes).
SQLite: FTS5 trigram tables kept by triggers (so rows written by raw INSERT are covered too),
filled here for the rows already there. Expression indexes and triggers, no new columns."""

from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE INDEX IF NOT EXISTS contact_search_trgm ON contacts_contact USING gin
       ((translate(last_name || ' ' || first_name || ' ' || middle_name, 'абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abvgdeejziyklmnoprstufhcxwq312456abvgdeejziyklmnoprstufhcxwq312456abcdefghijklmnopqrstuvwxyz')) gin_trgm_ops)""",
    """CREATE INDEX IF NOT EXISTS company_search_trgm ON contacts_company USING gin
       ((translate(name, 'абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abvgdeejziyklmnoprstufhcxwq312456abvgdeejziyklmnoprstufhcxwq312456abcdefghijklmnopqrstuvwxyz')) gin_trgm_ops)""",
    "CREATE INDEX IF NOT EXISTS contactphone_trgm ON contacts_contactphone USING gin (number gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS company_phone_trgm ON contacts_company USING gin (phone gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS contactemail_trgm ON contacts_contactemail USING gin (lower(address) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS company_email_trgm ON contacts_company USING gin (lower(email) gin_trgm_ops)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS contact_search_trgm",
    "DROP INDEX IF EXISTS company_search_trgm",
    "DROP INDEX IF EXISTS contactphone_trgm",
    "DROP INDEX IF EXISTS company_phone_trgm",
    "DROP INDEX IF EXISTS contactemail_trgm",
    "DROP INDEX IF EXISTS company_email_trgm",
]
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_contact_fts USING fts5(doc, tokenize='trigram')",
    """CREATE TRIGGER search_contact_fts_ins AFTER INSERT ON contacts_contact BEGIN
       INSERT OR REPLACE INTO search_contact_fts(rowid, doc) VALUES (new.id, replace(replace(new.last_name || ' ' || new.first_name || ' ' || new.middle_name, 'ё', 'е'), 'Ё', 'Е')); END""",
    """CREATE TRIGGER search_contact_fts_upd AFTER UPDATE OF last_name, first_name, middle_name ON contacts_contact BEGIN
       INSERT OR REPLACE INTO search_contact_fts(rowid, doc) VALUES (new.id, replace(replace(new.last_name || ' ' || new.first_name || ' ' || new.middle_name, 'ё', 'е'), 'Ё', 'Е')); END""",
    """CREATE TRIGGER search_contact_fts_del AFTER DELETE ON contacts_contact BEGIN
       DELETE FROM search_contact_fts WHERE rowid = old.id; END""",
    "INSERT OR REPLACE INTO search_contact_fts(rowid, doc) SELECT id, replace(replace(last_name || ' ' || first_name || ' ' || middle_name, 'ё', 'е'), 'Ё', 'Е') FROM contacts_contact",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_company_fts USING fts5(doc, tokenize='trigram')",
    """CREATE TRIGGER search_company_fts_ins AFTER INSERT ON contacts_company BEGIN
       INSERT OR REPLACE INTO search_company_fts(rowid, doc) VALUES (new.id, replace(replace(new.name, 'ё', 'е'), 'Ё', 'Е')); END""",
    """CREATE TRIGGER search_company_fts_upd AFTER UPDATE OF name ON contacts_company BEGIN
       INSERT OR REPLACE INTO search_company_fts(rowid, doc) VALUES (new.id, replace(replace(new.name, 'ё', 'е'), 'Ё', 'Е')); END""",
    """CREATE TRIGGER search_company_fts_del AFTER DELETE ON contacts_company BEGIN
       DELETE FROM search_company_fts WHERE rowid = old.id; END""",
    "INSERT OR REPLACE INTO search_company_fts(rowid, doc) SELECT id, replace(replace(name, 'ё', 'е'), 'Ё', 'Е') FROM contacts_company",
]
SQLITE_BACKWARD = [
    *(
        f"DROP TRIGGER IF EXISTS {t}_{op}"
        for t in ("search_contact_fts", "search_company_fts")
        for op in ("ins", "upd", "del")
    ),
    "DROP TABLE IF EXISTS search_contact_fts",
    "DROP TABLE IF EXISTS search_company_fts",
]


def forward(apps, schema_editor):
    statements = PG_FORWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_FORWARD
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    statements = PG_BACKWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_BACKWARD
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_clients_data_quality")]
    operations = [migrations.RunPython(forward, backward)]
