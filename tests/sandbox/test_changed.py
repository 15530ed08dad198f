"""Changed-data feeds: 403 before subscribing, destructive reads per client, leaveunprocessed, re-fetch."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.sandbox.conftest import Athena, Control

NOT_SUBSCRIBED = {"error": "Changed messages require setup (subscription) that has not been done."}


def test_reading_before_subscribing_is_403(athena: Athena) -> None:
    response = athena.get("/patients/changed")

    assert response.status_code == 403
    assert response.json() == NOT_SUBSCRIBED


def test_subscription_status_and_events(athena: Athena) -> None:
    events = athena.get("/appointments/changed/subscription/events").json()["subscriptions"]
    inactive = athena.get("/appointments/changed/subscription").json()
    athena.post("/appointments/changed/subscription", {"eventname": "CancelAppointment"})
    partial = athena.get("/appointments/changed/subscription").json()
    athena.post("/appointments/changed/subscription")
    active = athena.get("/appointments/changed/subscription").json()
    bad = athena.post("/appointments/changed/subscription", {"eventname": "NoSuchEvent"})

    assert {"eventname": "ScheduleAppointment"} in events
    assert inactive == {"status": "INACTIVE", "subscriptions": []}
    assert partial == {"status": "PARTIAL", "subscriptions": [{"eventname": "CancelAppointment"}]}
    assert active["status"] == "ACTIVE"
    assert bad.status_code == 400


def test_changes_are_delivered_once_per_client(athena: Athena, control: Control) -> None:
    subscribed = athena.post("/patients/changed/subscription")
    control.edit(type="patient.update", patientid="5001", fields={"homephone": "6175550170"})
    control.edit(type="patient.update", patientid="5002", fields={"homephone": "6175550171"})

    first = athena.get("/patients/changed").json()
    second = athena.get("/patients/changed").json()

    assert subscribed.json() == {"success": True}
    assert [item["patientid"] for item in first["patients"]] == ["5001", "5002"]
    assert first["totalcount"] == 2
    assert first["patients"][0]["homephone"] == "6175550170"
    assert second == {"patients": [], "totalcount": 0}

    other = Athena(athena.base_url, "second-client", "second-secret")
    control.configure(oauth={"clients": {"second-client": "second-secret"}})
    assert other.get("/patients/changed").status_code == 403  # subscriptions belong to the API client


def test_changes_before_the_subscription_are_not_delivered(athena: Athena, control: Control) -> None:
    control.edit(type="patient.update", patientid="5001", fields={"homephone": "6175550170"})
    athena.post("/patients/changed/subscription")

    assert athena.get("/patients/changed").json()["patients"] == []


def test_leaveunprocessed_peeks_without_consuming(athena: Athena, control: Control) -> None:
    athena.post("/appointments/changed/subscription")
    slot = athena.get(
        "/appointments/open", {"departmentid": "1", "appointmenttypeid": "2", "bypassscheduletimechecks": "true"}
    ).json()["appointments"][0]
    athena.put(f"/appointments/{slot['appointmentid']}", {"patientid": "5001", "appointmenttypeid": "2"})

    peek = athena.get("/appointments/changed", {"leaveunprocessed": "true"}).json()
    take = athena.get("/appointments/changed").json()
    after = athena.get("/appointments/changed").json()

    assert peek == take
    assert take["appointments"][0]["appointmentid"] == str(slot["appointmentid"])
    assert take["appointments"][0]["appointmentstatus"] == "f"
    assert after["appointments"] == []


def test_cancelled_appointments_appear_with_status_x_and_department_filter(athena: Athena, control: Control) -> None:
    athena.post("/appointments/changed/subscription")
    booked = next(item for item in control.records("appointments", status="f", departmentid="21")["appointments"])
    control.edit(type="appointment.cancel", appointmentid=booked["appointmentid"])

    elsewhere = athena.get("/appointments/changed", {"departmentid": "1"}).json()["appointments"]
    here = athena.get("/appointments/changed", {"departmentid": "21"}).json()["appointments"]

    assert elsewhere == []
    cancelled = [item for item in here if item["appointmentid"] == booked["appointmentid"]]
    assert cancelled[0]["appointmentstatus"] == "x"
    # The freed slot shows up too, without a patient.
    assert any("patientid" not in item and item["appointmentstatus"] == "o" for item in here)


def test_processed_records_can_be_fetched_again_by_time_window(athena: Athena, control: Control) -> None:
    athena.post("/patients/changed/subscription")
    control.edit(type="patient.update", patientid="5003", fields={"email": "changed@example.test"})
    assert len(athena.get("/patients/changed").json()["patients"]) == 1
    eastern = ZoneInfo("America/New_York")
    now = dt.datetime.now(eastern)
    window = {
        "showprocessedstartdatetime": (now - dt.timedelta(minutes=5)).strftime("%m/%d/%Y %H:%M:%S"),
        "showprocessedenddatetime": (now + dt.timedelta(minutes=5)).strftime("%m/%d/%Y %H:%M:%S"),
    }

    again = athena.get("/patients/changed", window).json()["patients"]
    earlier = athena.get(
        "/patients/changed",
        {
            "showprocessedstartdatetime": "01/01/2000 00:00:00",
            "showprocessedenddatetime": "01/02/2000 00:00:00",
        },
    ).json()["patients"]

    assert [item["patientid"] for item in again] == ["5003"]
    assert earlier == []


def test_providers_feed_reports_provider_updates(athena: Athena, control: Control) -> None:
    athena.post("/providers/changed/subscription")
    control.edit(type="provider.update", providerid="71", fields={"acceptingnewpatients": False})

    providers = athena.get("/providers/changed").json()["providers"]

    assert providers[0]["providerid"] == "71"
    assert providers[0]["acceptingnewpatients"] is False
