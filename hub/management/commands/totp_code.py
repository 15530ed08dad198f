"""`python manage.py totp_code USERNAME`: the current sign-in code of a synthetic demo user.

For demos and tests only: it reads the user's TOTP secret from the database, which is exactly
what the second factor exists to prevent in production. It therefore refuses to run unless
DEBUG is on or `--demo` is given, prints a warning every time, and writes an audit row
(action `2fa-code-issued`) so its use is never silent. `--enrol` gives a demo user without an
authenticator a confirmed device first.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub import context
from hub.audit import audit_record
from hub.models import AuditEvent
from hub.two_factor import confirmed_device, current_totp_code

CODE_ISSUED = "2fa-code-issued"


class Command(BaseCommand):
    help = "Print the current TOTP sign-in code of a SYNTHETIC demo user (refused unless DEBUG or --demo)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--demo", action="store_true", help="Confirm this is a demo system with synthetic users.")
        parser.add_argument("--enrol", action="store_true", help="Create a confirmed device if the user has none.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG or options["demo"]):
            raise CommandError("Refusing: this reads a sign-in secret. Only on a demo system, with --demo.")
        self.stderr.write(
            self.style.WARNING("WARNING: for synthetic demo users only. Never use this with real staff accounts.")
        )
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError("No such user.")
        device = confirmed_device(user)
        if device is None:
            if not options["enrol"]:
                raise CommandError("This user has no authenticator yet (sign in to enrol, or pass --enrol).")
            device = TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
        audit_record(
            system=AuditEvent.System.HUB,
            direction=AuditEvent.Direction.INTERNAL,
            action=CODE_ISSUED,
            actor=context.Actor(type="system", id="cli", label="manage.py totp_code"),
            object_type="user",
            object_id=user.pk,
        )
        self.stdout.write(current_totp_code(device))
