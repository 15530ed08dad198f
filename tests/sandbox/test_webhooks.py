"""Outbound webhooks: FHIR-style id-only bundles, signed, retried, duplicated and dead-lettered on demand."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import requests

from sandbox.server import start_in_thread
from tests.sandbox.conftest import Athena, Control, Receiver

SECRET = "local-athena-webhook-secret"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def hooks(control: Control, receiver: Receiver, **extra: Any) -> None:
    retry = {"initial_seconds": 0.1, "multiplier": 2.0, "max_seconds": 1.0, "give_up_seconds": 3600}
    control.configure(webhook={"enabled": True, "url": receiver.url, "retry": retry, **extra})


def test_a_front_desk_edit_is_posted_signed_and_id_only(control: Control, receiver: Receiver) -> None:
    hooks(control, receiver)

    result = control.edit(type="patient.update", patientid="5001", fields={"homephone": "6175550166"})
    wait_for(lambda: receiver.received)

    [delivery] = receiver.received
    headers = {name.lower(): value for name, value in delivery["headers"].items()}
    expected = "sha256=" + hmac.new(SECRET.encode(), delivery["body"], hashlib.sha256).hexdigest()
    assert headers["x-hub-signature"] == expected
    assert headers["content-type"] == "application/fhir+json"
    bundle = receiver.bodies()[0]
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
    status = bundle["entry"][0]["resource"]
    assert status["resourceType"] == "SubscriptionStatus"
    assert status["topic"].endswith("/Patient.update")
    [event] = status["notificationEvent"]
    assert event["id"] == result["events"][0]["id"]
    assert event["focus"]["reference"] == "Patient/a-195900.E-5001"
    audit = bundle["entry"][1]["resource"]
    assert audit["resourceType"] == "AuditEvent"
    assert {"reference": "Organization/a-195900.Department-1"} in [ext["valueReference"] for ext in audit["extension"]]
    assert "6175550166" not in delivery["body"].decode()  # id-only: no patient data in the notification


def test_api_bookings_notify_appointment_schedule(athena: Athena, control: Control, receiver: Receiver) -> None:
    hooks(control, receiver)
    slot = athena.get(
        "/appointments/open", {"departmentid": "21", "appointmenttypeid": "2", "bypassscheduletimechecks": "true"}
    ).json()["appointments"][0]

    athena.put(f"/appointments/{slot['appointmentid']}", {"patientid": "5030", "appointmenttypeid": "2"})
    wait_for(lambda: receiver.received)

    status = receiver.bodies()[0]["entry"][0]["resource"]
    assert status["topic"].endswith("/Appointment.schedule")
    assert status["notificationEvent"][0]["focus"]["reference"] == f"Appointment/a-195900.{slot['appointmentid']}"
    context = [item["reference"] for item in status["notificationEvent"][0]["additionalContext"]]
    assert "Organization/a-195900.Department-21" in context
    assert "Patient/a-195900.E-5030" in context


def test_a_failing_receiver_is_retried_until_it_acknowledges(control: Control, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    hooks(control, receiver)

    control.edit(type="patient.update", patientid="5001", fields={"homephone": "6175550166"})
    wait_for(lambda: control.get("/webhooks")["by_status"].get("delivered"))

    [delivery] = control.get("/webhooks")["deliveries"]
    assert delivery["attempts"] == 3
    assert [item["status"] for item in receiver.received] == [500, 503, 200]
    assert len({item["body"] for item in receiver.received}) == 1
    assert delivery["latency_ms"] > 0


def test_unreachable_receiver_ends_in_the_dead_letter_list(control: Control) -> None:
    retry = {"initial_seconds": 0.05, "multiplier": 1.0, "max_seconds": 0.05, "give_up_seconds": 0.3}
    control.configure(webhook={"enabled": True, "url": "http://127.0.0.1:9/nowhere", "retry": retry})

    control.edit(type="patient.update", patientid="5001", fields={"homephone": "6175550166"})
    dead = wait_for(lambda: control.get("/webhooks", status="dead")["deliveries"])

    assert dead[0]["attempts"] >= 2
    assert dead[0]["last_error"]
    assert control.get("/webhooks")["dead_letter"] == dead


def test_duplicate_fault_delivers_the_same_event_twice(control: Control, receiver: Receiver) -> None:
    hooks(control, receiver, duplicate_rate=1.0)

    control.edit(type="patient.update", patientid="5001", fields={"homephone": "6175550166"})
    wait_for(lambda: len(receiver.received) >= 2)

    first, second = receiver.bodies()[:2]
    assert (
        first["entry"][0]["resource"]["notificationEvent"][0]["id"]
        == second["entry"][0]["resource"]["notificationEvent"][0]["id"]
    )


def test_disabled_webhooks_are_recorded_as_suppressed(control: Control, receiver: Receiver) -> None:
    hooks(control, receiver)
    control.configure(webhook={"enabled": False})

    control.edit(type="patient.update", patientid="5001", fields={"homephone": "6175550166"})
    time.sleep(0.3)

    assert receiver.received == []
    assert control.get("/webhooks")["by_status"] == {"suppressed": 1}


def test_shuffle_delivers_every_event(control: Control, receiver: Receiver) -> None:
    hooks(control, receiver, shuffle=True, shuffle_window_seconds=0.3)

    edits = [
        {"type": "patient.update", "patientid": str(5001 + index), "fields": {"homephone": f"61755501{index:02d}"}}
        for index in range(8)
    ]
    requests.post(f"{control.base_url}/_sandbox/edits", json={"edits": edits}, timeout=5)
    wait_for(lambda: len(receiver.received) >= 8)

    focuses = [body["entry"][0]["resource"]["notificationEvent"][0]["focus"]["reference"] for body in receiver.bodies()]
    assert sorted(focuses) == sorted(f"Patient/a-195900.E-{5001 + index}" for index in range(8))


def test_the_in_thread_sandbox_sends_no_webhooks_unless_asked() -> None:
    running = start_in_thread()
    try:
        assert running.config["webhook"]["enabled"] is False
    finally:
        running.stop()
    receiver = Receiver()
    running = start_in_thread(webhook={"url": receiver.url})
    try:
        assert running.config["webhook"]["enabled"] is True
        Control(running.url).edit(type="patient.update", patientid="5001", fields={"homephone": "6175550166"})
        wait_for(lambda: receiver.received)
    finally:
        running.stop()
        receiver.stop()
