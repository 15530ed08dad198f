"""Models of the payments app: payment intents, their Clover operations (a ledger), webhook hints, copay checks.

Money is integer cents. No card number is ever accepted or stored: the portal sends Clover's card
token, which is kept encrypted only until the charge reaches a final state.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from hub.fields import EncryptedTextField
from sync.outbound import OutboundEffect, OutboundEffectEvent, OutboundEffectQuerySet


class LocationQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> LocationQuerySet:
        from hub.models import Department

        return self.filter(department__in=Department.objects.for_user(user))

    def for_departments(self, departments: Any) -> LocationQuerySet:
        return self.filter(department__in=departments)


class Payment(models.Model):
    """A payment the portal creates for a patient (an appointment's copay, or a balance) and then completes."""

    class Kind(models.TextChoices):
        COPAY = "copay", "Copay"
        BALANCE = "balance", "Balance"

    class Status(models.TextChoices):
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Waiting for a card"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Failed (declined or refused)"
        VOIDED = "voided", "Voided"
        REFUNDED = "refunded", "Refunded in full"
        NEEDS_ATTENTION = "needs_attention", "Needs staff attention"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="The portal's handle")
    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, related_name="payments")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="payments")
    appointment = models.ForeignKey(
        "hub.Appointment", on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.REQUIRES_PAYMENT_METHOD)
    clover_charge_id = models.CharField(max_length=40, blank=True, db_index=True)
    amount_refunded_cents = models.PositiveIntegerField(default=0, help_text="As Clover last reported it")
    failure_code = models.CharField(max_length=40, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True, help_text="Last time Clover was asked")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LocationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["appointment", "kind"], name="payment_appointment_idx"),
            models.Index(fields=["department", "status"], name="payment_location_idx"),
        ]
        permissions = [("refund_payment", "Can refund or void payments")]

    def __str__(self) -> str:
        return f"Payment {self.public_id}"

    @property
    def net_cents(self) -> int:
        """What the practice keeps of this payment."""
        if self.status not in (self.Status.SUCCEEDED, self.Status.REFUNDED):
            return 0
        return max(0, self.amount_cents - self.amount_refunded_cents)


class PaymentOperationQuerySet(OutboundEffectQuerySet):
    def for_user(self, user: Any) -> PaymentOperationQuerySet:
        from hub.models import Department

        return self.filter(payment__department__in=Department.objects.for_user(user))


class PaymentOperation(OutboundEffect):
    """One financial call to Clover (charge, refund, void), keyed before its first attempt."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        VOID = "void", "Void"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="operations")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount_cents = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=64, unique=True, help_text="Sent on every attempt of this call")
    card_token = EncryptedTextField(blank=True, help_text="Clover's card token, kept only until the charge settles")
    clover_object_id = models.CharField(max_length=40, blank=True, help_text="The charge or refund Clover made")
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    objects = PaymentOperationQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        permissions = [("retry_paymentoperation", "Can retry parked or failed payment operations")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class PaymentOperationEvent(OutboundEffectEvent):
    effect = models.ForeignKey(PaymentOperation, on_delete=models.CASCADE, related_name="events")

    class Meta(OutboundEffectEvent.Meta):
        pass


class CloverWebhookHint(models.Model):
    """A Clover webhook: only a hint that a payment changed (Clover does not promise delivery); polled to settle."""

    event_key = models.CharField(max_length=120, unique=True)
    object_id = models.CharField(max_length=60)
    change = models.CharField(max_length=16, blank=True)
    payment = models.ForeignKey(Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Clover hint {self.object_id}"


class AppointmentCopay(models.Model):
    """The copay check of one visit: what athena expects against what Clover collected."""

    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        UNPAID = "unpaid", "Unpaid"
        NO_COPAY = "no_copay", "No copay due"
        MISMATCHED = "mismatched", "Mismatched"
        UNKNOWN = "unknown", "Not known yet"

    appointment = models.OneToOneField("hub.Appointment", on_delete=models.CASCADE, related_name="copay_check")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    expected_cents = models.PositiveIntegerField(null=True, blank=True, help_text="athena's copay for the visit")
    collected_cents = models.PositiveIntegerField(default=0, help_text="Net of refunds and voids, per Clover")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNKNOWN, db_index=True)
    reason = models.CharField(max_length=200, blank=True)
    checked_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution_note = models.CharField(max_length=300, blank=True)

    objects = LocationQuerySet.as_manager()

    class Meta:
        ordering = ["-checked_at"]
        verbose_name = "copay check"
        permissions = [("resolve_appointmentcopay", "Can resolve copay mismatches")]

    def __str__(self) -> str:
        return f"Copay check of appointment #{self.appointment_id}"

    @property
    def is_open_mismatch(self) -> bool:
        return self.status == self.Status.MISMATCHED and self.resolved_at is None
