"""A small, standalone X12 005010X279A1 writer and reader for the sandbox.

* `build_271` writes an eligibility response for one subscriber, in one of the seeded cases
  (active, inactive, reject72, reject75, cob, auth_required) or `unavailable` (AAA 42: the payer
  cannot answer now).
* `parse_270` reads a 270 request and reports envelope problems (answered with a TA1) apart from
  structural problems (answered with a 999).
* `answer_270` ties both together for the clearinghouse look-alike.

Delimiters are the usual ones: `*` elements, `^` repetitions, `:` components, `~` segments.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

ELEMENT = "*"
REPETITION = "^"
COMPONENT = ":"
SEGMENT = "~"
VERSION = "005010X279A1"
ACK_VERSION = "005010X231A1"

CASES = ("active", "inactive", "reject72", "reject75", "cob", "auth_required", "unavailable")
# Cases only the clearinghouse answers: its own refusals of a well-formed request, as a 999 (the
# payer's edits refused the transaction) or a TA1 (the envelope's sender is not set up).
CLEARINGHOUSE_CASES = (*CASES, "reject999", "rejectTA1")

# Service type codes (EB03/EQ01) the reader accepts; a subset of the code list, enough to flag typos.
SERVICE_TYPES = {
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "12",
    "13",
    "18",
    "20",
    "30",
    "33",
    "35",
    "40",
    "42",
    "45",
    "47",
    "48",
    "50",
    "51",
    "52",
    "53",
    "56",
    "61",
    "62",
    "65",
    "68",
    "69",
    "73",
    "76",
    "78",
    "80",
    "81",
    "82",
    "83",
    "86",
    "88",
    "93",
    "98",
    "A0",
    "A3",
    "A4",
    "A6",
    "A7",
    "A8",
    "A9",
    "AD",
    "AE",
    "AF",
    "AG",
    "AI",
    "AJ",
    "AL",
    "BG",
    "BH",
    "BT",
    "BZ",
    "MH",
    "UC",
}


class X12EnvelopeError(ValueError):
    """The interchange envelope cannot be read (answered with a TA1)."""

    def __init__(self, note_code: str, message: str, control_number: str = "000000000") -> None:
        super().__init__(message)
        self.note_code = note_code
        self.control_number = control_number


@dataclass
class SegmentError:
    segment_id: str
    position: int
    loop: str
    code: str
    element: str | None = None  # "position*data element number*code*bad value" for IK4


@dataclass
class Request270:
    sender_id: str
    receiver_id: str
    interchange_control: str
    group_control: str
    set_control: str
    reference: str
    payer_name: str
    payer_id: str
    provider_name: str
    provider_npi: str
    trace: str
    trace_originator: str
    last_name: str
    first_name: str
    member_id: str
    dob: dt.date | None
    sex: str
    service_types: list[str]
    date_of_service: dt.date | None
    errors: list[SegmentError] = field(default_factory=list)
    set_error_code: str | None = None  # IK5 reason when the whole set is bad (2 = no trailer, 3, 4...)


@dataclass(frozen=True)
class Member:
    """What the payer knows about a subscriber (looked up by member id)."""

    case: str
    member_id: str
    last_name: str
    first_name: str
    dob: dt.date | None
    sex: str
    group_number: str
    plan_name: str
    insurance_type: str
    payer_name: str
    payer_id: str
    other_payer_name: str = "SAMPLE MUTUAL INSURANCE"
    other_payer_id: str = "SM002"


def _element(value: str) -> str:
    """Keep delimiters out of element values."""
    for char in (ELEMENT, SEGMENT, REPETITION, COMPONENT, "\n", "\r"):
        value = value.replace(char, " ")
    return value.strip()


def segment(*elements: str) -> str:
    """One segment with trailing empty elements dropped."""
    parts = [_element(str(item)) for item in elements]
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return ELEMENT.join(parts) + SEGMENT


def isa(sender: str, receiver: str, control: int, now: dt.datetime, *, ack_requested: str = "0") -> str:
    """The fixed-width interchange header (106 characters with its terminator)."""
    text = (
        ELEMENT.join(
            [
                "ISA",
                "00",
                " " * 10,
                "00",
                " " * 10,
                "ZZ",
                sender[:15].ljust(15),
                "ZZ",
                receiver[:15].ljust(15),
                now.strftime("%y%m%d"),
                now.strftime("%H%M"),
                REPETITION,
                "00501",
                f"{control % 1_000_000_000:09d}",
                ack_requested,
                "T",
                COMPONENT,
            ]
        )
        + SEGMENT
    )
    assert len(text) == 106
    return text


def _amounts(member_id: str) -> dict[str, str]:
    """Benefit amounts that stay the same for a member across checks."""
    digest = hashlib.sha256(member_id.encode()).digest()
    deductible = (500, 1000, 1500, 2500, 3000, 5000)[digest[0] % 6]
    remaining = deductible * (digest[1] % 5) // 4
    copay = (15, 20, 25, 30, 40, 50)[digest[2] % 6]
    coinsurance = (".1", ".2", ".3")[digest[3] % 3]
    out_of_pocket = (3000, 4500, 6000, 8000)[digest[4] % 4]
    return {
        "deductible": str(deductible),
        "remaining": str(remaining),
        "copay": str(copay),
        "coinsurance": coinsurance,
        "oop": str(out_of_pocket),
    }


def insurance_type_code(insurance_type: str, plan_name: str) -> str:
    """EB04 for a plan: HMO/PPO/EPO/POS/commercial, Medicare, Medicaid."""
    text = f"{insurance_type} {plan_name}".upper()
    if "MEDICAID" in text:
        return "MC"
    if "PART B" in text:
        return "MB"
    if "MEDICARE" in text:
        return "HN"
    for marker, code in (("HMO", "HM"), ("PPO", "PR"), ("EPO", "EP"), ("POS", "PS")):
        if marker in text:
            return code
    return "C1"


def build_271(
    *,
    member: Member,
    provider_name: str,
    provider_npi: str,
    reference: str,
    trace: str,
    trace_originator: str,
    control: int,
    now: dt.datetime,
    sender_id: str = "PAYERSIM",
    receiver_id: str = "ATHENANET",
    service_type: str = "30",
    date_of_service: dt.date | None = None,
) -> str:
    """A complete 271 interchange for one subscriber in the member's case."""
    if member.case not in CASES:
        raise ValueError(f"unknown eligibility case {member.case!r}")
    body: list[str] = [
        segment("ST", "271", "0001", VERSION),
        segment("BHT", "0022", "11", reference, now.strftime("%Y%m%d"), now.strftime("%H%M")),
        segment("HL", "1", "", "20", "1"),
        segment("NM1", "PR", "2", member.payer_name, "", "", "", "", "PI", member.payer_id),
    ]
    if member.case == "unavailable":
        # The payer's system cannot answer now (AAA 42, "resubmission allowed"): no coverage answer.
        body.append(segment("AAA", "N", "", "42", "R"))
    body += [
        segment("HL", "2", "1", "21", "1"),
        segment("NM1", "1P", "2", provider_name, "", "", "", "", "XX", provider_npi),
        segment("HL", "3", "2", "22", "0"),
        segment("TRN", "2", trace, trace_originator),
        segment(
            "NM1", "IL", "1", member.last_name.upper(), member.first_name.upper(), "", "", "", "MI", member.member_id
        ),
    ]
    rejected = member.case in ("reject72", "reject75", "unavailable")
    if member.case in ("reject72", "reject75"):
        body.append(segment("AAA", "N", "", "72" if member.case == "reject72" else "75", "C"))
    elif not rejected:
        body.append(segment("REF", "6P", member.group_number))
    if member.dob is not None:
        body.append(segment("DMG", "D8", member.dob.strftime("%Y%m%d"), member.sex or "U"))
    if not rejected:
        plan_year = (date_of_service or now.date()).year
        if member.case == "inactive":
            body.append(segment("DTP", "346", "D8", f"{plan_year - 1}0101"))
            body.append(segment("DTP", "347", "D8", f"{plan_year - 1}1231"))
            body.append(segment("EB", "6", "IND", "30"))
            body.append(segment("MSG", "COVERAGE TERMINATED"))
        else:
            body.append(segment("DTP", "346", "D8", f"{plan_year}0101"))
            body.extend(_active_benefits(member, service_type))
    body.append(segment("SE", str(len(body) + 1), "0001"))
    group = segment(
        "GS", "HB", sender_id, receiver_id, now.strftime("%Y%m%d"), now.strftime("%H%M"), str(control), "X", VERSION
    )
    return (
        isa(sender_id, receiver_id, control, now)
        + group
        + "".join(body)
        + segment("GE", "1", str(control))
        + segment("IEA", "1", f"{control % 1_000_000_000:09d}")
    )


def _active_benefits(member: Member, service_type: str) -> list[str]:
    amounts = _amounts(member.member_id)
    kind = insurance_type_code(member.insurance_type, member.plan_name)
    auth = "Y" if member.case == "auth_required" else ""
    rows = [
        segment("EB", "1", "IND", "30", kind, member.plan_name),
        segment("EB", "C", "IND", "30", "", "", "23", amounts["deductible"], "", "", "", "", "Y"),
        segment("EB", "C", "IND", "30", "", "", "29", amounts["remaining"], "", "", "", "", "Y"),
        segment("EB", "B", "IND", "98", "", "", "27", amounts["copay"], "", "", "", auth, "Y"),
        segment("EB", "A", "IND", "98", "", "", "", "", amounts["coinsurance"], "", "", auth, "Y"),
        segment("EB", "G", "IND", "30", "", "", "23", amounts["oop"], "", "", "", "", "Y"),
    ]
    if service_type not in ("30", "98"):
        rows.append(segment("EB", "1", "IND", service_type, kind, "", "", "", "", "", "", auth, "Y"))
    if member.case == "auth_required":
        rows.append(segment("MSG", "PRIOR AUTHORIZATION REQUIRED FOR SPECIALIST AND OFFICE VISITS"))
    if member.case == "cob":
        rows.extend(
            [
                segment("EB", "R", "IND", "30"),
                segment("LS", "2120"),
                segment("NM1", "PRP", "2", member.other_payer_name, "", "", "", "", "PI", member.other_payer_id),
                segment("LE", "2120"),
            ]
        )
    return rows


# --- reading -----------------------------------------------------------------------------------


def split_segments(text: str) -> tuple[list[list[str]], str, str]:
    """Split an interchange into segments of elements; returns (segments, element sep, segment terminator)."""
    text = text.lstrip("\ufeff \r\n\t")
    if not text.startswith("ISA") or len(text) < 106:
        raise X12EnvelopeError("022", "ISA segment missing or shorter than 106 characters")
    element_sep = text[3]
    terminator = text[105]
    if element_sep.isalnum() or terminator.isalnum() or element_sep == terminator:
        raise X12EnvelopeError("022", "unreadable delimiters in the ISA segment")
    header = text[:105].split(element_sep)
    if len(header) != 17:
        raise X12EnvelopeError("022", "ISA segment does not have 16 elements")
    control = header[13]
    if not (len(control) == 9 and control.isdigit()):
        raise X12EnvelopeError("022", "ISA13 is not a nine-digit control number")
    if header[12] != "00501":
        raise X12EnvelopeError("017", "ISA12 version is not 00501", control)
    raw = [part.strip("\r\n") for part in text.split(terminator)]
    segments = [part.split(element_sep) for part in raw if part.strip()]
    return segments, element_sep, terminator


def _get(parts: list[str], index: int) -> str:
    return parts[index].strip() if len(parts) > index else ""


def parse_270(text: str) -> Request270:
    """Read a 270; raises X12EnvelopeError for envelope problems, records set problems in `errors`."""
    segments, _sep, _term = split_segments(text)
    isa_parts = segments[0]
    control = isa_parts[13]
    iea = next((parts for parts in segments if parts[0] == "IEA"), None)
    if iea is None:
        raise X12EnvelopeError("023", "IEA trailer missing", control)
    if _get(iea, 2) != control:
        raise X12EnvelopeError("001", "ISA13 and IEA02 do not match", control)
    gs = next((parts for parts in segments if parts[0] == "GS"), None)
    if gs is None:
        raise X12EnvelopeError("024", "no functional group (GS) in the interchange", control)
    request = Request270(
        sender_id=isa_parts[6].strip(),
        receiver_id=isa_parts[8].strip(),
        interchange_control=control,
        group_control=_get(gs, 6),
        set_control="",
        reference="",
        payer_name="",
        payer_id="",
        provider_name="",
        provider_npi="",
        trace="",
        trace_originator="",
        last_name="",
        first_name="",
        member_id="",
        dob=None,
        sex="",
        service_types=[],
        date_of_service=None,
    )
    start = next((index for index, parts in enumerate(segments) if parts[0] == "ST"), None)
    if start is None:
        request.set_error_code = "1"
        request.errors.append(SegmentError("ST", 1, "", "3"))
        return request
    st = segments[start]
    request.set_control = _get(st, 2)
    if _get(st, 1) != "270":
        request.set_error_code = "1"
        return request
    end = next((index for index in range(start, len(segments)) if segments[index][0] == "SE"), None)
    if end is None:
        request.set_error_code = "2"
        return request
    body = segments[start : end + 1]
    se = segments[end]
    if _get(se, 1) != str(len(body)):
        request.set_error_code = "4"
    if _get(se, 2) != request.set_control:
        request.set_error_code = "3"
    _read_body(request, body)
    return request


def _read_body(request: Request270, body: list[list[str]]) -> None:
    level = ""
    seen: set[str] = set()
    for position, parts in enumerate(body, start=1):
        tag = parts[0]
        if tag == "BHT":
            seen.add("BHT")
            request.reference = _get(parts, 3)
            if _get(parts, 2) != "13":
                request.errors.append(SegmentError("BHT", position, "", "8", f"2*353*7*{_get(parts, 2)}"))
        elif tag == "HL":
            level = _get(parts, 3)
            seen.add(f"HL{level}")
        elif tag == "NM1":
            qualifier = _get(parts, 1)
            if qualifier == "PR" and level == "20":
                seen.add("NM1PR")
                request.payer_name, request.payer_id = _get(parts, 3), _get(parts, 9)
            elif qualifier == "1P" and level == "21":
                seen.add("NM11P")
                request.provider_name, request.provider_npi = _get(parts, 3), _get(parts, 9)
            elif qualifier == "IL" and level == "22":
                seen.add("NM1IL")
                request.last_name, request.first_name = _get(parts, 3), _get(parts, 4)
                request.member_id = _get(parts, 9)
                if _get(parts, 8) == "MI" and not request.member_id:
                    request.errors.append(SegmentError("NM1", position, "2100C", "8", "9*67*1*"))
        elif tag == "TRN" and level == "22":
            request.trace, request.trace_originator = _get(parts, 2), _get(parts, 3)
        elif tag == "DMG":
            raw = _get(parts, 2)
            try:
                request.dob = dt.datetime.strptime(raw, "%Y%m%d").date()  # noqa: DTZ007 - a calendar date
            except ValueError:
                request.errors.append(SegmentError("DMG", position, "2100C", "8", f"2*1251*8*{raw}"))
            request.sex = _get(parts, 3)
        elif tag == "DTP" and _get(parts, 1) == "291":
            raw = _get(parts, 3).split("-")[0]
            try:
                request.date_of_service = dt.datetime.strptime(raw, "%Y%m%d").date()  # noqa: DTZ007
            except ValueError:
                request.errors.append(SegmentError("DTP", position, "2100C", "8", f"3*1251*8*{raw}"))
        elif tag == "EQ":
            codes = [code for code in _get(parts, 1).split(REPETITION) if code]
            bad = [code for code in codes if code not in SERVICE_TYPES]
            if bad:
                request.errors.append(SegmentError("EQ", position, "2110C", "8", f"1*1365*7*{bad[0]}"))
            request.service_types.extend(code for code in codes if code in SERVICE_TYPES)
    expected = (
        ("BHT", "BHT", ""),
        ("HL20", "HL", "2000A"),
        ("NM1PR", "NM1", "2100A"),
        ("HL21", "HL", "2000B"),
        ("NM11P", "NM1", "2100B"),
        ("HL22", "HL", "2000C"),
        ("NM1IL", "NM1", "2100C"),
    )
    for key, segment_id, loop in expected:
        if key not in seen:
            request.errors.append(SegmentError(segment_id, len(body), loop, "3"))


def build_999(request: Request270, *, control: int, now: dt.datetime) -> str:
    """A 999 rejecting the transaction set, with IK3/IK4 for each problem found."""
    body = [
        segment("ST", "999", "0001", ACK_VERSION),
        segment("AK1", "HS", request.group_control, VERSION),
        segment("AK2", "270", request.set_control or "0001", VERSION),
    ]
    for error in request.errors:
        body.append(segment("IK3", error.segment_id, str(error.position), error.loop, error.code))
        if error.element:
            body.append(segment("IK4", *error.element.split("*")))
    reason = request.set_error_code or "5"
    body.append(segment("IK5", "R", reason))
    body.append(segment("AK9", "R", "1", "1", "0"))
    body.append(segment("SE", str(len(body) + 1), "0001"))
    sender, receiver = request.receiver_id or "PAYERSIM", request.sender_id or "SUBMITTER"
    return (
        isa(sender, receiver, control, now)
        + segment(
            "GS", "FA", sender, receiver, now.strftime("%Y%m%d"), now.strftime("%H%M"), str(control), "X", ACK_VERSION
        )
        + "".join(body)
        + segment("GE", "1", str(control))
        + segment("IEA", "1", f"{control % 1_000_000_000:09d}")
    )


def build_ta1(
    error: X12EnvelopeError, *, control: int, now: dt.datetime, sender: str = "PAYERSIM", receiver: str = "SUBMITTER"
) -> str:
    """An interchange acknowledgement rejecting an unreadable envelope."""
    return (
        isa(sender, receiver, control, now)
        + segment("TA1", error.control_number, now.strftime("%y%m%d"), now.strftime("%H%M"), "R", error.note_code)
        + segment("IEA", "0", f"{control % 1_000_000_000:09d}")
    )


def answer_270(
    text: str, *, lookup: Callable[[str, str], Member | None], control: int, now: dt.datetime
) -> tuple[str, str]:
    """Answer a 270 the way a real-time clearinghouse does: ("271"|"999"|"TA1", interchange text)."""
    try:
        request = parse_270(text)
    except X12EnvelopeError as error:
        return "TA1", build_ta1(error, control=control, now=now)
    if request.errors or request.set_error_code:
        return "999", build_999(request, control=control, now=now)
    member = lookup(request.payer_id, request.member_id)
    if member is None:
        member = Member(
            case="reject75",
            member_id=request.member_id,
            last_name=request.last_name,
            first_name=request.first_name,
            dob=request.dob,
            sex=request.sex,
            group_number="",
            plan_name="",
            insurance_type="",
            payer_name=request.payer_name or "UNKNOWN PAYER",
            payer_id=request.payer_id,
        )
    elif member.case == "rejectTA1":
        unknown_sender = X12EnvelopeError("006", "the interchange sender is not set up", request.interchange_control)
        return "TA1", build_ta1(unknown_sender, control=control, now=now, receiver=request.sender_id or "SUBMITTER")
    elif member.case == "reject999":
        # The payer's front end refused the subscriber name segment: a 999, no 271.
        request.errors.append(SegmentError("NM1", 9, "2100C", "8", "9*67*7*"))
        return "999", build_999(request, control=control, now=now)
    elif member.case not in ("reject72", "reject75", "unavailable"):
        reject = None
        if request.dob is not None and member.dob is not None and request.dob != member.dob:
            reject = "71"
        elif request.last_name and request.last_name.upper() != member.last_name.upper():
            reject = "73"
        if reject:
            return "271", _reject_271(request, member, reject, control=control, now=now)
    return "271", build_271(
        member=member,
        provider_name=request.provider_name,
        provider_npi=request.provider_npi,
        reference=request.reference,
        trace=request.trace,
        trace_originator=request.trace_originator,
        control=control,
        now=now,
        sender_id=request.receiver_id or "PAYERSIM",
        receiver_id=request.sender_id or "SUBMITTER",
        service_type=(request.service_types or ["30"])[0],
        date_of_service=request.date_of_service,
    )


def _reject_271(request: Request270, member: Member, code: str, *, control: int, now: dt.datetime) -> str:
    """A subscriber-level rejection for data that does not match the payer's record (AAA 71 or 73)."""
    body = [
        segment("ST", "271", "0001", VERSION),
        segment("BHT", "0022", "11", request.reference, now.strftime("%Y%m%d"), now.strftime("%H%M")),
        segment("HL", "1", "", "20", "1"),
        segment("NM1", "PR", "2", member.payer_name, "", "", "", "", "PI", member.payer_id),
        segment("HL", "2", "1", "21", "1"),
        segment("NM1", "1P", "2", request.provider_name, "", "", "", "", "XX", request.provider_npi),
        segment("HL", "3", "2", "22", "0"),
        segment("TRN", "2", request.trace, request.trace_originator),
        segment("NM1", "IL", "1", request.last_name, request.first_name, "", "", "", "MI", request.member_id),
        segment("AAA", "N", "", code, "C"),
    ]
    if request.dob:
        body.append(segment("DMG", "D8", request.dob.strftime("%Y%m%d"), request.sex or "U"))
    body.append(segment("SE", str(len(body) + 1), "0001"))
    sender, receiver = request.receiver_id or "PAYERSIM", request.sender_id or "SUBMITTER"
    return (
        isa(sender, receiver, control, now)
        + segment(
            "GS", "HB", sender, receiver, now.strftime("%Y%m%d"), now.strftime("%H%M"), str(control), "X", VERSION
        )
        + "".join(body)
        + segment("GE", "1", str(control))
        + segment("IEA", "1", f"{control % 1_000_000_000:09d}")
    )


def build_270(
    *,
    payer_name: str,
    payer_id: str,
    provider_name: str,
    provider_npi: str,
    member_id: str,
    last_name: str,
    first_name: str,
    dob: dt.date,
    sex: str,
    reference: str,
    trace: str,
    control: int,
    now: dt.datetime,
    service_type: str = "30",
    sender_id: str = "SUBMITTER",
    receiver_id: str = "PAYERSIM",
) -> str:
    """A single-subscriber 270 (used by the sandbox's own tests and examples)."""
    body = [
        segment("ST", "270", "0001", VERSION),
        segment("BHT", "0022", "13", reference, now.strftime("%Y%m%d"), now.strftime("%H%M")),
        segment("HL", "1", "", "20", "1"),
        segment("NM1", "PR", "2", payer_name, "", "", "", "", "PI", payer_id),
        segment("HL", "2", "1", "21", "1"),
        segment("NM1", "1P", "2", provider_name, "", "", "", "", "XX", provider_npi),
        segment("HL", "3", "2", "22", "0"),
        segment("TRN", "1", trace, "9123456789"),
        segment("NM1", "IL", "1", last_name.upper(), first_name.upper(), "", "", "", "MI", member_id),
        segment("DMG", "D8", dob.strftime("%Y%m%d"), sex),
        segment("DTP", "291", "D8", now.strftime("%Y%m%d")),
        segment("EQ", service_type),
    ]
    body.append(segment("SE", str(len(body) + 1), "0001"))
    return (
        isa(sender_id, receiver_id, control, now, ack_requested="0")
        + segment(
            "GS", "HS", sender_id, receiver_id, now.strftime("%Y%m%d"), now.strftime("%H%M"), str(control), "X", VERSION
        )
        + "".join(body)
        + segment("GE", "1", str(control))
        + segment("IEA", "1", f"{control % 1_000_000_000:09d}")
    )


def segments_of(text: str) -> list[str]:
    """The segments of an interchange as strings without terminators (handy for tests and parsers)."""
    return [part.strip("\r\n") for part in text.split(SEGMENT) if part.strip()]
