"""Wire conventions: headers on every answer, list envelopes, arrays, error bodies, and type drift."""

from __future__ import annotations

import re

import requests

from tests.sandbox.conftest import Athena, Control


def test_every_answer_carries_request_id_and_daily_quota(athena: Athena) -> None:
    first = athena.get("/departments")
    second = athena.get("/providers")

    for response in (first, second):
        assert re.fullmatch(r"rrt-\d+-a-gea1-\d+-\d+-1", response.headers["X-Request-Id"])
        assert response.headers["X-RateLimit-Limit"] == "50000"
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    assert int(first.headers["X-RateLimit-Remaining"]) - 1 == int(second.headers["X-RateLimit-Remaining"])


def test_departments_are_the_fifteen_clinics_with_athena_keys(athena: Athena, control: Control) -> None:
    body = athena.get("/departments").json()
    by_id = {item["departmentid"]: item for item in body["departments"]}

    assert body["totalcount"] == 15
    assert by_id["1"]["name"] == "Harbor Family Medicine"
    assert by_id["236"]["city"] == "Honolulu"
    assert by_id["195"]["doesnotobservedst"] is True
    assert by_id["1"]["timezonename"] == "US/Eastern"
    assert by_id["162"]["timezoneoffset"] == -6
    control.configure(timezonename_style="iana")
    iana = athena.get("/departments/236").json()
    assert iana[0]["timezonename"] == "Pacific/Honolulu"


def test_providers_have_valid_npis(athena: Athena) -> None:
    providers = athena.get("/providers", {"limit": 100}).json()["providers"]

    def luhn_ok(npi: str) -> bool:
        total = 0
        for index, char in enumerate(reversed("80840" + npi)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        return total % 10 == 0

    assert 30 <= len(providers) <= 60
    assert all(luhn_ok(str(provider["npi"])) for provider in providers)
    assert {"71", "86"} <= {provider["providerid"] for provider in providers}


def test_pagination_limit_offset_and_next(athena: Athena) -> None:
    body = athena.get("/departments", {"limit": 4, "offset": 4}).json()

    assert [item["departmentid"] for item in body["departments"]] == ["148", "150", "157", "162"]
    assert body["next"] == "/v1/195900/departments?limit=4&offset=8"
    assert body["previous"] == "/v1/195900/departments?limit=4&offset=0"


def test_upper_case_parameter_names_are_accepted(athena: Athena) -> None:
    body = athena.get("/patients", {"DEPARTMENTID": "21", "LIMIT": "3"}).json()

    assert len(body["patients"]) == 3
    assert all(patient["departmentid"] == "21" for patient in body["patients"])


def test_unknown_paths_and_ids_answer_404_with_an_error_key(athena: Athena) -> None:
    unknown = athena.get("/nothing-here")
    missing = athena.get("/patients/1")
    other_practice = requests.get(f"{athena.base_url}/v1/1/departments", headers=athena._headers(), timeout=5)

    assert unknown.status_code == 404 and "error" in unknown.json()
    assert missing.status_code == 404 and "error" in missing.json()
    assert other_practice.status_code == 404


def test_error_bodies_can_start_with_blank_lines(athena: Athena, control: Control) -> None:
    control.configure(errors={"blank_lines": 2})

    response = athena.post("/patients", {"departmentid": "1"})

    assert response.status_code == 400
    assert response.text.startswith("\n\n{")
    assert athena.get("/ping").text == '{"pong":"true"}'


def test_modern_types_are_real_booleans_and_numbers(athena: Athena) -> None:
    kinds = athena.get("/appointmenttypes").json()["appointmenttypes"]
    slot = athena.get(
        "/appointments/open", {"departmentid": "1", "appointmenttypeid": "2", "bypassscheduletimechecks": "true"}
    ).json()["appointments"][0]

    office = next(kind for kind in kinds if kind["appointmenttypeid"] == "2")
    assert office["duration"] == 15
    assert office["patient"] is True
    assert isinstance(slot["appointmentid"], int)
    assert slot["departmentid"] == "1"  # ids stay strings


def test_legacy_types_are_strings(athena: Athena, control: Control) -> None:
    control.configure(type_drift="legacy")
    insured = control.records("insurances", cancelled="false")["insurances"][0]

    listing = athena.get("/appointmenttypes").json()
    kinds = listing["appointmenttypes"]
    slot = athena.get(
        "/appointments/open", {"departmentid": "1", "appointmenttypeid": "2", "bypassscheduletimechecks": "true"}
    ).json()["appointments"][0]
    insurance = athena.get(f"/patients/{insured['patientid']}/insurances").json()["insurances"][0]
    update = athena.put(
        f"/patients/{insured['patientid']}/insurances/{insurance['insuranceid']}", {"policynumber": "GRP00001"}
    ).json()

    office = next(kind for kind in kinds if kind["appointmenttypeid"] == "2")
    assert office["duration"] == "15"
    assert office["patient"] == "true"
    assert office["generic"] == "false"
    assert listing["totalcount"] == len(kinds)  # still a number, as in the 2016 recordings
    assert slot["appointmentid"] == str(int(slot["appointmentid"]))
    assert insurance["sequencenumber"] == "1"
    assert update == {"success": "true", "message": ""}
    # The token endpoint does not drift: expires_in is a string in both modes anyway.
    assert athena.fetch_token().json()["expires_in"] == "3600"
