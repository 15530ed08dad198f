"""django-q2 tasks of the intake app."""

from __future__ import annotations

from hub import context
from intake.api.idempotency import purge_expired_keys


def purge_idempotency_keys(correlation_id: str = "") -> int:
    """Delete Idempotency-Keys past their retention."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id()):
        return purge_expired_keys()


def read_card_upload(upload_id: int, correlation_id: str = "") -> str:
    """Read one uploaded insurance card with OCR (the upload's id only; its images stay on disk)."""
    from intake.cards import card_upload_read

    with context.bind(
        correlation_id=context.clean_correlation_id(correlation_id),
        actor=context.Actor(type="task", id="ocr", label="card reader"),
    ):
        return card_upload_read(upload_id=upload_id)


def sweep_card_uploads(correlation_id: str = "") -> int:
    """Scheduled safety net: queue the OCR job again for cards whose task was lost."""
    from intake.card_files import card_uploads_requeue

    with context.bind(correlation_id=context.clean_correlation_id(correlation_id)):
        return card_uploads_requeue()
