"""Reading a payer's answer for people: sentences staff understand, and a summary without identity.

Money is integer cents, percentages are percent; nothing here names the patient. The raw answer stays
with its attempt (encrypted) until retention purges it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from eligibility.models import EligibilityAttempt, EligibilityCheck
from eligibility.x12 import EligibilityResponse, X12ParseError, parse_response
from eligibility.x12 import summary as x12_summary
from eligibility.x12.codes import REJECT_REASONS

Result = EligibilityCheck.Result
Outcome = EligibilityAttempt.Outcome


def rejections_of(response: EligibilityResponse) -> list[dict[str, Any]]:
    return [
        {"loop": r.loop, "code": r.code, "follow_up": r.follow_up or "", "message": r.message}
        for r in response.rejections
    ]


def confirmed_member_id(response: EligibilityResponse, attempt: EligibilityAttempt) -> str:
    subscriber = response.subscriber
    return (subscriber.member_id if subscriber and subscriber.member_id else attempt.member_id).upper()


def status_sentence(
    result: str, response: EligibilityResponse, attempt: EligibilityAttempt, check: EligibilityCheck
) -> str:
    plan = next((b.plan for b in response.patient_benefits if b.plan), "")
    text = "Coverage is active" if result == Result.ACTIVE else "The payer reports this coverage as inactive"
    if plan:
        text += f" ({plan})"
    if result == Result.ACTIVE and attempt.member_id and attempt.member_id != check.member_id:
        text += "; the payer confirmed a corrected reading of the member ID"
    return text + "."


# What the front desk should do about the usual AAA reasons (our words, after CAQH CORE rule 259).
DESK_ADVICE = {
    "43": "fix the provider NPI or the payer enrollment (practice set-up)",
    "51": "the provider is not on file with this payer (practice set-up)",
    "50": "the provider may not ask this payer (enrollment or clearinghouse set-up)",
    "58": "re-check the date of birth",
    "71": "the member exists; the date of birth does not match (often transposed)",
    "72": "re-read the member ID on the card (O/0, I/1, prefix, suffix)",
    "73": "use the subscriber's legal name as printed on the card",
    "75": "check the payer and the member ID on the card",
    "76": "add the date of birth and the name",
    "78": "check the group number or plan",
    "79": "the payer id routing is wrong; escalate to the integration admin",
    "T4": "the payer id is missing or unknown; fix the payer mapping",
}


def rejection_sentence(response: EligibilityResponse) -> str:
    if not response.rejections:
        return "The payer gave no coverage answer."
    first = response.rejections[0]
    reason = REJECT_REASONS.get(first.code, "Rejected")
    advice = DESK_ADVICE.get(first.code)
    return f"The payer rejected the check: {reason} (AAA {first.code})" + (f"; {advice}." if advice else ".")


def refusal_sentence(response: EligibilityResponse) -> str:
    first = response.rejections[0] if response.rejections else None
    detail = f": {first.message} ({first.code})" if first else ""
    return f"The clearinghouse refused our request ({response.transaction}){detail}."


def summarize(response: EligibilityResponse, service_type: str, date_of_service: dt.date) -> dict[str, Any]:
    """What staff need from a 271, without identity: plan, money in cents, flags."""
    active = [b for b in response.patient_benefits if b.info in {"1", "2", "3", "4", "5"}]
    deductible = x12_summary.deductible(response)
    oop = x12_summary.out_of_pocket(response)
    subscriber = response.subscriber
    return {
        "plan": next((b.plan for b in active if b.plan), ""),
        "insurance_type": next((b.insurance_type for b in active if b.insurance_type), ""),
        "copay_cents": x12_summary.copay(response, service_type),
        "coinsurance_percent": x12_summary.coinsurance(response, service_type),
        "deductible_cents": {"total": deductible.total, "remaining": deductible.remaining},
        "out_of_pocket_cents": {"total": oop.total, "remaining": oop.remaining},
        "auth_required": x12_summary.auth_required(response, service_type),
        "network": x12_summary.network_status(response, service_type),
        "other_payer": x12_summary.other_payer_present(response),
        "pcp_on_file": x12_summary.pcp_on_file(response),
        "not_covered": x12_summary.non_covered_service_types(response),
        "plan_dates": x12_summary.plan_date_status(response, date_of_service),
        "identity_changed": bool(subscriber and (subscriber.identity_changed or subscriber.prior_member_id)),
        "group_number": subscriber.group_number if subscriber else "",
        "messages": [message for b in response.patient_benefits for message in b.messages][:10],
    }


def latest_response(check: EligibilityCheck) -> EligibilityResponse | None:
    """The parsed answer that decided a check (None once its X12 is purged, or when there is none)."""
    attempt = check.attempt_rows.filter(outcome=Outcome.ANSWERED, response_type="271").exclude(response_x12="").last()
    if attempt is None:
        return None
    try:
        return parse_response(attempt.response_x12, service_type=check.service_type)
    except X12ParseError:
        return None
