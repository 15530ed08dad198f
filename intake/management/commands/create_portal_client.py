"""`manage.py create_portal_client NAME --locations all|ID,ID --scopes S [S ...]` prints id and secret as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intake.portal_clients import ALL_SCOPES, portal_client_create


class Command(BaseCommand):
    help = "Create an OAuth client-credentials client for a portal, granted a set of locations and scopes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--locations", required=True, help="'all' or athena department ids: 1,21,102")
        parser.add_argument("--scopes", nargs="+", default=["read"], help=f"any of: {' '.join(ALL_SCOPES)}")

    def handle(self, *args: Any, name: str, locations: str, scopes: list[str], **options: Any) -> None:
        department_ids = None if locations.strip() == "all" else [p.strip() for p in locations.split(",") if p.strip()]
        scope_list = [scope for item in scopes for scope in item.replace(",", " ").split()]
        try:
            client, client_id, secret = portal_client_create(
                name=name, department_ids=department_ids, scopes=scope_list
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            if "unique" in str(exc).lower():
                raise CommandError(f"a portal client named {name!r} already exists") from exc
            raise
        self.stdout.write(
            json.dumps(
                {
                    "name": client.name,
                    "client_id": client_id,
                    "client_secret": secret,
                    "scopes": client.scopes.split(),
                    "locations": "all" if client.all_locations else department_ids,
                    "token_url": "/o/token/",
                },
                indent=2,
            )
        )
