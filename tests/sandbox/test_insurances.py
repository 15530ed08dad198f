"""Insurances (sequence rules, holder fields, cancel), card images, benefit details with a raw 271."""

from __future__ import annotations

import base64
from typing import Any

from sandbox import x12
from tests.sandbox.conftest import Athena, Control

HOLDER = {
    "insurancepolicyholderfirstname": "Quinn",
    "insurancepolicyholderlastname": "Testwell",
    "insurancepolicyholdersex": "F",
    "insurancepolicyholderdob": "04/12/1987",
}


def uninsured_patient(control: Control) -> str:
    insured = {item["patientid"] for item in control.records("insurances")["insurances"]}
    return next(
        item["patientid"] for item in control.records("patients")["patients"] if item["patientid"] not in insured
    )


def add(athena: Athena, patientid: str, **fields: Any) -> Any:
    body = {"insurancepackageid": "1001", "sequencenumber": "1", "insuranceidnumber": "EXH000000001", **HOLDER}
    body.update(fields)
    return athena.post(f"/patients/{patientid}/insurances", body)


def test_create_answers_an_array_with_the_insurance(athena: Athena, control: Control) -> None:
    patientid = uninsured_patient(control)

    response = add(athena, patientid, policynumber="GRP12345")

    assert response.status_code == 200
    [insurance] = response.json()
    assert insurance["insurancepackageid"] == "1001"
    assert insurance["insuranceplanname"] == "EXAMPLE HEALTH PLAN PPO"
    assert insurance["sequencenumber"] == 1
    assert insurance["insurancepolicyholder"] == "QUINN TESTWELL"
    listed = athena.get(f"/patients/{patientid}/insurances").json()
    assert listed["totalcount"] == 1
    assert listed["insurances"][0]["insuranceid"] == insurance["insuranceid"]


def test_required_fields_and_primary_before_secondary(athena: Athena, control: Control) -> None:
    patientid = uninsured_patient(control)

    no_package = athena.post(f"/patients/{patientid}/insurances", {"sequencenumber": "1", **HOLDER})
    no_holder = athena.post(f"/patients/{patientid}/insurances", {"insurancepackageid": "1001", "sequencenumber": "1"})
    secondary_first = add(athena, patientid, sequencenumber="2")
    self_pay = athena.post(f"/patients/{patientid}/insurances", {"insurancepackageid": "1099", "sequencenumber": "1"})

    assert no_package.status_code == 400 and no_package.json()["missingfields"] == ["insurancepackageid"]
    assert no_holder.status_code == 400
    assert set(no_holder.json()["missingfields"]) == set(HOLDER)
    assert secondary_first.status_code == 400
    assert "primary" in secondary_first.json()["detailedmessage"]
    assert self_pay.status_code == 200  # no policy holder for self-pay


def test_a_retried_create_makes_a_duplicate_nothing_deduplicates(athena: Athena, control: Control) -> None:
    patientid = uninsured_patient(control)
    add(athena, patientid)
    add(athena, patientid)

    duplicates = control.records("insurances", patientid=patientid)["duplicates"]

    assert duplicates[0]["count"] == 2
    assert duplicates[0]["insuranceidnumber"] == "EXH000000001"
    control.configure(insurances={"duplicate_sequence": "reject"})
    assert add(athena, patientid).status_code == 400


def test_update_and_delete_answer_success_and_cancel(athena: Athena, control: Control) -> None:
    patientid = uninsured_patient(control)
    insuranceid = add(athena, patientid).json()[0]["insuranceid"]

    updated = athena.put(f"/patients/{patientid}/insurances/{insuranceid}", {"insuranceidnumber": "EXH000000002"})
    deleted = athena.delete(f"/patients/{patientid}/insurances/{insuranceid}")

    assert updated.json() == {"success": True, "message": ""}
    assert deleted.json() == {"success": True, "message": ""}
    assert athena.get(f"/patients/{patientid}/insurances").json()["insurances"] == []
    shown = athena.get(f"/patients/{patientid}/insurances", {"showcancelled": "true"}).json()["insurances"]
    assert shown[0]["insuranceidnumber"] == "EXH000000002"
    assert shown[0]["cancelled"]


def test_card_image_round_trip_and_404_when_none(athena: Athena, control: Control) -> None:
    patientid = uninsured_patient(control)
    insuranceid = add(athena, patientid).json()[0]["insuranceid"]
    path = f"/patients/{patientid}/insurances/{insuranceid}/image"
    image = base64.b64encode(b"synthetic card front").decode()

    before = athena.get(path)
    posted = athena.post(path, {"image": image})
    fetched = athena.get(path)
    removed = athena.delete(path)
    after = athena.get(path)

    assert before.status_code == 404
    assert posted.json() == {"success": True}
    assert fetched.json() == {"image": image}
    assert removed.json() == {"success": True}
    assert after.status_code == 404


def _member(control: Control, case: str) -> dict[str, Any]:
    return control.records("insurances", eligibility=case, cancelled="false")["insurances"][0]


def test_benefit_details_404_before_a_check_then_a_raw_271(athena: Athena, control: Control) -> None:
    member = _member(control, "active")
    path = f"/patients/{member['patientid']}/insurances/{member['insuranceid']}/benefitdetails"

    before = athena.get(path)
    triggered = athena.post(path, {"servicetypecode": "30", "dateofservice": "01/15/2026"})
    details = athena.get(path)

    assert before.status_code == 404
    assert triggered.json() == {"success": True}
    body = details.json()
    assert set(body) == {"ansi271", "dateofservice", "lastcheckdate"}
    assert body["dateofservice"] == "01/15/2026"
    segments = x12.segments_of(body["ansi271"])
    assert any(segment.startswith("EB*1*IND*30*") for segment in segments)
    assert any(
        segment.startswith("NM1*IL*1*") and segment.endswith(member["insuranceidnumber"]) for segment in segments
    )
    insurance = athena.get(f"/patients/{member['patientid']}/insurances").json()["insurances"]
    checked = next(item for item in insurance if item["insuranceid"] == member["insuranceid"])
    assert checked["eligibilitystatus"] == "Eligible"


def test_benefit_details_follow_the_member_case(athena: Athena, control: Control) -> None:
    expectations = {
        "inactive": "EB*6*IND*30",
        "reject72": "AAA*N**72*C",
        "reject75": "AAA*N**75*C",
        "cob": "EB*R*IND*30",
    }
    for case, marker in expectations.items():
        member = _member(control, case)
        path = f"/patients/{member['patientid']}/insurances/{member['insuranceid']}/benefitdetails"
        athena.post(path)
        segments = x12.segments_of(athena.get(path).json()["ansi271"])
        assert marker in segments, (case, segments)
