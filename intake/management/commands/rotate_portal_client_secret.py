"""`manage.py rotate_portal_client_secret NAME [--overlap-hours H]`: a new secret, the old one kept for a while."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intake.models import PortalClient
from intake.portal_clients import portal_client_rotate_secret


class Command(BaseCommand):
    help = "Issue a new client secret; the current one stays valid for the overlap so the portal rolls over."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--overlap-hours", type=float, default=None)

    def handle(self, *args: Any, name: str, overlap_hours: float | None, **options: Any) -> None:
        client = PortalClient.objects.filter(name=name).select_related("application").first()
        if client is None:
            raise CommandError(f"no portal client named {name!r}")
        overlap = dt.timedelta(hours=overlap_hours) if overlap_hours is not None else None
        secret = portal_client_rotate_secret(client=client, overlap=overlap)
        self.stdout.write(
            json.dumps(
                {"name": client.name, "client_id": client.application.client_id, "client_secret": secret}, indent=2
            )
        )
