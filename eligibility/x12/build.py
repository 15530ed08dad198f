"""The 270 builder: an eligibility request plus envelope options become one 005010X279A1 interchange."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from eligibility.x12.errors import FieldProblem, RequestValidationError
from eligibility.x12.request import EligibilityRequest, normalize_request
from eligibility.x12.writer import MAX_CONTROL_NUMBER, Envelope, render_interchange

VERSION = "005010X279A1"
ID_QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})
_INTERCHANGE_ID = re.compile(r"^[A-Z0-9][A-Z0-9 .-]{0,14}$")
_APPLICATION_ID = re.compile(r"^[A-Z0-9][A-Z0-9 .-]{1,14}$")
_REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,49}$")
# TRN03: 10 characters; the first says what kind of id follows (1 EIN, 3 DUNS, 9 user-assigned).
_ORIGINATOR = re.compile(r"^[139][A-Z0-9]{9}$")


@dataclass(frozen=True)
class EnvelopeOptions:
    """Envelope and matching values of one 270; control numbers come from the caller's counter."""

    sender_id: str
    receiver_id: str
    control_number: int
    trace_number: str
    originator_id: str
    created_at: dt.datetime
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str | None = None
    application_receiver: str | None = None
    group_control_number: int | None = None
    transaction_control_number: int = 1
    production: bool = False
    acknowledgment_requested: bool = False
    reference: str | None = None
    real_time: bool = False

    @classmethod
    def from_counter(cls, next_control_number: Callable[[], int], **options: object) -> EnvelopeOptions:
        """Options whose interchange and group control numbers are the counter's next value."""
        return cls(control_number=next_control_number(), **options)  # type: ignore[arg-type]

    @property
    def bht_reference(self) -> str:
        """BHT03, echoed by the payer: the given reference or one derived from the control number."""
        return (self.reference or f"HUB{self.control_number:09d}").upper()


@dataclass(frozen=True)
class Built270:
    """A built 270 and the values its answer will be matched on."""

    text: str
    interchange_control_number: str
    group_control_number: str
    transaction_control_number: str
    reference: str
    trace_number: str


def build_270(request: EligibilityRequest, options: EnvelopeOptions, *, line_breaks: bool = False) -> Built270:
    """Validate ``request`` and ``options`` and write the 270; raises RequestValidationError."""
    problems = _envelope_problems(options)
    try:
        clean = normalize_request(request)
    except RequestValidationError as error:
        problems = error.problems + problems
        clean = request
    if problems:
        raise RequestValidationError(problems)

    envelope = Envelope(
        sender_id=options.sender_id.upper(),
        receiver_id=options.receiver_id.upper(),
        sender_qualifier=options.sender_qualifier,
        receiver_qualifier=options.receiver_qualifier,
        application_sender=(options.application_sender or "").upper() or None,
        application_receiver=(options.application_receiver or "").upper() or None,
        interchange_control_number=options.control_number,
        group_control_number=options.group_control_number,
        transaction_control_number=options.transaction_control_number,
        created_at=options.created_at,
        usage="P" if options.production else "T",
        acknowledgment_requested=options.acknowledgment_requested,
    )
    text = render_interchange(
        envelope=envelope,
        functional_id="HS",
        transaction_set_id="270",
        version=VERSION,
        body=_body(clean, options),
        line_breaks=line_breaks,
    )
    return Built270(
        text=text,
        interchange_control_number=envelope.isa13,
        group_control_number=envelope.gs06,
        transaction_control_number=envelope.st02,
        reference=options.bht_reference,
        trace_number=options.trace_number.upper(),
    )


def _body(request: EligibilityRequest, options: EnvelopeOptions) -> list[list[str]]:
    created = options.created_at
    bht = ["BHT", "0022", "13", options.bht_reference, created.strftime("%Y%m%d"), created.strftime("%H%M")]
    if options.real_time:
        bht.append("RT")
    trace = ["TRN", "1", options.trace_number.upper(), options.originator_id]
    subscriber, dependent = request.subscriber, request.dependent
    in_dependent_loop = request.sends_dependent_loop
    patient_tail = _patient_tail(request)

    segments: list[list[str]] = [
        bht,
        ["HL", "1", "", "20", "1"],
        ["NM1", "PR", "2", request.payer.name, "", "", "", "", "PI", request.payer.id],
        ["HL", "2", "1", "21", "1"],
        ["NM1", "1P", "2", request.provider.name, "", "", "", "", "XX", request.provider.npi],
        ["HL", "3", "2", "22", "1" if in_dependent_loop else "0"],
    ]
    if dependent is not None and not in_dependent_loop:
        # A dependent with their own member id is, to the payer, a subscriber: send them as one.
        segments += [
            trace,
            ["NM1", "IL", "1", dependent.last_name, dependent.first_name, "", "", "", "MI", dependent.member_id or ""],
            *_group(subscriber.group_number),
            _dmg(dependent.dob, dependent.gender),
            *patient_tail,
        ]
        return segments
    if not in_dependent_loop:
        segments.append(trace)
    segments += [
        [
            "NM1",
            "IL",
            "1",
            subscriber.last_name,
            subscriber.first_name,
            subscriber.middle_name or "",
            "",
            "",
            "MI",
            subscriber.member_id,
        ],
        *_group(subscriber.group_number),
        _dmg(subscriber.dob, subscriber.gender),
    ]
    if not in_dependent_loop:
        return segments + patient_tail
    assert dependent is not None  # sends_dependent_loop implies a dependent
    return [
        *segments,
        ["HL", "4", "3", "23", "0"],
        trace,
        ["NM1", "03", "1", dependent.last_name, dependent.first_name],
        _dmg(dependent.dob, dependent.gender),
        ["INS", "N", dependent.relationship],
        *patient_tail,
    ]


def _patient_tail(request: EligibilityRequest) -> list[list[str]]:
    tail: list[list[str]] = []
    if isinstance(request.date_of_service, dt.date):
        tail.append(["DTP", "291", "D8", request.date_of_service.strftime("%Y%m%d")])
    tail += [["EQ", code] for code in request.service_types]
    return tail


def _group(group_number: str | None) -> list[list[str]]:
    return [["REF", "6P", group_number]] if group_number else []


def _dmg(dob: object, gender: str | None) -> list[str]:
    assert isinstance(dob, dt.date)  # normalize_request turned it into a date
    return ["DMG", "D8", dob.strftime("%Y%m%d"), gender or ""]


def _envelope_problems(options: EnvelopeOptions) -> list[FieldProblem]:
    problems: list[FieldProblem] = []

    def check(ok: bool, name: str, problem: str) -> None:
        if not ok:
            problems.append(FieldProblem(f"envelope.{name}", problem))

    def matches(pattern: re.Pattern[str], value: object) -> bool:
        return isinstance(value, str) and bool(pattern.match(value.upper()))

    check(matches(_INTERCHANGE_ID, options.sender_id), "sender_id", "must be 1-15 letters or digits")
    check(matches(_INTERCHANGE_ID, options.receiver_id), "receiver_id", "must be 1-15 letters or digits")
    check(options.sender_qualifier in ID_QUALIFIERS, "sender_qualifier", "is not an ISA id qualifier")
    check(options.receiver_qualifier in ID_QUALIFIERS, "receiver_qualifier", "is not an ISA id qualifier")
    for name in ("application_sender", "application_receiver"):
        value = getattr(options, name)
        check(value is None or matches(_APPLICATION_ID, value), name, "must be 2-15 letters or digits")
    for name in ("control_number", "group_control_number", "transaction_control_number"):
        value = getattr(options, name)
        if name == "group_control_number" and value is None:
            continue
        in_range = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_CONTROL_NUMBER
        check(in_range, name, f"must be a whole number from 1 to {MAX_CONTROL_NUMBER}")
    check(matches(_REFERENCE, options.trace_number), "trace_number", "must be 1-50 letters, digits or hyphens")
    check(
        isinstance(options.originator_id, str) and bool(_ORIGINATOR.match(options.originator_id)),
        "originator_id",
        "must be 10 characters starting with 1 (EIN), 3 (DUNS) or 9 (assigned)",
    )
    check(
        options.reference is None or matches(_REFERENCE, options.reference),
        "reference",
        "must be 1-50 letters, digits or hyphens",
    )
    check(isinstance(options.created_at, dt.datetime), "created_at", "must be a date-time")
    return problems
