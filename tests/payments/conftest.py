"""Fixtures for the payments tests (shared ones live in tests/outbound.py)."""

from tests.outbound import outbound  # noqa: F401 - a fixture
