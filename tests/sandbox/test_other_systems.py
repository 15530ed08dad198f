"""The Twilio, Clover and portal look-alikes served by the same process."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid

import requests
from standardwebhooks.webhooks import Webhook

from tests.sandbox.conftest import Control

ACCOUNT = "AC00000000000000000000000000000001"
TWILIO_AUTH = (ACCOUNT, "local-twilio-auth-token")
CLOVER = {"Authorization": "Bearer local-clover-private-token"}
PORTAL_SECRET = "whsec_bG9jYWwtcG9ydGFsLXdlYmhvb2stc2VjcmV0LTAx"


def test_twilio_send_fetch_and_list(control: Control) -> None:
    base = f"{control.base_url}/_twilio/2010-04-01/Accounts/{ACCOUNT}"
    form = {
        "To": "+16175550142",
        "From": "+16175550100",
        "Body": "Your visit is confirmed.",
        "StatusCallback": "http://127.0.0.1:8000/webhooks/twilio/",
    }

    sent = requests.post(f"{base}/Messages.json", data=form, auth=TWILIO_AUTH, timeout=5)
    fetched = requests.get(f"{base}/Messages/{sent.json()['sid']}.json", auth=TWILIO_AUTH, timeout=5)
    listed = requests.get(f"{base}/Messages.json", params={"To": "+16175550142"}, auth=TWILIO_AUTH, timeout=5)
    unauthorised = requests.post(f"{base}/Messages.json", data=form, auth=(ACCOUNT, "wrong"), timeout=5)
    no_body = requests.post(
        f"{base}/Messages.json", data={"To": "+16175550142", "From": "+16175550100"}, auth=TWILIO_AUTH, timeout=5
    )

    assert sent.status_code == 201
    assert sent.json()["sid"].startswith("SM") and len(sent.json()["sid"]) == 34
    assert sent.json()["status"] == "queued"
    assert fetched.json()["body"] == "Your visit is confirmed."
    assert [item["sid"] for item in listed.json()["messages"]] == [sent.json()["sid"]]
    assert unauthorised.status_code == 401 and unauthorised.json()["code"] == 20003
    assert no_body.status_code == 400 and no_body.json()["code"] == 21602
    assert [item["system"] for item in control.requests(system="twilio")] == ["twilio"] * 5


def _charge(control: Control, key: str, amount: int = 2500) -> requests.Response:
    return requests.post(
        f"{control.base_url}/_clover/v1/charges",
        json={"amount": amount, "currency": "usd", "source": "clv_synthetic_card"},
        headers={**CLOVER, "Idempotency-Key": key},
        timeout=5,
    )


def test_clover_charges_are_idempotent_per_key(control: Control) -> None:
    key = str(uuid.uuid4())

    first = _charge(control, key)
    replay = _charge(control, key)
    changed = _charge(control, key, amount=3000)
    no_key = requests.post(
        f"{control.base_url}/_clover/v1/charges", json={"amount": 100, "source": "clv_x"}, headers=CLOVER, timeout=5
    )
    fractional = _charge(control, str(uuid.uuid4()), amount=25.5)  # type: ignore[arg-type]

    assert first.status_code == 200 and first.json()["status"] == "succeeded"
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert changed.status_code == 400
    assert no_key.status_code == 400
    assert fractional.status_code == 400
    fetched = requests.get(f"{control.base_url}/_clover/v1/charges/{first.json()['id']}", headers=CLOVER, timeout=5)
    assert fetched.json()["amount"] == 2500


def test_clover_refunds_cannot_exceed_the_charge(control: Control) -> None:
    charge = _charge(control, str(uuid.uuid4())).json()

    def refund(amount: int) -> requests.Response:
        return requests.post(
            f"{control.base_url}/_clover/v1/refunds",
            json={"charge": charge["id"], "amount": amount},
            headers={**CLOVER, "Idempotency-Key": str(uuid.uuid4())},
            timeout=5,
        )

    partial = refund(1000)
    too_much = refund(2000)
    rest = refund(1500)

    assert partial.status_code == 200 and partial.json()["amount"] == 1000
    assert too_much.status_code == 400
    assert rest.status_code == 200
    fetched = requests.get(f"{control.base_url}/_clover/v1/charges/{charge['id']}", headers=CLOVER, timeout=5).json()
    assert fetched["amount_refunded"] == 2500 and fetched["refunded"] is True


def _signed(secret: str, payload: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    message_id = f"msg_{uuid.uuid4().hex}"
    moment = dt.datetime.now(dt.UTC)
    signature = Webhook(secret).sign(message_id, moment, body.decode())
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }
    return body, headers


def test_portal_sink_verifies_standard_webhooks_signatures(control: Control) -> None:
    url = f"{control.base_url}/_portal/webhooks"
    body, headers = _signed(PORTAL_SECRET, {"type": "patient.updated", "patient": "p_1"})
    forged = {**headers, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}

    good = requests.post(url, data=body, headers=headers, timeout=5)
    bad = requests.post(url, data=body, headers=forged, timeout=5)
    tampered = requests.post(url, data=body.replace(b"p_1", b"p_2"), headers=headers, timeout=5)
    listed = requests.get(url, timeout=5).json()

    assert good.status_code == 204
    assert bad.status_code == 401 and tampered.status_code == 401
    assert [item["verified"] for item in listed["deliveries"]] == [True, False, False]
    assert listed["deliveries"][0]["payload"] == {"type": "patient.updated", "patient": "p_1"}
    assert listed["deliveries"][0]["webhook_id"] == headers["webhook-id"]


def test_portal_sink_accepts_either_secret_and_can_fail_on_demand(control: Control) -> None:
    rotated = "whsec_" + base64.b64encode(b"a-new-portal-secret-for-tests").decode()
    control.configure(portal={"secrets": [rotated, PORTAL_SECRET], "respond_status": 500})
    url = f"{control.base_url}/_portal/webhooks"

    old_body, old_headers = _signed(PORTAL_SECRET, {"n": 1})
    new_body, new_headers = _signed(rotated, {"n": 2})
    old = requests.post(url, data=old_body, headers=old_headers, timeout=5)
    new = requests.post(url, data=new_body, headers=new_headers, timeout=5)
    control.configure(portal={"respond_status": 410, "delay_seconds": 0.3})
    started = time.perf_counter()
    gone = requests.post(url, data=new_body, headers=new_headers, timeout=5)

    assert (old.status_code, new.status_code) == (500, 500)  # verified, then told to fail
    assert gone.status_code == 410 and time.perf_counter() - started >= 0.3
    deliveries = requests.get(url, params={"verified": "true"}, timeout=5).json()
    assert [item["secret_index"] for item in deliveries["deliveries"]] == [1, 0, 0]
    assert deliveries["distinct_webhook_ids"] == 2  # the third post was a redelivery
