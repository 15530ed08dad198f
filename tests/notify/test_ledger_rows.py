"""The outbound-text ledger: leases, a worker killed mid-send, bad callbacks, retries that give up."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from notify.contact import phone_hash
from notify.models import OutboundMessage
from notify.services import notify_needs_attention
from notify.twilio import twilio_client
from notify.wording import render
from sync.outbound import effect_claim
from tests.conftest import Sandbox
from tests.factories import make_department, make_patient, make_practice
from tests.outbound import drain_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(outbound: Sandbox) -> Any:
    department = make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    return make_patient(department, first_name="Jordan", consent_to_text=True, mobile_phone="5550104801")


def test_a_text_leased_by_another_worker_is_left_alone(patient: Any, outbound: Sandbox) -> None:
    message = notify_needs_attention(patient=patient, reference="ocr-review:1")
    assert message is not None
    assert effect_claim(model=OutboundMessage, effect_id=message.pk, worker="other-host:1", lease_seconds=60)

    drain_messages()

    assert OutboundMessage.objects.get(pk=message.pk).state == "in_flight"
    assert outbound.requests(system="twilio") == []


def test_a_worker_killed_after_sending_is_not_followed_by_a_second_text(patient: Any, outbound: Sandbox) -> None:
    message = notify_needs_attention(patient=patient, reference="ocr-review:2")
    assert message is not None
    # The dead worker's story: it claimed the text, recorded the attempt, Twilio accepted it, then SIGKILL.
    effect_claim(model=OutboundMessage, effect_id=message.pk, worker="dead-host:1", lease_seconds=60)
    body = render(
        message.kind,
        values={"first_name": "Jordan", "link": "https://portal.example.test/account"},
        marker=message.marker,
    )
    sent = twilio_client().send_message(to="+15550104801", body=body)
    OutboundMessage.objects.filter(pk=message.pk).update(
        first_attempt_at=timezone.now(),
        phone_hash=phone_hash("+15550104801"),
        lease_until=timezone.now() - dt.timedelta(seconds=1),
    )

    drain_messages()

    message.refresh_from_db()
    assert (message.state, message.message_sid, message.reconciled) == ("succeeded", sent.sid, True)
    assert outbound.records("messages", to="+15550104801")["count"] == 1


def test_a_number_changed_while_the_outcome_is_unknown_is_parked_not_guessed(patient: Any, outbound: Sandbox) -> None:
    message = notify_needs_attention(patient=patient, reference="ocr-review:3")
    assert message is not None
    OutboundMessage.objects.filter(pk=message.pk).update(
        state="ambiguous", must_reconcile=True, first_attempt_at=timezone.now(), phone_hash=phone_hash("+15550109999")
    )

    drain_messages()

    message.refresh_from_db()
    assert message.state == "parked" and "number changed" in message.last_error
    assert outbound.requests(system="twilio") == []


def test_a_text_that_keeps_failing_is_parked_after_its_attempts(patient: Any, outbound: Sandbox) -> None:
    outbound.configure(faults={"rules": [{"method": "*", "route": "/_twilio/*", "kind": "error_before", "rate": 1.0}]})
    message = notify_needs_attention(patient=patient, reference="ocr-review:4")
    assert message is not None
    OutboundMessage.objects.filter(pk=message.pk).update(max_attempts=3)

    for _ in range(5):
        drain_messages()

    message.refresh_from_db()
    assert message.state == "parked" and "gave up after 3 attempts" in message.last_error
    assert outbound.records("messages")["count"] == 0


def test_unreadable_callbacks_and_webhooks_are_problems(outbound: Sandbox) -> None:
    client = Client()
    url = "http://testserver/webhooks/twilio/status/"
    params = {"AccountSid": "AC00000000000000000000000000000001", "MessageSid": "not-a-sid"}
    signature = RequestValidator("local-twilio-auth-token").compute_signature(url, params)
    inbound = {"AccountSid": "AC00000000000000000000000000000001", "MessageSid": "SM" + "f" * 32}
    inbound_signature = RequestValidator("local-twilio-auth-token").compute_signature(
        "http://testserver/webhooks/twilio/inbound/", inbound
    )

    status = client.post("/webhooks/twilio/status/", params, HTTP_X_TWILIO_SIGNATURE=signature)
    reply = client.post("/webhooks/twilio/inbound/", inbound, HTTP_X_TWILIO_SIGNATURE=inbound_signature)
    clover = client.post(
        "/webhooks/clover/",
        "{not json",
        content_type="application/json",
        HTTP_X_CLOVER_AUTH="local-clover-webhook-auth",
    )
    listed = client.get("/webhooks/twilio/status/")

    assert (status.status_code, reply.status_code, clover.status_code, listed.status_code) == (400, 400, 400, 405)
    for response in (status, reply, clover):
        assert response["Content-Type"] == "application/problem+json"
        assert json.loads(response.content)["status"] == 400
