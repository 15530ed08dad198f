"""A tolerant reader for the answers to a 270: a 271, a 999, or a TA1.

Payers' 271s are often imperfect, and a front desk needs the answer anyway, so structural faults
(wrong SE01, ST02 != SE02, unknown segments, odd envelopes) become ``warnings`` and parsing goes on.
Only input that cannot be read at all (not X12, no ISA, a transaction cut off before its SE) raises
``X12ParseError``. Nothing from the payload goes into an error or a warning: positions, segment ids
and codes only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from eligibility.x12 import codes
from eligibility.x12.errors import X12ParseError
from eligibility.x12.response import (
    Address,
    Benefit,
    EligibilityResponse,
    Entity,
    Identity,
    Rejection,
)
from eligibility.x12.summary import coverage_status
from eligibility.x12.syntax import Delimiters, Segment, split_segments

LEVELS = {"20": "A", "21": "B", "22": "C", "23": "D"}


@dataclass
class _TransactionSet:
    id: str
    control_number: str
    version: str
    start: int
    segments: list[Segment] = field(default_factory=list)
    complete: bool = False


@dataclass
class _Interchange:
    control_number: str = ""
    group_control_number: str = ""
    sets: list[_TransactionSet] = field(default_factory=list)
    ta1: list[Segment] = field(default_factory=list)


def parse_response(text: str | bytes, *, service_type: str | None = None) -> EligibilityResponse:
    """Parse a 271, 999 or TA1; ``service_type`` picks which EB rows decide the coverage status."""
    if isinstance(text, bytes):
        # X12 is ASCII; replace anything else rather than fail on one stray byte.
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise X12ParseError("input must be text")
    delimiters, segments, warnings = split_segments(text)
    interchange = _read_envelope(segments, warnings)

    by_id: dict[str, list[_TransactionSet]] = {}
    for tset in interchange.sets:
        by_id.setdefault(tset.id, []).append(tset)
    for kind in ("271", "999", "997"):
        if kind in by_id:
            chosen = by_id[kind][0]
            others = len(interchange.sets) - 1 + len(interchange.ta1)
            if others:
                warnings.append(f"the interchange holds {others} more transaction set(s) or TA1(s); read the {kind}")
            if not chosen.complete:
                raise X12ParseError(f"transaction set {kind} has no SE trailer: the input is truncated")
            response = EligibilityResponse(transaction="271" if kind == "271" else "999", warnings=warnings)
            response.control_numbers = {
                "interchange": interchange.control_number,
                "group": interchange.group_control_number,
                "transaction": chosen.control_number,
            }
            if kind == "271":
                _read_271(chosen.segments, delimiters, response)
                response.status = _status_271(response, service_type)
            else:
                _read_999(chosen.segments, delimiters, response)
            return response
    if interchange.ta1:
        if len(interchange.ta1) > 1 or interchange.sets:
            warnings.append("the interchange holds more than one acknowledgment; read the first TA1")
        response = EligibilityResponse(transaction="TA1", warnings=warnings)
        response.control_numbers = {"interchange": interchange.control_number}
        _read_ta1(interchange.ta1[0], response)
        return response
    if interchange.sets:
        kinds = ", ".join(sorted({s.id for s in interchange.sets if s.id.isalnum()}))
        raise X12ParseError(f"the interchange holds transaction set(s) {kinds}, not a 271, 999 or TA1")
    raise X12ParseError("the interchange holds no transaction set and no TA1")


# --- envelope -----------------------------------------------------------------------------------


def _read_envelope(segments: list[Segment], warnings: list[str]) -> _Interchange:
    interchange = _Interchange()
    current: _TransactionSet | None = None
    group: Segment | None = None
    group_sets = 0
    groups = 0
    isa: Segment | None = None
    closed = False
    for segment in segments:
        kind = segment.id
        if kind == "ISA":
            if isa is not None:
                warnings.append(f"segment {segment.position} starts a second interchange")
            isa = segment
            closed = False
            groups = 0
            if not interchange.control_number:
                interchange.control_number = segment.get(13).strip()
        elif kind == "GS":
            _warn_if_open(current, warnings)
            current = None
            group, group_sets = segment, 0
            groups += 1
            if not interchange.group_control_number:
                interchange.group_control_number = segment.get(6)
        elif kind == "ST":
            _warn_if_open(current, warnings)
            current = None
            current = _TransactionSet(segment.get(1), segment.get(2), segment.get(3), start=segment.position)
            interchange.sets.append(current)
            group_sets += 1
            if group is not None and segment.get(3) and segment.get(3) != group.get(8):
                warnings.append(f"ST03 at segment {segment.position} differs from GS08")
        elif kind == "SE":
            if current is None:
                warnings.append(f"segment {segment.position} is an SE without an ST")
                continue
            counted = segment.position - current.start + 1
            if segment.get(1) != str(counted):
                warnings.append(f"SE01 says {_digits(segment.get(1))} segments but the transaction set has {counted}")
            if segment.get(2) != current.control_number:
                warnings.append("SE02 does not match ST02 (transaction set control numbers differ)")
            current.complete = True
            current = None
        elif kind == "GE":
            _warn_if_open(current, warnings)
            current = None
            if group is None:
                warnings.append(f"segment {segment.position} is a GE without a GS")
                continue
            if segment.get(1) != str(group_sets):
                warnings.append(f"GE01 says {_digits(segment.get(1))} transaction sets but the group has {group_sets}")
            if segment.get(2) != group.get(6):
                warnings.append("GE02 does not match GS06 (group control numbers differ)")
            group = None
        elif kind == "IEA":
            _warn_if_open(current, warnings)
            current = None
            if isa is not None and segment.get(2).strip() != isa.get(13).strip():
                warnings.append("IEA02 does not match ISA13 (interchange control numbers differ)")
            if segment.get(1) != str(groups) and not (groups == 0 and interchange.ta1):
                warnings.append(f"IEA01 says {_digits(segment.get(1))} groups but the interchange has {groups}")
            closed = True
        elif kind == "TA1":
            interchange.ta1.append(segment)
        elif current is not None:
            current.segments.append(segment)
        else:
            warnings.append(f"segment {segment.position} is outside a transaction set and was ignored")
    _warn_if_open(current, warnings)
    if group is not None:
        warnings.append("the functional group has no GE trailer")
    if not closed:
        warnings.append("the interchange has no IEA trailer")
    return interchange


def _warn_if_open(current: _TransactionSet | None, warnings: list[str]) -> None:
    if current is not None and not current.complete:
        warnings.append(f"the transaction set starting at segment {current.start} has no SE trailer")


def _digits(value: str) -> str:
    # Counts come from the payload; keep only what a count can be, so nothing else leaks into text.
    return value if value.isdigit() and len(value) <= 9 else "an invalid number of"


# --- 271 ----------------------------------------------------------------------------------------


@dataclass
class _State:
    level: str = ""
    loop: str = "header"
    identity: Identity | None = None
    entity: Entity | None = None
    benefit: Benefit | None = None
    in_2120: bool = False
    skipping: bool = False
    skipped_hl_ids: set[str] = field(default_factory=set)


def _read_271(segments: list[Segment], delimiters: Delimiters, response: EligibilityResponse) -> None:
    state = _State()
    warnings = response.warnings
    for segment in segments:
        kind = segment.id
        if kind == "HL":
            _enter_level(segment, state, response)
            continue
        if state.skipping:
            continue
        if kind == "BHT":
            response.reference = segment.get(3)
            if segment.get(2) not in ("11", ""):
                warnings.append("BHT02 is not 11 (response)")
        elif kind == "TRN":
            response.trace_numbers.append(
                {
                    "loop": f"2000{state.level}",
                    "type": "referenced" if segment.get(1) == "2" else "current",
                    "number": segment.get(2),
                    "originator": segment.get(3),
                    "supplemental": segment.get(4),
                }
            )
        elif kind == "NM1":
            _read_nm1(segment, state, response)
        elif kind == "AAA":
            reason, follow_up = segment.get(3), segment.get(4)
            response.rejections.append(
                Rejection(
                    loop=state.loop,
                    code=reason,
                    follow_up=follow_up or None,
                    message=codes.reject_message(reason, follow_up),
                )
            )
        elif kind == "EB":
            _start_benefit(segment, delimiters, state, response)
        elif kind == "LS":
            if state.benefit is None:
                warnings.append(f"LS at segment {segment.position} is outside a benefit loop")
            state.in_2120 = True
            state.loop = f"2120{state.level}"
        elif kind == "LE":
            state.in_2120 = False
            state.entity = None
            state.loop = f"2110{state.level}"
        elif kind == "REF":
            _read_ref(segment, state, response)
        elif kind in ("N3", "N4"):
            _read_address(segment, state)
        elif kind == "DMG" and state.identity is not None and state.benefit is None:
            state.identity.dob = _date(segment.get(2), segment, warnings) if segment.get(1) == "D8" else ""
            state.identity.gender = segment.get(3)
        elif kind == "INS" and state.identity is not None:
            state.identity.relationship = codes.RELATIONSHIP_CODES.get(segment.get(2), segment.get(2))
            # INS*Y*18*001*25: the payer changed identifying data compared with the request.
            state.identity.identity_changed = segment.get(3) == "001" and segment.get(4) == "25"
        elif kind == "DTP":
            _read_dtp(segment, state, response)
        elif kind == "MSG" and state.benefit is not None:
            state.benefit.messages.append(segment.get(1))
        elif kind == "HSD" and state.benefit is not None:
            state.benefit.hsd.append(_hsd(segment))
        elif kind == "PER" and state.entity is not None:
            state.entity.contacts.append(
                " ".join(p for p in (segment.get(2), segment.get(3), segment.get(4)) if p).strip()
            )
        # Anything else (PRV, HI, MPI, III, unknown ids) carries nothing the hub uses.
    _collect_related(response)


def _enter_level(segment: Segment, state: _State, response: EligibilityResponse) -> None:
    level = LEVELS.get(segment.get(3), "")
    state.benefit, state.entity, state.in_2120 = None, None, False
    state.identity = None
    if not level:
        response.warnings.append(f"HL at segment {segment.position} has an unknown level code")
        state.skipping = True
        return
    parent_skipped = segment.get(2) in state.skipped_hl_ids
    second_subscriber = level == "C" and response.subscriber is not None
    second_dependent = level == "D" and response.dependent is not None and not parent_skipped
    if parent_skipped or second_subscriber or second_dependent:
        if not parent_skipped:
            response.warnings.append(f"HL at segment {segment.position} is a second {level} level and was skipped")
        state.skipped_hl_ids.add(segment.get(1))
        state.skipping = True
        return
    state.skipping = False
    state.level = level
    state.loop = f"2000{level}"
    if level == "C":
        response.subscriber = state.identity = Identity()
    elif level == "D":
        response.dependent = state.identity = Identity()


def _read_nm1(segment: Segment, state: _State, response: EligibilityResponse) -> None:
    entity = Entity(
        entity_code=segment.get(1),
        entity=codes.ENTITY_CODES.get(segment.get(1), ""),
        name=segment.get(3),
        first_name=segment.get(4),
        id_qualifier=segment.get(8),
        id=segment.get(9),
    )
    if state.benefit is not None:
        # An NM1 inside a benefit loop names a related entity (2120), even when the LS is missing.
        if not state.in_2120:
            response.warnings.append(f"NM1 at segment {segment.position} follows an EB without an LS")
        state.benefit.entities.append(entity)
        state.entity = entity
        return
    state.loop = f"2100{state.level}" if state.level else state.loop
    state.entity = entity
    if state.level == "A":
        response.payer = entity
    elif state.level == "B":
        response.provider = entity
    elif state.identity is not None:
        state.entity = None
        identity = state.identity
        identity.last_name = segment.get(3)
        identity.first_name = segment.get(4)
        identity.middle_name = segment.get(5)
        identity.suffix = segment.get(7)
        if segment.get(9):
            identity.member_id = segment.get(9)


def _start_benefit(segment: Segment, delimiters: Delimiters, state: _State, response: EligibilityResponse) -> None:
    if state.level not in ("C", "D"):
        response.warnings.append(f"EB at segment {segment.position} is outside a subscriber or dependent loop")
        state.benefit = None
        return
    separator = delimiters.repetition
    raw_types = segment.get(3)
    service_types = [s for s in (raw_types.split(separator) if separator else [raw_types]) if s]
    benefit = Benefit(
        loop=f"2110{state.level}",
        info=segment.get(1),
        coverage_level=segment.get(2),
        service_types=service_types,
        insurance_type=segment.get(4),
        plan=segment.get(5),
        period=segment.get(6),
        amount=_cents(segment.get(7), segment, response.warnings),
        percent=_percent(segment.get(8), segment, response.warnings),
        quantity_qualifier=segment.get(9),
        quantity=_number(segment.get(10), segment, response.warnings),
        auth_required=_yes_no(segment.get(11)),
        in_network=_yes_no(segment.get(12)),
    )
    response.benefits.append(benefit)
    state.benefit = benefit
    state.entity = None
    state.in_2120 = False
    state.loop = benefit.loop


def _read_ref(segment: Segment, state: _State, response: EligibilityResponse) -> None:
    qualifier, value = segment.get(1), segment.get(2)
    if qualifier == "SY":
        # The hub has no use for a social security number from a payer; do not keep it.
        response.warnings.append("a social security number (REF*SY) was returned and was not kept")
        return
    name = codes.REFERENCE_QUALIFIERS.get(qualifier, f"ref_{qualifier}")
    if state.entity is not None and (state.in_2120 or state.benefit is None):
        state.entity.references[name] = value
    elif state.benefit is not None:
        state.benefit.references[name] = value
    elif state.identity is not None:
        identity = state.identity
        identity.references[name] = value
        if qualifier == "6P":
            identity.group_number = value
            identity.group_name = segment.get(3)
        elif qualifier == "1L" and not identity.group_number:
            identity.group_number = value
        elif qualifier == "Q4":
            identity.prior_member_id = value


def _read_address(segment: Segment, state: _State) -> None:
    holder: Identity | Entity | None
    if state.entity is not None:
        holder = state.entity
    elif state.benefit is None:
        holder = state.identity
    else:
        holder = None
    if holder is None:
        return
    address = holder.address or Address()
    if segment.id == "N3":
        address.line1, address.line2 = segment.get(1), segment.get(2)
    else:
        address.city, address.state = segment.get(1), segment.get(2)
        address.postal_code, address.country = segment.get(3), segment.get(4)
    holder.address = address


def _read_dtp(segment: Segment, state: _State, response: EligibilityResponse) -> None:
    qualifier = segment.get(1)
    value = _date_value(segment.get(2), segment.get(3), segment, response.warnings)
    if not value:
        return
    name = codes.DATE_QUALIFIERS.get(qualifier, f"date_{qualifier}")
    if state.entity is not None and state.in_2120:
        state.entity.dates[name] = value
    elif state.benefit is not None:
        state.benefit.dates[name] = value
    elif state.identity is not None:
        state.identity.dates[name] = value


def _collect_related(response: EligibilityResponse) -> None:
    patient = response.patient
    response.dates = dict(patient.dates) if patient is not None else {}
    for benefit in response.benefits:
        if benefit.info == "R":
            payer = _entity_summary(benefit)
            payer.update(
                insurance_type=benefit.insurance_type,
                plan=benefit.plan,
                coverage_level=benefit.coverage_level,
                service_types=list(benefit.service_types),
                references={**benefit.references, **payer.pop("entity_references")},
            )
            response.other_payers.append(payer)
        elif benefit.info == "L" and response.pcp is None:
            pcp = _entity_summary(benefit)
            pcp["references"] = pcp.pop("entity_references")
            response.pcp = pcp


def _entity_summary(benefit: Benefit) -> dict[str, Any]:
    entity = benefit.entities[0] if benefit.entities else None
    return {
        "loop": benefit.loop,
        "entity_code": entity.entity_code if entity else "",
        "name": entity.name if entity else "",
        "first_name": entity.first_name if entity else "",
        "id_qualifier": entity.id_qualifier if entity else "",
        "id": entity.id if entity else "",
        "dates": {**benefit.dates, **(entity.dates if entity else {})},
        "messages": list(benefit.messages),
        "entity_references": dict(entity.references) if entity else {},
    }


def _status_271(response: EligibilityResponse, service_type: str | None) -> str:
    # AAA on a whole level (payer, provider, subscriber, dependent) means no coverage answer;
    # AAA in a 2110 loop only refuses one service type, and the other rows still stand.
    if any(not r.loop.startswith("2110") for r in response.rejections):
        return "rejected"
    status = coverage_status(response, service_type)
    if status == "unknown" and response.rejections:
        return "rejected"
    if any(b.info == "V" for b in response.patient_benefits) and status == "unknown":
        response.warnings.append("the payer answered that it cannot process the inquiry (EB01=V)")
    return status


# --- 999 and TA1 --------------------------------------------------------------------------------


def _read_999(segments: list[Segment], delimiters: Delimiters, response: EligibilityResponse) -> None:
    acknowledgment: dict[str, Any] = {"type": "999", "transaction_sets": []}
    current: dict[str, Any] | None = None
    segment_id = ""
    for segment in segments:
        kind = segment.id
        if kind == "AK1":
            acknowledgment.update(
                functional_id=segment.get(1), group_control_number=segment.get(2), version=segment.get(3)
            )
        elif kind == "AK2":
            current = {"transaction_set_id": segment.get(1), "control_number": segment.get(2), "status": ""}
            acknowledgment["transaction_sets"].append(current)
        elif kind in ("IK3", "AK3"):
            segment_id = segment.get(1)
            code = segment.get(4)
            description = codes.SEGMENT_ERRORS.get(code, "segment error")
            response.rejections.append(
                Rejection(
                    loop=segment.get(3),
                    code=code,
                    follow_up=None,
                    message=f"{segment_id} segment at position {_digits(segment.get(2))}: {description}",
                )
            )
        elif kind in ("IK4", "AK4"):
            # IK404 holds a copy of the bad data, which may be PHI: it is never read.
            position = segment.get(1).replace(delimiters.component, ".")
            code = segment.get(3)
            description = codes.ELEMENT_ERRORS.get(code, "element error")
            response.rejections.append(
                Rejection(
                    loop=response.rejections[-1].loop if response.rejections else "",
                    code=code,
                    follow_up=None,
                    message=f"{segment_id} element {position} (data element {segment.get(2)}): {description}",
                )
            )
        elif kind in ("IK5", "AK5"):
            status = segment.get(1)
            if current is not None:
                current["status"] = status
            for code in (segment.get(i) for i in range(2, 7)):
                if code:
                    response.rejections.append(
                        Rejection(
                            loop="ST",
                            code=code,
                            follow_up=None,
                            message=f"Transaction set: {codes.SET_ERRORS.get(code, 'transaction set error')}",
                        )
                    )
        elif kind == "AK9":
            acknowledgment.update(
                status=segment.get(1),
                included=segment.get(2),
                received=segment.get(3),
                accepted=segment.get(4),
            )
            for code in (segment.get(i) for i in range(5, 10)):
                if code:
                    response.rejections.append(
                        Rejection(
                            loop="GS",
                            code=code,
                            follow_up=None,
                            message=f"Functional group: {codes.GROUP_ERRORS.get(code, 'functional group error')}",
                        )
                    )
    set_statuses = [s["status"] for s in acknowledgment["transaction_sets"] if s["status"]]
    if set_statuses:
        accepted = all(s in codes.ACCEPTED_STATUSES for s in set_statuses)
    else:
        accepted = acknowledgment.get("status") in codes.ACCEPTED_STATUSES
    group_status = acknowledgment.get("status", "")
    acknowledgment["status_message"] = codes.ACK_STATUSES.get(group_status, "")
    response.acknowledgment = acknowledgment
    response.accepted = accepted
    # An accepted 999 only says the 270 was well formed; coverage comes in a later 271.
    response.status = "unknown" if accepted else "rejected"


def _read_ta1(segment: Segment, response: EligibilityResponse) -> None:
    ack, note = segment.get(4), segment.get(5)
    response.acknowledgment = {
        "type": "TA1",
        "interchange_control_number": segment.get(1).strip(),
        "date": segment.get(2),
        "time": segment.get(3),
        "status": ack,
        "status_message": codes.TA1_ACKNOWLEDGMENTS.get(ack, "unknown acknowledgment code"),
        "note_code": note,
        "note_message": codes.TA1_NOTES.get(note, "unknown note code"),
    }
    response.accepted = ack in ("A", "E")
    if note and note != "000":
        response.rejections.append(
            Rejection(
                loop="ISA",
                code=note,
                follow_up=None,
                message=f"Interchange {response.acknowledgment['status_message']}: "
                f"{response.acknowledgment['note_message']}",
            )
        )
    response.status = "rejected" if ack == "R" else "unknown"


# --- values -------------------------------------------------------------------------------------


def _yes_no(value: str) -> bool | None:
    return {"Y": True, "N": False}.get(value)


def _decimal(value: str, segment: Segment, warnings: list[str]) -> Decimal | None:
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        warnings.append(f"{segment.id} at segment {segment.position} has a number that could not be read")
        return None
    return number


def _cents(value: str, segment: Segment, warnings: list[str]) -> int | None:
    number = _decimal(value, segment, warnings)
    return None if number is None else int((number * 100).to_integral_value())


def _percent(value: str, segment: Segment, warnings: list[str]) -> float | None:
    number = _decimal(value, segment, warnings)
    # EB08 is a fraction (.2 means 20%).
    return None if number is None else float(number * 100)


def _number(value: str, segment: Segment, warnings: list[str]) -> float | None:
    number = _decimal(value, segment, warnings)
    return None if number is None else float(number)


def _date(value: str, segment: Segment, warnings: list[str]) -> str:
    try:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date().isoformat()  # noqa: DTZ007 - a date only
    except ValueError:
        warnings.append(f"{segment.id} at segment {segment.position} has a date that could not be read")
        return ""


def _date_value(form: str, value: str, segment: Segment, warnings: list[str]) -> str:
    if form == "RD8" and "-" in value:
        start, end = value.split("-", 1)
        first, last = _date(start, segment, warnings), _date(end, segment, warnings)
        return f"{first}/{last}" if first and last else ""
    if form in ("D8", "DT"):
        return _date(value, segment, warnings)
    warnings.append(f"{segment.id} at segment {segment.position} has an unknown date format")
    return ""


def _hsd(segment: Segment) -> dict[str, str]:
    names = (
        "quantity_qualifier",
        "quantity",
        "unit",
        "sample_selection_modulus",
        "time_period",
        "periods",
        "delivery_frequency",
        "delivery_pattern",
    )
    return {name: segment.get(i) for i, name in enumerate(names, start=1) if segment.get(i)}
