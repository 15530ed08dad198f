"""The X12 271 writer and the clearinghouse look-alike (270 in; 271, 999 or TA1 out)."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from sandbox import x12
from tests.sandbox.conftest import Control

NOW = dt.datetime(2026, 1, 15, 9, 31, tzinfo=dt.UTC)


def member(case: str) -> x12.Member:
    return x12.Member(
        case=case,
        member_id="EXH123456789",
        last_name="Doe",
        first_name="Jane",
        dob=dt.date(1980, 2, 14),
        sex="F",
        group_number="GRP00042",
        plan_name="SILVER PPO 2500",
        insurance_type="Commercial",
        payer_name="EXAMPLE HEALTH PLAN",
        payer_id="EX001",
    )


def build(case: str) -> str:
    return x12.build_271(
        member=member(case),
        provider_name="SYNTHETIC MEDICAL GROUP",
        provider_npi="1999999984",
        reference="HUB-REQ-0001",
        trace="HUB-TRN-0001",
        trace_originator="9123456789",
        control=102,
        now=NOW,
    )


@pytest.mark.parametrize("case", x12.CASES)
def test_every_case_is_a_well_formed_interchange(case: str) -> None:
    text = build(case)
    segments = x12.segments_of(text)

    assert len(text.split("~")[0]) + 1 == 106
    assert segments[1].startswith("GS*HB*") and segments[1].endswith("*005010X279A1")
    start = next(index for index, segment in enumerate(segments) if segment.startswith("ST*271*"))
    end = next(index for index, segment in enumerate(segments) if segment.startswith("SE*"))
    assert segments[end] == f"SE*{end - start + 1}*0001"
    assert segments[start + 1].startswith("BHT*0022*11*HUB-REQ-0001*")
    assert "NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*EX001" in segments
    assert "NM1*IL*1*DOE*JANE****MI*EXH123456789" in segments
    assert "DMG*D8*19800214*F" in segments
    assert segments[-1] == "IEA*1*000000102"


def test_active_member_has_coverage_copay_deductible_and_coinsurance() -> None:
    segments = x12.segments_of(build("active"))

    assert "EB*1*IND*30*PR*SILVER PPO 2500" in segments
    assert "DTP*346*D8*20260101" in segments
    assert any(segment.startswith("EB*B*IND*98***27*") for segment in segments)
    assert any(segment.startswith("EB*C*IND*30***23*") for segment in segments)
    assert any(segment.startswith("EB*A*IND*98*****.") for segment in segments)  # EB08 = percent
    assert not any(segment.startswith("AAA") for segment in segments)


def test_the_other_cases_say_what_they_are() -> None:
    assert "EB*6*IND*30" in x12.segments_of(build("inactive"))
    rejected = x12.segments_of(build("reject72"))
    assert "AAA*N**72*C" in rejected and not any(segment.startswith("EB") for segment in rejected)
    assert "AAA*N**75*C" in x12.segments_of(build("reject75"))
    cob = x12.segments_of(build("cob"))
    assert cob[cob.index("EB*R*IND*30") + 1 : cob.index("EB*R*IND*30") + 4] == [
        "LS*2120",
        "NM1*PRP*2*SAMPLE MUTUAL INSURANCE*****PI*SM002",
        "LE*2120",
    ]
    auth = x12.segments_of(build("auth_required"))
    assert any(segment.startswith("EB*B*IND*98") and segment.endswith("*Y*Y") for segment in auth)


def request_270(member_id: str, last: str, first: str, dob: dt.date, **changes: str) -> str:
    text = x12.build_270(
        payer_name="EXAMPLE HEALTH PLAN",
        payer_id="",
        provider_name="SYNTHETIC MEDICAL GROUP",
        provider_npi="1999999984",
        member_id=member_id,
        last_name=last,
        first_name=first,
        dob=dob,
        sex="F",
        reference="HUB-REQ-0001",
        trace="HUB-TRN-0001",
        control=100,
        now=NOW,
    )
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def seeded_member(control: Control, case: str) -> tuple[str, str, str, dt.date]:
    insurance = control.records("insurances", eligibility=case, cancelled="false")["insurances"][0]
    patients = control.records("patients", full="true")["patients"]
    patient = next(item for item in patients if item["patientid"] == insurance["patientid"])
    data = patient["data"]
    month, day, year = (int(part) for part in data["dob"].split("/"))
    if data.get("guarantorrelationshiptopatient") == "3":  # a child insured through a parent
        month, day, year = (int(part) for part in data["guarantordob"].split("/"))
        return insurance["insuranceidnumber"], data["lastname"], data["guarantorfirstname"], dt.date(year, month, day)
    return insurance["insuranceidnumber"], data["lastname"], data["firstname"], dt.date(year, month, day)


def post_270(control: Control, text: str) -> requests.Response:
    return requests.post(
        f"{control.base_url}/_clearinghouse/270",
        data=text.encode(),
        headers={"Content-Type": "application/edi-x12"},
        timeout=5,
    )


def test_clearinghouse_answers_a_known_member_with_a_271(control: Control) -> None:
    member_id, last, first, dob = seeded_member(control, "active")

    response = post_270(control, request_270(member_id, last, first, dob))

    assert response.status_code == 200
    assert response.headers["X-Answer-Kind"] == "271"
    segments = x12.segments_of(response.text)
    assert any(segment.startswith("EB*1*IND*30") for segment in segments)
    assert "TRN*2*HUB-TRN-0001*9123456789" in segments
    assert control.requests(system="clearinghouse")[0]["status"] == 200


def test_clearinghouse_rejects_unknown_members_and_wrong_birth_dates(control: Control) -> None:
    member_id, last, first, dob = seeded_member(control, "active")

    unknown = post_270(control, request_270("EXH000000000", last, first, dob))
    wrong_dob = post_270(control, request_270(member_id, last, first, dob + dt.timedelta(days=1)))

    assert "AAA*N**75*C" in x12.segments_of(unknown.text)
    assert "AAA*N**71*C" in x12.segments_of(wrong_dob.text)


def test_unreadable_envelope_gets_a_ta1(control: Control) -> None:
    response = post_270(control, "ISA*00*short~GS*HS~")

    assert response.headers["X-Answer-Kind"] == "TA1"
    assert any(segment.startswith("TA1*") and "*R*" in segment for segment in x12.segments_of(response.text))


def test_structurally_broken_270_gets_a_999(control: Control) -> None:
    member_id, last, first, dob = seeded_member(control, "active")
    broken = request_270(member_id, last, first, dob, **{"SE*13*0001": "SE*99*0001", "EQ*30": "EQ*ZZ"})

    response = post_270(control, broken)

    assert response.headers["X-Answer-Kind"] == "999"
    segments = x12.segments_of(response.text)
    assert segments[2] == "ST*999*0001*005010X231A1"
    assert "IK4*1*1365*7*ZZ" in segments
    assert "AK9*R*1*1*0" in segments
    assert any(segment.startswith("IK5*R") for segment in segments)
