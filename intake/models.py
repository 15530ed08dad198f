"""Models of the portal-facing API: clients, idempotency keys, submissions, intake forms."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


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
        BOOK = "book", "Booking"
        CANCEL = "cancel", "Cancellation"
        RESCHEDULE = "reschedule", "Reschedule"
        CHECK_IN = "check_in", "Check-in"

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        NEEDS_ATTENTION = "needs_attention", "Needs staff attention"

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
