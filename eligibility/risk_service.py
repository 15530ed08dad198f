"""Denial-risk scores of upcoming visits: inputs read from the hub's rows, scored, stored, shown to staff.

The score (`eligibility.risk.assess`) looks at intake completeness, the latest 271 of the visit's
primary insurance, what the card reading said, and the visit. A visit's score is recomputed when a
check settles and when the re-check planner runs; the home page and the admin read the stored row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from eligibility import inquiry
from eligibility.answers import latest_response
from eligibility.models import CardSignal, DenialRisk, EligibilityCheck
from eligibility.risk import RiskInputs, assess
from eligibility.services import primary_insurance
from hub.models import Appointment, Patient, PatientInsurance

UPCOMING_STATUSES = (Appointment.Status.FUTURE, Appointment.Status.CHECKED_IN)


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _latest_check(insurance: PatientInsurance, day: dt.date) -> EligibilityCheck | None:
    answered = EligibilityCheck.objects.filter(
        insurance=insurance, state__in=[EligibilityCheck.State.DONE, EligibilityCheck.State.FAILED]
    )
    return (
        answered.filter(date_of_service=day).order_by("-finished_at", "-pk").first()
        or answered.order_by("-finished_at", "-pk").first()
    )


def risk_inputs(appointment: Appointment, *, now: dt.datetime) -> tuple[RiskInputs, EligibilityCheck | None]:
    """What the score looks at for one visit, read from the rows (and the check's stored 271)."""
    patient = appointment.patient
    assert patient is not None  # only booked visits are scored
    insurance = primary_insurance(patient.pk)
    check = _latest_check(insurance, appointment.date) if insurance is not None else None
    response = latest_response(check) if check is not None else None
    hours = (now - check.finished_at).total_seconds() / 3600 if check is not None and check.finished_at else None
    asker = inquiry.asker_for(patient, appointment)
    intake = inquiry.intake_for(
        insurance, patient=patient, appointment=appointment, date_of_service=appointment.date, npi=asker.npi
    )
    signal = CardSignal.objects.filter(insurance=insurance).first() if insurance is not None else None
    inputs = RiskInputs(
        date_of_service=appointment.date,
        service_type=inquiry.service_type_for(appointment),
        eligibility=response,
        hours_since_check=hours,
        intake=intake,
        patient_is_dependent=bool(insurance and insurance.relationship_to_holder != "self"),
        patient_age=_age(patient.dob, appointment.date),
        ocr_member_id_confidence=signal.member_id_confidence if signal else None,
        member_id_confusable=bool(signal and signal.member_id_confusable),
        card_name_match=signal.card_name_match if signal else None,
        cards_uploaded=signal.cards_uploaded if signal else 1,
    )
    return inputs, check


@transaction.atomic
def appointment_risk_refresh(*, appointment: Appointment, now: dt.datetime | None = None) -> DenialRisk | None:
    """Score one booked visit and store the score with its reasons (None for a visit with no patient)."""
    if appointment.patient_id is None:
        return None
    now = now or timezone.now()
    inputs, check = risk_inputs(appointment, now=now)
    assessment = assess(inputs)
    risk, _ = DenialRisk.objects.update_or_create(
        appointment=appointment,
        defaults={
            "patient_id": appointment.patient_id,
            "department_id": appointment.department_id,
            "insurance": check.insurance if check is not None else primary_insurance(appointment.patient_id),
            "eligibility_check": check,
            "probability": assessment.probability,
            "band": assessment.band,
            "reasons": [
                {"code": r.code, "sentence": r.sentence, "carcs": list(r.carcs), "contribution": r.contribution}
                for r in assessment.reasons
            ],
            "rules_fired": assessment.rules_fired,
            "features": assessment.features,
            "computed_at": now,
        },
    )
    return risk


def patient_risks_refresh(*, patient: Patient, now: dt.datetime | None = None) -> int:
    """Re-score every upcoming booked visit of one patient."""
    now = now or timezone.now()
    visits = Appointment.objects.filter(
        patient=patient, status__in=UPCOMING_STATUSES, date__gte=(now - dt.timedelta(days=1)).date()
    ).select_related("department", "provider", "appointment_type", "patient__department", "patient__practice")
    count = 0
    for appointment in visits:
        if appointment_risk_refresh(appointment=appointment, now=now) is not None:
            count += 1
    return count


def upcoming_risks_refresh(*, now: dt.datetime | None = None, days_ahead: int = 3) -> int:
    """Re-score every booked visit of the next days (the planner's pass; scores age with their check)."""
    now = now or timezone.now()
    patients = Patient.objects.filter(
        appointments__status__in=UPCOMING_STATUSES,
        appointments__date__range=(now.date() - dt.timedelta(days=1), now.date() + dt.timedelta(days=days_ahead)),
    ).distinct()
    return sum(patient_risks_refresh(patient=patient, now=now) for patient in patients)


def denial_risk_labels(appointments: Sequence[Appointment]) -> Mapping[int, SafeString]:
    """The home page's denial-risk column: band and score, the top reason on hover, a link to the reasons."""
    risks = DenialRisk.objects.filter(appointment_id__in=[a.pk for a in appointments])
    labels: dict[int, SafeString] = {}
    for risk in risks:
        top = risk.top_reason
        labels[risk.appointment_id] = format_html(
            '<a href="{}" title="{}" class="hub-risk hub-risk-{}">{}</a>',
            reverse("admin:eligibility_denialrisk_change", args=[risk.pk]),
            top["sentence"] if top else "No risk factor found",
            risk.band,
            risk.label,
        )
    return labels
