"""Audit rows are append-only at the database level: UPDATE and DELETE are refused by a
trigger unless the maintenance table `kernel_audit_unlock` holds a row (used only by the test
harness to flush tables; never by the application)."""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE TABLE IF NOT EXISTS kernel_audit_unlock (reason varchar(100) NOT NULL)",
    """CREATE TRIGGER kernel_audit_no_update BEFORE UPDATE ON kernel_auditentry
       WHEN NOT EXISTS (SELECT 1 FROM kernel_audit_unlock)
       BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
    """CREATE TRIGGER kernel_audit_no_delete BEFORE DELETE ON kernel_auditentry
       WHEN NOT EXISTS (SELECT 1 FROM kernel_audit_unlock)
       BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS kernel_audit_no_update",
    "DROP TRIGGER IF EXISTS kernel_audit_no_delete",
    "DROP TABLE IF EXISTS kernel_audit_unlock",
]
PG_FORWARD = [
    "CREATE TABLE IF NOT EXISTS kernel_audit_unlock (reason varchar(100) NOT NULL)",
    """CREATE OR REPLACE FUNCTION kernel_audit_append_only() RETURNS trigger AS $$
       BEGIN
         IF EXISTS (SELECT 1 FROM kernel_audit_unlock) THEN
           RETURN COALESCE(NEW, OLD);
         END IF;
         RAISE EXCEPTION 'audit entries are append-only';
       END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER kernel_audit_append_only BEFORE UPDATE OR DELETE ON kernel_auditentry
       FOR EACH ROW EXECUTE FUNCTION kernel_audit_append_only()""",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS kernel_audit_append_only ON kernel_auditentry",
    "DROP FUNCTION IF EXISTS kernel_audit_append_only()",
    "DROP TABLE IF EXISTS kernel_audit_unlock",
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
    dependencies = [("kernel", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
