"""The rules: each names a front-desk cause of denial, in a sentence staff understand, with the
claim adjustment reason codes (CARCs) it prevents and the lowest band it allows when it fires.

CARC wording is X12's; the sentences here are our own.
"""

from __future__ import annotations

from dataclasses import dataclass

LOW, MEDIUM, HIGH = "low", "medium", "high"
BAND_ORDER = {LOW: 0, MEDIUM: 1, HIGH: 2}


@dataclass(frozen=True)
class Rule:
    """One explainable cause: the feature it reads, its category, its sentence, CARCs and band floor."""

    feature: str
    cause: str
    sentence: str
    carcs: tuple[str, ...]
    floor: str = LOW


RULES: dict[str, Rule] = {
    rule.feature: rule
    for rule in (
        Rule(
            "eligibility_not_checked",
            "not_verified",
            "Eligibility has not been verified for this visit",
            ("27", "31"),
            MEDIUM,
        ),
        Rule(
            "payer_unavailable",
            "not_verified",
            "The payer could not answer the eligibility check, so coverage is unverified",
            ("27", "31"),
            MEDIUM,
        ),
        Rule("stale_check", "not_verified", "The last eligibility check is more than three days old", ("27",)),
        Rule(
            "provider_setup_rejected",
            "provider_setup",
            "The payer did not accept our provider or payer set-up for this check (NPI, enrollment or payer ID)",
            ("B7",),
            MEDIUM,
        ),
        Rule(
            "member_not_found",
            "identity",
            "The payer could not find this member ID; re-check the card",
            ("31", "140"),
            HIGH,
        ),
        Rule(
            "name_rejected",
            "identity",
            "The payer rejected the subscriber's name; use the legal name on the card",
            ("140",),
            HIGH,
        ),
        Rule("dob_rejected", "identity", "The date of birth does not match the payer's record", ("31",), HIGH),
        Rule(
            "identity_changed",
            "identity",
            "The payer corrected the member's details; update the registration before billing",
            ("140", "16"),
            MEDIUM,
        ),
        Rule(
            "card_name_mismatch",
            "identity",
            "The name on the card does not match the registered patient name",
            ("140",),
        ),
        Rule(
            "ocr_uncertainty",
            "identity",
            "The member ID was read from the card with low confidence; confirm it",
            ("31",),
        ),
        Rule(
            "member_id_confusable",
            "identity",
            "The member ID has easily confused characters (O/0, I/1, S/5); confirm it",
            ("31",),
        ),
        Rule(
            "dependent_not_covered",
            "dependent",
            "The payer does not list this patient as a covered dependent",
            ("32", "33"),
            HIGH,
        ),
        Rule("coverage_inactive", "coverage_ended", "The payer reports this coverage as inactive", ("27",), HIGH),
        Rule("coverage_ended", "coverage_ended", "Coverage ends before the date of service", ("27",), HIGH),
        Rule(
            "coverage_not_started", "coverage_not_started", "Coverage starts after the date of service", ("26",), HIGH
        ),
        Rule("other_payer", "cob", "The payer reports other insurance that may be primary", ("22", "109"), MEDIUM),
        Rule(
            "medicare_age_commercial",
            "cob",
            "Patient is 65 or older and commercial insurance is billed first; Medicare may be primary",
            ("22",),
        ),
        Rule("multiple_cards", "cob", "More than one insurance card was given; confirm which one is primary", ("22",)),
        Rule("auth_missing", "auth", "Authorization required for this service and none on file", ("197", "15"), HIGH),
        Rule(
            "referral_missing",
            "referral",
            "The plan requires a referral from the primary care provider and none is on file",
            ("243",),
            MEDIUM,
        ),
        Rule("service_not_covered", "non_covered", "The plan does not cover this service", ("96", "204"), HIGH),
        Rule("visits_exhausted", "non_covered", "The plan's visit limit for this service is used up", ("119",), HIGH),
        Rule(
            "out_of_network",
            "out_of_network",
            "This service is covered only out of network under this plan",
            ("242",),
            MEDIUM,
        ),
        Rule(
            "intake_missing",
            "missing_intake",
            "Registration or insurance fields the claim needs are missing",
            ("16",),
            MEDIUM,
        ),
    )
}
