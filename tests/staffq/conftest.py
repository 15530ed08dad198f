"""Fixtures for the staff's sync queues: two clinics, a user per role, signed-in clients."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

# The staff UI's fixtures (clinics, users of each role, signed-in clients), shared with tests/staff.
from tests.staff.conftest import (  # noqa: F401
    as_user,
    clinic_a,
    clinic_b,
    compliance,
    front_desk,
    front_desk_b,
    integration_admin,
    second_factor_required,
    sign_in,
    superuser,
)
from tests.staffq.builders import make_intent, raise_conflict  # noqa: F401


def shown(response: Any) -> str:
    """The fingerprint a page put in its form (what the user saw)."""
    match = re.search(r'name="shown" value="([0-9a-f]+)"', response.content.decode())
    assert match, "the page has no decision form"
    return match.group(1)


def signed_in(user: Any) -> Client:
    """A fresh client signed in as `user` (both factors)."""
    return sign_in(Client(), user)
