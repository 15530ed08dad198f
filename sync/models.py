"""Models of the sync app: imports from athena, the write-intent ledger, inbound and outbound events."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from hub.fields import EncryptedTextField


class ImportRun(models.Model):
    """One pull of athena's data into the hub; re-running an unfinished run resumes it."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    since = models.DateField(null=True, blank=True)
    stages_done = models.JSONField(default=list, blank=True)
    departments_done = models.JSONField(default=dict, blank=True, help_text="stage -> department ids done")
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"athena import #{self.pk}"


class WriteIntentQuerySet(models.QuerySet):
    def for_user(self, user: object) -> WriteIntentQuerySet:
        from hub.models import Department

        return self.filter(department__in=Department.objects.for_user(user))

    def unblocked(self) -> WriteIntentQuerySet:
        """Intents no earlier open intent of the same patient is holding back."""
        earlier_open = WriteIntent.objects.filter(
            patient_id=models.OuterRef("patient_id"),
            pk__lt=models.OuterRef("pk"),
            state__in=WriteIntent.OPEN_STATES,
        )
        return self.exclude(models.Exists(earlier_open))

    def due(self, *, now: object) -> WriteIntentQuerySet:
        """Intents a worker may claim now, respecting per-patient order.

        Pending or ambiguous intents whose time has come, and in-flight ones whose lease ran out
        (their worker died: they are reconciled, never resent blindly). An intent waits while an
        earlier intent of the same patient is not final, so one patient's writes stay in order and
        a parked patient holds back only its own queue.
        """
        waiting = models.Q(state__in=[WriteIntent.State.PENDING, WriteIntent.State.AMBIGUOUS], next_attempt_at__lte=now)
        abandoned = models.Q(
            state__in=[WriteIntent.State.IN_FLIGHT, WriteIntent.State.RECONCILING], lease_until__lt=now
        )
        return self.filter(waiting | abandoned).unblocked().order_by("next_attempt_at", "pk")


class WriteIntent(models.Model):
    """One write to athena, from its creation in the submission's transaction to a final state.

    The row is the truth; a queued task is only a nudge. Values are read from the hub's rows when
    the intent runs, so the ledger itself holds ids and field names, not PHI.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        AMBIGUOUS = "ambiguous", "Outcome unknown (will reconcile)"
        RECONCILING = "reconciling", "Reconciling with athena"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PARKED = "parked", "Parked (needs staff)"
        CANCELLED = "cancelled", "Cancelled"

    class Operation(models.TextChoices):
        CREATE_PATIENT = "create_patient", "Register patient"
        UPDATE_PATIENT = "update_patient", "Update demographics"
        CREATE_INSURANCE = "create_insurance", "Add insurance"
        UPDATE_INSURANCE = "update_insurance", "Update insurance"
        UPLOAD_CARD = "upload_card", "Upload insurance card image"
        ADD_DOCUMENT = "add_document", "File intake form"
        BOOK_APPOINTMENT = "book_appointment", "Book appointment"
        CANCEL_APPOINTMENT = "cancel_appointment", "Cancel appointment"
        RESCHEDULE_APPOINTMENT = "reschedule_appointment", "Reschedule appointment"
        CHECK_IN = "check_in", "Check in"

    OPEN_STATES = ("pending", "in_flight", "ambiguous", "reconciling", "parked")
    FINAL_STATES = ("succeeded", "failed", "cancelled")
    # The allowed moves of the state machine; `sync.services.intent_transition` enforces them.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        "pending": ("in_flight", "reconciling", "cancelled", "parked", "failed"),
        "in_flight": ("succeeded", "failed", "pending", "ambiguous", "parked", "reconciling"),
        "ambiguous": ("reconciling", "parked", "cancelled"),
        "reconciling": ("succeeded", "pending", "in_flight", "failed", "parked", "ambiguous"),
        "parked": ("pending", "cancelled", "failed"),
        "succeeded": (),
        "failed": ("pending",),
        "cancelled": (),
    }

    practice = models.ForeignKey("hub.Practice", on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="write_intents")
    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, related_name="write_intents")
    operation = models.CharField(max_length=32, choices=Operation.choices)
    natural_key = models.CharField(max_length=200, unique=True)
    target = models.JSONField(default=dict, blank=True, help_text="Ids and field names this write needs")
    depends_on = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="dependents")
    replay_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="replays")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=8)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=300, blank=True, help_text="Safe summary: statuses and field names")
    last_error_kind = models.CharField(max_length=16, blank=True)
    athena_message = models.TextField(blank=True, help_text="athena's own words; may quote values, staff only")
    result = models.JSONField(default=dict, blank=True, help_text="athena ids of what was written")
    reconciled = models.BooleanField(default=False, help_text="Outcome was settled by reading athena back")
    must_reconcile = models.BooleanField(
        default=False, help_text="An earlier attempt may have reached athena: read back before writing"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = WriteIntentQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["patient", "state", "id"], name="intent_patient_order_idx"),
            models.Index(fields=["department", "state"], name="intent_location_idx"),
        ]
        permissions = [("replay_writeintent", "Can replay parked or failed writes")]

    def __str__(self) -> str:
        return f"Intent #{self.pk} {self.operation}"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES


class IntentEvent(models.Model):
    """The history of an intent: every state change with its reason (no PHI)."""

    intent = models.ForeignKey(WriteIntent, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=12)
    to_state = models.CharField(max_length=12)
    attempt = models.PositiveSmallIntegerField(default=0)
    note = models.CharField(max_length=300, blank=True)
    actor = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


class InboundEventQuerySet(models.QuerySet):
    def for_user(self, user: object) -> InboundEventQuerySet:
        from hub.models import Department

        return self.filter(models.Q(department__in=Department.objects.for_user(user)))


class InboundEvent(models.Model):
    """A change athena told us about (webhook, changed feed, reconciliation), stored before it is acknowledged."""

    class Source(models.TextChoices):
        WEBHOOK = "athena-webhook", "athena webhook"
        FEED = "athena-feed", "athena changed-data feed"
        RECONCILE = "reconcile", "reconciliation"

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        DUPLICATE = "ignored-duplicate", "Ignored (duplicate)"
        CONFLICT = "conflict", "Raised a conflict"
        PARKED = "parked", "Parked (needs staff)"

    source = models.CharField(max_length=20, choices=Source.choices)
    event_id = models.CharField(max_length=120)
    topic = models.CharField(max_length=60, blank=True)
    resource_type = models.CharField(max_length=20, help_text="patient | appointment")
    resource_id = models.CharField(max_length=30, help_text="athena id")
    athena_department_id = models.CharField(max_length=20, blank=True)
    department = models.ForeignKey("hub.Department", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    patient = models.ForeignKey("hub.Patient", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    occurred_at = models.DateTimeField(help_text="When athena committed the change")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    body = models.JSONField(null=True, blank=True, help_text="Raw notification; purged by retention")
    state = models.CharField(max_length=20, choices=State.choices, default=State.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    changed_fields = models.JSONField(default=list, blank=True)

    objects = InboundEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="inbound_event_once")]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="inbound_due_idx"),
            models.Index(fields=["resource_type", "resource_id"], name="inbound_resource_idx"),
            models.Index(fields=["department", "received_at"], name="inbound_location_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.topic or self.resource_type} {self.resource_id}"


class ConflictQuerySet(models.QuerySet):
    def for_user(self, user: object) -> ConflictQuerySet:
        from hub.models import Department

        return self.filter(department__in=Department.objects.for_user(user))

    def open(self) -> ConflictQuerySet:
        return self.filter(status=Conflict.Status.OPEN)


class Conflict(models.Model):
    """Portal and EHR both changed a field the policy will not decide alone: staff choose."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved by staff"
        CONVERGED = "converged", "Settled (both sides agree again)"

    class Choice(models.TextChoices):
        PORTAL = "portal", "Portal value"
        EHR = "ehr", "EHR value"
        EDITED = "edited", "Edited value"

    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, related_name="conflicts")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="conflicts")
    field = models.CharField(max_length=50)
    portal_value = EncryptedTextField(blank=True)
    ehr_value = EncryptedTextField(blank=True)
    baseline_value = EncryptedTextField(blank=True)
    rule = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    resolved_value = EncryptedTextField(blank=True)
    reason = models.CharField(max_length=300, blank=True)

    objects = ConflictQuerySet.as_manager()

    class Meta:
        ordering = ["opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "field"], condition=models.Q(status="open"), name="one_open_conflict_per_field"
            )
        ]
        permissions = [("resolve_conflict", "Can resolve conflicts")]

    def __str__(self) -> str:
        return f"Conflict #{self.pk} on {self.field}"


class WebhookEndpoint(models.Model):
    """The portal's webhook receiver: its health, and whether it asked us to stop (410)."""

    url = models.URLField(max_length=500, unique=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.url


class PortalEventQuerySet(models.QuerySet):
    def for_departments(self, departments: object) -> PortalEventQuerySet:
        return self.filter(department__in=departments)


class PortalEvent(models.Model):
    """Something the portal should know about, written in the same transaction as the change.

    Thin: a type, ids and changed field names; the portal fetches details through the API.
    `pk` is the backfill cursor; `public_id` is the Standard Webhooks `webhook-id`.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Gave up (72 h)"
        HELD = "held", "Held (endpoint disabled)"

    public_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=40)
    patient = models.ForeignKey("hub.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    department = models.ForeignKey("hub.Department", on_delete=models.PROTECT, related_name="+")
    data = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    source_changed_at = models.DateTimeField(null=True, blank=True, help_text="athena commit time, for lag")

    objects = PortalEventQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="portalevent_due_idx"),
            models.Index(fields=["patient", "state", "id"], name="portalevent_order_idx"),
            models.Index(fields=["department", "id"], name="portalevent_cursor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class PortalDelivery(models.Model):
    """One attempt to deliver a portal event: the delivery log."""

    event = models.ForeignKey(PortalEvent, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"delivery {self.attempt} of {self.event_id}"


class FeedState(models.Model):
    """Our subscription to one athena changed-data feed and when it was last read."""

    feed = models.CharField(max_length=40, unique=True)
    subscribed_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_record_count = models.PositiveIntegerField(default=0)
    last_settled_count = models.PositiveIntegerField(
        default=0, help_text="Records of the last read that needed nothing (already merged, or superseded)"
    )

    def __str__(self) -> str:
        return self.feed
