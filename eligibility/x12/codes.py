"""Code lists for 270/271/999/TA1, with short descriptions in our own words.

The official code descriptions belong to X12; these are paraphrases written for front-desk staff.
"""

from __future__ import annotations

# Every EQ01/EB03 service type code the 005010X279A1 guide allows.
_SERVICE_TYPE_TEXT = """
    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 30 32 33 34 35 36 37 38 39
    40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73
    74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 A0 A1 A2 A3 A4 A5 A6 A7
    A8 A9 AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AQ AR B1 B2 B3 BA BB BC BD BE BF BG BH BI BJ BK BL BM
    BN BP BQ BR BS BT BU BV BW BX BY BZ C1 CA CB CC CD CE CF CG CH CI CJ CK CL CM CN CO CP CQ DG DM DS GF GN
    GY IC MH NI ON PT PU RN RT TC TN UC
"""
SERVICE_TYPE_CODES: frozenset[str] = frozenset(_SERVICE_TYPE_TEXT.split())

# Labels for the service types a clinic asks about most; others show as their code.
SERVICE_TYPE_LABELS: dict[str, str] = {
    "1": "Medical care",
    "30": "Health plan coverage",
    "33": "Chiropractic",
    "35": "Dental",
    "47": "Hospital",
    "48": "Hospital inpatient",
    "50": "Hospital outpatient",
    "86": "Emergency",
    "88": "Pharmacy",
    "98": "Office visit",
    "A4": "Psychiatric",
    "AL": "Vision",
    "BZ": "Office visit (sick)",
    "MH": "Mental health",
    "UC": "Urgent care",
}

# EB01: what kind of benefit row this is.
BENEFIT_INFO: dict[str, str] = {
    "1": "Active coverage",
    "2": "Active, full risk capitation",
    "3": "Active, services capitated",
    "4": "Active, services capitated to primary care",
    "5": "Active, pending investigation",
    "6": "Inactive",
    "7": "Inactive, pending eligibility update",
    "8": "Inactive, pending investigation",
    "A": "Coinsurance",
    "B": "Copay",
    "C": "Deductible",
    "CB": "Coverage basis",
    "D": "Benefit description",
    "E": "Exclusions",
    "F": "Limitations",
    "G": "Out-of-pocket maximum",
    "H": "Unlimited",
    "I": "Not covered",
    "J": "Cost containment",
    "K": "Reserve",
    "L": "Primary care provider",
    "M": "Pre-existing condition",
    "MC": "Managed care coordinator",
    "N": "Restricted to the following provider",
    "O": "Not deemed a medical necessity",
    "P": "Benefit disclaimer",
    "Q": "Second surgical opinion required",
    "R": "Other or additional payer",
    "S": "Prior year history",
    "T": "Card reported lost or stolen",
    "U": "Contact the following entity for benefits",
    "V": "Payer cannot process",
    "W": "Other source of data",
    "X": "Health care facility",
    "Y": "Spend down",
}
ACTIVE_INFO = frozenset({"1", "2", "3", "4", "5"})
INACTIVE_INFO = frozenset({"6", "7", "8"})

COVERAGE_LEVELS: dict[str, str] = {
    "CHD": "Children only",
    "DEP": "Dependents only",
    "ECH": "Employee and children",
    "EMP": "Employee only",
    "ESP": "Employee and spouse",
    "FAM": "Family",
    "IND": "Individual",
    "SPC": "Spouse and children",
    "SPO": "Spouse only",
}

INSURANCE_TYPES: dict[str, str] = {
    "C1": "Commercial",
    "CO": "COBRA",
    "EP": "Exclusive provider organization (EPO)",
    "HM": "HMO",
    "HN": "HMO Medicare risk",
    "MA": "Medicare Part A",
    "MB": "Medicare Part B",
    "MC": "Medicaid",
    "PR": "Preferred provider organization (PPO)",
    "PS": "Point of service (POS)",
    "QM": "Qualified Medicare beneficiary",
}
# Plan types where the PCP must refer before a specialist visit is paid.
REFERRAL_PLAN_TYPES = frozenset({"HM", "HN", "PS"})

TIME_PERIODS: dict[str, str] = {
    "6": "hour",
    "7": "day",
    "13": "24 hours",
    "21": "years",
    "22": "service year",
    "23": "calendar year",
    "24": "year to date",
    "25": "contract",
    "26": "episode",
    "27": "visit",
    "28": "outlier",
    "29": "remaining",
    "30": "exceeded",
    "31": "not exceeded",
    "32": "lifetime",
    "33": "lifetime remaining",
    "34": "month",
    "35": "week",
    "36": "admission",
}

# DTP01 qualifiers, named for the keys of the parsed response.
DATE_QUALIFIERS: dict[str, str] = {
    "096": "discharge",
    "102": "issue",
    "152": "effective_date_of_change",
    "193": "period_start",
    "194": "period_end",
    "198": "completion",
    "290": "coordination_of_benefits",
    "291": "plan",
    "292": "benefit",
    "295": "primary_care_provider",
    "304": "latest_visit",
    "307": "eligibility",
    "318": "added",
    "340": "cobra_begin",
    "341": "cobra_end",
    "342": "premium_paid_to_begin",
    "343": "premium_paid_to_end",
    "346": "plan_begin",
    "347": "plan_end",
    "348": "benefit_begin",
    "349": "benefit_end",
    "356": "eligibility_begin",
    "357": "eligibility_end",
    "382": "enrollment",
    "435": "admission",
    "442": "date_of_death",
    "458": "certification",
    "472": "service",
    "539": "policy_effective",
    "540": "policy_expiration",
    "636": "last_update",
    "771": "status",
}

# REF01 qualifiers. SY (social security number) is deliberately absent: the reader drops it.
REFERENCE_QUALIFIERS: dict[str, str] = {
    "18": "plan_number",
    "1L": "group_or_policy_number",
    "1W": "member_id",
    "3H": "case_number",
    "49": "family_unit_number",
    "6P": "group_number",
    "9F": "referral_number",
    "ALS": "alternative_list_id",
    "CE": "class_of_contract",
    "CLI": "coverage_list_id",
    "CT": "contract_number",
    "EA": "medical_record_number",
    "EJ": "patient_account_number",
    "F6": "health_insurance_claim_number",
    "FO": "drug_formulary_number",
    "G1": "prior_authorization_number",
    "GH": "identification_card_serial_number",
    "HJ": "identity_card_number",
    "IF": "issue_number",
    "IG": "insurance_policy_number",
    "M7": "medical_assistance_category",
    "MRC": "eligibility_category",
    "N6": "plan_network_id",
    "NQ": "medicaid_recipient_id",
    "Q4": "prior_member_id",
    "Y4": "agency_claim_number",
}

ENTITY_CODES: dict[str, str] = {
    "13": "contracted service provider",
    "1I": "preferred provider organization",
    "1P": "provider",
    "2B": "third-party administrator",
    "36": "employer",
    "73": "other physician",
    "FA": "facility",
    "GP": "gateway provider",
    "GW": "group",
    "I3": "independent physicians association",
    "IL": "insured or subscriber",
    "LR": "legal representative",
    "OC": "origin carrier",
    "P3": "primary care provider",
    "P4": "prior insurance carrier",
    "P5": "plan sponsor",
    "PR": "payer",
    "PRP": "primary payer",
    "SEP": "secondary payer",
    "TTP": "tertiary payer",
    "VER": "party performing verification",
    "VN": "vendor",
    "VY": "organization completing configuration change",
    "X3": "utilization management organization",
    "Y2": "managed care organization",
}

# AAA03: why the payer would not answer (part of) the request.
REJECT_REASONS: dict[str, str] = {
    "04": "Authorized quantity exceeded",
    "15": "Required application data missing",
    "33": "Input errors",
    "35": "Out of network",
    "41": "Authorization or access restrictions",
    "42": "Payer system unable to respond now",
    "43": "Provider ID invalid or missing",
    "44": "Provider name invalid or missing",
    "45": "Provider specialty invalid or missing",
    "46": "Provider phone number invalid or missing",
    "47": "Provider state invalid or missing",
    "48": "Referring provider ID invalid or missing",
    "49": "Provider is not the patient's primary care provider",
    "50": "Provider not eligible to make inquiries",
    "51": "Provider not on file with the payer",
    "52": "Service dates outside the provider's plan enrollment",
    "53": "Benefit asked about does not fit the provider type",
    "54": "Wrong product or service ID qualifier",
    "55": "Wrong product or service ID",
    "56": "Wrong date",
    "57": "Date of service invalid or missing",
    "58": "Date of birth invalid or missing",
    "60": "Date of birth is after the date of service",
    "61": "Date of death is before the date of service",
    "62": "Date of service outside the payer's inquiry window",
    "63": "Date of service is in the future",
    "64": "Patient ID invalid or missing",
    "65": "Patient name invalid or missing",
    "66": "Patient gender invalid or missing",
    "67": "Patient not found",
    "68": "Duplicate patient ID",
    "69": "Does not fit the patient's age",
    "70": "Does not fit the patient's gender",
    "71": "Date of birth does not match the payer's record",
    "72": "Member ID invalid or missing",
    "73": "Subscriber name invalid or missing",
    "74": "Subscriber gender invalid or missing",
    "75": "Subscriber not found",
    "76": "Duplicate member ID",
    "77": "Subscriber found but the patient was not",
    "78": "Subscriber not in the group or plan given",
    "79": "Invalid participant identification (routing)",
    "80": "No response received; transaction ended",
    "97": "Provider address invalid or missing",
    "98": "Experimental service or procedure",
    "AA": "Authorization number not found",
    "AE": "Primary care provider authorization required",
    "AF": "Diagnosis code invalid or missing",
    "AG": "Procedure code invalid or missing",
    "AO": "More information about the patient's condition required",
    "CI": "Certification does not match the patient",
    "E8": "Medical review required",
    "IA": "Authorization number format invalid",
    "MA": "Authorization missing",
    "T4": "Payer name or ID missing",
}

# AAA04: what the payer says to do next.
FOLLOW_UP_ACTIONS: dict[str, str] = {
    "C": "correct and resubmit",
    "N": "do not resubmit",
    "P": "resubmit the original request",
    "R": "resubmission allowed",
    "S": "do not resubmit; the inquiry went to a third party",
    "W": "wait 30 days and resubmit",
    "X": "wait 10 days and resubmit",
    "Y": "do not resubmit; the payer will respond",
}

RELATIONSHIP_CODES: dict[str, str] = {
    "01": "spouse",
    "18": "self",
    "19": "child",
    "20": "employee",
    "21": "unknown",
    "34": "other adult",
    "39": "organ donor",
    "40": "cadaver donor",
    "53": "life partner",
    "G8": "other relationship",
}

# 999 IK304: what is wrong with a segment.
SEGMENT_ERRORS: dict[str, str] = {
    "1": "unrecognized segment",
    "2": "unexpected segment",
    "3": "required segment missing",
    "4": "loop repeats too often",
    "5": "segment repeats too often",
    "6": "segment not in this transaction set",
    "7": "segment out of order",
    "8": "segment has element errors",
    "I4": "segment not used in this guide is present",
    "I6": "segment the guide requires in this situation is missing",
    "I7": "loop occurs too few times",
    "I8": "segment occurs too few times",
    "I9": "segment not used in this situation is present",
}

# 999 IK403: what is wrong with an element.
ELEMENT_ERRORS: dict[str, str] = {
    "1": "required element missing",
    "2": "conditional element missing",
    "3": "too many elements",
    "4": "element too short",
    "5": "element too long",
    "6": "invalid character",
    "7": "invalid code value",
    "8": "invalid date",
    "9": "invalid time",
    "10": "element not allowed together with another",
    "12": "element repeats too often",
    "13": "too many components",
    "I6": "code value not used in this guide",
    "I9": "element the guide requires in this situation is missing",
    "I10": "element not used in this guide is present",
    "I11": "element repeats too few times",
    "I12": "value does not match the required pattern",
    "I13": "element not used in this situation is present",
}

# IK5/AK9 status codes.
ACK_STATUSES: dict[str, str] = {
    "A": "accepted",
    "E": "accepted with errors",
    "P": "partially accepted",
    "R": "rejected",
    "M": "rejected: message authentication failed",
    "W": "rejected: validity check failed",
    "X": "rejected: content could not be decrypted",
}
ACCEPTED_STATUSES = frozenset({"A", "E"})

# IK502-IK506 and AK905-AK909: why a transaction set or group was rejected.
SET_ERRORS: dict[str, str] = {
    "1": "transaction set not supported",
    "2": "transaction set trailer missing",
    "3": "transaction set control numbers do not match",
    "4": "segment count is wrong",
    "5": "one or more segments in error",
    "6": "missing or invalid transaction set identifier",
    "7": "missing or invalid transaction set control number",
    "8": "authentication key name unknown",
    "9": "encryption key name unknown",
    "10": "requested service not available",
    "11": "unknown security recipient",
    "12": "incorrect message length",
    "13": "message authentication code failed",
    "15": "unknown security originator",
    "16": "syntax error in decrypted text",
    "17": "security not supported",
    "18": "transaction set not in functional group",
    "19": "invalid transaction set implementation convention reference",
    "23": "transaction set control number not unique within the group",
    "24": "S3E security end segment missing",
    "25": "S3E security end segment does not match",
    "26": "S4E security end segment missing",
    "27": "S4E security end segment does not match",
    "I5": "segments required by the guide are in error",
    "I6": "implementation convention not supported",
}
GROUP_ERRORS: dict[str, str] = {
    "1": "functional group not supported",
    "2": "functional group version not supported",
    "3": "functional group trailer missing",
    "4": "group control numbers do not match",
    "5": "number of included transaction sets is wrong",
    "6": "group control number breaks the sender's sequence",
    "7": "group control number not unique within the interchange",
}

# TA105: what the receiver found wrong with the interchange envelope.
TA1_NOTES: dict[str, str] = {
    "000": "no error",
    "001": "interchange control numbers in the ISA and IEA do not match",
    "002": "control standard not supported",
    "003": "control version not supported",
    "004": "segment terminator invalid",
    "005": "sender ID qualifier invalid",
    "006": "sender ID invalid",
    "007": "receiver ID qualifier invalid",
    "008": "receiver ID invalid",
    "009": "receiver ID unknown",
    "010": "authorization information qualifier invalid",
    "011": "authorization information invalid",
    "012": "security information qualifier invalid",
    "013": "security information invalid",
    "014": "interchange date invalid",
    "015": "interchange time invalid",
    "016": "standards identifier invalid",
    "017": "version ID invalid",
    "018": "interchange control number invalid",
    "019": "acknowledgment requested value invalid",
    "020": "test indicator invalid",
    "021": "number of included groups invalid",
    "022": "control structure invalid",
    "023": "file ended too early",
    "024": "interchange content invalid (e.g. a bad GS segment)",
    "025": "duplicate interchange control number",
    "026": "element separator invalid",
    "027": "component separator invalid",
    "028": "deferred delivery date invalid",
    "029": "deferred delivery time invalid",
    "030": "deferred delivery time code invalid",
    "031": "grade of service code invalid",
}
TA1_ACKNOWLEDGMENTS: dict[str, str] = {
    "A": "accepted",
    "E": "accepted with errors",
    "R": "rejected",
}


def reject_message(reason: str, follow_up: str) -> str:
    """A staff-readable sentence for one AAA: the reason, then what to do."""
    text = REJECT_REASONS.get(reason, f"Request rejected (reason code {reason or 'missing'})")
    action = FOLLOW_UP_ACTIONS.get(follow_up)
    return f"{text}; {action}." if action else f"{text}."
