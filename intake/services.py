"""Services behind the portal API: each accepted write becomes a submission and its intents.

Every function here runs in one transaction: the hub's rows, the submission and its write
intents commit together (and, on the ORM broker, the task that will carry them out), or none
of it does. Nothing here calls athena.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from eligibility.coverage import coverage_observe, insurance_writeback
from eligibility.models import EligibilityCheck
from eligibility.services import check_request
from hub.golden import Change, MergeResult, golden_merge
from hub.models import Appointment, AppointmentType, Department, Patient, PatientInsurance, Provider
from intake.models import CardUpload, IntakeForm, PortalClient, Submission
from sync.conflicts import conflicts_sync
from sync.models import Conflict, WriteIntent
from sync.services import intent_create

Operation = WriteIntent.Operation
Kind = Submission.Kind

PATIENT_FIELDS = (
    "first_name",
    "middle_name",
    "last_name",
    "preferred_name",
    "dob",
    "sex",
    "ssn",
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
    "guarantor_first_name",
    "guarantor_last_name",
    "guarantor_dob",
    "guarantor_relationship",
)
# Fields athena does not hold: kept in the hub only, never a reason to write to athena.
HUB_ONLY_FIELDS = {"contact_preference", "preferred_pharmacy"}


def _open_create_intent(patient: Patient) -> WriteIntent | None:
    return (
        WriteIntent.objects.filter(patient=patient, operation=Operation.CREATE_PATIENT)
        .exclude(state__in=WriteIntent.FINAL_STATES)
        .first()
    )


def _new_submission(
    client: PortalClient, kind: str, patient: Patient, intents: list[WriteIntent], *, fields: list[str] | None = None
) -> Submission:
    submission = Submission.objects.create(
        client=client, kind=kind, patient=patient, department=patient.department, fields=fields or []
    )
    submission.intents.add(*intents)
    return submission


def _portal_merge(patient: Patient, values: dict[str, Any], event_id: str) -> MergeResult:
    """The portal's values enter the golden record like any source's; the policy decides."""
    now = timezone.now()
    golden = {name: value for name, value in values.items() if name in PATIENT_FIELDS and name not in HUB_ONLY_FIELDS}
    local = {name: value for name, value in values.items() if name in HUB_ONLY_FIELDS}
    changed_local = [name for name, value in local.items() if getattr(patient, name) != value]
    if changed_local:
        for name in changed_local:
            setattr(patient, name, local[name])
        patient.save(update_fields=[*changed_local, "updated_at"])
    changes = [
        (name, Change(now, "portal", event_id, value.isoformat() if isinstance(value, dt.date) else value))
        for name, value in golden.items()
    ]
    result = golden_merge(patient=patient, changes=changes)
    conflicts_sync(patient=patient, result=result)
    result.changed_fields.extend(changed_local)
    return result


def _update_intent(patient: Patient, fields: list[str], submission_key: str) -> WriteIntent | None:
    if not patient.athena_patient_id and _open_create_intent(patient) is not None:
        return None  # the pending registration sends every current value anyway
    synced = sorted(set(fields) - HUB_ONLY_FIELDS)
    if not synced:
        return None
    intent, _ = intent_create(
        operation=Operation.UPDATE_PATIENT,
        patient=patient,
        department=patient.department,
        natural_key=f"update_patient:{patient.pk}:{submission_key}",
        target={"fields": synced},
        depends_on=_open_create_intent(patient),
    )
    return intent


@transaction.atomic
def submission_register_patient(
    *, client: PortalClient, department: Department, values: dict[str, Any], portal_patient_id: str, request_key: str
) -> Submission:
    """Register a portal patient: the hub record now, the athena chart through an intent.

    A registration for a portal id the hub already knows, or for a patient the hub already holds
    (same name and date of birth at this practice, not yet linked to the portal), reuses that
    record, so a repeated registration never makes a second chart.
    """
    patient = Patient.objects.filter(practice=department.practice, portal_patient_id=portal_patient_id).first()
    if patient is None:
        patient = (
            Patient.objects.filter(
                practice=department.practice,
                portal_patient_id__isnull=True,
                first_name__iexact=values["first_name"],
                last_name__iexact=values["last_name"],
                dob=values["dob"],
            )
            .order_by("pk")
            .first()
        )
        if patient is not None:
            patient.portal_patient_id = portal_patient_id
            patient.save(update_fields=["portal_patient_id", "updated_at"])
    if patient is None:
        patient = Patient.objects.create(
            practice=department.practice,
            department=department,
            portal_patient_id=portal_patient_id,
            **{name: value for name, value in values.items() if name in PATIENT_FIELDS},
        )
    result = _portal_merge(patient, values, f"portal:{request_key}")
    intents: list[WriteIntent] = []
    if patient.athena_patient_id:
        update = _update_intent(patient, result.athena_fields, request_key)
        if update is not None:
            intents.append(update)
    else:
        create, _ = intent_create(
            operation=Operation.CREATE_PATIENT,
            patient=patient,
            department=patient.department,
            natural_key=f"create_patient:{patient.pk}",
        )
        intents.append(create)
    return _new_submission(client, Kind.REGISTER_PATIENT, patient, intents, fields=sorted(values))


@transaction.atomic
def submission_update_demographics(
    *, client: PortalClient, patient: Patient, values: dict[str, Any], request_key: str
) -> Submission:
    """The patient changed their details on the portal: update the hub record and athena."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    result = _portal_merge(patient, values, f"portal:{request_key}")
    intent = _update_intent(patient, result.athena_fields, request_key)
    return _new_submission(client, Kind.UPDATE_DEMOGRAPHICS, patient, [intent] if intent else [], fields=sorted(values))


@transaction.atomic
def submission_intake_form(
    *,
    client: PortalClient,
    patient: Patient,
    form_name: str,
    form_version: str,
    answers: dict[str, Any],
    consents: dict[str, bool],
    signed_at: dt.datetime | None,
    request_key: str,
) -> Submission:
    """Keep an intake form (append-only) and write its consents to the athena chart."""
    IntakeForm.objects.create(
        patient=patient,
        form_name=form_name,
        form_version=form_version,
        answers=answers,
        consents=consents,
        signed_at=signed_at,
    )
    consent_values = {
        field: bool(consents[key])
        for key, field in (("text_messages", "consent_to_text"), ("phone_calls", "consent_to_call"))
        if key in consents
    }
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    result = _portal_merge(patient, consent_values, f"portal:{request_key}")
    intent = _update_intent(patient, result.athena_fields, request_key)
    return _new_submission(client, Kind.INTAKE_FORM, patient, [intent] if intent else [], fields=sorted(consent_values))


@transaction.atomic
def submission_insurance(
    *, client: PortalClient, patient: Patient, values: dict[str, Any], request_key: str
) -> Submission:
    """Add the patient's insurance; the same member id and sequence again is the same insurance."""
    member_id = values["member_id"].strip().upper()
    insurance = (
        PatientInsurance.objects.filter(
            patient=patient, sequence_number=values["sequence_number"], member_id__iexact=member_id, is_cancelled=False
        )
        .order_by("pk")
        .first()
    )
    if insurance is None:
        insurance = PatientInsurance.objects.create(patient=patient, **{**values, "member_id": member_id})
    # What the patient typed enters the insurance's golden record (it ranks below the card, athena
    # and the payer), and the payer is asked whether the coverage is active.
    coverage_observe(
        insurance=insurance,
        values={**values, "member_id": member_id},
        source="portal",
        event_id=f"portal:{request_key}",
    )
    check_request(insurance=insurance, trigger=EligibilityCheck.Trigger.PORTAL)
    intents: list[WriteIntent] = []
    if insurance.athena_insurance_id:
        intents += insurance_writeback(insurance=insurance, event_id=f"portal-{request_key}")
    else:
        primary_intent = None
        if insurance.sequence_number == PatientInsurance.Sequence.SECONDARY:
            # athena needs the primary on file before a secondary.
            primary_intent = (
                WriteIntent.objects.filter(patient=patient, operation=Operation.CREATE_INSURANCE)
                .exclude(state__in=WriteIntent.FINAL_STATES)
                .order_by("pk")
                .first()
            )
        intent, _ = intent_create(
            operation=Operation.CREATE_INSURANCE,
            patient=patient,
            department=patient.department,
            natural_key=f"create_insurance:{insurance.pk}",
            target={"insurance_id": insurance.pk},
            depends_on=_open_create_intent(patient) or primary_intent,
        )
        intents.append(intent)
    return _new_submission(client, Kind.INSURANCE, patient, intents)


@transaction.atomic
def submission_book(
    *,
    client: PortalClient,
    patient: Patient,
    department: Department,
    slot_id: str,
    appointment_type_id: str = "",
    reason_id: str = "",
    slot: dict[str, Any] | None = None,
) -> Submission:
    """Book an open slot for the patient; the same slot for the same patient is one booking."""
    if slot:
        Appointment.objects.get_or_create(
            practice=department.practice,
            athena_appointment_id=slot_id,
            defaults={
                "department": department,
                "date": slot["date"],
                "start_time": slot["start_time"],
                "duration_minutes": slot.get("duration_minutes") or 15,
                "provider": Provider.objects.filter(
                    practice=department.practice, athena_provider_id=slot.get("provider_id", "")
                ).first(),
                "appointment_type": AppointmentType.objects.filter(
                    practice=department.practice,
                    athena_appointment_type_id=slot.get("appointment_type_id") or appointment_type_id,
                ).first(),
                "status": Appointment.Status.OPEN,
            },
        )
    intent, _ = intent_create(
        operation=Operation.BOOK_APPOINTMENT,
        patient=patient,
        department=department,
        natural_key=f"book:{slot_id}:{patient.pk}",
        target={"appointment_id": slot_id, "appointment_type_id": appointment_type_id, "reason_id": reason_id},
        depends_on=_open_create_intent(patient),
    )
    return _new_submission(client, Kind.BOOK, patient, [intent])


def _booking_intent(appointment_id: str, patient: Patient) -> WriteIntent | None:
    return (
        WriteIntent.objects.filter(
            patient=patient, operation=Operation.BOOK_APPOINTMENT, target__appointment_id=appointment_id
        )
        .exclude(state__in=WriteIntent.FINAL_STATES)
        .first()
    )


@transaction.atomic
def submission_cancel(*, client: PortalClient, appointment: Appointment, patient: Patient, reason: str) -> Submission:
    """Cancel the patient's appointment (after its booking, if that is still on its way)."""
    intent, _ = intent_create(
        operation=Operation.CANCEL_APPOINTMENT,
        patient=patient,
        department=appointment.department,
        natural_key=f"cancel:{appointment.athena_appointment_id}",
        target={"appointment_id": appointment.athena_appointment_id, "reason": reason},
        depends_on=_booking_intent(appointment.athena_appointment_id, patient),
    )
    return _new_submission(client, Kind.CANCEL, patient, [intent])


@transaction.atomic
def submission_reschedule(
    *, client: PortalClient, appointment: Appointment, patient: Patient, new_slot_id: str, reason: str
) -> Submission:
    """Move the patient's appointment to another open slot."""
    intent, _ = intent_create(
        operation=Operation.RESCHEDULE_APPOINTMENT,
        patient=patient,
        department=appointment.department,
        natural_key=f"reschedule:{appointment.athena_appointment_id}:{new_slot_id}",
        target={
            "appointment_id": appointment.athena_appointment_id,
            "new_appointment_id": new_slot_id,
            "reason": reason,
        },
        depends_on=_booking_intent(appointment.athena_appointment_id, patient),
    )
    return _new_submission(client, Kind.RESCHEDULE, patient, [intent])


@transaction.atomic
def submission_check_in(*, client: PortalClient, appointment: Appointment, patient: Patient) -> Submission:
    """The patient checked in on the portal."""
    intent, _ = intent_create(
        operation=Operation.CHECK_IN,
        patient=patient,
        department=appointment.department,
        natural_key=f"check_in:{appointment.athena_appointment_id}",
        target={"appointment_id": appointment.athena_appointment_id},
        depends_on=_booking_intent(appointment.athena_appointment_id, patient),
    )
    return _new_submission(client, Kind.CHECK_IN, patient, [intent])


def card_upload_of(submission: Submission) -> CardUpload | None:
    """The insurance card of a card submission (None for every other kind)."""
    if submission.kind != Submission.Kind.INSURANCE_CARD:
        return None
    return CardUpload.objects.filter(submission=submission).select_related("insurance").first()


def fields_in_review(submission: Submission) -> list[str]:
    """Fields of this submission that wait for staff: the EHR changed them too, or a card reading is doubtful."""
    upload = card_upload_of(submission)
    if upload is not None:
        return sorted(upload.to_confirm) if upload.state == CardUpload.State.NEEDS_REVIEW else []
    if not submission.fields:
        return []
    return sorted(
        Conflict.objects.open()
        .filter(patient_id=submission.patient_id, field__in=submission.fields)
        .values_list("field", flat=True)
    )


def submission_status(submission: Submission) -> str:
    """A submission is as far along as its least finished intent (or a field staff must review)."""
    upload = card_upload_of(submission)
    if upload is not None:
        # A card is first read (and perhaps confirmed by staff); its writes to athena come after.
        if upload.state in (CardUpload.State.QUEUED, CardUpload.State.READING):
            return Submission.Status.PROCESSING
        if upload.state == CardUpload.State.NEEDS_REVIEW:
            return Submission.Status.NEEDS_CONFIRMATION
        if upload.state in (CardUpload.State.UNREADABLE, CardUpload.State.FAILED):
            return Submission.Status.NEEDS_ATTENTION
        insurance = upload.insurance
        if insurance is not None:
            if EligibilityCheck.objects.open().filter(insurance=insurance).exists():
                return Submission.Status.PROCESSING  # the payer is being asked
            if insurance.eligibility_status in ("inactive", "rejected"):
                return Submission.Status.NEEDS_ATTENTION  # the patient must act (new card, call the payer)
    states = {intent.state for intent in submission.intents.all()}
    if fields_in_review(submission):
        return Submission.Status.NEEDS_ATTENTION
    if not states or states <= {WriteIntent.State.SUCCEEDED}:
        return Submission.Status.COMPLETED
    if WriteIntent.State.PARKED in states:
        return Submission.Status.NEEDS_ATTENTION
    if states & set(WriteIntent.OPEN_STATES):
        return Submission.Status.PROCESSING
    return Submission.Status.FAILED
