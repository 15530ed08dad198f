"""Models of the notify app: message templates, the outbound-message ledger, opt-outs, Twilio callbacks.

No phone number and no message body is stored: a message is rendered from its template and the
patient's current values when it is sent, numbers are kept as keyed hashes, and the Twilio-side
copy is found again by a short marker the hub puts in every body.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from sync.outbound import OutboundEffect, OutboundEffectEvent, OutboundEffectQuerySet


class MessageKind(models.TextChoices):
    BOOKING_CONFIRMATION = "booking_confirmation", "Booking confirmation"
    REMINDER_48H = "reminder_48h", "Reminder 48 hours before"
    REMINDER_2H = "reminder_2h", "Reminder 2 hours before"
    CHECK_IN_LINK = "check_in_link", "Check-in link on the day"
    NEEDS_ATTENTION = "needs_attention", "Details need attention"


class MessageTemplate(models.Model):
    """The words of one kind of message, editable by integration admins (placeholders only, no PHI fields)."""

    kind = models.CharField(max_length=24, choices=MessageKind.choices, unique=True)
    body = models.TextField(
        max_length=300,
        help_text="Placeholders: {first_name} {practice} {date} {time} {link}. "
        "The opt-out line and a reference code are added to every message.",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive: the built-in wording is used")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()

    def clean(self) -> None:
        from notify.wording import template_problems

        problems = template_problems(self.body)
        if problems:
            raise ValidationError({"body": problems})


class OutboundMessageQuerySet(OutboundEffectQuerySet):
    def for_user(self, user: Any) -> OutboundMessageQuerySet:
        from hub.models import Department

        return self.filter(department__in=Department.objects.for_user(user))


class OutboundMessage(OutboundEffect):
    """One SMS to one patient: deduplicated on (patient, appointment, kind), sent at most once."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, related_name="sms_messages")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="sms_messages")
    appointment = models.ForeignKey(
        "hub.Appointment", on_delete=models.PROTECT, null=True, blank=True, related_name="sms_messages"
    )
    kind = models.CharField(max_length=24, choices=MessageKind.choices)
    reference = models.CharField(max_length=80, blank=True, help_text="What a needs-attention message is about")
    marker = models.CharField(max_length=8, help_text="Reference code in the body, to find the message in Twilio")
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, help_text="Keyed hash of the number")
    planned_for = models.DateTimeField(null=True, blank=True, help_text="The appointment start it was planned for")
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    message_sid = models.CharField(max_length=40, blank=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When Twilio accepted it")
    delivery_status = models.CharField(max_length=12, blank=True)
    delivery_error_code = models.PositiveIntegerField(null=True, blank=True)
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=120, blank=True)

    objects = OutboundMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["department", "state"], name="sms_location_idx"),
            models.Index(fields=["appointment", "kind"], name="sms_appointment_idx"),
        ]
        permissions = [("retry_outboundmessage", "Can retry parked or failed text messages")]

    def __str__(self) -> str:
        return f"SMS #{self.pk} {self.kind}"


class OutboundMessageEvent(OutboundEffectEvent):
    effect = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="events")

    class Meta(OutboundEffectEvent.Meta):
        pass


class SmsOptOut(models.Model):
    """A number that said STOP (per number, with the patients known at it); START clears it."""

    class Source(models.TextChoices):
        REPLY = "reply", "Patient replied STOP"
        TWILIO = "twilio", "Twilio refused (21610)"
        STAFF = "staff", "Recorded by staff"

    phone_hash = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    opted_out_at = models.DateTimeField()
    opted_in_at = models.DateTimeField(null=True, blank=True)
    patients = models.ManyToManyField("hub.Patient", blank=True, related_name="sms_opt_outs")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SMS opt-out"
        ordering = ["-opted_out_at"]

    def __str__(self) -> str:
        return f"Opt-out #{self.pk} ({'active' if self.is_active else 'cleared'})"


class InboundSms(models.Model):
    """A text a patient sent to the hub's number, stored before it is acknowledged (the body is not kept)."""

    message_sid = models.CharField(max_length=40, unique=True)
    phone_hash = models.CharField(max_length=64, db_index=True)
    keyword = models.CharField(max_length=8, blank=True, help_text="STOP, START, HELP or empty")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "inbound SMS"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Inbound SMS {self.message_sid}"


class DeliveryReport(models.Model):
    """One Twilio status callback: unique per message and status, so a repeat adds nothing."""

    message_sid = models.CharField(max_length=40)
    status = models.CharField(max_length=12)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["message_sid", "status"], name="delivery_report_once")]

    def __str__(self) -> str:
        return f"{self.message_sid} {self.status}"
