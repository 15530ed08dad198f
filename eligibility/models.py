"""Models of the eligibility app: checks and their attempts, card signals, denial-risk scores.

A check is one question ("is this insurance active for this visit's service on this date?") and
its answer; each 270 sent (or benefitdetails request made) for it is an attempt, kept with its raw
X12 (encrypted, purged after `HUB_PAYLOAD_RETENTION_DAYS`). The check's row is the truth; a queued
task only nudges a worker, as in the write-back ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models

from hub.fields import EncryptedTextField
from hub.models import LocationScopedQuerySet


class EligibilityCheckQuerySet(LocationScopedQuerySet):
    department_path = "department"

    def due(self, *, now: dt.datetime) -> EligibilityCheckQuerySet:
        """Checks a worker may run now: waiting ones whose time came, in-flight ones whose lease ran out."""
        waiting = models.Q(state__in=[EligibilityCheck.State.PENDING, EligibilityCheck.State.WAITING])
        waiting &= models.Q(next_attempt_at__lte=now)
        abandoned = models.Q(state=EligibilityCheck.State.IN_FLIGHT, lease_until__lt=now)
        return self.filter(waiting | abandoned).order_by("next_attempt_at", "pk")

    def open(self) -> EligibilityCheckQuerySet:
        return self.filter(state__in=EligibilityCheck.OPEN_STATES)


class EligibilityCheck(models.Model):
    """One eligibility question about one insurance for one date of service, and its answer."""

    class Route(models.TextChoices):
        CLEARINGHOUSE = "clearinghouse", "Clearinghouse (our own 270)"
        ATHENA = "athena", "athena benefitdetails"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "Asking the payer"
        WAITING = "waiting", "Waiting (payer answer or retry due later)"
        DONE = "done", "Answered"
        INCOMPLETE = "incomplete", "Not asked: details missing"
        FAILED = "failed", "Failed"

    class Result(models.TextChoices):
        NONE = "", "No answer yet"
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        REJECTED = "rejected", "Rejected by payer"
        ERROR = "error", "Check failed"

    class Trigger(models.TextChoices):
        BOOKING = "booking", "Visit booked"
        SCHEDULE = "schedule", "Scheduled re-check before a visit"
        CARD = "card", "Insurance card read"
        PORTAL = "portal", "Insurance entered on the portal"
        STAFF = "staff", "Asked by staff"

    OPEN_STATES = ("pending", "in_flight", "waiting")
    FINAL_STATES = ("done", "incomplete", "failed")

    patient = models.ForeignKey("hub.Patient", on_delete=models.CASCADE, related_name="eligibility_checks")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="+")
    insurance = models.ForeignKey("hub.PatientInsurance", on_delete=models.CASCADE, related_name="eligibility_checks")
    appointment = models.ForeignKey(
        "hub.Appointment", on_delete=models.SET_NULL, null=True, blank=True, related_name="eligibility_checks"
    )
    route = models.CharField(max_length=16, choices=Route.choices)
    service_type = models.CharField(max_length=3, default="30", help_text="X12 service type code (EQ01)")
    date_of_service = models.DateField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    member_id = EncryptedTextField(blank=True, help_text="The member id as first read (card, portal or EHR)")
    verified_member_id = EncryptedTextField(blank=True, help_text="The member id the payer confirmed")

    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    result = models.CharField(max_length=10, choices=Result.choices, blank=True, default=Result.NONE)
    message = models.CharField(max_length=300, blank=True, help_text="What staff should know, in a sentence")
    missing_fields = models.JSONField(default=list, blank=True, help_text="Labels of details a 270 needs")
    rejections = models.JSONField(default=list, blank=True, help_text="AAA / 999 / TA1 codes of the answer")
    summary = models.JSONField(default=dict, blank=True, help_text="Plan, copay, deductible, flags (no identity)")
    attempts = models.PositiveSmallIntegerField(default=0)
    transport_failures = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = EligibilityCheckQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="eligibility_due_idx"),
            models.Index(fields=["insurance", "state"], name="eligibility_insurance_idx"),
        ]

    def __str__(self) -> str:
        return f"Eligibility check #{self.pk}"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES


class EligibilityAttempt(models.Model):
    """One inquiry of a check: the 270 sent (or athena's check requested) and the answer received."""

    class Outcome(models.TextChoices):
        SENT = "sent", "Sent, no answer yet"
        ANSWERED = "answered", "Answered"
        TRANSIENT = "transient", "Failed, will retry"
        PERMANENT = "permanent", "Refused"
        UNREADABLE = "unreadable", "Answer could not be read"

    eligibility_check = models.ForeignKey(EligibilityCheck, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveSmallIntegerField()
    route = models.CharField(max_length=16, choices=EligibilityCheck.Route.choices)
    member_id = EncryptedTextField(blank=True)
    control_number = models.CharField(max_length=9, blank=True, help_text="ISA13 of the 270")
    reference = models.CharField(max_length=50, blank=True, help_text="BHT03, echoed by the payer")
    request_x12 = EncryptedTextField(blank=True)
    response_x12 = EncryptedTextField(blank=True)
    response_type = models.CharField(max_length=3, blank=True, help_text="271, 999 or TA1")
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.SENT)
    status = models.CharField(max_length=10, blank=True, help_text="active, inactive, rejected or unknown")
    rejections = models.JSONField(default=list, blank=True)
    decision = models.CharField(max_length=24, blank=True, help_text="What followed: done, retry_later, ...")
    error = models.CharField(max_length=200, blank=True, help_text="Safe summary: statuses and codes")
    calls = models.PositiveSmallIntegerField(default=0, help_text="HTTP calls this attempt made")
    sent_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    payload_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["eligibility_check_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["eligibility_check", "number"], name="eligibility_attempt_number")
        ]
        indexes = [models.Index(fields=["sent_at"], name="eligibility_attempt_sent_idx")]

    def __str__(self) -> str:
        return f"Attempt {self.number} of check #{self.eligibility_check_id}"


class CardSignal(models.Model):
    """What the latest card reading says about an insurance's reliability (for the denial-risk score)."""

    insurance = models.OneToOneField("hub.PatientInsurance", on_delete=models.CASCADE, related_name="card_signal")
    member_id_confidence = models.FloatField(null=True, blank=True)
    member_id_confusable = models.BooleanField(default=False)
    card_name_match = models.FloatField(null=True, blank=True, help_text="0-1, card name against the registration")
    cards_uploaded = models.PositiveSmallIntegerField(default=1, help_text="Insurances of the patient with a card")
    read_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"card signal of insurance #{self.insurance_id}"


class DenialRiskQuerySet(LocationScopedQuerySet):
    department_path = "department"


class DenialRisk(models.Model):
    """The denial-risk score of one upcoming visit, with the reasons staff see."""

    appointment = models.OneToOneField("hub.Appointment", on_delete=models.CASCADE, related_name="denial_risk")
    patient = models.ForeignKey("hub.Patient", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="+")
    insurance = models.ForeignKey(
        "hub.PatientInsurance", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    eligibility_check = models.ForeignKey(
        EligibilityCheck, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    probability = models.FloatField()
    band = models.CharField(max_length=6)
    reasons = models.JSONField(default=list, help_text="[{code, sentence, carcs, contribution}], most weight first")
    rules_fired = models.JSONField(default=list)
    features = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    objects = DenialRiskQuerySet.as_manager()

    class Meta:
        ordering = ["-probability"]
        verbose_name = "denial risk"

    def __str__(self) -> str:
        return f"Denial risk of appointment {self.appointment_id}"

    @property
    def score(self) -> int:
        return round(self.probability * 100)

    @property
    def label(self) -> str:
        return f"{self.band.capitalize()} ({self.score})"

    @property
    def top_reason(self) -> dict[str, Any] | None:
        return self.reasons[0] if self.reasons else None
