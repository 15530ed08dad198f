"""Features for the denial-risk score, each in [0, 1], computed from what is known before the visit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eligibility.completeness import ADD_INSURANCE, CHECK_ELIGIBILITY, missing_fields
from eligibility.x12 import summary
from eligibility.x12.response import EligibilityResponse

PROVIDER_SETUP_CODES = frozenset({"04", "41", "43", "44", "45", "46", "47", "48", "50", "51", "79", "97", "T4"})
MEMBER_NOT_FOUND_CODES = frozenset({"72", "75", "76", "78"})
NAME_CODES = frozenset({"73", "74"})
DOB_CODES = frozenset({"58", "60", "71"})
DEPENDENT_CODES = frozenset({"64", "65", "66", "67", "68", "77"})
UNAVAILABLE_CODES = frozenset({"42", "80"})
MEDICARE_TYPES = frozenset({"MA", "MB", "MP", "HN", "12", "13", "14", "15", "16", "41", "42", "43", "47", "QM"})
INDIVIDUAL_LEVELS = frozenset({"IND", "EMP"})
STALE_AFTER_HOURS = 72
MISSING_FIELDS_FOR_FULL_WEIGHT = 3

FEATURES: tuple[str, ...] = (
    "eligibility_not_checked",
    "payer_unavailable",
    "stale_check",
    "provider_setup_rejected",
    "member_not_found",
    "name_rejected",
    "dob_rejected",
    "identity_changed",
    "card_name_mismatch",
    "ocr_uncertainty",
    "member_id_confusable",
    "dependent_not_covered",
    "coverage_inactive",
    "coverage_ended",
    "coverage_not_started",
    "other_payer",
    "medicare_age_commercial",
    "multiple_cards",
    "auth_missing",
    "referral_missing",
    "service_not_covered",
    "visits_exhausted",
    "out_of_network",
    "intake_missing",
)


@dataclass(frozen=True)
class RiskInputs:
    """Everything the score looks at for one upcoming visit. ``eligibility`` None = never checked."""

    date_of_service: dt.date
    service_type: str = "30"
    eligibility: EligibilityResponse | None = None
    hours_since_check: float | None = None
    intake: Mapping[str, Any] = field(default_factory=dict)
    auth_on_file: bool = False
    referral_on_file: bool = False
    patient_is_dependent: bool = False
    patient_age: int | None = None
    ocr_member_id_confidence: float | None = None
    member_id_confusable: bool = False
    card_name_match: float | None = None
    cards_uploaded: int = 1


def extract_features(inputs: RiskInputs) -> dict[str, float]:
    """The feature vector (name -> value in [0, 1]) in ``FEATURES`` order."""
    values = dict.fromkeys(FEATURES, 0.0)
    answer = inputs.eligibility
    values["member_id_confusable"] = float(inputs.member_id_confusable)
    values["multiple_cards"] = float(inputs.cards_uploaded > 1)
    if inputs.ocr_member_id_confidence is not None:
        # Confidence above 0.97 is as good as typed; below 0.47 is as bad as it gets.
        values["ocr_uncertainty"] = _clamp((0.97 - inputs.ocr_member_id_confidence) / 0.5)
    if inputs.card_name_match is not None:
        values["card_name_mismatch"] = float(inputs.card_name_match < 0.85)
    missing = {m.field for m in missing_fields(CHECK_ELIGIBILITY, inputs.intake)}
    missing |= {m.field for m in missing_fields(ADD_INSURANCE, inputs.intake)}
    values["intake_missing"] = _clamp(len(missing) / MISSING_FIELDS_FOR_FULL_WEIGHT)

    codes = {r.code for r in answer.rejections} if answer is not None else set()
    if answer is None or answer.transaction != "271":
        values["eligibility_not_checked"] = 1.0
        return values
    values["stale_check"] = float(inputs.hours_since_check is not None and inputs.hours_since_check > STALE_AFTER_HOURS)
    values["payer_unavailable"] = float(bool(codes & UNAVAILABLE_CODES))
    values["provider_setup_rejected"] = float(bool(codes & PROVIDER_SETUP_CODES))
    values["member_not_found"] = float(bool(codes & MEMBER_NOT_FOUND_CODES))
    values["name_rejected"] = float(bool(codes & NAME_CODES))
    values["dob_rejected"] = float(bool(codes & DOB_CODES))
    patient = answer.patient
    values["identity_changed"] = float(
        patient is not None and (patient.identity_changed or bool(patient.prior_member_id))
    )
    if answer.status == "unknown" and not codes:
        values["eligibility_not_checked"] = 1.0

    active_rows = [b for b in answer.patient_benefits if b.info in {"1", "2", "3", "4", "5"}]
    dependent_rejected = any(r.loop.endswith("D") and r.code in DEPENDENT_CODES for r in answer.rejections)
    individual_only = (
        inputs.patient_is_dependent
        and answer.dependent is None
        and bool(active_rows)
        and all(b.coverage_level in INDIVIDUAL_LEVELS for b in active_rows if b.coverage_level)
        and any(b.coverage_level for b in active_rows)
    )
    values["dependent_not_covered"] = float(dependent_rejected or individual_only)

    if answer.status in ("active", "inactive"):
        stc = inputs.service_type
        date_status = summary.plan_date_status(answer, inputs.date_of_service)
        values["coverage_ended"] = float(date_status == "ended")
        values["coverage_not_started"] = float(date_status == "not_started")
        values["coverage_inactive"] = float(
            summary.coverage_status(answer, stc) == "inactive" and date_status not in ("ended", "not_started")
        )
        values["other_payer"] = float(summary.other_payer_present(answer))
        commercial_first = bool(active_rows) and not any(b.insurance_type in MEDICARE_TYPES for b in active_rows)
        values["medicare_age_commercial"] = float(
            inputs.patient_age is not None
            and inputs.patient_age >= 65
            and commercial_first
            and not values["other_payer"]
        )
        values["auth_missing"] = float(summary.auth_required(answer, stc) is True and not inputs.auth_on_file)
        values["referral_missing"] = float(
            summary.needs_referral(answer) and stc != "30" and not inputs.referral_on_file
        )
        values["service_not_covered"] = float(summary.service_not_covered(answer, stc))
        values["visits_exhausted"] = float(summary.visits_exhausted(answer, stc))
        values["out_of_network"] = float(summary.network_status(answer, stc) == "out_of_network")
    return values


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))
