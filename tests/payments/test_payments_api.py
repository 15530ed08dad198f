"""Copay payments: the portal creates a payment intent, completes it with a card token, refunds it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hub.models import Appointment, AuditEvent, Department
from payments.models import Payment, PaymentOperation
from tests.api.conftest import Portal, make_portal
from tests.conftest import Sandbox
from tests.factories import make_appointment, make_department, make_patient, make_practice
from tests.outbound import CLOVER_CHARGES, booked_appointments, drain_payments, fault

pytestmark = pytest.mark.django_db
TOKEN = "clv_synthetic_visa_4242"


@pytest.fixture
def clinics(outbound: Sandbox) -> dict[str, Department]:
    practice = make_practice()
    return {
        "boston": make_department(practice, athena_department_id="1", name="Harbor Family Medicine"),
        "austin": make_department(practice, athena_department_id="157", name="Lone Star Clinic"),
    }


@pytest.fixture
def portal(clinics: dict[str, Department]) -> Portal:
    return make_portal("pay-portal", locations=["1"])


def visit(sandbox: Sandbox, department: Department, *, copay_dollars: int, index: int = 0) -> Appointment:
    """A hub copy of a booked athena visit whose copay athena says is `copay_dollars`."""
    row = booked_appointments(sandbox, department.athena_department_id)[index]
    sandbox.edit(
        {"type": "appointment.update", "appointmentid": row["appointmentid"], "fields": {"copay": copay_dollars}}
    )
    patient = make_patient(department, athena_patient_id=row["patientid"])
    return make_appointment(department, patient=patient, athena_appointment_id=row["appointmentid"])


def pay(portal: Portal, appointment: Appointment, token: str = TOKEN) -> dict[str, Any]:
    created = portal.post("/api/v1/payments", {"kind": "copay", "appointment_id": appointment.athena_appointment_id})
    assert created.status_code == 201, created.content
    completed = portal.post(f"/api/v1/payments/{created.json()['id']}/complete", {"card_token": token})
    assert completed.status_code == 202, completed.content
    return dict(completed.json())


def test_a_copay_is_created_from_athena_completed_and_charged_once(
    portal: Portal, outbound: Sandbox, clinics: Any
) -> None:
    appointment = visit(outbound, clinics["boston"], copay_dollars=25)
    created = portal.post("/api/v1/payments", {"kind": "copay", "appointment_id": appointment.athena_appointment_id})
    again = portal.post("/api/v1/payments", {"kind": "copay", "appointment_id": appointment.athena_appointment_id})
    payment_id = created.json()["id"]

    completed = portal.post(f"/api/v1/payments/{payment_id}/complete", {"card_token": TOKEN})
    drain_payments()
    status = portal.get(f"/api/v1/payments/{payment_id}").json()

    assert created.status_code == 201 and created["Location"] == f"/api/v1/payments/{payment_id}"
    assert created.json()["amount_cents"] == 2500 and created.json()["status"] == "requires_payment_method"
    assert again.json()["id"] == payment_id  # one intent per visit while it waits for its card
    assert completed.status_code == 202 and completed.json()["status"] == "processing"
    assert status["status"] == "succeeded" and status["paid_at"]
    assert [(op["kind"], op["status"]) for op in status["operations"]] == [("charge", "succeeded")]
    charges = outbound.records("charges")["charges"]
    assert [(c["amount"], c["status"]) for c in charges] == [(2500, "succeeded")]
    assert charges[0]["metadata"]["payment"] == payment_id
    assert "card_token" not in str(status) and TOKEN not in str(status)
    assert PaymentOperation.objects.get().card_token == ""  # the token is gone once the charge settled


@pytest.mark.parametrize("kind", ["drop_after", "hang_after", "error_after", "error_before"])
def test_a_payment_retried_after_a_lost_answer_charges_once(
    portal: Portal, outbound: Sandbox, clinics: Any, kind: str
) -> None:
    appointment = visit(outbound, clinics["boston"], copay_dollars=30)
    outbound.configure(**fault("POST", CLOVER_CHARGES, kind))
    payment = pay(portal, appointment)
    drain_payments()

    charges = outbound.records("charges")["charges"]
    assert [(c["amount"], c["status"]) for c in charges] == [(3000, "succeeded")]
    posts = outbound.requests(system="clover", method="POST")
    assert len(posts) == 2
    operation = PaymentOperation.objects.get()
    assert {p["ids"]["idempotency_key"] for p in posts} == {operation.idempotency_key}
    assert Payment.objects.get(public_id=payment["id"]).status == "succeeded"
    assert operation.events.filter(to_state="ambiguous").exists() or kind == "error_before"
    # Every Clover call has its audit row.
    assert AuditEvent.objects.filter(system="clover", direction="outbound").count() == len(
        outbound.requests(system="clover")
    )


def test_the_portal_completing_twice_is_one_charge(portal: Portal, outbound: Sandbox, clinics: Any) -> None:
    appointment = visit(outbound, clinics["boston"], copay_dollars=20)
    payment = pay(portal, appointment)
    second = portal.post(f"/api/v1/payments/{payment['id']}/complete", {"card_token": TOKEN})
    drain_payments()

    assert second.status_code == 409 and second["Content-Type"] == "application/problem+json"
    assert second.json()["code"] == "payment-already-submitted"
    assert len(outbound.records("charges")["charges"]) == 1


def test_a_declined_card_fails_the_payment(portal: Portal, outbound: Sandbox, clinics: Any) -> None:
    appointment = visit(outbound, clinics["boston"], copay_dollars=20)
    payment = pay(portal, appointment, token="clv_decline_test_card")
    drain_payments()

    status = portal.get(f"/api/v1/payments/{payment['id']}").json()
    assert (status["status"], status["failure_code"]) == ("failed", "card_declined")


def test_a_refund_of_more_than_was_paid_is_refused(portal: Portal, outbound: Sandbox, clinics: Any) -> None:
    appointment = visit(outbound, clinics["boston"], copay_dollars=25)
    payment = pay(portal, appointment)
    drain_payments()
    url = f"/api/v1/payments/{payment['id']}/refunds"

    too_much = portal.post(url, {"amount_cents": 2501})
    partial = portal.post(url, {"amount_cents": 1000, "reason": "visit shortened"})
    rest_plus_one = portal.post(url, {"amount_cents": 1501})  # 1000 is already on its way
    drain_payments()
    rest = portal.post(url, {"amount_cents": 1500})
    drain_payments()

    assert too_much.status_code == 422 and too_much["Content-Type"] == "application/problem+json"
    assert too_much.json()["code"] == "refund-exceeds-payment"
    assert partial.status_code == 202 and rest_plus_one.status_code == 422 and rest.status_code == 202
    status = portal.get(f"/api/v1/payments/{payment['id']}").json()
    assert (status["status"], status["amount_refunded_cents"]) == ("refunded", 2500)
    assert [r["amount"] for r in outbound.records("charges")["refunds"]] == [1000, 1500]


def test_bad_input_is_a_problem_and_card_numbers_are_never_echoed(
    portal: Portal, outbound: Sandbox, clinics: Any
) -> None:
    appointment = visit(outbound, clinics["boston"], copay_dollars=25)
    created = portal.post("/api/v1/payments", {"kind": "copay", "appointment_id": appointment.athena_appointment_id})
    payment_id = created.json()["id"]

    cases = {
        "no appointment": portal.post("/api/v1/payments", {"kind": "copay"}),
        "copay with amount": portal.post(
            "/api/v1/payments",
            {"kind": "copay", "appointment_id": appointment.athena_appointment_id, "amount_cents": 1},
        ),
        "balance without amount": portal.post(
            "/api/v1/payments",
            {"kind": "balance", "patient_id": str(appointment.patient.public_id)},  # type: ignore[union-attr]
        ),
        "fractional cents": portal.post(
            "/api/v1/payments",
            {"kind": "balance", "patient_id": str(appointment.patient.public_id), "amount_cents": 12.5},  # type: ignore[union-attr]
        ),
        "card number": portal.post(f"/api/v1/payments/{payment_id}/complete", {"card_token": "4111 1111 1111 1111"}),
        "not a token": portal.post(f"/api/v1/payments/{payment_id}/complete", {"card_token": "tok_abc"}),
        "negative refund": portal.post(f"/api/v1/payments/{payment_id}/refunds", {"amount_cents": -5}),
        "no key": portal.post(f"/api/v1/payments/{payment_id}/complete", {"card_token": TOKEN}, key=None),
    }

    for name, response in cases.items():
        assert response.status_code == 400, name
        assert response["Content-Type"] == "application/problem+json", name
    assert b"4111" not in cases["card number"].content
    assert Payment.objects.get(public_id=payment_id).status == "requires_payment_method"


def test_a_visit_without_a_copay_and_a_cancelled_visit_are_refused(
    portal: Portal, outbound: Sandbox, clinics: Any
) -> None:
    free = visit(outbound, clinics["boston"], copay_dollars=0)
    cancelled = visit(outbound, clinics["boston"], copay_dollars=25, index=1)
    Appointment.objects.filter(pk=cancelled.pk).update(status=Appointment.Status.CANCELLED)

    nothing = portal.post("/api/v1/payments", {"kind": "copay", "appointment_id": free.athena_appointment_id})
    gone = portal.post("/api/v1/payments", {"kind": "copay", "appointment_id": cancelled.athena_appointment_id})

    assert (nothing.status_code, nothing.json()["code"]) == (422, "no-copay-due")
    assert (gone.status_code, gone.json()["code"]) == (409, "appointment-cancelled")


def test_a_balance_payment_takes_the_portal_s_amount(portal: Portal, outbound: Sandbox, clinics: Any) -> None:
    patient = make_patient(clinics["boston"])
    created = portal.post(
        "/api/v1/payments", {"kind": "balance", "patient_id": str(patient.public_id), "amount_cents": 4299}
    )
    portal.post(f"/api/v1/payments/{created.json()['id']}/complete", {"card_token": TOKEN})
    drain_payments()

    assert created.status_code == 201 and created.json()["appointment_id"] is None
    assert [c["amount"] for c in outbound.records("charges")["charges"]] == [4299]


# --- other locations, scopes --------------------------------------------------------------------------


def test_payments_of_another_location_do_not_exist_for_this_client(
    portal: Portal, outbound: Sandbox, clinics: dict[str, Department]
) -> None:
    austin_visit = visit(outbound, clinics["austin"], copay_dollars=25)
    austin_portal = make_portal("austin-portal", locations=["157"])
    theirs = austin_portal.post(
        "/api/v1/payments", {"kind": "copay", "appointment_id": austin_visit.athena_appointment_id}
    )
    payment_id = theirs.json()["id"]
    austin_patient = austin_visit.patient
    assert austin_patient is not None

    responses = [
        portal.post("/api/v1/payments", {"kind": "copay", "appointment_id": austin_visit.athena_appointment_id}),
        portal.post(
            "/api/v1/payments", {"kind": "balance", "patient_id": str(austin_patient.public_id), "amount_cents": 100}
        ),
        portal.get(f"/api/v1/payments/{payment_id}"),
        portal.post(f"/api/v1/payments/{payment_id}/complete", {"card_token": TOKEN}),
        portal.post(f"/api/v1/payments/{payment_id}/refunds", {"amount_cents": 100}),
        portal.get(f"/api/v1/payments/{uuid.uuid4()}"),
    ]

    assert [r.status_code for r in responses] == [404] * 6
    assert all(r["Content-Type"] == "application/problem+json" for r in responses)
    assert Payment.objects.get(public_id=payment_id).status == "requires_payment_method"


def test_payment_writes_need_the_payments_scope(outbound: Sandbox, clinics: dict[str, Department]) -> None:
    appointment = visit(outbound, clinics["boston"], copay_dollars=25)
    payer = make_portal("payer", locations=["1"], scopes=["read", "payments:write"])
    reader = make_portal("reader", locations=["1"], scopes=["read", "appointments:write"])
    payment_id = payer.post(
        "/api/v1/payments", {"kind": "copay", "appointment_id": appointment.athena_appointment_id}
    ).json()["id"]

    refused = [
        reader.post("/api/v1/payments", {"kind": "copay", "appointment_id": appointment.athena_appointment_id}),
        reader.post(f"/api/v1/payments/{payment_id}/complete", {"card_token": TOKEN}),
        reader.post(f"/api/v1/payments/{payment_id}/refunds", {"amount_cents": 1}),
    ]
    read = reader.get(f"/api/v1/payments/{payment_id}")
    anonymous = payer.http.get(f"/api/v1/payments/{payment_id}")

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert read.status_code == 200 and anonymous.status_code == 401
