"""django-q2 tasks of the intake app."""

from __future__ import annotations

from hub import context
from intake.api.idempotency import purge_expired_keys


def purge_idempotency_keys(correlation_id: str = "") -> int:
    """Delete Idempotency-Keys past their retention."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id()):
        return purge_expired_keys()
