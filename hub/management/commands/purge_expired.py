"""`python manage.py purge_expired`: apply the retention periods now (also runs daily on the queue)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from hub.retention import purge_expired


class Command(BaseCommand):
    help = (
        "Delete payloads older than HUB_PAYLOAD_RETENTION_DAYS (through the registered purgers) and "
        "audit rows older than HUB_AUDIT_RETENTION_DAYS; every purge is itself audited."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = purge_expired()
        self.stdout.write(
            f"Payloads older than {settings.HUB_PAYLOAD_RETENTION_DAYS} days "
            f"(before {report.payload_cutoff:%Y-%m-%d %H:%M} UTC):"
        )
        if not report.payloads:
            self.stdout.write("  no payload purgers registered")
        for name, deleted in sorted(report.payloads.items()):
            self.stdout.write(f"  {name}: {'FAILED (see log)' if deleted is None else f'{deleted} deleted'}")
        self.stdout.write(
            f"Audit rows older than {settings.HUB_AUDIT_RETENTION_DAYS} days "
            f"(before {report.audit_cutoff:%Y-%m-%d %H:%M} UTC): {report.audit_rows} deleted"
        )
