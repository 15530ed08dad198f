"""`manage.py seed_demo`: a demo hub on synthetic data, safe to run any number of times.

Practice data comes from athena (the sandbox on a developer machine) through `athena_import`,
as in a real deployment; this command then adds only what athena does not hold: staff users of
each role scoped to their locations, with a TOTP device, and a demo portal client. Passwords and
the client secret are printed once, when created, and kept for `make run` in a local file under
var/ (never in the repository).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from hub import roles
from hub.models import Department, StaffProfile

# (username, role, athena department ids or None for every location)
DEMO_STAFF: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("frontdesk.boston", roles.FRONT_DESK, ("1", "21")),
    ("frontdesk.austin", roles.FRONT_DESK, ("157", "170")),
    ("frontdesk.seattle", roles.FRONT_DESK, ("203", "224")),
    ("compliance", roles.COMPLIANCE, None),
    ("integration.admin", roles.INTEGRATION_ADMIN, None),
)


DEMO_PORTAL = "demo-portal"


def credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.json"


class Command(BaseCommand):
    help = "Seed a demo hub: import athena's data (first run) and create demo staff of each role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skip-import", action="store_true", help="do not pull data from athena")

    def handle(self, *args: Any, skip_import: bool = False, **options: Any) -> None:
        if not skip_import and not Department.objects.exists():
            self.stdout.write("Importing practice data from athena …")
            try:
                call_command("athena_import", stdout=self.stdout)
            except CommandError as exc:
                raise CommandError(
                    f"{exc}\nIs athena reachable at {settings.ATHENA_BASE_URL}? "
                    "On a developer machine start the sandbox: python -m sandbox --port 8100"
                ) from exc
        created = self._seed_staff()
        portal = self._seed_portal_client()
        if created:
            self._remember("staff", created)
            self.stdout.write("Demo staff (passwords shown once; also kept in var/demo-credentials.json):")
            for username, password in created.items():
                self.stdout.write(f"  {username:20} {password}")
        if portal:
            self._remember("portal", portal)
            self.stdout.write(f"Demo portal client {portal['name']}: {portal['client_id']} / {portal['client_secret']}")
        if not created and not portal:
            self.stdout.write("Demo staff and portal client already present; nothing changed.")

    @transaction.atomic
    def _seed_staff(self) -> dict[str, str]:
        User = get_user_model()
        created: dict[str, str] = {}
        for username, role, department_ids in DEMO_STAFF:
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(username=username, password=password, is_staff=True)
                created[username] = password
            user.groups.add(Group.objects.get(name=role))
            profile, _ = StaffProfile.objects.get_or_create(user=user)
            if department_ids is None:
                if not profile.all_locations:
                    profile.all_locations = True
                    profile.save(update_fields=["all_locations"])
            else:
                profile.departments.set(Department.objects.filter(athena_department_id__in=department_ids))
            self._ensure_totp_device(user)
        return created

    @staticmethod
    def _ensure_totp_device(user: Any) -> None:
        """Demo users get a confirmed TOTP device so the second factor works out of the box."""
        from django_otp.plugins.otp_totp.models import TOTPDevice

        TOTPDevice.objects.get_or_create(user=user, name="demo", defaults={"confirmed": True})

    @staticmethod
    def _seed_portal_client() -> dict[str, str]:
        """A portal client for every location and scope, as the demo portal would use."""
        from intake.models import PortalClient
        from intake.portal_clients import ALL_SCOPES, portal_client_create

        if PortalClient.objects.filter(name=DEMO_PORTAL).exists():
            return {}
        _, client_id, secret = portal_client_create(name=DEMO_PORTAL, department_ids=None, scopes=list(ALL_SCOPES))
        return {"name": DEMO_PORTAL, "client_id": client_id, "client_secret": secret}

    @staticmethod
    def _remember(section: str, created: dict[str, str]) -> None:
        path = credentials_file()
        known = json.loads(path.read_text()) if path.exists() else {}
        known.setdefault(section, {}).update(created)
        path.write_text(json.dumps(known, indent=2))
        os.chmod(path, 0o600)
