"""Coverage: what the hub believes about an insurance, where each value came from, and writing it back.

Insurance fields have a golden record like patient fields (`hub.golden`, field group "insurance",
one record per insurance: "insurance.<id>.member_id"). Sources rank as DESIGN says: a value the
payer verified (source `eligibility`) beats the EHR, the EHR beats the card (`ocr`), the card beats
what was typed (`portal`); when portal-side and EHR values both moved apart, staff decide in the
conflict queue — unless an eligibility answer verifies one side, which settles it.

Write-back follows verification: a card's values reach athena (create or update, through the
ledger) only once the payer confirmed the coverage, and only when athena's own requirements for an
insurance are complete (`eligibility.completeness`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from eligibility import inquiry
from eligibility.completeness import ADD_INSURANCE, missing_fields
from eligibility.models import CardSignal, EligibilityCheck
from hub.golden import Change, MergeResult, golden_merge, insurance_field
from hub.models import FieldState, Patient, PatientInsurance
from sync.conflicts import conflicts_sync
from sync.models import WriteIntent
from sync.portal_events import portal_event_emit
from sync.services import intent_create

Operation = WriteIntent.Operation
# The insurance fields with a golden record (the "insurance" field group).
TRACKED_FIELDS = (
    "payer_name",
    "member_id",
    "group_number",
    "holder_first_name",
    "holder_last_name",
    "holder_dob",
    "relationship_to_holder",
)
# Fields an athena insurance can be updated with (the payer is the package: never updated).
ATHENA_UPDATABLE = ("member_id", "group_number", "holder_first_name", "holder_last_name", "holder_dob")


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


@transaction.atomic
def coverage_observe(
    *,
    insurance: PatientInsurance,
    values: dict[str, Any],
    source: str,
    event_id: str,
    at: dt.datetime | None = None,
) -> MergeResult:
    """One source's report of an insurance's fields enters its golden record; conflicts open or close."""
    insurance = PatientInsurance.objects.select_related("patient__department").get(pk=insurance.pk)
    patient = insurance.patient
    at = at or timezone.now()
    _seed_ehr_record(insurance, before=at)
    changes = [
        (insurance_field(insurance.pk, name), Change(at, source, event_id, _json(value)))
        for name, value in values.items()
        if name in TRACKED_FIELDS
    ]
    result = golden_merge(patient=patient, changes=changes)
    conflicts_sync(patient=patient, result=result)
    return result


def _seed_ehr_record(insurance: PatientInsurance, *, before: dt.datetime) -> None:
    """An insurance imported from athena has no EHR record yet: its current values are athena's."""
    if not insurance.athena_insurance_id:
        return
    prefix = insurance_field(insurance.pk, "")
    if FieldState.objects.filter(patient_id=insurance.patient_id, field__startswith=prefix).exists():
        return
    when = min(insurance.updated_at or before, before) - dt.timedelta(microseconds=1)
    changes = [
        (insurance_field(insurance.pk, name), Change(when, "ehr", "athena-import", _json(getattr(insurance, name))))
        for name in TRACKED_FIELDS
        if getattr(insurance, name) not in (None, "")
    ]
    if changes:
        golden_merge(patient=insurance.patient, changes=changes)


def card_signal_record(
    *,
    insurance: PatientInsurance,
    member_id_confidence: float | None,
    member_id_confusable: bool,
    card_name_match: float | None,
) -> CardSignal:
    """Keep what the latest card reading says about this insurance (read by the denial-risk score)."""
    # Cards of different insurances (the same card photographed twice is still one card).
    others = CardSignal.objects.filter(insurance__patient_id=insurance.patient_id, insurance__is_cancelled=False)
    cards = others.exclude(insurance=insurance).count() + 1
    signal, _ = CardSignal.objects.update_or_create(
        insurance=insurance,
        defaults={
            "member_id_confidence": member_id_confidence,
            "member_id_confusable": member_id_confusable,
            "card_name_match": card_name_match,
            "cards_uploaded": cards,
            "read_at": timezone.now(),
        },
    )
    return signal


# --- after a check --------------------------------------------------------------------------------


def check_settled(*, check: EligibilityCheck) -> None:
    """A check reached its final state: the insurance's status, verified values, the patient, the score."""
    from eligibility import risk_service
    from eligibility.services import INSURANCE_STATUS

    insurance = PatientInsurance.objects.select_related("patient__department").get(pk=check.insurance_id)
    patient = insurance.patient
    previous = insurance.eligibility_status
    if check.result in INSURANCE_STATUS:
        insurance.eligibility_status = INSURANCE_STATUS[check.result]
        insurance.eligibility_checked_at = check.finished_at
    insurance.eligibility_message = check.message[:200]
    insurance.save(update_fields=["eligibility_status", "eligibility_checked_at", "eligibility_message", "updated_at"])
    if check.state == EligibilityCheck.State.DONE and check.result == EligibilityCheck.Result.ACTIVE:
        coverage_verified(check=check, insurance=insurance)
    if check.result in (EligibilityCheck.Result.INACTIVE, EligibilityCheck.Result.REJECTED):
        # The patient has to act (new card, call the payer): a text points them to the portal.
        from notify.services import notify_needs_attention

        notify_needs_attention(patient=patient, reference=f"eligibility:{insurance.pk}:{check.result}")
    if insurance.eligibility_status != previous:
        portal_event_emit(
            type="insurance.eligibility_changed",
            department=patient.department,
            patient=patient,
            data={"insurance_id": insurance.pk, "eligibility_status": insurance.eligibility_status},
        )
    risk_service.patient_risks_refresh(patient=patient)


def coverage_verified(*, check: EligibilityCheck, insurance: PatientInsurance) -> list[WriteIntent]:
    """The payer confirmed coverage: its member id (and group) become verified values; write back."""
    values: dict[str, Any] = {}
    if check.verified_member_id:
        values["member_id"] = check.verified_member_id
    if check.summary.get("group_number"):
        values["group_number"] = check.summary["group_number"]
    event_id = f"eligibility-{check.pk}"
    if values:
        coverage_observe(insurance=insurance, values=values, source="eligibility", event_id=event_id)
    insurance.refresh_from_db()
    return insurance_writeback(insurance=insurance, event_id=event_id)


def writeback_missing(insurance: PatientInsurance) -> list[str]:
    """What athena still needs before this insurance can be written (labels staff understand)."""
    intake = inquiry.intake_for(insurance, patient=insurance.patient)
    labels = [item.label for item in missing_fields(ADD_INSURANCE, intake)]
    if not insurance.athena_insurance_package_id:
        labels.append("athena insurance package (the payer's plan in athena)")
    return labels


def _open_intent(patient: Patient, operation: str, **target: Any) -> WriteIntent | None:
    rows = WriteIntent.objects.filter(patient=patient, operation=operation).exclude(state__in=WriteIntent.FINAL_STATES)
    for key, value in target.items():
        rows = rows.filter(**{f"target__{key}": value})
    return rows.order_by("pk").first()


def fields_athena_lacks(insurance: PatientInsurance) -> list[str]:
    """Insurance fields whose golden value athena does not hold yet (and no conflict waits on them)."""
    prefix = insurance_field(insurance.pk, "")
    lacking = []
    for state in FieldState.objects.filter(patient_id=insurance.patient_id, field__startswith=prefix):
        name = state.field[len(prefix) :]
        if name not in ATHENA_UPDATABLE or state.in_conflict or state.source == "ehr":
            continue
        if json.loads(state.value or "null") != json.loads(state.last_ehr or "null"):
            lacking.append(name)
    return sorted(lacking)


@transaction.atomic
def insurance_writeback(*, insurance: PatientInsurance, event_id: str) -> list[WriteIntent]:
    """Create the ledger write that brings athena up to this insurance's golden values, if any is due."""
    insurance = PatientInsurance.objects.select_related("patient__department").get(pk=insurance.pk)
    patient = insurance.patient
    if insurance.is_cancelled:
        return []
    if insurance.athena_insurance_id:
        fields = fields_athena_lacks(insurance)
        if not fields or not patient.athena_patient_id:
            return []
        intent, _ = intent_create(
            operation=Operation.UPDATE_INSURANCE,
            patient=patient,
            department=patient.department,
            natural_key=f"update_insurance:{insurance.pk}:{event_id}",
            target={"insurance_id": insurance.pk, "fields": fields},
        )
        return [intent]
    if _open_intent(patient, Operation.CREATE_INSURANCE, insurance_id=insurance.pk) is not None:
        return []
    if writeback_missing(insurance):
        return []
    primary = None
    if insurance.sequence_number == PatientInsurance.Sequence.SECONDARY:
        primary = _open_intent(patient, Operation.CREATE_INSURANCE)
    intent, _ = intent_create(
        operation=Operation.CREATE_INSURANCE,
        patient=patient,
        department=patient.department,
        natural_key=f"create_insurance:{insurance.pk}",
        target={"insurance_id": insurance.pk},
        depends_on=_open_intent(patient, Operation.CREATE_PATIENT) or primary,
    )
    return [intent]
