"""Patients' replies and Twilio's status callbacks: verified with Twilio's own validator, then applied."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from hub.models import AuditEvent, Patient
from notify.contact import phone_hash
from notify.models import DeliveryReport, OutboundMessage, SmsOptOut
from notify.services import notify_needs_attention
from tests.conftest import Sandbox
from tests.factories import make_department, make_patient, make_practice
from tests.outbound import drain_messages, wait_for

TOKEN = "local-twilio-auth-token"
ACCOUNT = "AC00000000000000000000000000000001"
STATUS_PATH = "/webhooks/twilio/status/"
INBOUND_PATH = "/webhooks/twilio/inbound/"


def patient_at(number: str, **fields: Any) -> Patient:
    department = make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    return make_patient(department, mobile_phone=number, consent_to_text=True, **fields)


def signed_post(client: Client, path: str, params: dict[str, str], *, url: str = "", **headers: Any) -> Any:
    url = url or f"http://testserver{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT, "MessageSid": sid, "MessageStatus": status, "SmsStatus": status, **extra}


# --- end to end: the sandbox texts back, the live hub listens ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_stop_reply_stops_every_later_text_to_that_number(outbound: Sandbox, live_server: Any, settings: Any) -> None:
    settings.TWILIO_STATUS_CALLBACK_URL = f"{live_server.url}{STATUS_PATH}"
    outbound.configure(
        twilio={
            "inbound_url": f"{live_server.url}{INBOUND_PATH}",
            "callbacks": {"enabled": True, "delay_seconds": 0.01},
        }
    )
    parent = patient_at("5550104501")
    child = make_patient(parent.department, mobile_phone="(555) 010-4501", consent_to_text=True)  # the same phone
    notify_needs_attention(patient=parent, reference="ocr-review:1")
    drain_messages()
    first = OutboundMessage.objects.get(reference="ocr-review:1")
    wait_for(lambda: OutboundMessage.objects.get(pk=first.pk).delivery_status == "delivered")

    stop = outbound.edit({"type": "twilio.inbound", "from": "+15550104501", "body": "STOP"})["results"][0]
    assert stop["delivery"]["http_status"] == 200
    stop_seq = outbound.control("GET", "requests", params={"limit": 1})["last_seq"]
    notify_needs_attention(patient=parent, reference="ocr-review:2")
    notify_needs_attention(patient=child, reference="eligibility:7")
    drain_messages()

    later = OutboundMessage.objects.filter(reference__in=["ocr-review:2", "eligibility:7"])
    assert {(m.state, m.skip_reason) for m in later} == {("skipped", "the number opted out (STOP)")}
    sends_after_stop = [
        r
        for r in outbound.requests(system="twilio", method="POST", since=stop_seq)
        if r["ids"].get("to") == "+15550104501"
    ]
    assert sends_after_stop == []
    opt_out = SmsOptOut.objects.get(phone_hash=phone_hash("+15550104501"))
    assert opt_out.is_active and set(opt_out.patients.all()) == {parent}

    outbound.edit({"type": "twilio.inbound", "from": "+15550104501", "body": "START"})
    notify_needs_attention(patient=child, reference="eligibility:8")
    drain_messages()
    last = OutboundMessage.objects.get(reference="eligibility:8")
    assert last.state == "succeeded"
    wait_for(lambda: OutboundMessage.objects.get(pk=last.pk).delivery_status == "delivered")
    # Every callback the sandbox delivered (status callbacks and both replies) left one inbound audit row.
    callbacks = wait_for(lambda: (c := outbound.control("GET", "callbacks"))["by_status"].keys() == {"delivered"} and c)
    assert callbacks["count"] == 3 * 2 + 2
    assert AuditEvent.objects.filter(system="twilio", direction="inbound").count() == callbacks["count"]


# --- signatures ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_forged_status_callback_is_refused_and_audited(outbound: Sandbox) -> None:
    client = Client()
    params = status_params("SM" + "0" * 32, "delivered")

    forged = client.post(STATUS_PATH, params, HTTP_X_TWILIO_SIGNATURE="bm90IGEgc2lnbmF0dXJl")
    unsigned = client.post(STATUS_PATH, params)
    wrong_token = client.post(
        STATUS_PATH,
        params,
        HTTP_X_TWILIO_SIGNATURE=RequestValidator("another-token").compute_signature(
            f"http://testserver{STATUS_PATH}", params
        ),
    )

    assert [r.status_code for r in (forged, unsigned, wrong_token)] == [403, 403, 403]
    assert forged["Content-Type"] == "application/problem+json"
    rejected = AuditEvent.objects.filter(system="twilio", direction="inbound", action="webhook", status_code=403)
    assert rejected.count() == 3 and set(rejected.values_list("outcome", flat=True)) == {"8"}
    assert DeliveryReport.objects.count() == 0


@pytest.mark.django_db
def test_a_callback_signed_by_the_twilio_library_is_applied_once(outbound: Sandbox) -> None:
    patient = patient_at("5550104502")
    message = notify_needs_attention(patient=patient, reference="ocr-review:3")
    drain_messages()
    assert message is not None
    message.refresh_from_db()
    client = Client()
    path = f"{STATUS_PATH}?m={message.public_id}"
    params = status_params(message.message_sid, "delivered")

    accepted = signed_post(client, path, params, url=f"http://testserver{path}")
    repeat = signed_post(client, path, params, url=f"http://testserver{path}")
    tampered = client.post(
        path, {**params, "MessageStatus": "failed"}, HTTP_X_TWILIO_SIGNATURE=accepted.request["HTTP_X_TWILIO_SIGNATURE"]
    )
    late_sent = signed_post(client, path, status_params(message.message_sid, "sent"), url=f"http://testserver{path}")

    assert (accepted.status_code, repeat.status_code, tampered.status_code, late_sent.status_code) == (
        204,
        204,
        403,
        204,
    )
    message.refresh_from_db()
    assert message.delivery_status == "delivered"  # a late "sent" never moves it backwards
    assert DeliveryReport.objects.filter(message_sid=message.message_sid).count() == 2
    row = AuditEvent.objects.filter(system="twilio", direction="inbound", status_code=204).first()
    assert row is not None and row.patient_ref == str(patient.pk) and row.object_id == message.message_sid


@pytest.mark.django_db
def test_the_signed_url_is_rebuilt_behind_a_tls_proxy(outbound: Sandbox, settings: Any) -> None:
    client = Client()
    params = status_params("SM" + "1" * 32, "sent")
    public = f"https://hub.example.org{STATUS_PATH}"
    proxied = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "hub.example.org"}

    untrusted = signed_post(client, STATUS_PATH, params, url=public, **proxied)
    settings.HUB_TRUSTED_PROXY_COUNT = 1
    trusted = signed_post(client, STATUS_PATH, params, url=public, **proxied)
    settings.HUB_TRUSTED_PROXY_COUNT = 0
    settings.TWILIO_WEBHOOK_BASE_URL = "https://hub.example.org"
    configured = signed_post(client, STATUS_PATH, status_params("SM" + "2" * 32, "sent"), url=public)

    assert (untrusted.status_code, trusted.status_code, configured.status_code) == (403, 204, 204)


@pytest.mark.django_db
def test_a_callback_settles_a_send_whose_outcome_was_unknown(outbound: Sandbox) -> None:
    patient = patient_at("5550104503")
    message = notify_needs_attention(patient=patient, reference="ocr-review:4")
    assert message is not None
    OutboundMessage.objects.filter(pk=message.pk).update(state="ambiguous", must_reconcile=True)
    path = f"{STATUS_PATH}?m={message.public_id}"

    response = signed_post(Client(), path, status_params("SM" + "3" * 32, "sent"), url=f"http://testserver{path}")

    message.refresh_from_db()
    assert response.status_code == 204
    assert (message.state, message.message_sid, message.reconciled) == ("succeeded", "SM" + "3" * 32, True)
    assert message.delivery_status == "sent"
    drain_messages()
    assert outbound.requests(system="twilio") == []  # settled without a lookup, never resent


# --- replies ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stop_help_and_start_replies(outbound: Sandbox) -> None:
    patient_at("5550104504")
    client = Client()

    def reply(body: str, sid: str) -> Any:
        params = {"AccountSid": ACCOUNT, "MessageSid": sid, "From": "+15550104504", "To": "+16175550100", "Body": body}
        return signed_post(client, INBOUND_PATH, params)

    stop = reply("stop", "SM" + "a" * 32)
    again = reply("stop", "SM" + "a" * 32)  # Twilio's retry of the same message
    help_answer = reply("HELP", "SM" + "b" * 32)
    opted_out = SmsOptOut.objects.get().is_active
    start = reply("Start", "SM" + "c" * 32)

    assert (stop.status_code, again.status_code, start.status_code) == (200, 200, 200)
    assert opted_out is True and SmsOptOut.objects.get().is_active is False
    assert b"<Message>" in help_answer.content and b"Reply STOP" in help_answer.content
    assert b"5550104504" not in help_answer.content
    forged = client.post(INBOUND_PATH, {"MessageSid": "SM" + "d" * 32, "From": "+15550104504", "Body": "START"})
    assert forged.status_code == 403


@pytest.mark.django_db
def test_twilio_refusing_an_opted_out_number_records_the_opt_out(outbound: Sandbox) -> None:
    patient = patient_at("5550104505")
    outbound.edit({"type": "twilio.inbound", "from": "+15550104505", "body": "STOP"})  # the hub did not hear it
    message = notify_needs_attention(patient=patient, reference="ocr-review:5")
    drain_messages()

    assert message is not None
    message.refresh_from_db()
    assert (message.state, message.skip_reason) == ("skipped", "the number opted out (Twilio 21610)")
    assert SmsOptOut.objects.get(phone_hash=phone_hash("+15550104505")).source == "twilio"
