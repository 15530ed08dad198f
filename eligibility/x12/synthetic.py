"""Writers for synthetic 271, 999 and TA1 interchanges (test fixtures and the denial-risk generator).

They write what a payer would send, with correct counts, so the reader is exercised on the same
text a clearinghouse returns. Every person written here is made up by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from eligibility.x12.syntax import DEFAULT_DELIMITERS
from eligibility.x12.writer import Envelope, join_repeats, render_bare_interchange, render_interchange

VERSION_271 = "005010X279A1"
VERSION_999 = "005010X231A1"
DEFAULT_CREATED_AT = dt.datetime(2026, 1, 15, 9, 31, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Person:
    """A subscriber or dependent as the payer returns them."""

    first_name: str
    last_name: str
    dob: dt.date
    gender: str = ""
    member_id: str = ""
    group_number: str = ""
    relationship: str = ""


@dataclass(frozen=True)
class Row:
    """One EB row and what its 2110 loop carries. ``entity`` is an NM1 (without "NM1") in LS/LE."""

    info: str
    service_types: tuple[str, ...] = ("30",)
    coverage_level: str = ""
    insurance_type: str = ""
    plan: str = ""
    period: str = ""
    amount: str = ""
    percent: str = ""
    quantity_qualifier: str = ""
    quantity: str = ""
    auth_required: str = ""
    in_network: str = ""
    messages: tuple[str, ...] = ()
    dates: tuple[tuple[str, str], ...] = ()
    entity: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Answer:
    """A whole 271 answer: who, which rows, which AAA rejections (loop, reason, follow-up)."""

    subscriber: Person | None
    dependent: Person | None = None
    rows: tuple[Row, ...] = ()
    rejections: tuple[tuple[str, str, str], ...] = ()
    patient_dates: tuple[tuple[str, str], ...] = ()
    identity_changed: bool = False
    prior_member_id: str = ""
    payer: tuple[str, str] = ("EXAMPLE HEALTH PLAN", "EX001")
    provider: tuple[str, str] = ("SAMPLE FAMILY MEDICINE", "1999999984")
    reference: str = "HUB-REQ-0001"
    trace: tuple[str, str] = ("HUB-TRN-0001", "9123456789")
    extra_segments: tuple[tuple[str, ...], ...] = field(default=())


def envelope_for(control_number: int, created_at: dt.datetime = DEFAULT_CREATED_AT) -> Envelope:
    """A payer-to-hub envelope with the given control number."""
    return Envelope(
        sender_id="PAYERSIM",
        receiver_id="HUBCLINIC",
        interchange_control_number=control_number,
        created_at=created_at,
    )


def write_271(answer: Answer, *, control_number: int = 102, line_breaks: bool = True) -> str:
    """A 271 for ``answer``; a value of "D8:YYYYMMDD" or "RD8:A-B" in dates chooses the format."""
    envelope = envelope_for(control_number)
    created = envelope.created_at
    rejected = {loop: [r for r in answer.rejections if r[0] == loop] for loop in {r[0] for r in answer.rejections}}

    def aaa(loop: str) -> list[list[str]]:
        return [
            ["AAA", "Y" if reason == "42" else "N", "", reason, follow] for _, reason, follow in rejected.get(loop, [])
        ]

    body: list[list[str]] = [
        ["BHT", "0022", "11", answer.reference, created.strftime("%Y%m%d"), created.strftime("%H%M")]
    ]
    body += [["HL", "1", "", "20", "1"], *aaa("2000A")]
    body += [["NM1", "PR", "2", answer.payer[0], "", "", "", "", "PI", answer.payer[1]], *aaa("2100A")]
    has_subscriber = answer.subscriber is not None
    body += [["HL", "2", "1", "21", "1" if has_subscriber else "0"]]
    body += [["NM1", "1P", "2", answer.provider[0], "", "", "", "", "XX", answer.provider[1]], *aaa("2100B")]
    if answer.subscriber is None:
        return _render(envelope, body, line_breaks)

    dependent = answer.dependent
    sub = answer.subscriber
    body.append(["HL", "3", "2", "22", "1" if dependent else "0"])
    if dependent is None:
        body.append(["TRN", "2", answer.trace[0], answer.trace[1]])
    body.append(
        ["NM1", "IL", "1", sub.last_name, sub.first_name, "", "", "", "MI" if sub.member_id else "", sub.member_id]
    )
    if sub.group_number:
        body.append(["REF", "6P", sub.group_number])
    if answer.prior_member_id and dependent is None:
        body.append(["REF", "Q4", answer.prior_member_id])
    body += aaa("2100C")
    body.append(["DMG", "D8", sub.dob.strftime("%Y%m%d"), sub.gender])
    if answer.identity_changed and dependent is None:
        body.append(["INS", "Y", "18", "001", "25"])
    if dependent is None:
        body += _dates(answer.patient_dates)
        body += _rows(answer.rows, aaa("2110C"))
    else:
        body += [["HL", "4", "3", "23", "0"], ["TRN", "2", answer.trace[0], answer.trace[1]]]
        body.append(["NM1", "03", "1", dependent.last_name, dependent.first_name])
        body += aaa("2100D")
        body.append(["DMG", "D8", dependent.dob.strftime("%Y%m%d"), dependent.gender])
        body.append(["INS", "N", dependent.relationship or "19", *(["001", "25"] if answer.identity_changed else [])])
        body += _dates(answer.patient_dates)
        body += _rows(answer.rows, aaa("2110D"))
    body += [list(s) for s in answer.extra_segments]
    return _render(envelope, body, line_breaks)


def write_999(
    *,
    group_control_number: str,
    transaction_control_number: str,
    status: str,
    segment_errors: Sequence[tuple[str, str, str, str, Sequence[tuple[str, str, str]]]] = (),
    set_codes: Sequence[str] = (),
    control_number: int = 201,
    line_breaks: bool = True,
) -> str:
    """A 999 acknowledging one 270; segment errors are (id, position, loop, code, [(element, ref, code)])."""
    body: list[list[str]] = [
        ["AK1", "HS", group_control_number, VERSION_271],
        ["AK2", "270", transaction_control_number, VERSION_271],
    ]
    for segment_id, position, loop, code, elements in segment_errors:
        body.append(["IK3", segment_id, position, loop, code])
        # IK404 (a copy of the bad value) is left out: the hub never needs it.
        body += [["IK4", element, reference, element_code] for element, reference, element_code in elements]
    body.append(["IK5", status, *set_codes])
    accepted = "1" if status in ("A", "E") else "0"
    body.append(["AK9", status, "1", "1", accepted])
    return render_interchange(
        envelope=envelope_for(control_number),
        functional_id="FA",
        transaction_set_id="999",
        version=VERSION_999,
        body=body,
        line_breaks=line_breaks,
    )


def write_ta1(
    *, interchange_control_number: str, status: str, note: str, control_number: int = 301, line_breaks: bool = True
) -> str:
    """A TA1-only interchange answering the 270 interchange ``interchange_control_number``."""
    return render_bare_interchange(
        envelope=envelope_for(control_number),
        segments=[["TA1", interchange_control_number, "260115", "0930", status, note]],
        line_breaks=line_breaks,
    )


def _render(envelope: Envelope, body: list[list[str]], line_breaks: bool) -> str:
    return render_interchange(
        envelope=envelope,
        functional_id="HB",
        transaction_set_id="271",
        version=VERSION_271,
        body=body,
        line_breaks=line_breaks,
    )


def _dates(dates: Sequence[tuple[str, str]]) -> list[list[str]]:
    segments = []
    for qualifier, value in dates:
        form, _, text = value.partition(":")
        segments.append(["DTP", qualifier, form, text])
    return segments


def _rows(rows: Sequence[Row], benefit_rejections: list[list[str]]) -> list[list[str]]:
    segments: list[list[str]] = []
    for index, row in enumerate(rows):
        segments.append(
            [
                "EB",
                row.info,
                row.coverage_level,
                join_repeats(row.service_types, DEFAULT_DELIMITERS),
                row.insurance_type,
                row.plan,
                row.period,
                row.amount,
                row.percent,
                row.quantity_qualifier,
                row.quantity,
                row.auth_required,
                row.in_network,
            ]
        )
        segments += _dates(row.dates)
        if index == 0:
            segments += benefit_rejections
        segments += [["MSG", text] for text in row.messages]
        if row.entity is not None:
            segments += [["LS", "2120"], ["NM1", *row.entity], ["LE", "2120"]]
    return segments
