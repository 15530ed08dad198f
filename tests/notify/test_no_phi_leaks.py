"""No phone number, name or card data in logs, audit rows, task arguments or error summaries.

Synthetic canary values go through the SMS and payment flows, error paths included (lost answers,
an opted-out number, a declined card, a card number sent by mistake), with every logger at DEBUG.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from django_q.models import OrmQ
from twilio.request_validator import RequestValidator

from hub.models import AuditEvent
from notify.models import OutboundMessage, OutboundMessageEvent
from notify.services import notify_needs_attention
from payments.models import PaymentOperation, PaymentOperationEvent
from tests.api.conftest import make_portal
from tests.conftest import Sandbox
from tests.factories import make_department, make_patient, make_practice
from tests.outbound import CLOVER_CHARGES, TWILIO_MESSAGES, drain_messages, drain_payments

pytestmark = pytest.mark.django_db

FIRST, LAST = "Quillonevra", "Zanthorpe"
PHONE_DIGITS = "5550198765"
CARD_TOKEN = "clv_canary_token_7Hq2"
DECLINED_TOKEN = "clv_decline_canary_9Zr4"
CANARIES = (FIRST, LAST, PHONE_DIGITS, "555-019-8765", "019-8765", CARD_TOKEN, DECLINED_TOKEN, "4111111111111111")


def _texts() -> list[str]:
    rows: list[Any] = [*AuditEvent.objects.all(), *OutboundMessage.objects.all(), *OutboundMessageEvent.objects.all()]
    rows += [*PaymentOperationEvent.objects.all()]
    texts = [json.dumps(model_to_dict(row), default=str) for row in rows]
    texts += [json.dumps({"last_error": op.last_error, "reason": op.reason}) for op in PaymentOperation.objects.all()]
    texts += [json.dumps(queued.task, default=str) for queued in OrmQ.objects.all()]
    return texts


def test_canary_phi_never_reaches_logs_audit_rows_or_task_arguments(
    outbound: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    department = make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    patient = make_patient(
        department,
        first_name=FIRST,
        last_name=LAST,
        mobile_phone=f"({PHONE_DIGITS[:3]}) {PHONE_DIGITS[3:6]}-{PHONE_DIGITS[6:]}",
    )
    patient.consent_to_text = True
    patient.save()
    number = "+1" + PHONE_DIGITS

    # A text whose first answer is lost (looked for by listing messages to the number), then a STOP.
    outbound.configure(
        faults={"rules": [{"method": "POST", "route": TWILIO_MESSAGES, "kind": "drop_after", "count": 1}]}
    )
    notify_needs_attention(patient=patient, reference="ocr-review:1")
    drain_messages()
    params = {"AccountSid": "AC00000000000000000000000000000001", "MessageSid": "SM" + "e" * 32, "From": number}
    params |= {"To": "+16175550100", "Body": f"STOP {FIRST}"}
    signature = RequestValidator("local-twilio-auth-token").compute_signature(
        "http://testserver/webhooks/twilio/inbound/", params
    )
    Client().post("/webhooks/twilio/inbound/", params, HTTP_X_TWILIO_SIGNATURE=signature)
    Client().post("/webhooks/twilio/inbound/", params, HTTP_X_TWILIO_SIGNATURE="forged")
    notify_needs_attention(patient=patient, reference="ocr-review:2")
    drain_messages()

    # A balance payment whose answer is lost, a declined card, and a card number sent by mistake.
    portal = make_portal("canary-portal", locations=["1"])
    outbound.configure(
        faults={"rules": [{"method": "POST", "route": CLOVER_CHARGES, "kind": "drop_after", "count": 1}]}
    )
    for token in (CARD_TOKEN, DECLINED_TOKEN):
        created = portal.post(
            "/api/v1/payments", {"kind": "balance", "patient_id": str(patient.public_id), "amount_cents": 1500}
        )
        portal.post(f"/api/v1/payments/{created.json()['id']}/complete", {"card_token": token})
    mistaken = portal.post(f"/api/v1/payments/{created.json()['id']}/complete", {"card_token": "4111111111111111"})
    drain_payments()

    assert outbound.records("messages", to=number)["count"] == 2  # the flows really ran: one text, one STOP
    assert len(outbound.records("charges")["charges"]) == 2 and mistaken.status_code in (400, 409)
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    stored = "\n".join(_texts())
    for canary in CANARIES:
        assert canary not in logged, canary
        assert canary not in stored, canary
        assert canary not in mistaken.content.decode(), canary
