"""Models of the sync app: imports from athena, the write-intent ledger, inbound and outbound events."""

from __future__ import annotations

from django.db import models


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

    def due(self, *, now: object) -> WriteIntentQuerySet:
        """Intents a worker may claim now, respecting per-patient order.

        Pending or ambiguous intents whose time has come, and in-flight ones whose lease ran out
        (their worker died: they are reconciled, never resent blindly). An intent waits while an
        earlier intent of the same patient is not final, so one patient's writes stay in order and
        a parked patient holds back only its own queue.
        """
        earlier_open = WriteIntent.objects.filter(
            patient_id=models.OuterRef("patient_id"),
            pk__lt=models.OuterRef("pk"),
            state__in=WriteIntent.OPEN_STATES,
        )
        waiting = models.Q(state__in=[WriteIntent.State.PENDING, WriteIntent.State.AMBIGUOUS], next_attempt_at__lte=now)
        abandoned = models.Q(
            state__in=[WriteIntent.State.IN_FLIGHT, WriteIntent.State.RECONCILING], lease_until__lt=now
        )
        return self.filter(waiting | abandoned).exclude(models.Exists(earlier_open)).order_by("next_attempt_at", "pk")


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
