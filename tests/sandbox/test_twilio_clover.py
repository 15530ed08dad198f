"""The Twilio and Clover look-alikes talking back: status callbacks, replies, webhooks, faults."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import requests
from twilio.request_validator import RequestValidator

from tests.sandbox.conftest import Control, Receiver

ACCOUNT = "AC00000000000000000000000000000001"
TOKEN = "local-twilio-auth-token"
HUB_NUMBER = "+16175550100"
CLOVER = {"Authorization": "Bearer local-clover-private-token"}


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def send(control: Control, to: str, callback: str = "") -> requests.Response:
    form = {"To": to, "From": HUB_NUMBER, "Body": "Hi, see you soon. Ref AAAAAA"}
    if callback:
        form["StatusCallback"] = callback
    return requests.post(
        f"{control.base_url}/_twilio/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        data=form,
        auth=(ACCOUNT, TOKEN),
        timeout=5,
    )


def forms(receiver: Receiver) -> list[dict[str, str]]:
    with receiver.lock:
        return [dict(parse_qsl(item["body"].decode())) for item in receiver.received]


def test_a_message_reports_queued_sent_delivered_with_valid_signatures(control: Control, receiver: Receiver) -> None:
    control.configure(twilio={"callbacks": {"enabled": True, "delay_seconds": 0.01}})
    sid = send(control, "+16175550142", receiver.url + "?m=abc").json()["sid"]

    wait_for(lambda: len(forms(receiver)) == 3)
    statuses = [form["MessageStatus"] for form in forms(receiver)]
    validator = RequestValidator(TOKEN)
    with receiver.lock:
        signed = [
            validator.validate(
                receiver.url + "?m=abc", dict(parse_qsl(item["body"].decode())), item["headers"]["X-Twilio-Signature"]
            )
            for item in receiver.received
        ]

    assert statuses == ["queued", "sent", "delivered"]
    assert all(signed)
    assert {form["MessageSid"] for form in forms(receiver)} == {sid}
    fetched = requests.get(
        f"{control.base_url}/_twilio/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json",
        auth=(ACCOUNT, TOKEN),
        timeout=5,
    ).json()
    assert fetched["status"] == "delivered" and fetched["date_sent"]


def test_undeliverable_numbers_end_undelivered_with_an_error_code(control: Control, receiver: Receiver) -> None:
    control.configure(twilio={"callbacks": {"enabled": True, "delay_seconds": 0.01}, "undeliverable": ["+16175550143"]})
    send(control, "+16175550143", receiver.url)

    wait_for(lambda: len(forms(receiver)) == 3)

    final = forms(receiver)[-1]
    assert (final["MessageStatus"], final["ErrorCode"]) == ("undelivered", "30003")


def test_a_stop_reply_is_posted_signed_and_blocks_later_sends_until_start(control: Control, receiver: Receiver) -> None:
    control.configure(twilio={"inbound_url": receiver.url})
    assert send(control, "+16175550144").status_code == 201

    stop = control.edit(type="twilio.inbound", **{"from": "+16175550144", "body": "Stop"})
    refused = send(control, "+16175550144")
    control.edit(type="twilio.inbound", **{"from": "+16175550144", "body": "START"})
    again = send(control, "+16175550144")

    assert stop["keyword"] == "STOP" and stop["delivery"]["status"] == "delivered"
    inbound = forms(receiver)[0]
    with receiver.lock:
        signature = receiver.received[0]["headers"]["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(receiver.url, inbound, signature)
    assert (inbound["From"], inbound["To"], inbound["OptOutType"]) == ("+16175550144", HUB_NUMBER, "STOP")
    assert refused.status_code == 400 and refused.json()["code"] == 21610
    assert again.status_code == 201
    records = control.records("messages", to="+16175550144")
    assert [m["direction"] for m in records["messages"]] == ["outbound-api", "outbound-api"]


def test_clover_announces_charges_and_dashboard_refunds(control: Control, receiver: Receiver) -> None:
    control.configure(clover={"webhook": {"enabled": True, "url": receiver.url, "delay_seconds": 0.0}})
    charge = requests.post(
        f"{control.base_url}/_clover/v1/charges",
        json={"amount": 2500, "currency": "usd", "source": "clv_synthetic_card"},
        headers={**CLOVER, "Idempotency-Key": str(uuid.uuid4())},
        timeout=5,
    ).json()
    refund = control.edit(type="clover.refund", charge=charge["id"], amount=500)

    wait_for(lambda: len(receiver.received) == 2)
    bodies = receiver.bodies()
    with receiver.lock:
        auth = {item["headers"]["X-Clover-Auth"] for item in receiver.received}

    assert auth == {"local-clover-webhook-auth"}
    changes = [body["merchants"]["SBXMERCHANT01"][0] for body in bodies]
    assert [(c["objectId"], c["type"]) for c in changes] == [
        (f"P:{charge['id']}", "CREATE"),
        (f"P:{charge['id']}", "UPDATE"),
    ]
    assert refund["amount"] == 500
    records = control.records("charges")
    assert records["charges"][0]["amount_refunded"] == 500
    assert records["refunds"][0]["metadata"] == {"source": "dashboard"}


def test_a_void_is_idempotent_and_only_for_an_unrefunded_charge(control: Control) -> None:
    def charge() -> dict[str, Any]:
        return requests.post(
            f"{control.base_url}/_clover/v1/charges",
            json={"amount": 2000, "source": "clv_synthetic_card"},
            headers={**CLOVER, "Idempotency-Key": str(uuid.uuid4())},
            timeout=5,
        ).json()

    def void(charge_id: str, key: str) -> requests.Response:
        return requests.post(
            f"{control.base_url}/_clover/v1/charges/{charge_id}/void",
            json={},
            headers={**CLOVER, "Idempotency-Key": key},
            timeout=5,
        )

    first, second = charge(), charge()
    key = str(uuid.uuid4())
    voided, replay = void(first["id"], key), void(first["id"], key)
    control.edit(type="clover.refund", charge=second["id"], amount=100)
    refused = void(second["id"], str(uuid.uuid4()))

    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "charge_not_voidable"


def test_the_global_fault_rate_can_target_twilio_and_clover(control: Control) -> None:
    control.configure(faults={"rate": 1.0, "systems": ["twilio"], "kinds": {"error_before": 1}})

    twilio = send(control, "+16175550145")
    clover = requests.get(f"{control.base_url}/_clover/v1/charges/NOPE", headers=CLOVER, timeout=5)

    assert twilio.status_code == 500
    assert clover.status_code == 404  # not in `systems`: no fault
    assert [r["fault"] for r in control.requests(system="twilio")] == ["error_before"]
    bad = requests.put(f"{control.base_url}/_sandbox/config", json={"faults": {"systems": ["nope"]}}, timeout=5)
    assert bad.status_code == 400


def test_callback_outbox_is_listed(control: Control, receiver: Receiver) -> None:
    control.configure(twilio={"callbacks": {"enabled": True, "delay_seconds": 0.01}})
    sid = send(control, "+16175550146", receiver.url).json()["sid"]
    wait_for(lambda: len(receiver.received) == 3)

    listed = control.get("/callbacks", ref=sid)

    assert listed["by_status"] == {"delivered": 3}
    assert [item["payload"]["status"] for item in listed["callbacks"]] == ["queued", "sent", "delivered"]
    assert json.dumps(listed)  # plain JSON, nothing the control surface cannot serialise
