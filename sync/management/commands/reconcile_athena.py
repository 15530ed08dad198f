"""`manage.py reconcile_athena [--location ID ...] [--repair] [--json]`: find (and repair) drift from athena."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hub import context
from hub.athena import athena_client
from hub.integrations.athena.errors import AthenaError
from hub.models import Department
from sync.inbound import inbound_events_process_due
from sync.reconcile import reconcile_location


class Command(BaseCommand):
    help = "Compare locations' patients and upcoming appointments with athena; --repair feeds drift back in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--location", action="append", default=[], help="athena department id (repeatable)")
        parser.add_argument("--days", type=int, default=30, help="upcoming appointments to compare")
        parser.add_argument("--repair", action="store_true", help="merge every drifted record now")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, location: list[str], days: int, repair: bool, json: bool, **options: Any) -> None:
        departments = Department.objects.filter(is_active=True).order_by("athena_department_id")
        if location:
            departments = departments.filter(athena_department_id__in=location)
            if departments.count() != len(set(location)):
                raise CommandError("unknown location id")
        actor = context.Actor(type="task", id="reconcile", label="reconciliation")
        reports = []
        with context.bind(actor=actor, correlation_id=context.new_correlation_id()):
            client = athena_client()
            try:
                for department in departments:
                    reports.append(
                        reconcile_location(client=client, department=department, days_ahead=days, repair=repair)
                    )
                if repair:
                    inbound_events_process_due(client=client, budget_seconds=300)
            except AthenaError as exc:
                raise CommandError(f"reconciliation stopped: {exc}") from exc
        if json:
            self.stdout.write(
                _dumps({"locations": [r.as_dict() for r in reports], "drift": sum(r.drift for r in reports)})
            )
            return
        for report in reports:
            self.stdout.write(
                f"location {report.location_id}: {report.patients_checked} patients, "
                f"{len(report.patients_missing)} missing, {len(report.patients_drifted)} drifted; "
                f"{report.appointments_checked} appointments, {len(report.appointments_missing)} missing, "
                f"{len(report.appointments_drifted)} drifted" + (f"; repaired {report.repaired}" if repair else "")
            )


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2)
