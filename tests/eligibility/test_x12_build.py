"""The 270 builder: every shape it writes is valid X12 by pyx12, and bad input is refused by field."""

from __future__ import annotations

import copy
import datetime as dt
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eligibility.x12 import (
    EnvelopeOptions,
    RequestValidationError,
    build_270,
    detect_delimiters,
    npi_is_valid,
    parse_response,
    request_from_dict,
)
from eligibility.x12.codes import SERVICE_TYPE_CODES
from eligibility.x12.syntax import split_segments
from tests.eligibility.conftest import SHARED_X12, needs_shared

CREATED = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)
BASE_REQUEST: dict[str, Any] = {
    "payer": {"name": "Example Health Plan", "id": "EX001"},
    "provider": {"name": "Sample Family Medicine", "npi": "1999999984"},
    "subscriber": {
        "first_name": "Jane",
        "last_name": "Doe",
        "member_id": "ZZX123456789",
        "dob": "1980-02-14",
        "gender": "F",
        "group_number": "GRP00042",
    },
    "dependent": None,
    "service_types": ["30"],
    "date_of_service": "2026-01-15",
}


def options(**overrides: Any) -> EnvelopeOptions:
    values: dict[str, Any] = {
        "sender_id": "HUBCLINIC",
        "receiver_id": "PAYERSIM",
        "control_number": 100,
        "trace_number": "HUB-TRN-0001",
        "originator_id": "9123456789",
        "created_at": CREATED,
        "reference": "HUB-REQ-0001",
    }
    values.update(overrides)
    return EnvelopeOptions(**values)


def request(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE_REQUEST)
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return data


def segments_of(text: str) -> list[tuple[str, ...]]:
    return [s.elements for s in split_segments(text)[1]]


DEPENDENT = {"first_name": "Sam", "last_name": "Doe", "dob": "2015-06-01", "gender": "M", "relationship": "child"}

SHAPES = {
    "subscriber": request(),
    "subscriber without group, gender or date": request(
        subscriber__group_number=None, subscriber__gender=None, date_of_service=None
    ),
    "several service types": request(service_types=["30", "98", "MH", "UC", "AL", "BZ"]),
    "dependent in 2000D": request(dependent=DEPENDENT),
    "dependent without group": request(dependent=DEPENDENT, subscriber__group_number=None),
    "dependent with own member id": request(dependent={**DEPENDENT, "member_id": "DEP55501"}),
    "spouse, unknown gender": request(dependent={**DEPENDENT, "relationship": "spouse", "gender": "U"}),
}


@needs_shared
@pytest.mark.parametrize("real_time", [False, True], ids=["batch", "bht06-rt"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_270_shape_passes_pyx12(shape: str, real_time: bool, pyx12_errors: Callable[[str], list[str]]) -> None:
    built = build_270(request_from_dict(SHAPES[shape]), options(real_time=real_time, production=real_time))
    assert pyx12_errors(built.text) == []


def test_reference_example_is_reproduced_exactly() -> None:
    built = build_270(
        request_from_dict(request(subscriber__group_number=None)),
        options(acknowledgment_requested=True),
        line_breaks=True,
    )
    assert built.text.splitlines() == [
        "ISA*00*          *00*          *ZZ*HUBCLINIC      *ZZ*PAYERSIM       *260115*0930*^*00501*000000100*1*T*:~",
        "GS*HS*HUBCLINIC*PAYERSIM*20260115*0930*100*X*005010X279A1~",
        "ST*270*0001*005010X279A1~",
        "BHT*0022*13*HUB-REQ-0001*20260115*0930~",
        "HL*1**20*1~",
        "NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*EX001~",
        "HL*2*1*21*1~",
        "NM1*1P*2*SAMPLE FAMILY MEDICINE*****XX*1999999984~",
        "HL*3*2*22*0~",
        "TRN*1*HUB-TRN-0001*9123456789~",
        "NM1*IL*1*DOE*JANE****MI*ZZX123456789~",
        "DMG*D8*19800214*F~",
        "DTP*291*D8*20260115~",
        "EQ*30~",
        "SE*13*0001~",
        "GE*1*100~",
        "IEA*1*000000100~",
    ]


def test_envelope_counts_and_control_numbers_match() -> None:
    built = build_270(
        request_from_dict(request(dependent=DEPENDENT, service_types=["30", "98", "UC"])),
        options(control_number=4711, transaction_control_number=23),
    )
    segments = segments_of(built.text)
    isa, gs, st_, se, ge, iea = (
        segments[0],
        segments[1],
        segments[2],
        segments[-3],
        segments[-2],
        segments[-1],
    )
    assert len(built.text.split("~")[0] + "~") == 106
    assert isa[13] == iea[2] == "000004711" == built.interchange_control_number
    assert gs[6] == ge[2] == "4711"
    assert st_[2] == se[2] == "0023"
    assert st_[3] == gs[8] == "005010X279A1"
    assert int(se[1]) == len(segments) - 4  # ST..SE inclusive: all but ISA, GS, GE, IEA
    assert ge[1] == iea[1] == "1"


def test_subscriber_patient_has_no_2000d_and_the_dependent_patient_has_one() -> None:
    subscriber_only = segments_of(build_270(request_from_dict(request()), options()).text)
    assert [s for s in subscriber_only if s[0] == "HL"][-1] == ("HL", "3", "2", "22", "0")
    assert ("REF", "6P", "GRP00042") in subscriber_only
    assert ("DTP", "291", "D8", "20260115") in subscriber_only

    with_dependent = segments_of(build_270(request_from_dict(request(dependent=DEPENDENT)), options()).text)
    ids = [s[0] for s in with_dependent]
    assert ("HL", "3", "2", "22", "1") in with_dependent
    assert ("HL", "4", "3", "23", "0") in with_dependent
    assert ("NM1", "03", "1", "DOE", "SAM") in with_dependent
    assert ("INS", "N", "19") in with_dependent
    # Trace, date and EQ belong to the patient's loop, after the 2000D HL.
    assert ids.index("TRN") > with_dependent.index(("HL", "4", "3", "23", "0"))
    assert ids.index("EQ") > ids.index("INS")


def test_dependent_with_own_member_id_is_sent_as_the_subscriber() -> None:
    built = build_270(request_from_dict(request(dependent={**DEPENDENT, "member_id": "dep 555 01"})), options())
    segments = segments_of(built.text)
    assert not any(s[0] == "HL" and s[3] == "23" for s in segments)
    assert ("NM1", "IL", "1", "DOE", "SAM", "", "", "", "MI", "DEP55501") in segments
    assert ("DMG", "D8", "20150601", "M") in segments


def test_one_eq_per_service_type_without_duplicates_and_optional_bht06() -> None:
    built = build_270(request_from_dict(request(service_types=["30", "98", "uc", "98"])), options(real_time=True))
    segments = segments_of(built.text)
    assert [s for s in segments if s[0] == "EQ"] == [("EQ", "30"), ("EQ", "98"), ("EQ", "UC")]
    assert segments[3][-1] == "RT"
    assert segments[0][15] == "T"
    assert segments_of(build_270(request_from_dict(request()), options(production=True)).text)[0][15] == "P"


def test_names_are_upper_cased_trimmed_and_stripped_of_accents() -> None:
    built = build_270(
        request_from_dict(request(subscriber__first_name="  josé  maría ", subscriber__last_name="o'brien-núñez")),
        options(),
    )
    assert ("NM1", "IL", "1", "O'BRIEN-NUNEZ", "JOSE MARIA", "", "", "", "MI", "ZZX123456789") in segments_of(
        built.text
    )


def test_single_line_output_is_read_back_with_the_same_delimiters() -> None:
    built = build_270(request_from_dict(request()), options())
    assert "\n" not in built.text
    delimiters = detect_delimiters(built.text)
    assert (delimiters.element, delimiters.repetition, delimiters.component, delimiters.segment) == ("*", "^", ":", "~")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"provider__npi": "1999999985"}, "provider.npi"),
        ({"provider__npi": "19999999"}, "provider.npi"),
        ({"subscriber__dob": "02/14/1980"}, "subscriber.dob"),
        ({"subscriber__dob": "1980-02-30"}, "subscriber.dob"),
        ({"subscriber__dob": "2026-01-16"}, "subscriber.dob"),
        ({"date_of_service": "2026-13-01"}, "date_of_service"),
        ({"subscriber__gender": "Q"}, "subscriber.gender"),
        ({"subscriber__member_id": "ZZX*123"}, "subscriber.member_id"),
        ({"subscriber__member_id": "Z"}, "subscriber.member_id"),
        ({"subscriber__member_id": "X" * 31}, "subscriber.member_id"),
        ({"subscriber__member_id": None}, "subscriber.member_id"),
        ({"subscriber__last_name": "DOE~ST*999"}, "subscriber.last_name"),
        ({"subscriber__first_name": "JANE:ANN"}, "subscriber.first_name"),
        ({"subscriber__first_name": "JANE^"}, "subscriber.first_name"),
        ({"subscriber__first_name": ""}, "subscriber.first_name"),
        ({"subscriber__group_number": "GRP*1"}, "subscriber.group_number"),
        ({"payer__name": "ACME*PLAN"}, "payer.name"),
        ({"payer__id": "EX 0~1"}, "payer.id"),
        ({"service_types": ["ZZ"]}, "service_types[0]"),
        ({"service_types": []}, "service_types"),
        ({"dependent": {**DEPENDENT, "relationship": "cousin"}}, "dependent.relationship"),
        ({"dependent": {**DEPENDENT, "dob": None}}, "dependent.dob"),
        ({"subscriber__memberid": "X"}, "subscriber.memberid"),
    ],
)
def test_invalid_input_is_refused_with_the_field_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        request_from_dict(request(**changes))
    assert field in caught.value.fields
    message = str(caught.value)
    assert field in message
    # The value itself (PHI) never appears in the message.
    for value in changes.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in message


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(RequestValidationError) as caught:
        request_from_dict(request(provider__npi="123", subscriber__dob="yesterday", subscriber__gender="?"))
    assert caught.value.fields == ["provider.npi", "subscriber.dob", "subscriber.gender"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"control_number": 0}, "envelope.control_number"),
        ({"control_number": 1_000_000_000}, "envelope.control_number"),
        ({"originator_id": "8123456789"}, "envelope.originator_id"),
        ({"originator_id": "912345"}, "envelope.originator_id"),
        ({"sender_id": "A" * 16}, "envelope.sender_id"),
        ({"sender_qualifier": "XX"}, "envelope.sender_qualifier"),
        ({"trace_number": "TRN*1"}, "envelope.trace_number"),
        ({"reference": "REF~"}, "envelope.reference"),
    ],
)
def test_invalid_envelope_options_are_refused(override: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        build_270(request_from_dict(request()), options(**override))
    assert caught.value.fields == [field]


def test_npi_check_digit_uses_the_80840_prefix() -> None:
    assert npi_is_valid("1999999984")
    assert npi_is_valid("1234567893")
    assert not npi_is_valid("1234567890")
    assert not npi_is_valid("123456789")
    assert not npi_is_valid("12345678\uff193")  # a full-width digit is not a digit here


def test_control_numbers_come_from_the_callers_counter() -> None:
    numbers = iter([41, 42])
    first = EnvelopeOptions.from_counter(
        lambda: next(numbers),
        sender_id="HUBCLINIC",
        receiver_id="PAYERSIM",
        trace_number="T1",
        originator_id="9123456789",
        created_at=CREATED,
    )
    built = build_270(request_from_dict(request()), first)
    assert built.interchange_control_number == "000000041"
    assert built.group_control_number == "41"
    assert built.reference == "HUB000000041"


def test_a_built_270_reads_back_as_the_same_request_identity() -> None:
    built = build_270(request_from_dict(request(dependent=DEPENDENT)), options())
    # The reader refuses a 270 (it only reads answers), naming the set found rather than its content.
    with pytest.raises(ValueError, match="270"):
        parse_response(built.text)


def _valid_names() -> st.SearchStrategy[str]:
    letters = st.text(alphabet=string.ascii_letters, min_size=1, max_size=10)
    return st.lists(letters, min_size=1, max_size=3).map(" ".join)


def _valid_npis() -> st.SearchStrategy[str]:
    def with_check_digit(body: str) -> str:
        for digit in "0123456789":
            if npi_is_valid(body + digit):
                return body + digit
        raise AssertionError("no check digit")

    return st.text(alphabet="0123456789", min_size=9, max_size=9).map(lambda b: "1" + b[1:]).map(with_check_digit)


@st.composite
def valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    service_date = draw(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31)))
    born = draw(st.dates(min_value=dt.date(1920, 1, 1), max_value=service_date))
    dependent = None
    if draw(st.booleans()):
        dependent = {
            "first_name": draw(_valid_names()),
            "last_name": draw(_valid_names()),
            "dob": draw(st.dates(min_value=born, max_value=service_date)).isoformat(),
            "gender": draw(st.sampled_from(["F", "M", "U", "female", None])),
            "relationship": draw(st.sampled_from(["spouse", "child", "other", "19"])),
            "member_id": draw(st.one_of(st.none(), st.from_regex(r"\A[A-Z0-9]{2,30}\Z"))),
        }
    return {
        "payer": {"name": draw(_valid_names()), "id": draw(st.from_regex(r"\A[A-Z0-9]{2,10}\Z"))},
        "provider": {"name": draw(_valid_names()), "npi": draw(_valid_npis())},
        "subscriber": {
            "first_name": draw(_valid_names()),
            "last_name": draw(_valid_names()),
            "member_id": draw(st.from_regex(r"\A[A-Z0-9][A-Z0-9-]{1,29}\Z")),
            "dob": born.isoformat(),
            "gender": draw(st.sampled_from(["F", "M", "U", None])),
            "group_number": draw(st.one_of(st.none(), st.from_regex(r"\A[A-Z0-9]{1,30}\Z"))),
        },
        "dependent": dependent,
        "service_types": draw(st.lists(st.sampled_from(sorted(SERVICE_TYPE_CODES)), min_size=1, max_size=6)),
        "date_of_service": draw(st.one_of(st.none(), st.just(service_date.isoformat()))),
    }


@needs_shared
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=valid_requests(), control=st.integers(min_value=1, max_value=999_999_999), real_time=st.booleans())
def test_generated_valid_requests_build_270s_that_pass_pyx12(
    data: dict[str, Any], control: int, real_time: bool, pyx12_errors: Callable[[str], list[str]]
) -> None:
    built = build_270(request_from_dict(data), options(control_number=control, real_time=real_time))
    assert pyx12_errors(built.text) == []


@needs_shared
def test_our_service_type_list_is_the_guides_list() -> None:
    import re

    map_text = (SHARED_X12 / "pyx12-maps" / "270.5010.X279.A1.xml").read_text()
    eq01 = re.search(r'<element xid="EQ01">(.*?)</element>', map_text, re.S)
    assert eq01 is not None
    assert set(re.findall(r"<code>(.*?)</code>", eq01.group(1))) == SERVICE_TYPE_CODES
