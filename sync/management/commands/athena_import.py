"""`manage.py athena_import [--since YYYY-MM-DD]`: pull athena's data into the hub (resumable)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hub import context
from hub.athena import athena_client
from hub.integrations.athena.errors import AthenaError
from sync.athena_import import athena_import_run


class Command(BaseCommand):
    help = "Import departments, providers, appointment types, reasons, patients and appointments from athena."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=dt.date.fromisoformat, default=None, help="only changes since this date")

    def handle(self, *args: Any, since: dt.date | None = None, verbosity: int = 1, **options: Any) -> None:
        actor = context.Actor(type="task", id="athena_import", label="athena import")
        progress = (lambda message: self.stdout.write(message)) if verbosity > 1 else None
        with context.bind(actor=actor, correlation_id=context.new_correlation_id()):
            try:
                run = athena_import_run(
                    client=athena_client(), practice_id=settings.ATHENA_PRACTICE_ID, since=since, progress=progress
                )
            except AthenaError as exc:
                raise CommandError(f"athena import stopped (re-run to resume): {exc}") from exc
        counts = ", ".join(f"{key} {value}" for key, value in sorted(run.counts.items()))
        self.stdout.write(self.style.SUCCESS(f"athena import #{run.pk} finished: {counts}"))
