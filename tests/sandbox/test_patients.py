"""Patients: validation, silent best-match on create, arrays for single GETs, search, enhanced best match."""

from __future__ import annotations

from typing import Any

from tests.sandbox.conftest import Athena, Control

NEW_PATIENT = {
    "firstname": "Quinn",
    "lastname": "Testwell",
    "dob": "04/12/1987",
    "departmentid": "1",
    "mobilephone": "617-555-0142",
    "email": "quinn.testwell@example.test",
    "zip": "02110",
}


def create(athena: Athena, **overrides: Any) -> Any:
    return athena.post("/patients", {**NEW_PATIENT, **overrides})


def test_create_with_missing_fields_names_them(athena: Athena) -> None:
    response = athena.post("/patients", {"departmentid": "1", "email": "someone@example.test"})

    assert response.status_code == 400
    assert response.json() == {
        "invalidfields": [],
        "missingfields": ["lastname", "dob", "firstname"],
        "error": "Additional fields are required.",
    }


def test_create_needs_one_contact_field(athena: Athena) -> None:
    fields = {key: NEW_PATIENT[key] for key in ("firstname", "lastname", "dob", "departmentid")}

    response = athena.post("/patients", fields)

    assert response.status_code == 400
    assert response.json()["error"] == "Additional fields are required."
    assert "mobilephone" in response.json()["detailedmessage"]


def test_create_with_a_bad_dob_is_improper(athena: Athena) -> None:
    response = create(athena, dob="1987-04-12")

    assert response.status_code == 400
    assert response.json() == {"error": "Improper DOB."}


def test_create_answers_an_array_and_get_returns_the_patient(athena: Athena) -> None:
    response = create(athena)

    assert response.status_code == 200
    [created] = response.json()
    got = athena.get(f"/patients/{created['patientid']}")
    assert isinstance(got.json(), list)
    patient = got.json()[0]
    assert patient["firstname"] == "Quinn"
    assert patient["mobilephone"] == "6175550142"
    assert patient["dob"] == "04/12/1987"


def test_create_silently_returns_the_existing_patient_on_a_match(athena: Athena, control: Control) -> None:
    first = create(athena).json()[0]["patientid"]
    before = control.records("patients")["count"]

    again = create(athena, firstname="QUINN", email="other@example.test")

    assert again.status_code == 200
    assert again.json() == [{"patientid": first}]
    assert control.records("patients")["count"] == before
    assert control.records("patients")["duplicates"] == []


def test_bypass_matching_creates_a_duplicate_the_records_show(athena: Athena, control: Control) -> None:
    first = create(athena).json()[0]["patientid"]

    second = create(athena, bypasspatientmatching="true").json()[0]["patientid"]

    assert second != first
    groups = control.records("patients")["duplicates"]
    assert {
        "firstname": "quinn",
        "lastname": "testwell",
        "dob": "1987-04-12",
        "count": 2,
        "patientids": [first, second],
    } in groups


def test_match_needs_a_shared_contact_field_by_default(athena: Athena, control: Control) -> None:
    first = create(athena).json()[0]["patientid"]

    stranger = create(athena, mobilephone="6175550199", email="", zip="98101").json()[0]["patientid"]
    control.configure(patients={"match_requires_contact": False})
    loose = create(athena, mobilephone="6175550198", email="", zip="98101").json()[0]["patientid"]

    assert stranger != first
    assert loose == first


def test_showerrormessage_reports_the_match(athena: Athena) -> None:
    create(athena)

    response = create(athena, showerrormessage="true")

    assert "errormessage" in response.json()[0]


def test_update_changes_fields_and_answers_the_id(athena: Athena) -> None:
    patientid = create(athena).json()[0]["patientid"]

    response = athena.put(f"/patients/{patientid}", {"homephone": "(617) 555-0177", "address1": "1 Test Way"})

    assert response.status_code == 200
    assert response.json() == [{"patientid": patientid}]
    patient = athena.get(f"/patients/{patientid}").json()[0]
    assert patient["homephone"] == "6175550177"
    assert patient["address1"] == "1 Test Way"
    assert athena.put("/patients/99999999", {"homephone": "6175550177"}).status_code == 404


def test_get_with_showinsurance_includes_insurances_and_masks_ssn(athena: Athena, control: Control) -> None:
    insured = control.records("insurances", cancelled="false")["insurances"][0]["patientid"]
    with_ssn = next(item for item in control.records("patients", full="true")["patients"] if item["data"].get("ssn"))

    plain = athena.get(f"/patients/{insured}").json()[0]
    shown = athena.get(f"/patients/{insured}", {"showinsurance": "true"}).json()[0]
    masked = athena.get(f"/patients/{with_ssn['patientid']}").json()[0]["ssn"]
    full = athena.get(f"/patients/{with_ssn['patientid']}", {"showfullssn": "true"}).json()[0]["ssn"]

    assert "insurances" not in plain
    assert shown["insurances"] and shown["insurances"][0]["sequencenumber"] == 1
    assert masked.startswith("*****") and len(masked) == 9
    assert full.isdigit() and full.endswith(masked[-4:])


def test_list_search_pages_with_next_links(athena: Athena) -> None:
    first = athena.get("/patients", {"departmentid": "1"})
    body = first.json()

    assert first.status_code == 200
    assert len(body["patients"]) == 10  # athena's default page for /patients
    assert body["totalcount"] > 10
    assert body["next"].startswith("/v1/195900/patients?")
    assert "offset=10" in body["next"]
    following = athena.get(body["next"].removeprefix("/v1/195900")).json()
    assert following["patients"][0]["patientid"] != body["patients"][0]["patientid"]
    assert "previous" in following


def test_enhanced_best_match_scores_and_missing_fields(athena: Athena) -> None:
    patientid = create(athena).json()[0]["patientid"]

    missing = athena.get("/patients/enhancedbestmatch", {"lastname": "Testwell", "dob": "04/12/1987"})
    bad_date = athena.get(
        "/patients/enhancedbestmatch", {"firstname": "Quinn", "lastname": "Testwell", "dob": "01/01/   1"}
    )
    name_dob = athena.get(
        "/patients/enhancedbestmatch", {"firstname": "Quinn", "lastname": "Testwell", "dob": "04/12/1987"}
    ).json()
    with_phone = athena.get(
        "/patients/enhancedbestmatch",
        {"firstname": "Quinn", "lastname": "Testwell", "dob": "04/12/1987", "mobilephone": "6175550142"},
    ).json()

    assert missing.status_code == 400
    assert missing.json() == {"missingfields": ["firstname"], "error": "Additional fields are required."}
    assert bad_date.status_code == 400 and bad_date.json()["error"] == "The data provided is invalid."
    assert isinstance(name_dob, list)
    assert name_dob[0]["patientid"] == patientid
    assert name_dob[0]["score"] == 23
    assert with_phone[0]["score"] >= 26


def test_patient_search_by_term(athena: Athena) -> None:
    patientid = create(athena).json()[0]["patientid"]

    by_name = athena.get("/patients/search", {"searchterm": "Testwell, Quinn"}).json()
    by_phone = athena.get("/patients/search", {"searchterm": "6175550142"}).json()

    assert [item["patientid"] for item in by_name["patients"]] == [patientid]
    assert patientid in [item["patientid"] for item in by_phone["patients"]]
