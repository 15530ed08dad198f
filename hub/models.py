"""The core domain: athena-shaped entities, staff location scoping and the audit trail.

athena ids are kept as strings next to our own primary keys: athena answers ids as strings or
numbers depending on the endpoint and the year, and they are identifiers, not quantities.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import Q

from hub.fields import EncryptedTextField
from hub.staff_models import Alert, AuditCheckpoint  # noqa: F401  (staff UI models live in their own module)


class Practice(models.Model):
    athena_practice_id = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.name


class LocationScopedQuerySet(models.QuerySet):
    """Rows that belong to a location; `department_path` says how to reach the Department."""

    department_path = "department"

    def for_departments(self, department_ids: Any) -> LocationScopedQuerySet:
        return self.filter(**{f"{self.department_path}__in": department_ids})

    def for_user(self, user: Any) -> LocationScopedQuerySet:
        """Only the rows of the locations this staff user is assigned to."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        profile = getattr(user, "staff_profile", None)
        if profile is None:
            return self.none()
        if profile.all_locations:
            return self
        return self.for_departments(profile.departments.values("pk"))


class DepartmentQuerySet(LocationScopedQuerySet):
    department_path = "pk"


class Department(models.Model):
    """A clinical location (athena "department")."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="departments")
    athena_department_id = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    address1 = models.CharField(max_length=100, blank=True)
    address2 = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=60, blank=True)
    state = models.CharField(max_length=10, blank=True)
    zip_code = models.CharField(max_length=10, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    timezone = models.CharField(max_length=64, default="America/New_York")
    is_active = models.BooleanField(default=True)

    objects = DepartmentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "athena_department_id"], name="department_athena_id_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Provider(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="providers")
    athena_provider_id = models.CharField(max_length=20)
    first_name = models.CharField(max_length=60, blank=True)
    last_name = models.CharField(max_length=60, blank=True)
    display_name = models.CharField(max_length=120, blank=True)
    npi = models.CharField(max_length=10, blank=True)
    specialty = models.CharField(max_length=100, blank=True)
    departments = models.ManyToManyField(Department, blank=True, related_name="providers")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "athena_provider_id"], name="provider_athena_id_unique")
        ]

    def __str__(self) -> str:
        return self.display_name or f"{self.first_name} {self.last_name}".strip()


class AppointmentType(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="appointment_types")
    athena_appointment_type_id = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    short_name = models.CharField(max_length=20, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(default=15)
    is_patient_facing = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "athena_appointment_type_id"], name="appointmenttype_athena_id_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class AppointmentReason(models.Model):
    """A patient-facing reason for a visit (athena "patientappointmentreasons")."""

    class ReasonType(models.TextChoices):
        NEW = "new", "New patients"
        EXISTING = "existing", "Existing patients"
        ALL = "all", "All patients"

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="appointment_reasons")
    athena_reason_id = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    reason_type = models.CharField(max_length=10, choices=ReasonType.choices, default=ReasonType.ALL)
    scheduling_min_hours = models.PositiveIntegerField(default=24)
    scheduling_max_days = models.PositiveIntegerField(default=90)
    departments = models.ManyToManyField(Department, blank=True, related_name="appointment_reasons")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "athena_reason_id"], name="appointmentreason_athena_id_unique")
        ]

    def __str__(self) -> str:
        return self.name


class InsurancePackage(models.Model):
    """An athena insurance package (a payer's plan), the id athena needs to record an insurance."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="insurance_packages")
    athena_insurance_package_id = models.CharField(max_length=20)
    name = models.CharField(max_length=120)
    payer_name = models.CharField(max_length=120, blank=True)
    payer_id = models.CharField(max_length=20, blank=True, help_text="Clearinghouse payer id, where known")
    insurance_type = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "athena_insurance_package_id"], name="insurancepackage_athena_id_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class PatientQuerySet(LocationScopedQuerySet):
    department_path = "department"


class Patient(models.Model):
    """A patient as the hub knows it: the golden record's current values."""

    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        UNKNOWN = "U", "Unknown"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        PROSPECTIVE = "prospective", "Prospective"
        DELETED = "deleted", "Deleted"

    class ContactPreference(models.TextChoices):
        SMS = "sms", "Text message"
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone call"
        NONE = "none", "No contact"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="The portal's handle")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="patients")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="patients")
    athena_patient_id = models.CharField(max_length=20, null=True, blank=True)
    portal_patient_id = models.CharField(max_length=64, null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)

    first_name = models.CharField(max_length=35)
    middle_name = models.CharField(max_length=35, blank=True)
    last_name = models.CharField(max_length=60)
    preferred_name = models.CharField(max_length=35, blank=True)
    dob = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    ssn = EncryptedTextField(blank=True)

    email = models.EmailField(max_length=100, blank=True)
    home_phone = models.CharField(max_length=20, blank=True)
    mobile_phone = models.CharField(max_length=20, blank=True)
    work_phone = models.CharField(max_length=20, blank=True)
    address1 = models.CharField(max_length=100, blank=True)
    address2 = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=30, blank=True)
    state = models.CharField(max_length=10, blank=True)
    zip_code = models.CharField(max_length=10, blank=True)
    preferred_language = models.CharField(max_length=3, blank=True, help_text="ISO 639-2 code")
    contact_preference = models.CharField(max_length=10, choices=ContactPreference.choices, blank=True)
    consent_to_text = models.BooleanField(default=False)
    consent_to_call = models.BooleanField(default=False)

    emergency_contact_name = models.CharField(max_length=100, blank=True)
    emergency_contact_relationship = models.CharField(max_length=30, blank=True)
    emergency_contact_phone = models.CharField(max_length=20, blank=True)
    preferred_pharmacy = models.CharField(max_length=100, blank=True)

    guarantor_first_name = models.CharField(max_length=35, blank=True)
    guarantor_last_name = models.CharField(max_length=60, blank=True)
    guarantor_dob = models.DateField(null=True, blank=True)
    guarantor_relationship = models.CharField(max_length=30, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "athena_patient_id"],
                condition=Q(athena_patient_id__isnull=False),
                name="patient_athena_id_unique",
            ),
            models.UniqueConstraint(
                fields=["practice", "portal_patient_id"],
                condition=Q(portal_patient_id__isnull=False),
                name="patient_portal_id_unique",
            ),
        ]
        indexes = [
            # Matching a portal registration to an existing chart: name + date of birth.
            models.Index(fields=["practice", "last_name", "first_name", "dob"], name="patient_match_idx"),
            models.Index(fields=["department", "last_name"], name="patient_location_idx"),
        ]

    def __str__(self) -> str:
        # Admin lists and audit entries show the hub id, never the name.
        return f"Patient #{self.pk}"

    @property
    def display_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"


class PatientInsuranceQuerySet(LocationScopedQuerySet):
    department_path = "patient__department"


class PatientInsurance(models.Model):
    class Sequence(models.IntegerChoices):
        PRIMARY = 1, "Primary"
        SECONDARY = 2, "Secondary"

    class Relationship(models.TextChoices):
        SELF = "self", "Self"
        SPOUSE = "spouse", "Spouse"
        CHILD = "child", "Child"
        OTHER = "other", "Other"

    class EligibilityStatus(models.TextChoices):
        UNVERIFIED = "unverified", "Not yet checked"
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        REJECTED = "rejected", "Rejected by payer"
        ERROR = "error", "Check failed"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="insurances")
    athena_insurance_id = models.CharField(max_length=20, null=True, blank=True)
    athena_insurance_package_id = models.CharField(max_length=20, blank=True)
    sequence_number = models.PositiveSmallIntegerField(choices=Sequence.choices, default=Sequence.PRIMARY)
    payer_name = models.CharField(max_length=120, blank=True)
    payer_id = models.CharField(max_length=20, blank=True, help_text="Clearinghouse payer id")
    plan_name = models.CharField(max_length=120, blank=True)
    plan_type = models.CharField(max_length=30, blank=True)
    member_id = models.CharField(max_length=40, blank=True)
    group_number = models.CharField(max_length=40, blank=True)
    holder_first_name = models.CharField(max_length=35, blank=True)
    holder_last_name = models.CharField(max_length=60, blank=True)
    holder_dob = models.DateField(null=True, blank=True)
    holder_sex = models.CharField(max_length=1, blank=True)
    relationship_to_holder = models.CharField(max_length=10, choices=Relationship.choices, default=Relationship.SELF)
    issue_date = models.DateField(null=True, blank=True)
    expiration_date = models.DateField(null=True, blank=True)
    is_cancelled = models.BooleanField(default=False)
    eligibility_status = models.CharField(
        max_length=12, choices=EligibilityStatus.choices, default=EligibilityStatus.UNVERIFIED
    )
    eligibility_checked_at = models.DateTimeField(null=True, blank=True)
    eligibility_message = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientInsuranceQuerySet.as_manager()

    class Meta:
        ordering = ["patient_id", "sequence_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "athena_insurance_id"],
                condition=Q(athena_insurance_id__isnull=False),
                name="insurance_athena_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["patient", "sequence_number", "is_cancelled"], name="insurance_seq_idx")]

    def __str__(self) -> str:
        return f"Insurance #{self.pk} ({self.get_sequence_number_display()})"


class AppointmentQuerySet(LocationScopedQuerySet):
    department_path = "department"

    def upcoming(self, *, today: dt.date) -> AppointmentQuerySet:
        return self.filter(date__gte=today).exclude(status__in=[Appointment.Status.CANCELLED])


class Appointment(models.Model):
    class Status(models.TextChoices):
        OPEN = "o", "Open slot"
        FUTURE = "f", "Booked"
        CANCELLED = "x", "Cancelled"
        CHECKED_IN = "2", "Checked in"
        CHECKED_OUT = "3", "Checked out"
        CHARGE_ENTERED = "4", "Charge entered"

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="appointments")
    athena_appointment_id = models.CharField(max_length=20)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments")
    date = models.DateField()
    start_time = models.TimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=15)
    status = models.CharField(max_length=1, choices=Status.choices, default=Status.OPEN)
    cancel_reason = models.CharField(max_length=200, blank=True)
    rescheduled_appointment_id = models.CharField(max_length=20, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    athena_last_modified = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["date", "start_time"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "athena_appointment_id"], name="appointment_athena_id_unique")
        ]
        indexes = [
            models.Index(fields=["department", "date", "status"], name="appointment_day_idx"),
            models.Index(fields=["patient", "date"], name="appointment_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"Appointment {self.athena_appointment_id}"

    @property
    def starts_at(self) -> dt.datetime:
        """Start as an aware datetime: athena's times are local to the department."""
        return dt.datetime.combine(self.date, self.start_time, tzinfo=self.department.tzinfo)


class StaffProfile(models.Model):
    """Which locations a staff user works at; every admin list is filtered by this."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    departments = models.ManyToManyField(Department, blank=True, related_name="staff")
    all_locations = models.BooleanField(default=False, help_text="Sees every location (compliance, admins)")

    def __str__(self) -> str:
        return f"Staff profile of {self.user}"


class AuditEvent(models.Model):
    """One row per call to or from an outside system, and per staff view of PHI.

    Append-only and hash-chained: each row's hash covers its content and the previous row's hash,
    so an edited or deleted row breaks the chain at that point. No PHI values: ids, route templates
    and outcomes only.
    """

    class System(models.TextChoices):
        ATHENA = "athena", "athenaOne"
        PORTAL = "portal", "Patient portal"
        TWILIO = "twilio", "Twilio"
        CLOVER = "clover", "Clover"
        CLEARINGHOUSE = "clearinghouse", "Clearinghouse"
        OCR = "ocr", "OCR"
        HUB = "hub", "Hub (staff and internal)"

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Hub to system"
        INBOUND = "inbound", "System to hub"
        INTERNAL = "internal", "Inside the hub"

    class Outcome(models.TextChoices):
        # IHE ATNA outcome codes: 0 success, 4 minor, 8 serious, 12 major failure.
        SUCCESS = "0", "Success"
        MINOR_FAILURE = "4", "Minor failure"
        SERIOUS_FAILURE = "8", "Serious failure"
        MAJOR_FAILURE = "12", "Major failure"

    sequence = models.BigIntegerField(unique=True, editable=False)
    recorded_at = models.DateTimeField(db_index=True)
    system = models.CharField(max_length=16, choices=System.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    action = models.CharField(max_length=64, help_text="e.g. call, webhook, view, export, resolve")
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=150, blank=True)
    method = models.CharField(max_length=8, blank=True)
    route = models.CharField(max_length=200, blank=True, help_text="Route template, never values")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=2, choices=Outcome.choices, default=Outcome.SUCCESS)
    outcome_detail = models.CharField(max_length=200, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    department_id_ref = models.CharField(max_length=20, blank=True, help_text="Hub department id")
    patient_ref = models.CharField(max_length=20, blank=True, help_text="Hub patient id")
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    intent_id = models.CharField(max_length=20, blank=True)
    attempt = models.PositiveSmallIntegerField(null=True, blank=True)
    upstream_request_id = models.CharField(max_length=100, blank=True)
    remote_addr = models.CharField(max_length=45, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-sequence"]
        indexes = [
            models.Index(fields=["patient_ref", "-sequence"], name="audit_patient_idx"),
            models.Index(fields=["actor_type", "actor_id", "recorded_at"], name="audit_actor_idx"),
            models.Index(fields=["system", "outcome", "-sequence"], name="audit_system_idx"),
            models.Index(fields=["department_id_ref", "-sequence"], name="audit_location_idx"),
            models.Index(fields=["action", "-sequence"], name="audit_action_idx"),
            models.Index(fields=["correlation_id"], name="audit_correlation_idx"),
            # The audit browser's keyset pages (newest first) for "who viewed patient X" and for
            # one staff user or portal client: measured by benchmarks/audit_search.py, these two
            # searches sort every matching row without them (80-120 ms at 1M rows, growing).
            models.Index(fields=["patient_ref", "action", "-sequence"], name="audit_patient_action_idx"),
            models.Index(fields=["actor_type", "actor_id", "-sequence"], name="audit_actor_seq_idx"),
        ]
        permissions = [
            ("browse_auditevent", "Can search the audit trail"),
            ("export_auditevent", "Can export the audit trail"),
            ("verify_auditevent", "Can verify the audit chain"),
        ]

    def __str__(self) -> str:
        return f"Audit #{self.sequence} {self.system} {self.action}"


class AuditChainHead(models.Model):
    """The chain's last sequence and hash; locking this row serialises appends."""

    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    # Database triggers refuse any DELETE of audit rows at or above this sequence; the retention
    # purge raises it inside its own transaction and sets it back to 0.
    purge_below_sequence = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Audit chain head at #{self.last_sequence}"


class CallInFlight(models.Model):
    """An outside call about to be sent, until its audit row is written (then deleted with it).

    A process killed during a call leaves its row behind; the sweeper turns rows older than any
    call can last into the audit row the process never wrote (`hub.audit.recover_interrupted_calls`).
    Route templates and ids only, like the audit trail.
    """

    system = models.CharField(max_length=16)
    method = models.CharField(max_length=8)
    route = models.CharField(max_length=200)
    started_at = models.DateTimeField(db_index=True)
    refs = models.JSONField(default=dict, help_text="Who and what the audit row names (ids only)")

    def __str__(self) -> str:
        return f"{self.system} {self.method} {self.route} since {self.started_at:%Y-%m-%d %H:%M:%S}"


class AthenaToken(models.Model):
    """The shared OAuth token for one athena credential, so every worker uses one token.

    `refreshing_until` is a lease: the one process that takes it fetches the token while the
    others wait for the row to change, so an expiry costs one token request, not one per worker.
    """

    credential = models.CharField(max_length=64, unique=True, help_text="Hash of base URL + client id")
    access_token = EncryptedTextField(blank=True)
    expires_at = models.FloatField(default=0)
    lifetime = models.FloatField(default=3600)
    refreshing_until = models.FloatField(default=0)
    blocked_until = models.FloatField(default=0, help_text="Token endpoint said 429 until then")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"athena token {self.credential[:8]}"


class RateLimitBucket(models.Model):
    """A request budget shared by every worker: the next free slot for calls to one practice."""

    key = models.CharField(max_length=64, unique=True)
    next_slot = models.FloatField(default=0)
    paused_until = models.FloatField(default=0)
    quota_limit = models.IntegerField(null=True, blank=True)
    quota_remaining = models.IntegerField(null=True, blank=True)
    quota_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rate bucket {self.key}"


class FieldPolicy(models.Model):
    """How one group of patient fields is merged (the golden-record policy, editable by admins)."""

    class Authority(models.TextChoices):
        EHR = "ehr", "EHR"
        PORTAL = "portal", "Portal"

    class OnBothChanged(models.TextChoices):
        CONFLICT = "conflict", "Ask staff (conflict queue)"
        AUTHORITY = "authority", "The authority wins (recorded)"

    field_group = models.CharField(max_length=30, unique=True)
    fields = models.JSONField(help_text="Patient field names in this group")
    authority = models.CharField(max_length=10, choices=Authority.choices)
    on_both_changed = models.CharField(max_length=10, choices=OnBothChanged.choices)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "field policies"
        ordering = ["field_group"]

    def __str__(self) -> str:
        return self.field_group


class ChangeSet(models.Model):
    """One source's report about a patient at one moment: the log the golden record is folded from.

    An EHR report carries every synced field athena returned (one row per event, not per field);
    a portal submission or a staff decision carries the fields it set. Values are encrypted.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="change_sets")
    source = models.CharField(max_length=12)
    source_time = models.DateTimeField()
    event_id = models.CharField(max_length=100)
    values = EncryptedTextField(help_text="JSON object: field name → value")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "source", "event_id"], name="changeset_once_per_event")
        ]
        indexes = [models.Index(fields=["patient", "source_time"], name="changeset_patient_idx")]

    def __str__(self) -> str:
        return f"changes from {self.source}"


class FieldState(models.Model):
    """The golden record's provenance for one field: value, source, time, event, baseline."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="field_states")
    field = models.CharField(max_length=50)
    value = EncryptedTextField(blank=True)
    source = models.CharField(max_length=12)
    source_time = models.DateTimeField(null=True)
    event_id = models.CharField(max_length=100, blank=True)
    baseline = EncryptedTextField(blank=True, help_text="The last value portal and EHR agreed on")
    last_ehr = EncryptedTextField(blank=True)
    last_portal = EncryptedTextField(blank=True)
    in_conflict = models.BooleanField(default=False)
    rule = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "field"], name="fieldstate_one_per_field")]

    def __str__(self) -> str:
        return f"{self.field} ({self.source})"


class QueuedNudge(models.Model):
    """How many wake-up tasks of one drain function wait in the queue, not yet started.

    A drain task ("carry every due write", "deliver every due event") does all the work that is due
    when it starts, so once enough of them wait, another adds nothing but queue length: producers
    send one only while fewer than `HUB_NUDGES_WAITING` wait (`hub.queue.nudge`), and a task gives
    its place back as it starts. A count older than `HUB_NUDGE_STALE_SECONDS` is not trusted (a
    lost message, a worker killed before it started), so work is never held back for long.
    """

    func = models.CharField(max_length=200, primary_key=True)
    waiting = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.func}: {self.waiting} waiting"
