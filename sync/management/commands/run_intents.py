"""`manage.py run_intents [--budget SECONDS]`: carry due write intents to athena now (the worker's job)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sync.tasks import run_intents


class Command(BaseCommand):
    help = "Work through due write intents (what the task workers do), then print how many ran."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--budget", type=float, default=None, help="seconds to keep working (default: setting)")

    def handle(self, *args: Any, budget: float | None, **options: Any) -> None:
        from django.conf import settings

        if budget is not None:
            settings.HUB_INTENT_DRAIN_SECONDS = budget
        done = run_intents()
        self.stdout.write(f"{done} intent(s) worked on")
