"""Fixtures of the proof suites: the portal API's clinics and clients, shared with `tests/api`."""

from tests.api.conftest import austin_patient, boston_patient, clinics, portal
from tests.outbound import outbound

__all__ = ["austin_patient", "boston_patient", "clinics", "outbound", "portal"]
