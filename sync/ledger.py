"""What each kind of write intent does: how it is sent, how it is found again, what success changes.

`send` performs the write; `reconcile` reads athena back after an ambiguous outcome or a crash
and says whether the write is already there (never a blind resend); `apply_success` records the
athena ids on the hub's rows; `dry_run` shows staff exactly what a replay would send.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from hub.golden import Change, golden_merge, insurance_field
from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.errors import AthenaNotFoundError, AthenaSlotUnavailableError
from hub.integrations.athena.types import AthenaAppointment
from hub.models import Appointment, AppointmentType, Department, Patient, PatientInsurance, Provider
from sync import mapping
from sync.models import WriteIntent

Operation = WriteIntent.Operation
AUTOMATCH_SCORE = 26  # athena's own automatch threshold for enhancedbestmatch
BOOKED_STATES = {"f", "2", "3", "4"}


class NeedsStaff(Exception):
    """The write cannot go on without a person (e.g. athena matched a chart the hub links elsewhere)."""


@dataclass(frozen=True)
class Reconciliation:
    applied: bool
    result: dict[str, Any] = field(default_factory=dict)
    conflict: str = ""


NOT_APPLIED = Reconciliation(applied=False)


def _athena_patient_id(intent: WriteIntent) -> str:
    patient = Patient.objects.get(pk=intent.patient_id)
    if not patient.athena_patient_id:
        raise NeedsStaff("the patient has no athena chart yet")
    return patient.athena_patient_id


def dependency_problem(intent: WriteIntent) -> str:
    """Why this intent cannot run because of the write it depends on ('' when it can)."""
    if intent.depends_on_id is None:
        return ""
    parent = WriteIntent.objects.get(pk=intent.depends_on_id)
    if parent.state in (WriteIntent.State.FAILED, WriteIntent.State.CANCELLED):
        return f"depends on intent {parent.pk}, which {parent.state}"
    return ""


# --- patients -------------------------------------------------------------------------------------


def _patient_form_write(patient: Patient) -> Any:
    write = mapping.patient_write(patient)
    return write.__class__(**{**write.__dict__, "department_id": patient.department.athena_department_id})


def send_create_patient(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    patient = Patient.objects.select_related("department").get(pk=intent.patient_id)
    if patient.athena_patient_id:
        return {"patientid": patient.athena_patient_id, "already_linked": True}
    return {"patientid": client.create_patient(_patient_form_write(patient))}


def reconcile_create_patient(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    patient = Patient.objects.select_related("department").get(pk=intent.patient_id)
    if patient.athena_patient_id:
        return Reconciliation(applied=True, result={"patientid": patient.athena_patient_id})
    candidates = client.enhanced_best_match(
        first_name=patient.first_name,
        last_name=patient.last_name,
        dob=patient.dob,
        department_id=patient.department.athena_department_id,
        email=patient.email,
        mobile_phone=patient.mobile_phone,
        home_phone=patient.home_phone,
        zip_code=patient.zip_code,
    )
    best = max(candidates, key=lambda c: c.score or 0, default=None)
    if best is not None and (best.score or 0) >= AUTOMATCH_SCORE:
        return Reconciliation(applied=True, result={"patientid": best.patient_id, "score": best.score})
    return NOT_APPLIED


def apply_create_patient(intent: WriteIntent) -> None:
    athena_id = str(intent.result.get("patientid", ""))
    patient = Patient.objects.select_for_update().get(pk=intent.patient_id)
    if patient.athena_patient_id == athena_id:
        return
    other = Patient.objects.filter(practice_id=patient.practice_id, athena_patient_id=athena_id).exclude(pk=patient.pk)
    if other.exists():
        # athena matched the registration to a chart the hub already links to another record.
        raise NeedsStaff(f"athena matched an existing chart already linked to hub patient {other[0].pk}")
    patient.athena_patient_id = athena_id
    patient.save(update_fields=["athena_patient_id", "updated_at"])


def send_update_patient(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    patient = Patient.objects.get(pk=intent.patient_id)
    athena_id = _athena_patient_id(intent)
    client.update_patient(athena_id, mapping.patient_write(patient, only=set(intent.target.get("fields", []))))
    return {"patientid": athena_id, "fields": intent.target.get("fields", [])}


def reconcile_update_patient(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    # A PUT of the same values is harmless, so an unknown outcome is settled by sending again.
    return NOT_APPLIED


# --- insurances -----------------------------------------------------------------------------------


def _insurance(intent: WriteIntent) -> PatientInsurance:
    return PatientInsurance.objects.select_related("patient__department").get(pk=intent.target["insurance_id"])


def send_create_insurance(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    insurance = _insurance(intent)
    athena_patient = _athena_patient_id(intent)
    write = mapping.insurance_write(insurance, department_id=insurance.patient.department.athena_department_id)
    created = client.create_insurance(athena_patient, write)
    if created is None:
        # Older athena answers only {"success": "true"}: find the new record to learn its id.
        found = reconcile_create_insurance(intent, client)
        if not found.applied:
            raise AthenaNotFoundError("athena accepted the insurance but does not list it", route="insurances")
        return found.result
    return {"insuranceid": created.insurance_id, "patientid": athena_patient}


def reconcile_create_insurance(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    insurance = _insurance(intent)
    athena_patient = _athena_patient_id(intent)
    for existing in client.list_insurances(athena_patient, show_cancelled=False):
        if (
            existing.member_id.upper() == insurance.member_id.upper()
            and existing.sequence_number == insurance.sequence_number
            and (
                not insurance.athena_insurance_package_id
                or existing.insurance_package_id == insurance.athena_insurance_package_id
            )
        ):
            return Reconciliation(
                applied=True, result={"insuranceid": existing.insurance_id, "patientid": athena_patient}
            )
    return NOT_APPLIED


def _insurance_written(intent: WriteIntent, insurance: PatientInsurance, fields: list[str]) -> None:
    """athena now holds these values: the EHR side of the insurance's golden record says so."""
    changes = []
    for name in fields:
        if name not in mapping.INSURANCE_FORM_NAMES:
            continue
        value = getattr(insurance, name)
        value = value.isoformat() if hasattr(value, "isoformat") else value
        changes.append(
            (insurance_field(insurance.pk, name), Change(timezone.now(), "ehr", f"intent-{intent.pk}", value))
        )
    if changes:
        golden_merge(patient=insurance.patient, changes=changes)


def apply_create_insurance(intent: WriteIntent) -> None:
    PatientInsurance.objects.filter(pk=intent.target["insurance_id"]).update(
        athena_insurance_id=str(intent.result.get("insuranceid", ""))
    )
    _insurance_written(intent, _insurance(intent), list(mapping.INSURANCE_FORM_NAMES))


def send_update_insurance(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    insurance = _insurance(intent)
    athena_patient = _athena_patient_id(intent)
    if not insurance.athena_insurance_id:
        raise NeedsStaff("the insurance is not in athena yet")
    fields = list(intent.target.get("fields", []))
    form = mapping.insurance_update_form(insurance, fields)
    if form:
        client.update_insurance(athena_patient, insurance.athena_insurance_id, form)
    return {"insuranceid": insurance.athena_insurance_id, "patientid": athena_patient, "fields": fields}


def reconcile_update_insurance(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    # A PUT of the same values is harmless, so an unknown outcome is settled by sending again.
    return NOT_APPLIED


def apply_update_insurance(intent: WriteIntent) -> None:
    _insurance_written(intent, _insurance(intent), list(intent.target.get("fields", [])))


# --- insurance card images --------------------------------------------------------------------------

# The image bytes of a card upload live with the upload (intake); it registers how to read them.
CardImageSource = Callable[[int], bytes]
_card_image_sources: list[CardImageSource] = []


def register_card_image_source(source: CardImageSource) -> None:
    """`source(card_upload_id) -> bytes` of the image to send to athena; raises LookupError when purged."""
    _card_image_sources[:] = [source]


def _card_image(intent: WriteIntent) -> bytes:
    if not _card_image_sources:
        raise NeedsStaff("no card image store is configured")
    try:
        return _card_image_sources[0](int(intent.target["card_upload_id"]))
    except LookupError as exc:
        raise NeedsStaff("the card images are no longer kept (retention)") from exc


def send_upload_card(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    insurance = _insurance(intent)
    athena_patient = _athena_patient_id(intent)
    if not insurance.athena_insurance_id:
        raise NeedsStaff("the insurance is not in athena yet")
    image = _card_image(intent)
    client.upload_insurance_card(
        athena_patient,
        insurance.athena_insurance_id,
        image=image,
        department_id=insurance.patient.department.athena_department_id,
    )
    return {"insuranceid": insurance.athena_insurance_id, "image_sha256": hashlib.sha256(image).hexdigest()}


def reconcile_upload_card(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    insurance = _insurance(intent)
    if not insurance.athena_insurance_id:
        return NOT_APPLIED
    try:
        current = client.get_insurance_card(_athena_patient_id(intent), insurance.athena_insurance_id)
    except AthenaNotFoundError:
        return NOT_APPLIED
    digest = hashlib.sha256(_card_image(intent)).hexdigest()
    # athena keeps one image per insurance: only our own bytes there mean our upload landed.
    if hashlib.sha256(current).hexdigest() == digest:
        return Reconciliation(
            applied=True, result={"insuranceid": insurance.athena_insurance_id, "image_sha256": digest}
        )
    return NOT_APPLIED


# --- appointments ---------------------------------------------------------------------------------


def send_book_appointment(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    athena_patient = _athena_patient_id(intent)
    target = intent.target
    try:
        booked = client.book_appointment(
            target["appointment_id"],
            patient_id=athena_patient,
            appointment_type_id=target.get("appointment_type_id") or None,
            reason_id=target.get("reason_id") or None,
            department_id=intent.department.athena_department_id,
        )
    except AthenaSlotUnavailableError:
        # Taken — perhaps by our own earlier attempt that landed late: look before failing.
        found = reconcile_book_appointment(intent, client)
        if found.applied:
            return found.result
        raise
    return _appointment_result(booked, patientid=athena_patient)


def reconcile_book_appointment(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    athena_patient = _athena_patient_id(intent)
    slot = client.get_appointment(intent.target["appointment_id"])
    if slot.status in BOOKED_STATES and slot.patient_id == athena_patient:
        return Reconciliation(applied=True, result=_appointment_result(slot))
    if slot.status == "o":
        return NOT_APPLIED
    return Reconciliation(applied=False, conflict="the slot was taken by another booking")


def _appointment_result(appointment: AthenaAppointment, **extra: Any) -> dict[str, Any]:
    """What the hub needs to hold the booked appointment (ids, date and time; no PHI)."""
    return {
        "appointmentid": appointment.appointment_id,
        "status": appointment.status,
        "date": appointment.date.isoformat() if appointment.date else "",
        "starttime": appointment.start_time.strftime("%H:%M") if appointment.start_time else "",
        "duration": appointment.duration_minutes,
        "departmentid": appointment.department_id,
        "providerid": appointment.provider_id,
        "appointmenttypeid": appointment.appointment_type_id,
        **extra,
    }


def _hold_booked(intent: WriteIntent, appointment_id: str) -> None:
    """Mark the booked appointment on the hub's row, creating the row if the hub never saw the slot."""
    result = intent.result
    status = result.get("status") or Appointment.Status.FUTURE
    updated = Appointment.objects.filter(practice_id=intent.practice_id, athena_appointment_id=appointment_id).update(
        status=status, patient_id=intent.patient_id
    )
    if updated or not result.get("date") or not result.get("starttime"):
        return
    practice = intent.practice_id
    department = (
        Department.objects.filter(practice_id=practice, athena_department_id=result.get("departmentid")).first()
        or intent.department
    )
    Appointment.objects.create(
        practice_id=practice,
        athena_appointment_id=appointment_id,
        department=department,
        patient_id=intent.patient_id,
        date=dt.date.fromisoformat(result["date"]),
        start_time=dt.datetime.strptime(result["starttime"], "%H:%M").time(),  # noqa: DTZ007 - local wall time
        duration_minutes=int(result.get("duration") or 15),
        status=status,
        provider=Provider.objects.filter(practice_id=practice, athena_provider_id=result.get("providerid")).first(),
        appointment_type=AppointmentType.objects.filter(
            practice_id=practice, athena_appointment_type_id=result.get("appointmenttypeid")
        ).first(),
    )


def apply_book_appointment(intent: WriteIntent) -> None:
    _hold_booked(intent, intent.target["appointment_id"])


def send_cancel_appointment(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    athena_patient = _athena_patient_id(intent)
    client.cancel_appointment(
        intent.target["appointment_id"], patient_id=athena_patient, reason=intent.target.get("reason", "")
    )
    return {"appointmentid": intent.target["appointment_id"], "status": "x"}


def reconcile_cancel_appointment(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    appointment = client.get_appointment(intent.target["appointment_id"])
    if appointment.status == "x":
        return Reconciliation(applied=True, result={"appointmentid": appointment.appointment_id, "status": "x"})
    return NOT_APPLIED


def apply_cancel_appointment(intent: WriteIntent) -> None:
    Appointment.objects.filter(
        practice_id=intent.practice_id, athena_appointment_id=intent.target["appointment_id"]
    ).update(status=Appointment.Status.CANCELLED, cancel_reason=intent.target.get("reason", "")[:200])


def send_reschedule_appointment(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    athena_patient = _athena_patient_id(intent)
    new = client.reschedule_appointment(
        intent.target["appointment_id"],
        new_appointment_id=intent.target["new_appointment_id"],
        patient_id=athena_patient,
        reason=intent.target.get("reason", ""),
    )
    return _appointment_result(new, old_appointmentid=intent.target["appointment_id"])


def reconcile_reschedule_appointment(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    athena_patient = _athena_patient_id(intent)
    new_slot = client.get_appointment(intent.target["new_appointment_id"])
    if new_slot.status in BOOKED_STATES and new_slot.patient_id == athena_patient:
        return Reconciliation(
            applied=True, result=_appointment_result(new_slot, old_appointmentid=intent.target["appointment_id"])
        )
    if new_slot.status == "o":
        return NOT_APPLIED
    return Reconciliation(applied=False, conflict="the new slot was taken by another booking")


def apply_reschedule_appointment(intent: WriteIntent) -> None:
    old = Appointment.objects.filter(
        practice_id=intent.practice_id, athena_appointment_id=intent.target["appointment_id"]
    ).first()
    if old is not None:
        old.status = Appointment.Status.CANCELLED
        old.rescheduled_appointment_id = str(intent.result.get("appointmentid", ""))
        old.save(update_fields=["status", "rescheduled_appointment_id", "updated_at"])
    _hold_booked(intent, intent.target["new_appointment_id"])


def send_check_in(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    client.check_in(intent.target["appointment_id"])
    return {"appointmentid": intent.target["appointment_id"], "status": "2"}


def reconcile_check_in(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    appointment = client.get_appointment(intent.target["appointment_id"])
    if appointment.status in {"2", "3", "4"}:
        return Reconciliation(applied=True, result={"appointmentid": appointment.appointment_id, "status": "2"})
    return NOT_APPLIED


def apply_check_in(intent: WriteIntent) -> None:
    Appointment.objects.filter(
        practice_id=intent.practice_id, athena_appointment_id=intent.target["appointment_id"]
    ).update(status=Appointment.Status.CHECKED_IN)


SENDERS: dict[str, Any] = {
    Operation.CREATE_PATIENT: send_create_patient,
    Operation.UPDATE_PATIENT: send_update_patient,
    Operation.CREATE_INSURANCE: send_create_insurance,
    Operation.UPDATE_INSURANCE: send_update_insurance,
    Operation.UPLOAD_CARD: send_upload_card,
    Operation.BOOK_APPOINTMENT: send_book_appointment,
    Operation.CANCEL_APPOINTMENT: send_cancel_appointment,
    Operation.RESCHEDULE_APPOINTMENT: send_reschedule_appointment,
    Operation.CHECK_IN: send_check_in,
}
RECONCILERS: dict[str, Any] = {
    Operation.CREATE_PATIENT: reconcile_create_patient,
    Operation.UPDATE_PATIENT: reconcile_update_patient,
    Operation.CREATE_INSURANCE: reconcile_create_insurance,
    Operation.UPDATE_INSURANCE: reconcile_update_insurance,
    Operation.UPLOAD_CARD: reconcile_upload_card,
    Operation.BOOK_APPOINTMENT: reconcile_book_appointment,
    Operation.CANCEL_APPOINTMENT: reconcile_cancel_appointment,
    Operation.RESCHEDULE_APPOINTMENT: reconcile_reschedule_appointment,
    Operation.CHECK_IN: reconcile_check_in,
}
APPLIERS: dict[str, Any] = {
    Operation.CREATE_PATIENT: apply_create_patient,
    Operation.CREATE_INSURANCE: apply_create_insurance,
    Operation.UPDATE_INSURANCE: apply_update_insurance,
    Operation.BOOK_APPOINTMENT: apply_book_appointment,
    Operation.CANCEL_APPOINTMENT: apply_cancel_appointment,
    Operation.RESCHEDULE_APPOINTMENT: apply_reschedule_appointment,
    Operation.CHECK_IN: apply_check_in,
}


def send(intent: WriteIntent, client: AthenaClient) -> dict[str, Any]:
    """Perform the write; returns athena's ids for the record."""
    return SENDERS[intent.operation](intent, client)


def reconcile(intent: WriteIntent, client: AthenaClient) -> Reconciliation:
    """Read athena back: is this write already there?"""
    return RECONCILERS[intent.operation](intent, client)


def apply_success(intent: WriteIntent) -> None:
    """Record what athena now holds on the hub's rows (inside the settling transaction)."""
    applier = APPLIERS.get(intent.operation)
    if applier is not None:
        applier(intent)


def after_final(intent: WriteIntent) -> None:
    """What follows a settled intent (portal events, notifications), written in the same transaction.

    Hooks only write rows (events, further intents), so they commit or roll back with the outcome.
    """
    for hook in FINAL_HOOKS:
        hook(intent.pk)


FINAL_HOOKS: list[Any] = []


def register_final_hook(hook: Any) -> None:
    """Other parts of the hub (portal events, SMS) learn about settled intents through this."""
    if hook not in FINAL_HOOKS:
        FINAL_HOOKS.append(hook)


def dry_run(intent: WriteIntent) -> dict[str, Any]:
    """Exactly what sending this intent now would write to athena (for staff, before a replay)."""
    patient = Patient.objects.select_related("department").get(pk=intent.patient_id)
    athena_patient = patient.athena_patient_id or "(the new chart's id)"
    op = intent.operation
    if op == Operation.CREATE_PATIENT:
        form = _patient_form_write(patient).to_form()
        return {
            "method": "POST",
            "route": "/v1/{practiceid}/patients",
            "form": form,
            "reconcile_first": "enhancedbestmatch on name, date of birth and contact details",
        }
    if op == Operation.UPDATE_PATIENT:
        form = mapping.patient_write(patient, only=set(intent.target.get("fields", []))).to_form()
        return {"method": "PUT", "route": f"/v1/{{practiceid}}/patients/{athena_patient}", "form": form}
    if op == Operation.CREATE_INSURANCE:
        insurance = _insurance(intent)
        form = mapping.insurance_write(insurance, department_id=patient.department.athena_department_id).to_form()
        return {
            "method": "POST",
            "route": f"/v1/{{practiceid}}/patients/{athena_patient}/insurances",
            "form": form,
            "reconcile_first": "list the patient's insurances and match member id and sequence",
        }
    if op == Operation.UPDATE_INSURANCE:
        insurance = _insurance(intent)
        form = mapping.insurance_update_form(insurance, list(intent.target.get("fields", [])))
        return {
            "method": "PUT",
            "route": f"/v1/{{practiceid}}/patients/{athena_patient}/insurances/"
            f"{insurance.athena_insurance_id or '(the new insurance id)'}",
            "form": form,
        }
    if op == Operation.UPLOAD_CARD:
        insurance = _insurance(intent)
        return {
            "method": "POST",
            "route": f"/v1/{{practiceid}}/patients/{athena_patient}/insurances/"
            f"{insurance.athena_insurance_id or '(the new insurance id)'}/image",
            "form": {"image": "(the card image, base64)", "departmentid": patient.department.athena_department_id},
            "reconcile_first": "read the insurance's image back: our own bytes there count as done",
        }
    target = intent.target
    if op == Operation.BOOK_APPOINTMENT:
        form = {"patientid": athena_patient, "departmentid": intent.department.athena_department_id}
        form.update({k: v for k in ("appointment_type_id", "reason_id") if (v := target.get(k))})
        return {
            "method": "PUT",
            "route": f"/v1/{{practiceid}}/appointments/{target['appointment_id']}",
            "form": form,
            "reconcile_first": "read the slot: booked for this patient counts as done",
        }
    if op == Operation.CANCEL_APPOINTMENT:
        return {
            "method": "PUT",
            "route": f"/v1/{{practiceid}}/appointments/{target['appointment_id']}/cancel",
            "form": {"patientid": athena_patient, "cancellationreason": target.get("reason", "")},
        }
    if op == Operation.RESCHEDULE_APPOINTMENT:
        return {
            "method": "PUT",
            "route": f"/v1/{{practiceid}}/appointments/{target['appointment_id']}/reschedule",
            "form": {"newappointmentid": target["new_appointment_id"], "patientid": athena_patient},
        }
    if op == Operation.CHECK_IN:
        return {
            "method": "POST",
            "route": f"/v1/{{practiceid}}/appointments/{target['appointment_id']}/checkin",
            "form": {},
        }
    return {"method": "", "route": "", "form": {}, "note": f"no dry run for {op}"}
