"""Copays reconciled against athena: staff see paid / unpaid / mismatched, mismatches queue for them.
Clover's webhooks are checked (X-Clover-Auth) and only hints: every change is read back from Clover."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hub.athena import build_athena_client
from hub.models import Appointment, AuditEvent, Department
from hub.roles import FRONT_DESK
from payments.clover import clover_client
from payments.models import AppointmentCopay, CloverWebhookHint, Payment
from payments.reconcile import copay_reconcile_appointment, copays_reconcile
from payments.services import clover_hints_process, payment_reverse, payments_poll_recent
from tests.api.conftest import Portal, make_portal
from tests.conftest import Sandbox
from tests.factories import make_department, make_practice, make_staff
from tests.outbound import drain_payments, wait_for
from tests.payments.test_payments_api import pay, visit
from tests.staff.conftest import sign_in

pytestmark = pytest.mark.django_db
AUTH = "local-clover-webhook-auth"


@pytest.fixture
def boston(outbound: Sandbox) -> Department:
    return make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")


@pytest.fixture
def portal(boston: Department) -> Portal:
    return make_portal("pay-portal", locations=["1"])


def check(appointment: Appointment) -> AppointmentCopay:
    return copay_reconcile_appointment(appointment=appointment, athena=build_athena_client())


def webhook(body: dict[str, Any], auth: str = AUTH) -> Any:
    return Client().post(
        "/webhooks/clover/", json.dumps(body), content_type="application/json", HTTP_X_CLOVER_AUTH=auth
    )


def clover_body(charge_id: str, change: str = "UPDATE") -> dict[str, Any]:
    return {
        "appId": "SBXHUBAPP0001",
        "merchants": {"SBXMERCHANT01": [{"objectId": f"P:{charge_id}", "type": change, "ts": 1}]},
    }


def test_paid_unpaid_and_no_copay_visits(portal: Portal, outbound: Sandbox, boston: Department) -> None:
    paid = visit(outbound, boston, copay_dollars=25, index=0)
    unpaid = visit(outbound, boston, copay_dollars=20, index=1)
    free = visit(outbound, boston, copay_dollars=0, index=2)
    pay(portal, paid)
    drain_payments()

    today = timezone.now().date()
    copays_reconcile(
        athena=build_athena_client(), start=today - dt.timedelta(days=30), end=today + dt.timedelta(days=60)
    )

    statuses = {
        c.appointment_id: (c.status, c.expected_cents, c.collected_cents) for c in AppointmentCopay.objects.all()
    }
    assert statuses[paid.pk] == ("paid", 2500, 2500)
    assert statuses[unpaid.pk] == ("unpaid", 2000, 0)
    assert statuses[free.pk] == ("no_copay", 0, 0)


def test_a_dashboard_refund_is_found_by_polling_and_flagged_for_staff(
    portal: Portal, outbound: Sandbox, boston: Department
) -> None:
    appointment = visit(outbound, boston, copay_dollars=25)
    payment = pay(portal, appointment)
    drain_payments()
    assert check(appointment).status == "paid"
    charge_id = Payment.objects.get(public_id=payment["id"]).clover_charge_id
    outbound.edit({"type": "clover.refund", "charge": charge_id, "amount": 500})  # no webhook reaches the hub

    changed = payments_poll_recent(clover=clover_client())
    finding = check(appointment)

    assert changed == 1
    assert (finding.status, finding.collected_cents) == ("mismatched", 2000)
    assert finding.reason == "Clover shows a refund or void the hub did not make"
    desk = make_staff("desk", role=FRONT_DESK, departments=[boston])
    home = sign_in(Client(), desk).get("/admin/")
    queue = sign_in(Client(), desk).get("/admin/payments/appointmentcopay/?queue=open")
    assert b"Copay mismatches" in home.content and b"Clover shows a refund" in home.content
    assert queue.context["cl"].result_count == 1


def test_athena_changing_the_copay_after_payment_is_a_mismatch_until_settled(
    portal: Portal, outbound: Sandbox, boston: Department
) -> None:
    appointment = visit(outbound, boston, copay_dollars=25)
    payment = pay(portal, appointment)
    drain_payments()
    outbound.edit(
        {"type": "appointment.update", "appointmentid": appointment.athena_appointment_id, "fields": {"copay": 20}}
    )

    mismatch = check(appointment)
    portal.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount_cents": 500, "reason": "copay lowered"})
    drain_payments()
    settled = check(appointment)

    assert (mismatch.status, mismatch.reason) == ("mismatched", "collected 2500 cents, athena expects 2000 cents")
    assert settled.status == "paid" and settled.resolved_at is not None  # closed by itself once it matched


def test_paying_for_a_visit_athena_cancelled_is_a_mismatch(
    portal: Portal, outbound: Sandbox, boston: Department
) -> None:
    appointment = visit(outbound, boston, copay_dollars=25)
    pay(portal, appointment)
    drain_payments()
    outbound.edit({"type": "appointment.cancel", "appointmentid": appointment.athena_appointment_id})

    finding = check(appointment)

    assert (finding.status, finding.reason) == ("mismatched", "paid for a visit athena has cancelled")


def test_staff_reversal_within_minutes_is_a_void(portal: Portal, outbound: Sandbox, boston: Department) -> None:
    appointment = visit(outbound, boston, copay_dollars=25)
    payment = Payment.objects.get(public_id=pay(portal, appointment)["id"])
    drain_payments()
    payment.refresh_from_db()

    payment_reverse(payment=payment, requested_by="desk", reason="paid twice")
    drain_payments()

    payment.refresh_from_db()
    assert payment.status == "voided" and payment.net_cents == 0
    assert outbound.records("charges")["charges"][0]["status"] == "voided"
    assert check(appointment).status == "unpaid"  # a void the hub made is no mismatch


# --- Clover webhooks -----------------------------------------------------------------------------------


def test_a_webhook_with_a_wrong_auth_code_is_refused_and_audited(outbound: Sandbox) -> None:
    wrong = webhook(clover_body("ABC"), auth="guess")
    missing = Client().post("/webhooks/clover/", json.dumps(clover_body("ABC")), content_type="application/json")

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert wrong["Content-Type"] == "application/problem+json"
    assert AuditEvent.objects.filter(system="clover", direction="inbound", status_code=401).count() == 2
    assert CloverWebhookHint.objects.count() == 0


def test_a_webhook_is_a_hint_read_back_from_clover_and_a_repeat_is_nothing_new(
    portal: Portal, outbound: Sandbox, boston: Department
) -> None:
    appointment = visit(outbound, boston, copay_dollars=25)
    payment = pay(portal, appointment)
    drain_payments()
    charge_id = Payment.objects.get(public_id=payment["id"]).clover_charge_id
    outbound.edit({"type": "clover.refund", "charge": charge_id, "amount": 2500})

    first = webhook(clover_body(charge_id))
    repeat = webhook(clover_body(charge_id))
    lie = webhook(clover_body("NOSUCHCHARGE0"))  # a hint about something Clover does not have
    clover_hints_process(clover=clover_client())

    assert (first.json(), repeat.json(), lie.json()) == ({"received": 1}, {"received": 0}, {"received": 1})
    refreshed = Payment.objects.get(public_id=payment["id"])
    assert (refreshed.status, refreshed.amount_refunded_cents) == ("refunded", 2500)
    assert CloverWebhookHint.objects.filter(processed_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_clover_s_own_webhook_reaches_the_live_hub(outbound: Sandbox, live_server: Any) -> None:
    boston = make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    portal = make_portal("live-pay-portal", locations=["1"])
    outbound.configure(
        clover={"webhook": {"enabled": True, "url": f"{live_server.url}/webhooks/clover/", "delay_seconds": 0}}
    )
    appointment = visit(outbound, boston, copay_dollars=25)
    pay(portal, appointment)
    drain_payments()

    wait_for(lambda: CloverWebhookHint.objects.exists())
    clover_hints_process(clover=clover_client())

    wait_for(lambda: outbound.control("GET", "callbacks", params={"system": "clover"})["by_status"] == {"delivered": 1})
    assert CloverWebhookHint.objects.get().payment == Payment.objects.get()
    assert AuditEvent.objects.filter(system="clover", direction="inbound", status_code=200).count() == 1


def test_a_webhook_settles_a_charge_whose_answer_was_lost_without_a_resend(
    portal: Portal, outbound: Sandbox, boston: Department, settings: Any
) -> None:
    settings.HUB_INTENT_BACKOFF_SECONDS = 60  # the worker's retry is far off: only the webhook can settle it
    appointment = visit(outbound, boston, copay_dollars=25)
    outbound.configure(faults={"rules": [{"method": "POST", "route": "/_clover/v1/charges", "kind": "drop_after"}]})
    payment = pay(portal, appointment)
    drain_payments()
    operation = Payment.objects.get(public_id=payment["id"]).operations.get()
    assert operation.state == "ambiguous"
    charge_id = outbound.records("charges")["charges"][0]["id"]

    webhook(clover_body(charge_id, "CREATE"))
    clover_hints_process(clover=clover_client())

    operation.refresh_from_db()
    assert (operation.state, operation.reconciled, operation.card_token) == ("succeeded", True, "")
    assert Payment.objects.get(public_id=payment["id"]).status == "succeeded"
    assert len(outbound.requests(system="clover", method="POST")) == 1


def test_an_unknown_outcome_past_clover_s_key_window_is_parked_not_resent(
    portal: Portal, outbound: Sandbox, boston: Department
) -> None:
    appointment = visit(outbound, boston, copay_dollars=25)
    payment = pay(portal, appointment)
    operation = Payment.objects.get(public_id=payment["id"]).operations.get()
    type(operation).objects.filter(pk=operation.pk).update(
        state="ambiguous", must_reconcile=True, first_attempt_at=timezone.now() - dt.timedelta(hours=25)
    )

    drain_payments()

    operation.refresh_from_db()
    assert operation.state == "parked" and "Idempotency-Key window" in operation.last_error
    assert Payment.objects.get(public_id=payment["id"]).status == "needs_attention"
    assert outbound.requests(system="clover") == []
