"""Answers the UI and the denial-risk score need, read from a parsed 271.

Every helper works on the patient's EB rows (the dependent's when there is one) and follows the
reference's rules: prefer rows for the exact service type, then the plan-level ``30`` rows; a row
without EB12 applies to both networks; accumulators are point-in-time estimates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from eligibility.x12.codes import ACTIVE_INFO, INACTIVE_INFO, REFERRAL_PLAN_TYPES
from eligibility.x12.response import Benefit, EligibilityResponse

GENERAL_SERVICE_TYPE = "30"
_BEGIN_KEYS = ("plan_begin", "eligibility_begin", "benefit_begin", "policy_effective")
_END_KEYS = ("plan_end", "eligibility_end", "benefit_end", "policy_expiration")
_RANGE_KEYS = ("plan", "eligibility", "benefit")
TOTAL_PERIODS = ("23", "22", "25", "24", "32")


@dataclass(frozen=True)
class Accumulator:
    """A deductible or out-of-pocket maximum: the total and what is left, in cents, as of the 271."""

    total: int | None
    remaining: int | None


def rows_for_service(
    response: EligibilityResponse, service_type: str | None, info: Iterable[str] | None = None
) -> list[Benefit]:
    """The patient's rows for ``service_type`` if any, else the plan-level (``30`` or untyped) rows."""
    wanted = set(info) if info is not None else None
    rows = [b for b in response.patient_benefits if wanted is None or b.info in wanted]
    if service_type and service_type != GENERAL_SERVICE_TYPE:
        exact = [b for b in rows if service_type in b.service_types]
        if exact:
            return exact
    return [b for b in rows if GENERAL_SERVICE_TYPE in b.service_types or not b.service_types]


def coverage_status(response: EligibilityResponse, service_type: str | None = None) -> str:
    """``active``, ``inactive`` or ``unknown`` from EB01 (1-5 active, 6-8 inactive), by service type."""
    status_codes = ACTIVE_INFO | INACTIVE_INFO
    rows = rows_for_service(response, service_type, status_codes)
    if not rows:
        # No status row for the service or the plan: fall back to any status row at all.
        rows = [b for b in response.patient_benefits if b.info in status_codes]
    if any(b.info in ACTIVE_INFO for b in rows):
        return "active"
    if any(b.info in INACTIVE_INFO for b in rows):
        return "inactive"
    return "unknown"


def _network_rows(rows: list[Benefit], in_network: bool) -> list[Benefit]:
    explicit = [b for b in rows if b.in_network is in_network]
    return explicit or [b for b in rows if b.in_network is None]


def _level_rows(rows: list[Benefit], coverage_level: str | None) -> list[Benefit]:
    if not coverage_level:
        return rows
    exact = [b for b in rows if b.coverage_level == coverage_level]
    return exact or [b for b in rows if not b.coverage_level]


def copay(response: EligibilityResponse, service_type: str, *, in_network: bool = True) -> int | None:
    """The copay in cents for ``service_type`` (EB01=B), in or out of network; None if not stated."""
    rows = _network_rows(rows_for_service(response, service_type, {"B"}), in_network)
    amounts = [b.amount for b in rows if b.amount is not None]
    return amounts[0] if amounts else None


def coinsurance(response: EligibilityResponse, service_type: str, *, in_network: bool = True) -> float | None:
    """The coinsurance percent for ``service_type`` (EB01=A); None if not stated."""
    rows = _network_rows(rows_for_service(response, service_type, {"A"}), in_network)
    values = [b.percent for b in rows if b.percent is not None]
    return values[0] if values else None


def _accumulator(
    response: EligibilityResponse, info: str, service_type: str, in_network: bool, coverage_level: str | None
) -> Accumulator:
    rows = _level_rows(_network_rows(rows_for_service(response, service_type, {info}), in_network), coverage_level)
    total = None
    for period in TOTAL_PERIODS:
        found = [b.amount for b in rows if b.period == period and b.amount is not None]
        if found:
            total = found[0]
            break
    remaining = [b.amount for b in rows if b.period == "29" and b.amount is not None]
    return Accumulator(total=total, remaining=remaining[0] if remaining else None)


def deductible(
    response: EligibilityResponse,
    service_type: str = GENERAL_SERVICE_TYPE,
    *,
    in_network: bool = True,
    coverage_level: str | None = "IND",
) -> Accumulator:
    """Deductible total (EB06=23, calendar year first) and remaining (EB06=29), in cents."""
    return _accumulator(response, "C", service_type, in_network, coverage_level)


def out_of_pocket(
    response: EligibilityResponse,
    service_type: str = GENERAL_SERVICE_TYPE,
    *,
    in_network: bool = True,
    coverage_level: str | None = "IND",
) -> Accumulator:
    """Out-of-pocket maximum (EB01=G) total and remaining, in cents."""
    return _accumulator(response, "G", service_type, in_network, coverage_level)


def auth_required(response: EligibilityResponse, service_type: str) -> bool | None:
    """True if a row for the service (or the plan) says EB11=Y, False if they say N, else None."""
    rows = rows_for_service(response, service_type)
    flags = [b.auth_required for b in rows if b.auth_required is not None]
    if True in flags:
        return True
    return False if flags else None


def network_status(response: EligibilityResponse, service_type: str) -> str:
    """``in_network``, ``out_of_network`` (only EB12=N rows for the service) or ``unknown``."""
    rows = rows_for_service(response, service_type)
    flags = [b.in_network for b in rows if b.in_network is not None]
    if True in flags:
        return "in_network"
    if flags:
        return "out_of_network"
    return "unknown"


def non_covered_service_types(response: EligibilityResponse) -> list[str]:
    """Service types the payer says are not covered (EB01=I), in the order returned."""
    found: list[str] = []
    for benefit in response.patient_benefits:
        if benefit.info == "I":
            found += [s for s in benefit.service_types if s not in found]
    return found


def service_not_covered(response: EligibilityResponse, service_type: str) -> bool:
    """True when EB01=I names ``service_type``. (EB01=U, "ask another entity", is not a denial.)"""
    return service_type in non_covered_service_types(response)


def visits_exhausted(response: EligibilityResponse, service_type: str) -> bool:
    """True when a limitation row (EB01=F) for the service says zero remaining (EB06=29)."""
    rows = rows_for_service(response, service_type, {"F"})
    return any(b.period == "29" and b.quantity == 0 for b in rows)


def other_payer_present(response: EligibilityResponse) -> bool:
    """True when the payer names another or additional payer (EB01=R): a coordination-of-benefits risk."""
    return bool(response.other_payers)


def pcp_on_file(response: EligibilityResponse) -> bool:
    """True when the payer returns a primary care provider (EB01=L)."""
    return response.pcp is not None


def needs_referral(response: EligibilityResponse) -> bool:
    """True when the active plan is an HMO or POS type, where specialist visits need a PCP referral."""
    return any(b.insurance_type in REFERRAL_PLAN_TYPES for b in response.patient_benefits if b.info in ACTIVE_INFO)


def plan_date_status(response: EligibilityResponse, date_of_service: dt.date) -> str:
    """``within``, ``ended`` or ``not_started`` for the date of service, or ``unknown`` without dates."""
    begins: list[dt.date] = []
    ends: list[dt.date] = []
    sources = [response.dates, *(b.dates for b in response.patient_benefits if b.info in ACTIVE_INFO | INACTIVE_INFO)]
    for dates in sources:
        for key in _BEGIN_KEYS:
            if key in dates:
                begins.append(_iso(dates[key].split("/")[0]))
        for key in _END_KEYS:
            if key in dates:
                ends.append(_iso(dates[key].split("/")[-1]))
        for key in _RANGE_KEYS:
            if "/" in dates.get(key, ""):
                start, end = dates[key].split("/")
                begins.append(_iso(start))
                ends.append(_iso(end))
    if any(end < date_of_service for end in ends):
        return "ended"
    if any(begin > date_of_service for begin in begins):
        return "not_started"
    return "within" if begins or ends else "unknown"


def _iso(value: str) -> dt.date:
    return dt.date.fromisoformat(value)
