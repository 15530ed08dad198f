"""Models of the portal-facing API: clients, idempotency keys, submissions, intake forms, insurance cards."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from hub.fields import EncryptedTextField
from hub.models import LocationScopedQuerySet


class PortalClient(models.Model):
    """A portal (OAuth application) and the locations it may see and change."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="portal_client"
    )
    name = models.CharField(max_length=100, unique=True)
    departments = models.ManyToManyField("hub.Department", blank=True, related_name="portal_clients")
    all_locations = models.BooleanField(default=False)
    scopes = models.CharField(max_length=300, help_text="Space-separated scopes this client may ask for")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split())


class PortalClientSecret(models.Model):
    """A rotated-out client secret that keeps working until `expires_at` (hashed, never shown)."""

    client = models.ForeignKey(PortalClient, on_delete=models.CASCADE, related_name="previous_secrets")
    secret_hash = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"previous secret of {self.client} until {self.expires_at:%Y-%m-%d %H:%M}"


class IdempotencyKey(models.Model):
    """A portal request's Idempotency-Key: claimed before work starts, then its stored response."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    client = models.ForeignKey(PortalClient, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, route and body")
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    locked_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"Idempotency key #{self.pk}"


class SubmissionQuerySet(models.QuerySet):
    def for_client(self, client: PortalClient) -> SubmissionQuerySet:
        return self.filter(client=client)


class Submission(models.Model):
    """One accepted portal write; its intents carry it to athena."""

    class Kind(models.TextChoices):
        REGISTER_PATIENT = "register_patient", "Registration"
        UPDATE_DEMOGRAPHICS = "update_demographics", "Demographic update"
        INTAKE_FORM = "intake_form", "Intake form"
        INSURANCE = "insurance", "Insurance"
        INSURANCE_CARD = "insurance_card", "Insurance card"
        BOOK = "book", "Booking"
        CANCEL = "cancel", "Cancellation"
        RESCHEDULE = "reschedule", "Reschedule"
        CHECK_IN = "check_in", "Check-in"

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        NEEDS_ATTENTION = "needs_attention", "Needs staff attention"
        NEEDS_CONFIRMATION = "needs_confirmation", "Needs confirmation (staff check a card reading)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(PortalClient, on_delete=models.PROTECT, related_name="submissions")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, related_name="submissions")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="submissions")
    intents = models.ManyToManyField("sync.WriteIntent", related_name="submissions", blank=True)
    fields = models.JSONField(default=list, blank=True, help_text="Names of the fields this submission set")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Submission {self.public_id}"


class IntakeForm(models.Model):
    """A questionnaire the patient filled in on the portal; append-only, never merged."""

    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, related_name="intake_forms")
    form_name = models.CharField(max_length=100)
    form_version = models.CharField(max_length=20, blank=True)
    answers = models.JSONField(default=dict)
    consents = models.JSONField(default=dict)
    signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Intake form #{self.pk}"


# --- insurance cards (issue 6) --------------------------------------------------------------------


class CardUploadQuerySet(LocationScopedQuerySet):
    department_path = "department"


class CardUpload(models.Model):
    """An insurance card the portal sent (front, optionally back) and what OCR read from it.

    The reading is PHI and stored encrypted; confidences, the fields to confirm and the payer match
    are not. The OCR job takes the upload's id, never its images.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting to be read"
        READING = "reading", "Being read"
        NEEDS_REVIEW = "needs_review", "Waiting for staff to confirm fields"
        READ = "read", "Read and accepted"
        UNREADABLE = "unreadable", "Unreadable: a new photo is needed"
        FAILED = "failed", "Could not be read (OCR unavailable)"

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="card_upload")
    patient = models.ForeignKey("hub.Patient", on_delete=models.CASCADE, related_name="card_uploads")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="+")
    insurance = models.ForeignKey(
        "hub.PatientInsurance", on_delete=models.SET_NULL, null=True, blank=True, related_name="card_uploads"
    )
    sequence_number = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=14, choices=State.choices, default=State.QUEUED, db_index=True)
    reading = EncryptedTextField(blank=True, help_text="JSON: the fields OCR read (PHI)")
    confidence = models.JSONField(default=dict, blank=True)
    to_confirm = models.JSONField(default=list, blank=True, help_text="Field names staff must confirm")
    payer_match = models.JSONField(default=dict, blank=True, help_text="Payer list match: name, score, decision")
    error = models.CharField(max_length=200, blank=True, help_text="Safe summary, no image content")
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    payload_purged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CardUploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Card upload #{self.pk}"


class CardImage(models.Model):
    """One side of a card: an encrypted file under HUB_PRIVATE_MEDIA_DIR, never a public path."""

    class Side(models.TextChoices):
        FRONT = "front", "Front"
        BACK = "back", "Back"

    upload = models.ForeignKey(CardUpload, on_delete=models.CASCADE, related_name="images")
    side = models.CharField(max_length=5, choices=Side.choices)
    file_name = models.CharField(max_length=80, help_text="Encrypted file in the private media folder")
    content_type = models.CharField(max_length=20)
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["upload_id", "side"]
        constraints = [models.UniqueConstraint(fields=["upload", "side"], name="card_image_one_per_side")]

    def __str__(self) -> str:
        return f"{self.side} of card upload #{self.upload_id}"


class OcrReviewQuerySet(LocationScopedQuerySet):
    department_path = "department"

    def open(self) -> OcrReviewQuerySet:
        return self.filter(status=OcrReview.Status.OPEN)


class OcrReview(models.Model):
    """A card reading staff must confirm: low-confidence or confusable fields, the image beside them."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for staff"
        ACCEPTED = "accepted", "Confirmed by staff"
        NEW_PHOTO = "new_photo", "A new photo was asked for"

    upload = models.OneToOneField(CardUpload, on_delete=models.CASCADE, related_name="review")
    patient = models.ForeignKey("hub.Patient", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    fields = models.JSONField(default=list, help_text="Names of the fields to confirm")
    confirmed = EncryptedTextField(blank=True, help_text="JSON: the values staff confirmed or typed (PHI)")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OcrReviewQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        verbose_name = "OCR review"
        permissions = [("review_ocrreview", "Can confirm or correct card readings")]

    def __str__(self) -> str:
        return f"OCR review #{self.pk}"
