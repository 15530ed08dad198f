"""The control surface: configuration, edits, the request log, records, stats, reset and determinism."""

from __future__ import annotations

import requests

from sandbox.server import start_in_thread
from tests.sandbox.conftest import Athena, Control


def test_config_round_trip_and_unknown_keys_refused(control: Control) -> None:
    updated = control.configure(type_drift="legacy", faults={"rate": 0.1})
    bad_key = requests.put(f"{control.base_url}/_sandbox/config", json={"no_such_setting": 1}, timeout=5)
    bad_value = requests.put(f"{control.base_url}/_sandbox/config", json={"faults": {"rate": 3}}, timeout=5)
    bad_kind = requests.put(
        f"{control.base_url}/_sandbox/config", json={"faults": {"kinds": {"explode": 1}}}, timeout=5
    )

    assert updated["type_drift"] == "legacy"
    assert updated["faults"]["rate"] == 0.1
    assert updated["faults"]["kinds"] == {"hang_after": 8, "drop_after": 5, "slow": 4, "rate_limited": 3}
    assert control.get("/config")["type_drift"] == "legacy"
    for response in (bad_key, bad_value, bad_kind):
        assert response.status_code == 400
        assert "error" in response.json()


def test_request_log_records_every_call_with_route_and_ids(athena: Athena, control: Control) -> None:
    athena.get("/patients/5001")
    athena.put("/patients/5001", {"homephone": "6175550160"})
    requests.post(f"{athena.base_url}/_twilio/2010-04-01/Accounts/AC1/Messages.json", timeout=5)

    log = control.requests()
    routes = [(item["system"], item["method"], item["route"], item["status"]) for item in log]

    assert ("athena", "POST", "/oauth2/v1/token", 200) in routes
    assert ("athena", "GET", "/v1/{practiceid}/patients/{patientid}", 200) in routes
    assert ("athena", "PUT", "/v1/{practiceid}/patients/{patientid}", 200) in routes
    assert ("twilio", "POST", "/_twilio/2010-04-01/Accounts/{account_sid}/Messages.json", 401) in routes
    put = next(item for item in log if item["method"] == "PUT")
    assert put["patientid"] == "5001" and put["wrote"] is True and put["client_id"] == "hub-local-client"
    [event_id] = put["ids"]["events"]
    assert control.get("/webhooks", event_id=event_id)["by_status"] == {"suppressed": 1}
    assert put["request_id"].startswith("rrt-")
    assert control.requests(method="PUT") == [put]
    assert control.requests(since=put["seq"]) == [item for item in log if item["seq"] > put["seq"]]


def test_edits_change_athena_and_report_events(athena: Athena, control: Control) -> None:
    slot = next(item for item in control.records("appointments", status="f", departmentid="1")["appointments"])
    patient = control.edit(type="patient.update", patientid="5001", fields={"lastname": "Renamed"})
    moved = control.edit(type="appointment.update", appointmentid=slot["appointmentid"], fields={"starttime": "17:45"})
    checked = control.edit(type="appointment.checkin", appointmentid=slot["appointmentid"])

    assert patient["events"][0]["topic"] == "Patient.update"
    assert athena.get("/patients/5001").json()[0]["lastname"] == "Renamed"
    assert moved["events"][0]["topic"] == "Appointment.update"
    assert athena.get(f"/appointments/{slot['appointmentid']}").json()[0]["starttime"] == "17:45"
    assert checked["status"] == "2" and checked["events"][0]["topic"] == "Appointment.check-in"


def test_edit_batches_are_all_or_nothing(athena: Athena, control: Control) -> None:
    response = requests.post(
        f"{control.base_url}/_sandbox/edits",
        json={
            "edits": [
                {"type": "patient.update", "patientid": "5001", "fields": {"lastname": "Halfway"}},
                {"type": "patient.update", "patientid": "99999999", "fields": {"lastname": "Nobody"}},
            ]
        },
        timeout=5,
    )

    assert response.status_code == 404
    assert response.json()["index"] == 1
    assert athena.get("/patients/5001").json()[0]["lastname"] != "Halfway"


def test_insurance_edits_and_eligibility_case(athena: Athena, control: Control) -> None:
    member = control.records("insurances", eligibility="active", cancelled="false")["insurances"][0]
    control.edit(type="insurance.eligibility", insuranceid=member["insuranceid"], eligibility="reject75")
    changed = control.edit(
        type="insurance.update",
        patientid=member["patientid"],
        insuranceid=member["insuranceid"],
        fields={"insuranceidnumber": "EXH999999999"},
    )

    assert changed["events"][0]["topic"] == "Patient.update"
    assert control.records("insurances", eligibility="reject75", patientid=member["patientid"])["count"] >= 1
    listed = athena.get(f"/patients/{member['patientid']}/insurances").json()["insurances"]
    assert "EXH999999999" in [item["insuranceidnumber"] for item in listed]


def test_records_show_bookings_per_slot(athena: Athena, control: Control) -> None:
    slot = athena.get(
        "/appointments/open", {"departmentid": "1", "appointmenttypeid": "2", "bypassscheduletimechecks": "true"}
    ).json()["appointments"][0]
    aid = slot["appointmentid"]
    athena.put(f"/appointments/{aid}", {"patientid": "5001", "appointmenttypeid": "2"})
    control.edit(type="appointment.cancel", appointmentid=aid)

    records = control.records("appointments", patientid="5001")

    [mine] = [item for item in records["appointments"] if item["appointmentid"] == str(aid)]
    assert mine["status"] == "x" and mine["bookings"] == 1
    assert records["slots_booked_more_than_once"] == []
    assert records["bookings"][-1]["appointmentid"] == aid


def test_stats_summarise_the_run(athena: Athena, control: Control) -> None:
    athena.get("/ping")

    stats = control.get("/stats")

    assert stats["seed"] == 1
    assert stats["tables"]["patients"] >= 250
    assert stats["requests"]["by_system"]["athena"] >= 2


def test_reset_restores_the_world(athena: Athena, control: Control) -> None:
    before = control.records("patients")["count"]
    athena.post(
        "/patients",
        {"firstname": "Ada", "lastname": "Resetme", "dob": "01/01/1990", "departmentid": "1", "zip": "02110"},
    )
    assert control.records("patients")["count"] == before + 1

    reset = requests.post(f"{control.base_url}/_sandbox/reset", json={}, timeout=30).json()

    assert reset["counts"]["patients"] == before
    assert control.records("patients")["count"] == before
    assert control.requests() == []
    assert athena.get("/ping").status_code == 200  # issued tokens survive a reset


def _world(seed: int) -> tuple[list, list, list]:
    running = start_in_thread(seed=seed)
    try:
        control = Control(running.url)
        patients = control.records("patients", full="true")["patients"]
        insurances = control.records("insurances")["insurances"]
        slots = control.records("appointments", limit=500)["appointments"]
        return (
            [item["data"] for item in patients],
            [(item["insuranceidnumber"], item["eligibility"]) for item in insurances],
            [(item["appointmentid"], item["date"], item["starttime"], item["status"]) for item in slots],
        )
    finally:
        running.stop()


def test_same_seed_same_world_different_seed_different_world() -> None:
    first, second, other = _world(11), _world(11), _world(12)

    assert first == second
    assert first[0] != other[0]
    assert first[1] != other[1]
