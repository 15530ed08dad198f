"""Scheduled django-q2 tasks of the hub core (created as Schedule rows by migration 0003)."""

from __future__ import annotations

from hub import context


def purge_expired_task(correlation_id: str | None = None) -> dict[str, object]:
    """Daily retention purge of payloads and audit rows."""
    from hub.retention import purge_expired

    with context.bind(correlation_id=context.clean_correlation_id(correlation_id)):
        report = purge_expired()
    return {"payloads": report.payloads, "audit_rows": report.audit_rows}


def alerts_evaluate_task(correlation_id: str | None = None) -> dict[str, object]:
    """Evaluate every alert condition; email openings and clearings."""
    from hub.alerts import alerts_evaluate

    with context.bind(correlation_id=context.clean_correlation_id(correlation_id)):
        result = alerts_evaluate()
    return {"opened": len(result.opened), "cleared": len(result.cleared), "failed": result.failed_conditions}


def audit_chain_walk_task(correlation_id: str | None = None) -> dict[str, object]:
    """Carry a full walk of the audit chain forward; queue itself again until the walk is done."""
    import time

    from django.conf import settings

    from hub.audit_chain import checkpoint_advance
    from hub.queue import enqueue

    started = time.monotonic()
    with context.bind(correlation_id=context.clean_correlation_id(correlation_id)):
        while True:
            checkpoint = checkpoint_advance()
            if checkpoint.full_walk_sequence is None:
                return {"done": True, "broken_sequence": checkpoint.broken_sequence}
            # Stay well inside the queue's task timeout; the next task resumes from the checkpoint.
            if time.monotonic() - started >= settings.HUB_AUDIT_VERIFY_BUDGET_SECONDS:
                enqueue("hub.tasks.audit_chain_walk_task")
                return {"done": False, "verified_through": checkpoint.full_walk_sequence}
