"""A seeded generator of labelled visits with one injected cause of denial (or none).

Each case is built the way the hub will see it: a 271 text written by the synthetic payer writer and
read back by the real reader, an intake dict, OCR confidence and the appointment. The label is drawn
from the cause's denial rate, so labels are noisy the way real ones are. Non-causal signals
(a stale check, a slightly uncertain OCR read, an authorization that is on file) are sprinkled over
all cases so the model has to learn which signals matter.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from eligibility.risk.features import RiskInputs
from eligibility.x12.read import parse_response
from eligibility.x12.response import EligibilityResponse
from eligibility.x12.synthetic import Answer, Person, Row, write_271

CAUSES: tuple[str, ...] = (
    "not_verified",
    "provider_setup",
    "identity",
    "dependent",
    "coverage_ended",
    "coverage_not_started",
    "cob",
    "auth",
    "referral",
    "non_covered",
    "out_of_network",
    "missing_intake",
)
CLEAN_SHARE = 0.5
CLEAN_DENIAL_RATE = 0.04
SERVICE_TYPES = ("98", "BZ", "MH", "UC", "AL", "A4", "33")
FIRST_NAMES = ("ALEX", "JORDAN", "SAM", "RILEY", "CASEY", "MORGAN", "TAYLOR", "JAMIE", "AVERY", "QUINN")
LAST_NAMES = ("SYNTH", "EXAMPLE", "SAMPLE", "TESTER", "MOCKLEY", "FAKERSON", "PLACEHOLD", "DUMMIT")


@dataclass(frozen=True)
class SyntheticCase:
    """One labelled visit: the inputs, the injected cause (None = clean), how it showed, the label."""

    inputs: RiskInputs
    cause: str | None
    manifestation: str
    denied: bool


@dataclass
class _Draft:
    """The mutable pieces of a case before it is frozen into RiskInputs."""

    rng: random.Random
    date_of_service: dt.date
    service_type: str
    subscriber: Person
    dependent: Person | None
    plan_type: str
    rows: list[Row]
    rejections: list[tuple[str, str, str]]
    patient_dates: list[tuple[str, str]]
    intake: dict[str, Any]
    patient_is_dependent: bool = False
    answered: bool = True
    with_subscriber: bool = True
    identity_changed: bool = False
    prior_member_id: str = ""
    auth_on_file: bool = False
    referral_on_file: bool = False
    patient_age: int = 40
    ocr_confidence: float | None = None
    confusable: bool = False
    card_name_match: float | None = None
    cards_uploaded: int = 1
    hours_since_check: float = 2.0
    denial_rate: float = 0.85


def generate_cases(count: int, seed: int) -> list[SyntheticCase]:
    """``count`` labelled cases; the same seed always gives the same cases."""
    rng = random.Random(seed)  # noqa: S311 - seeded synthetic data, not security
    return [_case(rng) for _ in range(count)]


def _case(rng: random.Random) -> SyntheticCase:
    draft = _base(rng)
    cause = None if rng.random() < CLEAN_SHARE else rng.choice(CAUSES)
    manifestation = "clean"
    _sprinkle_distractors(draft, clean=cause is None)
    if cause is not None:
        manifestation = _INJECTORS[cause](draft)
    denied = rng.random() < (draft.denial_rate if cause else CLEAN_DENIAL_RATE)
    return SyntheticCase(inputs=_freeze(draft), cause=cause, manifestation=manifestation, denied=denied)


def _base(rng: random.Random) -> _Draft:
    date_of_service = dt.date(2026, 3, 2) + dt.timedelta(days=rng.randrange(0, 90))
    age = rng.randrange(18, 64)
    subscriber = Person(
        rng.choice(FIRST_NAMES),
        rng.choice(LAST_NAMES),
        date_of_service - dt.timedelta(days=365 * age + rng.randrange(0, 365)),
        rng.choice("FM"),
        member_id=f"{rng.choice(['ZX', 'HMX', 'W', ''])}{rng.randrange(10**8, 10**9)}",
        group_number=f"GRP{rng.randrange(1000, 99999)}",
    )
    dependent = None
    if rng.random() < 0.2:
        dependent = Person(
            rng.choice(FIRST_NAMES),
            subscriber.last_name,
            date_of_service - dt.timedelta(days=365 * rng.randrange(1, 17)),
            rng.choice("FM"),
            relationship="19",
        )
        age = (date_of_service - dependent.dob).days // 365
    plan_type = rng.choice(["PR", "PR", "HM", "EP", "PS", "C1"])
    service_type = rng.choice(SERVICE_TYPES)
    level = "FAM" if dependent else rng.choice(["IND", "IND", "FAM"])
    rows = [
        Row("1", ("30",), level, plan_type, "SYNTHETIC PLAN"),
        Row("1", (service_type,), level, in_network="Y"),
        Row("B", (service_type,), level, period="27", amount=str(rng.choice([10, 20, 25, 40])), in_network="Y"),
        Row("C", ("30",), level, period="23", amount="2500", in_network="Y"),
    ]
    if plan_type in ("HM", "PS"):
        rows.append(Row("L", (), entity=("P3", "1", "PRIMARY", "PAT", "", "", "", "XX", "1234567893")))
    start = date_of_service - dt.timedelta(days=rng.randrange(30, 700))
    relationship = "child" if dependent else "self"
    intake = {
        "department_id": "162",
        "patient": {"first_name": "X", "last_name": "Y", "dob": "2000-01-01", "zip": "02139"},
        "insurance": {
            "payer_id": "EX001",
            "member_id": subscriber.member_id,
            "sequence_number": 1,
            "relationship_to_subscriber": relationship,
            "subscriber": {"first_name": "A", "last_name": "B", "dob": "1980-01-01", "sex": "F"},
        },
        "provider": {"npi": "1999999984"},
        "date_of_service": date_of_service.isoformat(),
    }
    return _Draft(
        rng=rng,
        date_of_service=date_of_service,
        service_type=service_type,
        subscriber=subscriber,
        dependent=dependent,
        plan_type=plan_type,
        rows=rows,
        rejections=[],
        patient_dates=[("346", f"D8:{start:%Y%m%d}")],
        intake=intake,
        patient_age=age,
        referral_on_file=plan_type in ("HM", "PS"),
        patient_is_dependent=dependent is not None,
    )


def _sprinkle_distractors(draft: _Draft, *, clean: bool) -> None:
    rng = draft.rng
    draft.hours_since_check = rng.uniform(0, 48) if rng.random() < 0.8 else rng.uniform(73, 240)
    if rng.random() < 0.7:
        draft.ocr_confidence = rng.uniform(0.9, 1.0) if rng.random() < 0.85 else rng.uniform(0.7, 0.9)
        draft.card_name_match = rng.uniform(0.88, 1.0)
    draft.confusable = rng.random() < 0.1
    if rng.random() < 0.25:
        # Authorization needed and already on file: not a risk.
        draft.rows[1] = replace(draft.rows[1], auth_required="Y")
        draft.auth_on_file = True
    if draft.dependent is None and rng.random() < 0.15:
        # Older patients on Medicare plans: age alone is not a coordination-of-benefits risk.
        draft.patient_age = rng.randrange(65, 90)
        draft.rows[0] = replace(draft.rows[0], insurance_type=rng.choice(["MB", "HN"]))
        draft.referral_on_file = True
    if clean and rng.random() < 0.05:
        draft.cards_uploaded = 2


# --- causes -------------------------------------------------------------------------------------


def _not_verified(draft: _Draft) -> str:
    if draft.rng.random() < 0.6:
        draft.answered = False
        draft.denial_rate = 0.6
        return "never_checked"
    draft.rows, draft.with_subscriber = [], False
    draft.rejections.append(("2000A", "42", "R"))
    draft.denial_rate = 0.6
    return "payer_unavailable"


def _provider_setup(draft: _Draft) -> str:
    draft.rows, draft.with_subscriber = [], False
    loop, code = draft.rng.choice([("2100B", "43"), ("2100B", "51"), ("2100B", "50"), ("2100A", "T4")])
    draft.rejections.append((loop, code, "N" if code == "50" else "C"))
    draft.denial_rate = 0.7
    return f"aaa_{code}"


def _identity(draft: _Draft) -> str:
    rng = draft.rng
    kind = rng.choice(["member_not_found", "member_not_found", "name", "dob", "changed", "card_name"])
    if kind in ("member_not_found", "name", "dob"):
        code = {"member_not_found": rng.choice(["72", "75"]), "name": "73", "dob": rng.choice(["71", "58"])}[kind]
        draft.rows = []
        draft.rejections.append(("2100C", code, "C"))
        if kind == "member_not_found" and rng.random() < 0.5:
            draft.confusable = True
            draft.ocr_confidence = rng.uniform(0.55, 0.85)
        return f"aaa_{code}"
    if kind == "changed":
        draft.identity_changed = True
        draft.prior_member_id = draft.subscriber.member_id + "0"
        draft.denial_rate = 0.6
        return "identity_changed"
    draft.card_name_match = rng.uniform(0.4, 0.8)
    draft.denial_rate = 0.6
    return "card_name_mismatch"


def _dependent(draft: _Draft) -> str:
    rng = draft.rng
    if draft.dependent is None:
        draft.dependent = Person("KID", draft.subscriber.last_name, draft.date_of_service - dt.timedelta(days=3000))
        draft.intake["insurance"]["relationship_to_subscriber"] = "child"
    draft.patient_age = 8
    draft.patient_is_dependent = True
    if rng.random() < 0.5:
        draft.rows = []
        draft.rejections.append(("2100D", rng.choice(["67", "77"]), "C"))
        return "aaa_dependent"
    # The payer answered for the subscriber alone, and only with individual coverage.
    draft.dependent = None
    draft.rows = [replace(r, coverage_level="IND") if r.coverage_level else r for r in draft.rows]
    return "individual_coverage_only"


def _coverage_ended(draft: _Draft) -> str:
    rng = draft.rng
    ended = draft.date_of_service - dt.timedelta(days=rng.randrange(1, 120))
    roll = rng.random()
    if roll < 0.6:
        draft.rows = [Row("6", ("30",), plan="SYNTHETIC PLAN")]
        draft.patient_dates.append(("347", f"D8:{ended:%Y%m%d}"))
        return "inactive_with_end_date"
    if roll < 0.8:
        draft.rows = [Row("6", ("30",), plan="SYNTHETIC PLAN")]
        return "inactive"
    draft.patient_dates.append(("347", f"D8:{ended:%Y%m%d}"))
    return "ended_before_visit"


def _coverage_not_started(draft: _Draft) -> str:
    begins = draft.date_of_service + dt.timedelta(days=draft.rng.randrange(1, 60))
    draft.patient_dates = [("346", f"D8:{begins:%Y%m%d}")]
    return "starts_after_visit"


def _cob(draft: _Draft) -> str:
    rng = draft.rng
    roll = rng.random()
    if roll < 0.6:
        draft.rows.append(
            Row("R", ("30",), insurance_type="C1", entity=("PRP", "2", "OTHER PLAN", "", "", "", "", "PI", "OT001"))
        )
        return "other_payer"
    if roll < 0.85 and draft.dependent is None:
        draft.patient_age = rng.randrange(65, 90)
        draft.rows[0] = replace(draft.rows[0], insurance_type=rng.choice(["C1", "PR"]))
        draft.denial_rate = 0.65
        return "medicare_age"
    draft.cards_uploaded = 2
    draft.denial_rate = 0.55
    return "multiple_cards"


def _auth(draft: _Draft) -> str:
    draft.rows[1] = replace(draft.rows[1], auth_required="Y")
    draft.auth_on_file = False
    return "auth_required"


def _referral(draft: _Draft) -> str:
    # A Medicare HMO for older patients, so age does not also look like a coordination problem.
    draft.plan_type = "HN" if draft.patient_age >= 65 else "HM"
    draft.rows[0] = replace(draft.rows[0], insurance_type=draft.plan_type)
    if not any(r.info == "L" for r in draft.rows):
        draft.rows.append(Row("L", (), entity=("P3", "1", "PRIMARY", "PAT", "", "", "", "XX", "1234567893")))
    draft.referral_on_file = False
    draft.denial_rate = 0.75
    return "hmo_without_referral"


def _non_covered(draft: _Draft) -> str:
    if draft.rng.random() < 0.7:
        draft.rows = [draft.rows[0], Row("I", (draft.service_type,))]
        return "excluded_service"
    draft.rows.append(Row("F", (draft.service_type,), period="29", quantity_qualifier="VS", quantity="0"))
    return "visits_used_up"


def _out_of_network(draft: _Draft) -> str:
    draft.rows[1] = replace(draft.rows[1], in_network="N")
    draft.rows[2] = replace(draft.rows[2], in_network="N")
    draft.denial_rate = 0.7
    return "out_of_network_only"


def _missing_intake(draft: _Draft) -> str:
    rng = draft.rng
    insurance = draft.intake["insurance"]
    removals: list[Callable[[], None]] = [
        lambda: insurance.pop("sequence_number", None),
        lambda: insurance.pop("relationship_to_subscriber", None),
        lambda: insurance["subscriber"].pop("sex", None),
        lambda: insurance["subscriber"].pop("dob", None),
        lambda: draft.intake["patient"].pop("dob", None),
    ]
    count = rng.randrange(1, 4)
    if count > 1 or rng.random() < 0.5:
        # Holder fields only count when the patient is not the holder.
        insurance["relationship_to_subscriber"] = "spouse"
    for removal in rng.sample(removals, count):
        removal()
    draft.denial_rate = 0.5 + 0.1 * count
    return f"missing_{count}"


_INJECTORS: dict[str, Callable[[_Draft], str]] = {
    "not_verified": _not_verified,
    "provider_setup": _provider_setup,
    "identity": _identity,
    "dependent": _dependent,
    "coverage_ended": _coverage_ended,
    "coverage_not_started": _coverage_not_started,
    "cob": _cob,
    "auth": _auth,
    "referral": _referral,
    "non_covered": _non_covered,
    "out_of_network": _out_of_network,
    "missing_intake": _missing_intake,
}


def _freeze(draft: _Draft) -> RiskInputs:
    eligibility: EligibilityResponse | None = None
    if draft.answered:
        text = write_271(
            Answer(
                draft.subscriber if draft.with_subscriber else None,
                dependent=draft.dependent,
                rows=tuple(draft.rows),
                rejections=tuple(draft.rejections),
                patient_dates=tuple(draft.patient_dates),
                identity_changed=draft.identity_changed,
                prior_member_id=draft.prior_member_id,
            ),
            line_breaks=False,
        )
        eligibility = parse_response(text, service_type=draft.service_type)
    return RiskInputs(
        date_of_service=draft.date_of_service,
        service_type=draft.service_type,
        eligibility=eligibility,
        hours_since_check=draft.hours_since_check if draft.answered else None,
        intake=copy.deepcopy(draft.intake),
        auth_on_file=draft.auth_on_file,
        referral_on_file=draft.referral_on_file,
        patient_is_dependent=draft.patient_is_dependent,
        patient_age=draft.patient_age,
        ocr_member_id_confidence=draft.ocr_confidence,
        member_id_confusable=draft.confusable,
        card_name_match=draft.card_name_match,
        cards_uploaded=draft.cards_uploaded,
    )
