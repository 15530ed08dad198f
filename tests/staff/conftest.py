"""Fixtures for the staff UI tests: two clinics, one user per role, and a signed-in client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.roles import COMPLIANCE, FRONT_DESK, INTEGRATION_ADMIN
from tests.factories import make_department, make_staff


def sign_in(client: Client, user: Any) -> Client:
    """Log `user` in with both factors already passed (a confirmed TOTP device in the session)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture(autouse=True)
def second_factor_required(settings: Any) -> None:
    """These tests describe the production sign-in, whatever the test settings default to."""
    settings.HUB_REQUIRE_2FA = True


@pytest.fixture
def clinic_a(db: Any) -> Any:
    return make_department(name="Northside Clinic", timezone="America/New_York")


@pytest.fixture
def clinic_b(db: Any) -> Any:
    return make_department(name="Harbor Clinic", timezone="America/Los_Angeles")


@pytest.fixture
def front_desk(clinic_a: Any) -> Any:
    return make_staff("desk-a", role=FRONT_DESK, departments=[clinic_a])


@pytest.fixture
def front_desk_b(clinic_b: Any) -> Any:
    return make_staff("desk-b", role=FRONT_DESK, departments=[clinic_b])


@pytest.fixture
def compliance(clinic_a: Any, clinic_b: Any) -> Any:
    return make_staff("auditor", role=COMPLIANCE, all_locations=True)


@pytest.fixture
def integration_admin(clinic_a: Any, clinic_b: Any) -> Any:
    return make_staff("integrator", role=INTEGRATION_ADMIN, all_locations=True)


@pytest.fixture
def superuser(db: Any) -> Any:
    return get_user_model().objects.create_superuser("root", "root@example.test", "correct-horse-battery")


@pytest.fixture
def as_user(client: Client) -> Any:
    """`as_user(user)` returns the test client signed in as that user with both factors."""

    def _sign_in(user: Any) -> Client:
        return sign_in(client, user)

    return _sign_in
