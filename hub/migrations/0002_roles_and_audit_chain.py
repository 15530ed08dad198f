"""Roles, the service user tasks act as, the audit chain head and the append-only triggers."""

from django.db import migrations

from hub.roles import roles_sync

SERVICE_USERNAME = "hub-service"

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
    BEGIN
      IF TG_OP = 'DELETE' AND OLD.sequence < (SELECT purge_below_sequence FROM hub_auditchainhead WHERE id = 1) THEN
        RETURN OLD;
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
    roles_sync(apps=apps)
    AuditChainHead = apps.get_model("hub", "AuditChainHead")
    AuditChainHead.objects.get_or_create(pk=1, defaults={"last_sequence": 0, "last_hash": "0" * 64})
    User = apps.get_model("auth", "User")
    if not User.objects.filter(username=SERVICE_USERNAME).exists():
        # Tasks act as this user in auditlog entries; it cannot sign in (no usable password).
        User.objects.create(username=SERVICE_USERNAME, password="!", is_active=False)
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
