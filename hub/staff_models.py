"""Models of the staff UI's operations side: alerts and the audit-chain verification checkpoint.

Imported by `hub.models`, so they belong to the `hub` app like every other core model.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Alert(models.Model):
    """One occurrence of an alert condition, from the evaluation that opened it to the one that cleared it.

    `summary` carries counts, ids and codes only: alerts are emailed and shown in a banner.
    """

    condition = models.CharField(max_length=64, help_text="Key of the registered alert condition")
    subject = models.CharField(max_length=64, blank=True, help_text="What it is about, e.g. a location id")
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    department_ref = models.CharField(max_length=20, blank=True, help_text="Hub department id")
    audience = models.CharField(max_length=200, help_text="Comma-separated role names that see the banner")
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    open_notified_at = models.DateTimeField(null=True, blank=True)
    close_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["condition", "subject"], condition=Q(closed_at__isnull=True), name="alert_one_open_per_subject"
            )
        ]
        indexes = [models.Index(fields=["closed_at", "opened_at"], name="alert_state_idx")]
        permissions = [("view_location_dashboard", "Can see the location dashboard")]

    def __str__(self) -> str:
        return f"Alert #{self.pk} {self.condition}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def audience_roles(self) -> set[str]:
        return {role.strip() for role in self.audience.split(",") if role.strip()}


class AuditCheckpoint(models.Model):
    """How far the audit chain is known to be intact, so scheduled checks read only new rows."""

    verified_sequence = models.BigIntegerField(default=0)
    verified_hash = models.CharField(max_length=64, blank=True)
    rows_checked = models.BigIntegerField(default=0)
    broken_sequence = models.BigIntegerField(null=True, blank=True)
    broken_reason = models.CharField(max_length=200, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    # A full walk in progress (it runs a time budget per scheduled check): where it got to.
    full_walk_sequence = models.BigIntegerField(null=True, blank=True)
    full_walk_hash = models.CharField(max_length=64, blank=True)
    full_walk_rows = models.BigIntegerField(default=0)
    full_walk_requested_by = models.CharField(max_length=200, blank=True, help_text="user id:username")

    def __str__(self) -> str:
        return f"Audit chain verified to #{self.verified_sequence}"
