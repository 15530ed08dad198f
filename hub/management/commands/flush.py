"""`flush`, aware that the audit trail is append-only: it lifts the guard for the flush itself.

Django's own flush empties every table; the audit table's triggers would refuse, so the chain
head is first set to allow it (the same mechanism the retention purge uses).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import DatabaseError, connections

LIFT = 2**62


class Command(DjangoFlush):
    def handle(self, **options: Any) -> None:
        connection = connections[options.get("database") or "default"]
        try:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE hub_auditchainhead SET purge_below_sequence = %s WHERE id = 1", [LIFT])
        except DatabaseError:
            pass  # no audit table yet: nothing to lift
        super().handle(**options)
