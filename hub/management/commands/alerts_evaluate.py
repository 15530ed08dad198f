"""`python manage.py alerts_evaluate`: run the alert conditions once (also runs on the queue)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from hub.alerts import alerts_evaluate
from hub.models import Alert


class Command(BaseCommand):
    help = "Evaluate every alert condition now; email openings and clearings to HUB_ALERT_EMAILS."

    def handle(self, *args: Any, **options: Any) -> None:
        result = alerts_evaluate()
        self.stdout.write(f"Opened {len(result.opened)}, cleared {len(result.cleared)}.")
        for key in result.failed_conditions:
            self.stdout.write(self.style.WARNING(f"Condition {key} could not be evaluated (see log)."))
        for alert in Alert.objects.filter(closed_at=None).order_by("opened_at"):
            self.stdout.write(f"  open since {alert.opened_at:%Y-%m-%d %H:%M}: {alert.title}")
