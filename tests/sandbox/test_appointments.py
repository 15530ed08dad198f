"""Open slots, booking (409 on a taken slot), booked lists, cancel, reschedule, check-in/check-out, notes."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

from tests.sandbox.conftest import Athena, Control

SLOT_TAKEN = {
    "detailedmessage": "The appointment ID is already booked or is not marked as being available to be scheduled "
    "via the API.",
    "error": "That appointment time was already booked or not available for booking.",
}


def athena_date(value: str) -> dt.date:
    month, day, year = (int(part) for part in value.split("/"))
    return dt.date(year, month, day)


def slot_start(slot: dict[str, Any], zone: str = "America/New_York") -> dt.datetime:
    hour, minute = (int(part) for part in slot["starttime"].split(":"))
    day = athena_date(slot["date"])
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))


def open_slots(athena: Athena, **params: Any) -> list[dict[str, Any]]:
    query = {"departmentid": "1", "appointmenttypeid": "2", "bypassscheduletimechecks": "true", **params}
    response = athena.get("/appointments/open", query)
    assert response.status_code == 200, response.text
    return response.json()["appointments"]


def a_patient_of(control: Control, departmentid: str = "1") -> str:
    return control.records("patients", departmentid=departmentid)["patients"][0]["patientid"]


def test_open_slots_need_a_department(athena: Athena) -> None:
    response = athena.get("/appointments/open", {"appointmenttypeid": "2"})

    assert response.status_code == 400
    assert response.json()["missingfields"] == ["departmentid"]
    assert response.json()["error"] == "Additional fields are required."


def test_open_slots_without_reason_or_type_are_empty_not_an_error(athena: Athena) -> None:
    response = athena.get("/appointments/open", {"departmentid": "1"})

    assert response.status_code == 200
    assert response.json() == {"appointments": [], "totalcount": 0}


def test_a_specific_reason_needs_a_provider_but_any_reason_does_not(athena: Athena) -> None:
    without_provider = athena.get("/appointments/open", {"departmentid": "1", "reasonid": "563"})
    any_reason = athena.get("/appointments/open", {"departmentid": "1", "reasonid": "-1"})
    with_provider = athena.get("/appointments/open", {"departmentid": "1", "reasonid": "563", "providerid": "71"})
    unknown = athena.get("/appointments/open", {"departmentid": "1", "reasonid": "999", "providerid": "71"})

    assert without_provider.status_code == 400
    assert "providerid" in without_provider.json()["missingfields"]
    assert any_reason.status_code == 200 and any_reason.json()["totalcount"] > 0
    assert with_provider.status_code == 200
    assert all(slot["providerid"] == "71" for slot in with_provider.json()["appointments"])
    assert all("563" in slot["reasonid"] for slot in with_provider.json()["appointments"])
    assert unknown.status_code == 400 and unknown.json()["invalidfields"] == ["reasonid"]


def test_open_slots_hide_the_next_24_hours_unless_bypassed(athena: Athena) -> None:
    params = {"departmentid": "1", "appointmenttypeid": "2", "startdate": "01/01/2000", "enddate": "12/31/2099"}
    checked = athena.get("/appointments/open", params).json()["appointments"]
    bypassed = athena.get("/appointments/open", {**params, "bypassscheduletimechecks": "true"}).json()["appointments"]

    assert len(bypassed) > len(checked) > 0
    now = dt.datetime.now(dt.UTC)
    assert all(slot_start(slot) >= now + dt.timedelta(hours=24) for slot in checked)
    assert any(slot_start(slot) < now + dt.timedelta(hours=24) for slot in bypassed)


def test_open_slots_default_to_a_week_and_carry_open_slot_types(athena: Athena) -> None:
    slots = open_slots(athena)
    dates = {athena_date(slot["date"]) for slot in slots}

    assert slots
    assert max(dates) - min(dates) <= dt.timedelta(days=7)
    slot = slots[0]
    assert isinstance(slot["appointmentid"], int)
    assert slot["departmentid"] == "1"
    assert slot["duration"] == 15
    assert slot["appointmenttype"] == "Office Visit"
    assert isinstance(slot["reasonid"], list)


def test_booking_keeps_the_slot_id_and_a_second_booking_gets_409(athena: Athena, control: Control) -> None:
    slot = open_slots(athena)[0]
    patientid = a_patient_of(control)

    booked = athena.put(f"/appointments/{slot['appointmentid']}", {"patientid": patientid, "appointmenttypeid": "2"})
    again = athena.put(f"/appointments/{slot['appointmentid']}", {"patientid": patientid, "appointmenttypeid": "2"})

    assert booked.status_code == 200
    [appointment] = booked.json()
    assert appointment["appointmentid"] == str(slot["appointmentid"])
    assert appointment["appointmentstatus"] == "f"
    assert appointment["patientid"] == patientid
    assert again.status_code == 409
    assert again.json() == SLOT_TAKEN
    bookings = control.records("appointments", patientid=patientid)["bookings"]
    assert [item["appointmentid"] for item in bookings] == [slot["appointmentid"]]


def test_booking_accepts_parameters_in_the_query_string(athena: Athena, control: Control) -> None:
    slot = open_slots(athena)[0]
    patientid = a_patient_of(control)

    response = athena.put(f"/appointments/{slot['appointmentid']}?patientid={patientid}&appointmenttypeid=2")

    assert response.status_code == 200
    assert response.json()[0]["patientid"] == patientid


def test_booking_needs_patient_and_type_or_reason(athena: Athena) -> None:
    slot = open_slots(athena)[0]

    no_patient = athena.put(f"/appointments/{slot['appointmentid']}", {"appointmenttypeid": "2"})
    no_type = athena.put(f"/appointments/{slot['appointmentid']}", {"patientid": "5001"})

    assert no_patient.status_code == 400 and no_patient.json()["missingfields"] == ["patientid"]
    assert no_type.status_code == 400 and set(no_type.json()["missingfields"]) == {"appointmenttypeid", "reasonid"}


def test_single_get_is_an_array_and_an_open_slot_shows_status_o(athena: Athena) -> None:
    slot = open_slots(athena)[0]

    response = athena.get(f"/appointments/{slot['appointmentid']}")

    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert response.json()[0]["appointmentstatus"] == "o"
    assert response.json()[0]["appointmentid"] == str(slot["appointmentid"])
    assert athena.get("/appointments/999999999").status_code == 404


def test_created_slots_are_bookable(athena: Athena) -> None:
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)).strftime("%m/%d/%Y")
    created = athena.post(
        "/appointments/open",
        {
            "departmentid": "1",
            "providerid": "71",
            "appointmentdate": day,
            "appointmenttime": "18:00,18:15",
            "appointmenttypeid": "2",
        },
    )
    no_type = athena.post(
        "/appointments/open",
        {"departmentid": "1", "providerid": "71", "appointmentdate": day, "appointmenttime": "18:30"},
    )

    assert created.status_code == 200
    ids = created.json()["appointmentids"]
    assert sorted(ids.values()) == ["18:00", "18:15"]
    assert no_type.status_code == 400
    assert no_type.json()["detailedmessage"] == "An appointment type or reason must be provided."
    listed = open_slots(athena, startdate=day, enddate=day, providerid="71")
    assert {str(slot["appointmentid"]) for slot in listed} >= set(ids)


def test_booked_list_requires_department_and_dates_and_hides_cancelled(athena: Athena, control: Control) -> None:
    missing = athena.get("/appointments/booked", {"departmentid": "1"})
    assert missing.status_code == 400
    assert missing.json()["missingfields"] == ["startdate", "enddate"]

    slot = open_slots(athena)[0]
    patientid = a_patient_of(control)
    athena.put(f"/appointments/{slot['appointmentid']}", {"patientid": patientid, "appointmenttypeid": "2"})
    window = {"departmentid": "1", "startdate": slot["date"], "enddate": slot["date"], "patientid": patientid}
    booked = athena.get("/appointments/booked", window).json()["appointments"]
    assert [item["appointmentid"] for item in booked] == [str(slot["appointmentid"])]

    cancel = athena.put(f"/appointments/{slot['appointmentid']}/cancel", {"patientid": patientid})
    assert cancel.json() == {"status": "x"}
    assert athena.get("/appointments/booked", window).json()["appointments"] == []
    shown = athena.get("/appointments/booked", {**window, "showcancelled": "true"}).json()["appointments"]
    assert shown[0]["appointmentstatus"] == "x"
    assert shown[0]["cancelreasonname"] == "CANCELLED FROM API"
    # The cancelled slot's time is offered again as a new open slot.
    again = [
        item
        for item in open_slots(athena, startdate=slot["date"], enddate=slot["date"])
        if item["starttime"] == slot["starttime"] and item["providerid"] == slot["providerid"]
    ]
    assert again and again[0]["appointmentid"] != slot["appointmentid"]


def test_cancel_needs_patient_and_reason_when_configured(athena: Athena, control: Control) -> None:
    slot = open_slots(athena)[0]
    patientid = a_patient_of(control)
    athena.put(f"/appointments/{slot['appointmentid']}", {"patientid": patientid, "appointmenttypeid": "2"})
    control.configure(scheduling={"cancel_requires_reason": True})

    no_patient = athena.put(f"/appointments/{slot['appointmentid']}/cancel", {"cancellationreason": "sick"})
    no_reason = athena.put(f"/appointments/{slot['appointmentid']}/cancel", {"patientid": patientid})
    done = athena.put(
        f"/appointments/{slot['appointmentid']}/cancel",
        {"patientid": patientid, "cancellationreason": "feeling better"},
    )

    assert no_patient.status_code == 400 and "patientid" in no_patient.json()["missingfields"]
    assert no_reason.status_code == 400 and no_reason.json()["missingfields"] == ["cancellationreason"]
    assert done.status_code == 200
    notes = athena.get(f"/appointments/{slot['appointmentid']}/notes").json()["notes"]
    assert any("feeling better" in note["notetext"] for note in notes)


def test_reschedule_moves_the_booking(athena: Athena, control: Control) -> None:
    first, second = open_slots(athena)[:2]
    patientid = a_patient_of(control)
    athena.put(f"/appointments/{first['appointmentid']}", {"patientid": patientid, "appointmenttypeid": "2"})

    moved = athena.put(
        f"/appointments/{first['appointmentid']}/reschedule",
        {"newappointmentid": second["appointmentid"], "patientid": patientid},
    )

    assert moved.status_code == 200
    assert moved.json()[0]["appointmentid"] == str(second["appointmentid"])
    assert moved.json()[0]["appointmentstatus"] == "f"
    old = athena.get(f"/appointments/{first['appointmentid']}").json()[0]
    assert old["appointmentstatus"] == "x"
    assert old["rescheduledappointmentid"] == str(second["appointmentid"])


def test_checkin_and_checkout_move_the_status(athena: Athena, control: Control) -> None:
    slot = open_slots(athena)[0]
    patientid = a_patient_of(control)
    aid = slot["appointmentid"]
    athena.put(f"/appointments/{aid}", {"patientid": patientid, "appointmenttypeid": "2"})

    requirements = athena.get(f"/appointments/{aid}/checkin")
    early_checkout = athena.post(f"/appointments/{aid}/checkout")
    started = athena.post(f"/appointments/{aid}/startcheckin")
    checked_in = athena.post(f"/appointments/{aid}/checkin")
    status_in = athena.get(f"/appointments/{aid}").json()[0]["appointmentstatus"]
    checked_out = athena.post(f"/appointments/{aid}/checkout")
    status_out = athena.get(f"/appointments/{aid}").json()[0]["appointmentstatus"]

    assert {section["name"] for section in requirements.json()} >= {"Demographics", "Insurance"}
    # athena's soft failure: HTTP 200 with success=false.
    assert early_checkout.status_code == 200 and early_checkout.json()["success"] is False
    assert started.json()["success"] is True
    assert checked_in.json()["success"] is True
    assert (status_in, status_out) == ("2", "3")
    assert checked_out.json()["success"] is True


def test_appointment_notes_round_trip(athena: Athena) -> None:
    slot = open_slots(athena)[0]
    aid = slot["appointmentid"]

    added = athena.post(f"/appointments/{aid}/notes", {"notetext": "Bring the referral letter."})
    noteid = added.json()["noteid"]
    athena.put(f"/appointments/{aid}/notes/{noteid}", {"notetext": "Bring the referral letter and the card."})
    listed = athena.get(f"/appointments/{aid}/notes").json()["notes"]
    athena.delete(f"/appointments/{aid}/notes/{noteid}")
    after = athena.get(f"/appointments/{aid}/notes").json()["notes"]

    assert [note["notetext"] for note in listed] == ["Bring the referral letter and the card."]
    assert after == []


def test_concurrent_bookings_of_one_slot_book_it_once(athena: Athena, control: Control) -> None:
    slot = open_slots(athena)[0]
    patients = [item["patientid"] for item in control.records("patients", departmentid="1")["patients"][:8]]
    athena.get("/ping")  # one token for every thread

    def book(patientid: str) -> int:
        return athena.put(
            f"/appointments/{slot['appointmentid']}", {"patientid": patientid, "appointmenttypeid": "2"}
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(book, patients))

    assert sorted(statuses) == [200] + [409] * 7
    assert control.records("appointments")["slots_booked_more_than_once"] == []
