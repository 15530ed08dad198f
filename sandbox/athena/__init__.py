"""The athenaOne look-alike: OAuth plus the `/v1/{practiceid}/...` endpoints."""

from __future__ import annotations

from sandbox.athena import appointments, changed, insurances, patients, reference
from sandbox.routing import Route

ROUTES: list[Route] = [
    *reference.ROUTES,
    *patients.ROUTES,
    *insurances.ROUTES,
    *appointments.ROUTES,
    *changed.ROUTES,
]
