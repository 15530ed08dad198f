"""A booking that reaches athena is confirmed by exactly one text, whatever fails on the way."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from hub.models import AuditEvent, Patient
from notify.models import MessageKind, OutboundMessage
from notify.services import booking_intent_settled
from sync.models import WriteIntent
from tests.api.conftest import Portal, make_portal, registration
from tests.conftest import Sandbox
from tests.factories import letters, make_department, make_practice
from tests.outbound import TWILIO_MESSAGES, drain_intents, drain_messages, open_slot

pytestmark = pytest.mark.django_db
_names = itertools.count(1)


@pytest.fixture
def portal(outbound: Sandbox) -> Portal:
    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    return make_portal("sms-portal", locations=["1"])


def book(portal: Portal, *, mobile: str, consent: bool = True) -> tuple[Patient, Any]:
    """Register a patient, let the chart reach athena, then book an open slot through the portal."""
    body = registration(last_name=f"Smscheck{letters(next(_names))}", mobile_phone=mobile, consent_to_text=consent)
    patient_id = portal.post("/api/v1/patients", body).json()["patient_id"]
    drain_intents()
    slot = open_slot()
    booking = {
        "patient_id": patient_id,
        "slot_id": slot.appointment_id,
        "location_id": "1",
        "appointment_type_id": slot.appointment_type_id,
    }
    assert portal.post("/api/v1/appointments", booking).status_code == 202
    return Patient.objects.get(public_id=patient_id), slot


def confirmations_to(sandbox: Sandbox, number: str) -> list[dict[str, Any]]:
    messages = sandbox.records("messages", to=number, direction="outbound-api")["messages"]
    return [m for m in messages if "is booked" in m["body"]]


@pytest.mark.parametrize("kind", ["drop_after", "hang_after", "error_after", "error_before"])
def test_a_booking_is_confirmed_by_exactly_one_text_under_faults(portal: Portal, outbound: Sandbox, kind: str) -> None:
    patient, _slot = book(portal, mobile="(555) 010-4411")
    # athena's booking answer is lost, and so is Twilio's answer to the first send.
    outbound.configure(
        faults={
            "rules": [
                {
                    "method": "PUT",
                    "route": "/v1/{practiceid}/appointments/{appointmentid}",
                    "kind": "drop_after",
                    "count": 1,
                },
                {"method": "POST", "route": TWILIO_MESSAGES, "kind": kind, "count": 1},
            ]
        }
    )
    drain_intents()
    drain_messages()
    # A second settle of the same booking (a redelivered hook) and more worker runs change nothing.
    booking_intent_settled(WriteIntent.objects.get(operation="book_appointment").pk)
    drain_messages()

    texts = confirmations_to(outbound, "+15550104411")
    assert len(texts) == 1
    assert texts[0]["body"].startswith(f"Hi {patient.first_name}, your visit with Synthetic Medical Group on")
    assert patient.last_name not in texts[0]["body"]
    message = OutboundMessage.objects.get(kind=MessageKind.BOOKING_CONFIRMATION)
    assert (message.state, message.message_sid) == ("succeeded", texts[0]["sid"])
    posts = outbound.requests(system="twilio", method="POST")
    # A send that reached Twilio is found by its reference code, never sent again.
    assert len(posts) == (1 if posts[0]["wrote"] else 2)
    assert message.reconciled is bool(posts[0]["wrote"])
    # Every Twilio call has its audit row (the sandbox's own log is the count to match).
    assert AuditEvent.objects.filter(system="twilio", direction="outbound").count() == len(
        outbound.requests(system="twilio")
    )


def test_the_booking_also_plans_reminders_and_the_check_in_link(portal: Portal, outbound: Sandbox) -> None:
    patient, slot = book(portal, mobile="5550104412")
    drain_intents()

    kinds = set(OutboundMessage.objects.filter(patient=patient).values_list("kind", flat=True))
    assert {"booking_confirmation", "reminder_2h", "check_in_link"} <= kinds
    reminder = OutboundMessage.objects.get(patient=patient, kind="reminder_2h")
    appointment = reminder.appointment
    assert appointment is not None and appointment.athena_appointment_id == slot.appointment_id
    assert reminder.next_attempt_at == appointment.starts_at - dt.timedelta(hours=2)


def test_no_consent_means_no_text(portal: Portal, outbound: Sandbox) -> None:
    book(portal, mobile="5550104413", consent=False)
    drain_intents()
    drain_messages()

    message = OutboundMessage.objects.get(kind=MessageKind.BOOKING_CONFIRMATION)
    assert (message.state, message.skip_reason) == ("skipped", "no consent to text messages")
    assert outbound.requests(system="twilio") == []
