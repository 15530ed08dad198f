"""Card images after the upload: the one image athena keeps per insurance, retention, lost OCR tasks."""

from __future__ import annotations

import datetime as dt
import io

from django.utils import timezone
from PIL import Image

from hub.queue import enqueue
from intake.card_storage import card_file_delete, card_file_read, orphan_files_delete
from intake.models import CardImage, CardUpload, OcrReview


def card_image_for_athena(upload_id: int) -> bytes:
    """One JPEG of the card for athena's single insurance image: the front, the back below it."""
    images = {
        image.side: image
        for image in CardImage.objects.filter(upload_id=upload_id, purged_at__isnull=True).order_by("side")
    }
    if CardImage.Side.FRONT not in images:
        raise LookupError("no card image kept")
    try:
        pictures = [
            Image.open(io.BytesIO(card_file_read(images[side].file_name))).convert("RGB")
            for side in (CardImage.Side.FRONT, CardImage.Side.BACK)
            if side in images
        ]
    except FileNotFoundError as exc:
        raise LookupError("card image file gone") from exc
    width = max(picture.width for picture in pictures)
    sheet = Image.new("RGB", (width, sum(picture.height for picture in pictures)), "white")
    top = 0
    for picture in pictures:
        sheet.paste(picture, (0, top))
        top += picture.height
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=85)
    return out.getvalue()


def purge_card_images(before: dt.datetime) -> int:
    """Delete card image files (and readings) of uploads older than `before`; stray files too. Idempotent."""
    now = timezone.now()
    deleted = 0
    for image in CardImage.objects.filter(created_at__lt=before, purged_at__isnull=True):
        card_file_delete(image.file_name)
        image.purged_at = now
        image.save(update_fields=["purged_at"])
        deleted += 1
    CardUpload.objects.filter(created_at__lt=before, payload_purged_at__isnull=True).update(
        reading="", payload_purged_at=now
    )
    OcrReview.objects.filter(created_at__lt=before).exclude(confirmed="").update(confirmed="")
    known = set(CardImage.objects.filter(purged_at__isnull=True).values_list("file_name", flat=True))
    return deleted + orphan_files_delete(older_than_seconds=3600, known=known)


def card_uploads_requeue(*, now: dt.datetime | None = None) -> int:
    """Sweeper: queue the OCR job again for uploads whose task was lost or whose reader died."""
    now = now or timezone.now()
    stale = CardUpload.objects.filter(state=CardUpload.State.QUEUED, updated_at__lt=now - dt.timedelta(minutes=1)) | (
        CardUpload.objects.filter(state=CardUpload.State.READING, lease_until__lt=now)
    )
    count = 0
    for upload_id in stale.values_list("pk", flat=True):
        enqueue("intake.tasks.read_card_upload", upload_id)
        count += 1
    return count
