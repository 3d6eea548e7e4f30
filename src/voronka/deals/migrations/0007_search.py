"""Search (decision 0019): the candidates of kernel.search's one matching rule come from indexes.

PostgreSQL: a pg_trgm GIN index on the folded deal titles (translate(): Cyrillic one-to-one
onto ASCII and upper onto lower case, the same map as kernel.search's PG_FOLD_FROM/PG_FOLD_TO —
a test keeps them equal).
SQLite: FTS5 trigram tables kept by triggers (so rows written by raw INSERT are covered too),
filled here for the rows already there. Expression indexes and triggers, no new columns."""

from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE INDEX IF NOT EXISTS deal_search_trgm ON deals_deal USING gin
       ((translate(title, 'абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abvgdeejziyklmnoprstufhcxwq312456abvgdeejziyklmnoprstufhcxwq312456abcdefghijklmnopqrstuvwxyz')) gin_trgm_ops)""",
]
PG_BACKWARD = ["DROP INDEX IF EXISTS deal_search_trgm"]
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_deal_fts USING fts5(doc, tokenize='trigram')",
    """CREATE TRIGGER search_deal_fts_ins AFTER INSERT ON deals_deal BEGIN
       INSERT OR REPLACE INTO search_deal_fts(rowid, doc) VALUES (new.id, replace(replace(new.title, 'ё', 'е'), 'Ё', 'Е')); END""",
    """CREATE TRIGGER search_deal_fts_upd AFTER UPDATE OF title ON deals_deal BEGIN
       INSERT OR REPLACE INTO search_deal_fts(rowid, doc) VALUES (new.id, replace(replace(new.title, 'ё', 'е'), 'Ё', 'Е')); END""",
    """CREATE TRIGGER search_deal_fts_del AFTER DELETE ON deals_deal BEGIN
       DELETE FROM search_deal_fts WHERE rowid = old.id; END""",
    "INSERT OR REPLACE INTO search_deal_fts(rowid, doc) SELECT id, replace(replace(title, 'ё', 'е'), 'Ё', 'Е') FROM deals_deal",
]
SQLITE_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS search_deal_fts_{op}" for op in ("ins", "upd", "del")),
    "DROP TABLE IF EXISTS search_deal_fts",
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
    dependencies = [("deals", "0006_money_per_currency"), ("contacts", "0004_search")]
    operations = [migrations.RunPython(forward, backward)]
