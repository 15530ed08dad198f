"""The audit trail is append-only: database triggers refuse UPDATE and DELETE (below the purge line)."""

from django.db import migrations

SQLITE_TRIGGERS = [
    """CREATE TRIGGER hub_auditevent_no_update BEFORE UPDATE ON hub_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;""",
    """CREATE TRIGGER hub_auditevent_no_delete BEFORE DELETE ON hub_auditevent
       WHEN OLD.sequence >= (SELECT purge_below_sequence FROM hub_auditchainhead WHERE id = 1)
       BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS hub_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS hub_auditevent_no_delete;",
]
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION hub_auditevent_append_only() RETURNS trigger AS $$
    DECLARE purge_below bigint;
    BEGIN
      SELECT purge_below_sequence INTO purge_below FROM hub_auditchainhead WHERE id = 1;
      IF TG_OP = 'DELETE' AND purge_below IS NOT NULL AND OLD.sequence < purge_below THEN
        RETURN OLD;
      END IF;
      -- Only a full flush (development and tests) lifts the guard this far.
      IF TG_OP = 'TRUNCATE' AND purge_below IS NOT NULL AND purge_below >= 4611686018427387904 THEN
        RETURN NULL;
      END IF;
      RAISE EXCEPTION 'audit trail is append-only';
    END; $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER hub_auditevent_append_only BEFORE UPDATE OR DELETE ON hub_auditevent
       FOR EACH ROW EXECUTE FUNCTION hub_auditevent_append_only();""",
    """CREATE TRIGGER hub_auditevent_no_truncate BEFORE TRUNCATE ON hub_auditevent
       FOR EACH STATEMENT EXECUTE FUNCTION hub_auditevent_append_only();""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS hub_auditevent_no_truncate ON hub_auditevent;",
    "DROP TRIGGER IF EXISTS hub_auditevent_append_only ON hub_auditevent;",
    "DROP FUNCTION IF EXISTS hub_auditevent_append_only();",
]


def forwards(apps, schema_editor):
    # Roles, the chain head and the service user are (re)created after every migrate by
    # hub.seeding and hub.roles (post_migrate); this migration adds only the database guard.
    statements = POSTGRES_TRIGGERS if schema_editor.connection.vendor == "postgresql" else SQLITE_TRIGGERS
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    statements = POSTGRES_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
