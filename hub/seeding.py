"""Rows the hub cannot run without, re-created after every migrate (and after a test flush)."""

from __future__ import annotations

from typing import Any

SERVICE_USERNAME = "hub-service"


def seed_reference_rows(**_: Any) -> None:
    """The audit chain head, the field policies and the service user tasks act as (idempotent)."""
    from django.contrib.auth import get_user_model

    from hub.golden import ensure_default_policies
    from hub.models import AuditChainHead

    AuditChainHead.objects.get_or_create(pk=1, defaults={"last_sequence": 0, "last_hash": "0" * 64})
    ensure_default_policies()
    User = get_user_model()
    if not User.objects.filter(username=SERVICE_USERNAME).exists():
        # Tasks act as this user in auditlog entries; it cannot sign in (no usable password).
        User.objects.create(username=SERVICE_USERNAME, password="!", is_active=False)  # noqa: S106 - unusable
