"""Staff pages of insurance cards: the OCR review queue (the image beside the fields) and every upload.

- Lists and pages show only the user's locations; another location's card answers 404.
- Card images are PHI: they are decrypted only for staff holding `intake.view_cardimage`, by a view
  that writes an access-log row per image shown and forbids caching.
- Confirming fields needs `intake.review_ocrreview`; compliance looks and never decides.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from hub.access_log import PHIAccessAdminMixin, phi_view_record
from hub.admin import LocationScopedAdmin, ReadOnlyAdminMixin, UserLocationFilter
from hub.staff_access import is_read_only
from hub.staff_home import PanelData, PanelRow, human_delta, register_panel, relative
from intake.card_storage import card_file_read
from intake.cards import REVIEWED, ocr_review_accept, ocr_review_new_photo
from intake.models import CardImage, CardUpload, OcrReview

NO_VALUE = "—"
# A card waiting longer than this is urgent: the patient may be at the desk before it is confirmed.
REVIEW_OVERDUE = dt.timedelta(hours=4)
FIELD_LABELS = {
    "payer_name": "Payer",
    "member_id": "Member ID",
    "group_number": "Group number",
    "subscriber_name": "Name on the card",
    "plan_type": "Plan type",
    "payer_id": "Payer ID (back)",
    "rx_bin": "RxBIN",
    "rx_pcn": "RxPCN",
    "rx_group": "RxGRP",
    "phone": "Member services phone",
}


def _may_review(request: HttpRequest) -> bool:
    return request.user.has_perm("intake.review_ocrreview") and not is_read_only(request.user)


def _patient_cell(patient: Any) -> str:
    return format_html("{} <span class='quiet'>#{}</span>", patient.display_name, patient.pk)


def _reading_rows(upload: CardUpload, to_confirm: list[str]) -> list[dict[str, Any]]:
    reading = json.loads(upload.reading or "{}")
    rows = []
    for name, label in FIELD_LABELS.items():
        confidence = upload.confidence.get(name)
        rows.append(
            {
                "name": name,
                "label": label,
                "value": reading.get(name) or "",
                "confidence": None if confidence is None else round(float(confidence) * 100),
                "confirm": name in to_confirm,
            }
        )
    return rows


def _card_context(request: HttpRequest, upload: CardUpload) -> dict[str, Any]:
    images = sorted(upload.images.all(), key=lambda image: image.side != CardImage.Side.FRONT)  # front first
    return {
        "upload": upload,
        "images": [image for image in images if image.purged_at is None],
        "purged": any(image.purged_at for image in images) or upload.payload_purged_at is not None,
        "may_see_images": request.user.has_perm("intake.view_cardimage"),
        "payer": upload.payer_match,
    }


@admin.register(CardUpload)
class CardUploadAdmin(ReadOnlyAdminMixin, PHIAccessAdminMixin, LocationScopedAdmin):
    """Every card the portal sent, its reading and where it went."""

    phi_object_type = "card_upload"
    list_display = ["card", "received", "department", "patient_cell", "state", "to_confirm_cell", "payer"]
    list_display_links = ["card"]
    list_filter = ["state", ("department", UserLocationFilter)]
    list_select_related = ["patient", "department"]
    search_fields = ["=id", "=patient__id"]

    @admin.display(description="Card", ordering="pk")
    def card(self, obj: CardUpload) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Received", ordering="created_at")
    def received(self, obj: CardUpload) -> str:
        return relative(obj.created_at)

    @admin.display(description="Patient", ordering="patient_id")
    def patient_cell(self, obj: CardUpload) -> str:
        return _patient_cell(obj.patient)

    @admin.display(description="To confirm")
    def to_confirm_cell(self, obj: CardUpload) -> str:
        return ", ".join(FIELD_LABELS.get(name, name) for name in obj.to_confirm) or NO_VALUE

    @admin.display(description="Payer match")
    def payer(self, obj: CardUpload) -> str:
        match = obj.payer_match or {}
        return f"{match.get('name') or '?'} ({match.get('decision', '—')})" if match else NO_VALUE

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:pk>/image/<str:side>/",
                self.admin_site.admin_view(self.image_view),
                name="intake_cardupload_image",
            )
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    page_related = ("patient", "department", "insurance", "submission")
    not_found = "No such card at your locations."

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """One card: the images, what was read, how sure the reader was, what followed."""
        upload = self.phi_opened(request, object_id)
        review = OcrReview.objects.filter(upload=upload).first()
        context = {
            **self.admin_site.each_context(request),
            **_card_context(request, upload),
            "title": f"Insurance card #{upload.pk}",
            "opts": self.model._meta,
            "rows": _reading_rows(upload, list(upload.to_confirm)),
            "review": review,
            "may_review": False,
        }
        return TemplateResponse(request, "intake/card_review.html", context)

    def image_view(self, request: HttpRequest, pk: int, side: str) -> HttpResponse:
        """One side of a card, decrypted for a permitted staff user; each view is access-logged."""
        if not request.user.has_perm("intake.view_cardimage"):
            raise PermissionDenied("You cannot see card images.")
        upload = CardUpload.objects.for_user(request.user).filter(pk=pk).first()
        if upload is None:
            raise Http404("No such card at your locations.")
        image = CardImage.objects.filter(upload=upload, side=side, purged_at__isnull=True).first()
        if image is None:
            raise Http404("No such image (it may have been purged).")
        try:
            data = card_file_read(image.file_name)
        except FileNotFoundError as exc:
            raise Http404("The image is no longer kept.") from exc
        phi_view_record(
            request,
            object_type="card_image",
            object_id=image.pk,
            patient_ref=upload.patient_id,
            department_ref=upload.department_id,
            detail={"side": image.side, "card_upload": upload.pk},
        )
        response = HttpResponse(data, content_type=image.content_type)
        response["Cache-Control"] = "no-store, private"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Disposition"] = "inline"
        return response


@admin.register(OcrReview)
class OcrReviewAdmin(ReadOnlyAdminMixin, PHIAccessAdminMixin, LocationScopedAdmin):
    """The OCR review queue: cards whose reading a person must confirm, oldest first."""

    phi_object_type = "ocr_review"
    list_display = ["review", "waiting", "department", "patient_cell", "fields_cell", "status"]
    list_display_links = ["review"]
    list_filter = ["status", ("department", UserLocationFilter)]
    list_select_related = ["patient", "department"]
    search_fields = ["=id", "=patient__id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).order_by("-status", "created_at")

    @admin.display(description="Review", ordering="pk")
    def review(self, obj: OcrReview) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Waiting", ordering="created_at")
    def waiting(self, obj: OcrReview) -> str:
        return human_delta(timezone.now() - obj.created_at) if obj.status == OcrReview.Status.OPEN else NO_VALUE

    @admin.display(description="Patient", ordering="patient_id")
    def patient_cell(self, obj: OcrReview) -> str:
        return _patient_cell(obj.patient)

    @admin.display(description="Fields to confirm")
    def fields_cell(self, obj: OcrReview) -> str:
        return ", ".join(FIELD_LABELS.get(name, name) for name in obj.fields)

    page_related = ("upload__insurance", "upload__submission", "patient", "department")
    not_found = "No such review at your locations."

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The card image beside the fields read; confirm or correct each doubtful one, or ask for a new photo."""
        review = self._visible(request, object_id)
        upload = review.upload
        may_review = _may_review(request) and review.status == OcrReview.Status.OPEN
        error = ""
        if request.method == "POST":
            if not may_review:
                raise PermissionDenied("You cannot review this card.")
            action = request.POST.get("action", "")
            try:
                if action == "accept":
                    values = {name: request.POST.get(f"field_{name}", "") for name in review.fields}
                    ocr_review_accept(review=review, values=values, actor=request.user)
                    self.message_user(request, f"Card #{upload.pk} confirmed; its coverage is being checked.")
                elif action == "new_photo":
                    ocr_review_new_photo(review=review, reason=request.POST.get("reason", ""), actor=request.user)
                    self.message_user(request, "The patient is asked for a new photo of the card.", messages.WARNING)
                else:
                    raise PermissionDenied("Unknown action.")
            except ValueError as exc:
                error = str(exc)
            else:
                following = self.get_queryset(request).filter(status=OcrReview.Status.OPEN).order_by("created_at")
                next_pk = following.values_list("pk", flat=True).first()
                if next_pk is not None:
                    return HttpResponseRedirect(reverse("admin:intake_ocrreview_change", args=[next_pk]))
                return HttpResponseRedirect(reverse("admin:intake_ocrreview_changelist"))
        else:
            phi_view_record(
                request,
                object_type=self.phi_object_type,
                object_id=review.pk,
                patient_ref=review.patient_id,
                department_ref=review.department_id,
            )
        context = {
            **self.admin_site.each_context(request),
            **_card_context(request, upload),
            "title": f"Confirm card #{upload.pk}",
            "opts": self.model._meta,
            "rows": _reading_rows(upload, list(review.fields)),
            "review": review,
            "may_review": may_review,
            "read_only": is_read_only(request.user),
            "error": error,
        }
        return TemplateResponse(request, "intake/card_review.html", context)


def ocr_reviews_panel(request: HttpRequest) -> PanelData:
    """Home page: cards waiting for a person to confirm their reading, oldest first."""
    now = timezone.now()
    waiting = OcrReview.objects.for_user(request.user).filter(status=OcrReview.Status.OPEN)
    waiting = waiting.select_related("patient", "department")
    rows = [
        PanelRow(
            cells=[
                human_delta(now - review.created_at),
                review.department.name,
                _patient_cell(review.patient),
                ", ".join(FIELD_LABELS.get(name, name) for name in review.fields),
            ],
            url=reverse("admin:intake_ocrreview_change", args=[review.pk]),
            urgent=now - review.created_at > REVIEW_OVERDUE,
            age=now - review.created_at,
        )
        for review in waiting.order_by("created_at")[:20]
    ]
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return PanelData(
        columns=["Waiting", "Location", "Patient", "Confirm"],
        rows=rows,
        count=waiting.count(),
        oldest_age=(now - oldest) if oldest else None,
        more_url=reverse("admin:intake_ocrreview_changelist"),
        empty_message="No card waits for confirmation.",
        phi_object_type="ocr_review",
    )


register_panel(
    "intake-ocr-reviews", "Insurance cards to confirm", ocr_reviews_panel, permission="intake.view_ocrreview"
)
assert set(REVIEWED) <= set(FIELD_LABELS)
