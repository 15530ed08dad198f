"""Shared fixtures for the test suite."""

from __future__ import annotations

import pytest


@pytest.fixture
def practice(db):  # type: ignore[no-untyped-def]
    from tests.factories import make_practice

    return make_practice()
