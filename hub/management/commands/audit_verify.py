"""`python manage.py audit_verify`: walk the audit hash chain and name the first broken row."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hub import context
from hub.audit_chain import chain_verify, verify_record

CLI_ACTOR = context.Actor(type="system", id="cli", label="manage.py audit_verify")


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exit status 1 and the first broken row when it is broken."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-record", action="store_true", help="Do not append a `verify` row to the audit trail.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = chain_verify()
        if not options["no_record"]:
            verify_record(report, actor=CLI_ACTOR)
        if report.first_break is None:
            self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {report.rows_checked} rows checked."))
            return
        broken = report.first_break
        self.stdout.write(f"{report.rows_checked} rows checked.")
        raise CommandError(f"Audit chain broken at row #{broken.sequence}: {broken.reason}.", returncode=1)
