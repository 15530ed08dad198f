"""Input and output shapes of the portal API. Validation only; the services do the work."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from hub.models import Appointment, Patient, PatientInsurance
from intake.models import Submission
from intake.services import card_upload_of, fields_in_review, submission_status
from sync.models import WriteIntent

NAME_RE = re.compile(r"^[^\d\r\n\t*~^:|<>{}]+$")
# The same rule as the schema states it: surrounding whitespace is trimmed, one real character needed.
NAME_BODY = r"\s*[^\d\s*~^:|<>{}](?:[^\d\r\n\t*~^:|<>{}]*[^\d\s*~^:|<>{}])?\s*"
PHONE_RE = re.compile(r"^1?[0-9]{10}$")
# Any separators, ten ASCII digits, optionally after a leading 1 (as the schema states it).
PHONE_PATTERN = r"^(?:\s*|[^0-9]*(?:1[^0-9]*)?(?:[0-9][^0-9]*){10})$"
ZIP_RE = re.compile(r"^[0-9]{5}(-?[0-9]{4})?$")
STATE_RE = re.compile(r"^[A-Z]{2}$")
LANGUAGE_RE = re.compile(r"^[a-z]{3}$")
PHONE_MESSAGE = "Enter a 10-digit US phone number."
NAME_MESSAGE = "Use letters, spaces, apostrophes, periods or hyphens only."
# Digits are written [0-9]: Python's \d also matches other scripts' digits, which athena cannot read.
SSN_RE = re.compile(r"^[0-9]{3}-?[0-9]{2}-?[0-9]{4}$")


def _digits(value: str) -> str:
    # ASCII digits only: athena reads no other digits (Python's \d also matches e.g. Arabic-Indic ones).
    return re.sub(r"[^0-9]", "", value)


class SentLengthMixin(serializers.CharField):
    """`max_length` counts the characters as sent, as the schema's `maxLength` does.

    DRF measures after trimming whitespace; a patterned field's schema allows surrounding
    whitespace, so both must count the same characters or the schema's limit is not the API's.
    """

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length, length=len(data))
        return super().run_validation(data)


class NameField(SentLengthMixin):
    """A person's name as athena accepts it (no digits or X12/athena delimiter characters)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 35)
        super().__init__(**kwargs)
        # Listed so the OpenAPI schema carries the pattern; `to_internal_value` says it in words.
        pattern = rf"^(?:\s*|{NAME_BODY})$" if self.allow_blank else rf"^{NAME_BODY}$"
        self.validators.append(RegexValidator(pattern, message=NAME_MESSAGE))

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if value and not NAME_RE.match(value):
            raise serializers.ValidationError(NAME_MESSAGE)
        return value


class PhoneField(SentLengthMixin):
    """A US phone number, stored as 10 digits."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        # Listed so the OpenAPI schema carries the pattern; `to_internal_value` says it in words.
        self.validators.append(RegexValidator(PHONE_PATTERN, message=PHONE_MESSAGE))

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if not value:
            return ""
        digits = _digits(value)
        if not PHONE_RE.match(digits):
            raise serializers.ValidationError(PHONE_MESSAGE)
        return digits[-10:]


@extend_schema_field(
    {"type": "string", "pattern": r"^[0-9]{2}:[0-9]{2}:[0-9]{2}$", "description": "Wall-clock time at the location"}
)
class LocalTimeField(serializers.TimeField):
    """A time of day at the location: no offset, so not an RFC 3339 `time` (which needs one)."""


class PastDateField(serializers.DateField):
    def to_internal_value(self, value: Any) -> dt.date:
        parsed = super().to_internal_value(value)
        if parsed > timezone.localdate():
            raise serializers.ValidationError("The date cannot be in the future.")
        if parsed.year < 1900:
            raise serializers.ValidationError("The date is too far in the past.")
        return parsed


class DemographicsSerializer(serializers.Serializer):
    """Demographic fields the portal may send; all optional here, required ones per operation."""

    first_name = NameField(required=False)
    middle_name = NameField(required=False, allow_blank=True)
    last_name = NameField(required=False, max_length=60)
    preferred_name = NameField(required=False, allow_blank=True)
    dob = PastDateField(required=False)
    sex = serializers.ChoiceField(choices=["F", "M", "U"], required=False)
    ssn = serializers.RegexField(SSN_RE, required=False, allow_blank=True, write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=100)
    home_phone = PhoneField(required=False, allow_blank=True)
    mobile_phone = PhoneField(required=False, allow_blank=True)
    work_phone = PhoneField(required=False, allow_blank=True)
    address1 = serializers.CharField(required=False, allow_blank=True, max_length=100)
    address2 = serializers.CharField(required=False, allow_blank=True, max_length=100)
    city = serializers.CharField(required=False, allow_blank=True, max_length=30)
    state = serializers.RegexField(STATE_RE, required=False, allow_blank=True)
    zip_code = serializers.RegexField(ZIP_RE, required=False, allow_blank=True)
    preferred_language = serializers.RegexField(LANGUAGE_RE, required=False, allow_blank=True)
    contact_preference = serializers.ChoiceField(
        choices=Patient.ContactPreference.choices, required=False, allow_blank=True
    )
    consent_to_text = serializers.BooleanField(required=False)
    consent_to_call = serializers.BooleanField(required=False)
    emergency_contact_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    emergency_contact_relationship = serializers.CharField(required=False, allow_blank=True, max_length=30)
    emergency_contact_phone = PhoneField(required=False, allow_blank=True)
    preferred_pharmacy = serializers.CharField(required=False, allow_blank=True, max_length=100)
    guarantor_first_name = NameField(required=False, allow_blank=True)
    guarantor_last_name = NameField(required=False, allow_blank=True, max_length=60)
    guarantor_dob = PastDateField(required=False, allow_null=True)
    guarantor_relationship = serializers.CharField(required=False, allow_blank=True, max_length=30)

    def validate_ssn(self, value: str) -> str:
        digits = _digits(value)
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}" if digits else ""

    def validate_state(self, value: str) -> str:
        return value.upper()


class RegistrationSerializer(DemographicsSerializer):
    portal_patient_id = serializers.RegexField(r"^[A-Za-z0-9._:-]{1,64}$")
    location_id = serializers.CharField(max_length=20, help_text="athena department id of the patient's clinic")
    first_name = NameField()
    last_name = NameField(max_length=60)
    dob = PastDateField()


class DemographicsUpdateSerializer(DemographicsSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Send at least one field to change.")
        return attrs


@extend_schema_field({"type": "object", "additionalProperties": {}, "minProperties": 1})
class AnswersField(serializers.DictField):
    """Question id → answer; at least one (the schema says so with `minProperties`)."""


class IntakeFormSerializer(serializers.Serializer):
    form_name = serializers.CharField(max_length=100)
    form_version = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    # A question the patient skipped is sent as null.
    answers = AnswersField(child=serializers.JSONField(allow_null=True), allow_empty=False)
    consents = serializers.DictField(child=serializers.BooleanField(), required=False, default=dict)
    signed_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate_answers(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > 500:
            raise serializers.ValidationError("A form may carry at most 500 answers.")
        for key, answer in value.items():
            if len(str(key)) > 100:
                raise serializers.ValidationError("Question ids are at most 100 characters.")
            if len(str(answer)) > 5000:
                raise serializers.ValidationError("An answer is at most 5,000 characters.")
        return value


class InsuranceSerializer(serializers.Serializer):
    sequence_number = serializers.ChoiceField(choices=[1, 2], default=1)
    insurance_package_id = serializers.RegexField(r"^[0-9]{1,20}$", required=False, allow_blank=True, default="")
    payer_name = serializers.CharField(max_length=120)
    payer_id = serializers.RegexField(r"^[A-Za-z0-9]{2,20}$", required=False, allow_blank=True, default="")
    plan_name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    plan_type = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    member_id = serializers.RegexField(r"^[A-Za-z0-9 -]{3,40}$")
    group_number = serializers.RegexField(r"^[A-Za-z0-9 -]{1,40}$", required=False, allow_blank=True, default="")
    relationship_to_holder = serializers.ChoiceField(choices=PatientInsurance.Relationship.values, default="self")
    holder_first_name = NameField(required=False, allow_blank=True, default="")
    holder_last_name = NameField(required=False, allow_blank=True, default="", max_length=60)
    holder_dob = PastDateField(required=False, allow_null=True, default=None)
    holder_sex = serializers.ChoiceField(choices=["F", "M", "U", ""], required=False, default="")
    expiration_date = serializers.DateField(required=False, allow_null=True, default=None)

    def validate_member_id(self, value: str) -> str:
        return re.sub(r"[\s-]", "", value).upper()


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class PhotoField(serializers.FileField):
    """A photo upload. The schema says it cannot be empty; the hub checks that (and more) itself,
    so an empty file gets the photo's own 422 rather than a generic form error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_empty_file=True, **kwargs)


class CardUploadSerializer(serializers.Serializer):
    front = PhotoField(help_text="Photo of the card's front (JPEG or PNG)")
    back = PhotoField(required=False, help_text="Photo of the back (optional)")
    insurance_id = serializers.IntegerField(
        required=False, min_value=1, help_text="The insurance this card is for (`insurances[].id`), if known"
    )
    sequence_number = serializers.ChoiceField(choices=[1, 2], default=1, help_text="1 primary, 2 secondary")


class BookingSerializer(serializers.Serializer):
    patient_id = serializers.UUIDField()
    slot_id = serializers.RegexField(r"^[0-9]{1,20}$", help_text="athena appointment id of the open slot")
    location_id = serializers.CharField(max_length=20)
    appointment_type_id = serializers.RegexField(r"^[0-9]{1,20}$", required=False, allow_blank=True, default="")
    reason_id = serializers.RegexField(r"^-?[0-9]{1,20}$", required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("appointment_type_id") and not attrs.get("reason_id"):
            raise serializers.ValidationError({"reason_id": ["Give a reason_id or an appointment_type_id."]})
        return attrs


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class RescheduleSerializer(serializers.Serializer):
    new_slot_id = serializers.RegexField(r"^[0-9]{1,20}$")
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SlotQuerySerializer(serializers.Serializer):
    location_id = serializers.CharField(max_length=20)
    provider_id = serializers.RegexField(r"^[0-9]{1,20}(,[0-9]{1,20})*$", required=False)
    appointment_type_id = serializers.RegexField(r"^[0-9]{1,20}$", required=False)
    reason_id = serializers.RegexField(r"^-?[0-9]{1,20}(,-?[0-9]{1,20})*$", required=False)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today = timezone.localdate()
        start = attrs.setdefault("start", today)
        end = attrs.setdefault("end", start + dt.timedelta(days=7))
        if end < start:
            raise serializers.ValidationError({"end": ["The end is before the start."]})
        if (end - start).days > 31:
            raise serializers.ValidationError({"end": ["Ask for at most 31 days at a time."]})
        if start.year < 1900:
            # athena reads four-digit years only; nothing was ever open that long ago anyway.
            raise serializers.ValidationError({"start": ["The start is too far in the past."]})
        if not attrs.get("appointment_type_id") and not attrs.get("reason_id"):
            raise serializers.ValidationError({"reason_id": ["Give a reason_id or an appointment_type_id."]})
        if attrs.get("reason_id") not in (None, "-1") and not attrs.get("provider_id"):
            raise serializers.ValidationError({"provider_id": ["A reason other than -1 needs a provider_id."]})
        return attrs


# --- outputs ------------------------------------------------------------------------------------


class IntentOut(serializers.ModelSerializer):
    class Meta:
        model = WriteIntent
        fields = ["id", "operation", "state", "attempts", "result", "last_error", "updated_at"]


class CardOut(serializers.Serializer):
    state = serializers.CharField(help_text="queued, reading, needs_review, read, unreadable or failed")
    insurance_id = serializers.IntegerField(allow_null=True)
    fields_to_confirm = serializers.ListField(child=serializers.CharField())
    eligibility_status = serializers.CharField(allow_blank=True)


class SubmissionOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    patient_id = serializers.UUIDField(source="patient.public_id")
    location_id = serializers.CharField(source="department.athena_department_id")
    status = serializers.SerializerMethodField()
    fields_in_review = serializers.SerializerMethodField(help_text="Fields waiting for a staff decision")
    intents = IntentOut(many=True)
    card = serializers.SerializerMethodField(help_text="An insurance card submission's reading (no values)")

    class Meta:
        model = Submission
        fields = [
            "id",
            "kind",
            "status",
            "patient_id",
            "location_id",
            "created_at",
            "fields_in_review",
            "intents",
            "card",
        ]

    def get_status(self, submission: Submission) -> str:
        return submission_status(submission)

    def get_fields_in_review(self, submission: Submission) -> list[str]:
        return fields_in_review(submission)

    @extend_schema_field(CardOut(allow_null=True))
    def get_card(self, submission: Submission) -> dict[str, Any] | None:
        upload = card_upload_of(submission)
        if upload is None:
            return None
        insurance = upload.insurance
        return {
            "state": upload.state,
            "insurance_id": upload.insurance_id,
            "fields_to_confirm": list(upload.to_confirm) if upload.state == upload.State.NEEDS_REVIEW else [],
            "eligibility_status": insurance.eligibility_status if insurance else "",
        }


class InsuranceOut(serializers.ModelSerializer):
    class Meta:
        model = PatientInsurance
        fields = [
            "id",
            "sequence_number",
            "payer_name",
            "plan_name",
            "member_id",
            "group_number",
            "relationship_to_holder",
            "eligibility_status",
            "eligibility_checked_at",
            "athena_insurance_id",
        ]


class AppointmentOut(serializers.ModelSerializer):
    appointment_id = serializers.CharField(source="athena_appointment_id")
    location_id = serializers.CharField(source="department.athena_department_id")
    provider_id = serializers.CharField(source="provider.athena_provider_id", default="")
    appointment_type = serializers.CharField(source="appointment_type.name", default="")
    start_time = LocalTimeField()

    class Meta:
        model = Appointment
        fields = [
            "appointment_id",
            "location_id",
            "provider_id",
            "appointment_type",
            "date",
            "start_time",
            "duration_minutes",
            "status",
        ]


class PatientOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    location_id = serializers.CharField(source="department.athena_department_id")
    insurances = serializers.SerializerMethodField()
    appointments = serializers.SerializerMethodField()
    has_athena_chart = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "portal_patient_id",
            "location_id",
            "has_athena_chart",
            "status",
            "first_name",
            "middle_name",
            "last_name",
            "preferred_name",
            "dob",
            "sex",
            "email",
            "home_phone",
            "mobile_phone",
            "work_phone",
            "address1",
            "address2",
            "city",
            "state",
            "zip_code",
            "preferred_language",
            "contact_preference",
            "consent_to_text",
            "consent_to_call",
            "emergency_contact_name",
            "emergency_contact_relationship",
            "emergency_contact_phone",
            "preferred_pharmacy",
            "updated_at",
            "insurances",
            "appointments",
        ]

    def get_has_athena_chart(self, patient: Patient) -> bool:
        return bool(patient.athena_patient_id)

    def get_insurances(self, patient: Patient) -> list[dict[str, Any]]:
        return InsuranceOut(patient.insurances.filter(is_cancelled=False), many=True).data  # type: ignore[return-value]

    def get_appointments(self, patient: Patient) -> list[dict[str, Any]]:
        upcoming = patient.appointments.filter(date__gte=timezone.localdate()).select_related(
            "department", "provider", "appointment_type"
        )
        return AppointmentOut(upcoming, many=True).data  # type: ignore[return-value]


class SlotOut(serializers.Serializer):
    slot_id = serializers.CharField()
    location_id = serializers.CharField()
    provider_id = serializers.CharField()
    appointment_type_id = serializers.CharField()
    appointment_type = serializers.CharField()
    date = serializers.DateField()
    start_time = LocalTimeField()
    duration_minutes = serializers.IntegerField()


class LocationOut(serializers.Serializer):
    location_id = serializers.CharField(source="athena_department_id")
    name = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    timezone = serializers.CharField()
    phone = serializers.CharField()


class EventQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0, help_text="The cursor of the last event you have")
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class EventOut(serializers.Serializer):
    id = serializers.CharField(help_text="Also the webhook-id of its delivery")
    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    cursor = serializers.IntegerField()
    data = serializers.DictField()  # type: ignore[assignment]


class EventPageOut(serializers.Serializer):
    events = EventOut(many=True)  # type: ignore[assignment]
    next_cursor = serializers.IntegerField()
    has_more = serializers.BooleanField()
