"""Portal payment endpoints: create a payment intent, complete it with a card token, read it, refund it.

Same rules as every portal endpoint: a scope per method, objects outside the client's locations
answer 404, every write needs an Idempotency-Key, errors are problem+json. Card data never comes
in: the portal sends the token Clover's card form gave it, and no token ever goes back out.
"""

from __future__ import annotations

import hashlib
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub.athena import athena_client
from hub.integrations.athena.errors import AthenaError
from hub.models import Appointment
from intake.api import payment_serializers as s
from intake.api.idempotency import run_idempotent
from intake.api.problems import Problem
from intake.api.views import IDEMPOTENCY_HEADER, PortalAPIView
from payments import services
from payments.models import Payment


class PaymentAPIView(PortalAPIView):
    def payment(self, public_id: Any) -> Payment:
        payment = (
            Payment.objects.select_related("patient", "department", "appointment")
            .prefetch_related("operations")
            .filter(public_id=public_id, department__in=self.departments())
            .first()
        )
        if payment is None:
            raise Problem(404, "payment-not-found", "No such payment for this client.")
        self._tag(payment)
        return payment

    def _tag(self, payment: Payment) -> None:
        self.request.audit_patient_ref = payment.patient_id  # type: ignore[attr-defined]
        self.request.audit_department_ref = payment.department_id  # type: ignore[attr-defined]
        self.request.audit_object_type = "payment"  # type: ignore[attr-defined]
        self.request.audit_object_id = str(payment.public_id)  # type: ignore[attr-defined]

    def out(self, payment: Payment) -> dict[str, Any]:
        fresh = Payment.objects.select_related("patient", "department", "appointment").get(pk=payment.pk)
        self._tag(fresh)
        return dict(s.PaymentOut(fresh).data)


def _refused(exc: services.PaymentRefused) -> Problem:
    return Problem(exc.status, exc.code, exc.detail)


class PaymentCreateView(PaymentAPIView):
    scopes = {"POST": "payments:write"}

    @extend_schema(
        request=s.PaymentCreateSerializer,
        responses={201: s.PaymentOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create a payment intent (an appointment's copay, or a balance) for the portal to complete",
    )
    def post(self, request: Request) -> Response:
        values = self.validated(s.PaymentCreateSerializer, request.data)
        appointment: Appointment | None = None
        if values["kind"] == Payment.Kind.COPAY:
            appointment = self.appointment(values["appointment_id"])
            patient, department = self.owner(appointment), appointment.department
            if appointment.status == Appointment.Status.CANCELLED:
                raise Problem(409, "appointment-cancelled", "This appointment is cancelled; no copay is due.")
            try:
                # Read before the idempotency claim: athena is never called inside a transaction.
                amount = services.copay_expected(appointment=appointment, athena=athena_client())
            except AthenaError as exc:
                raise Problem(503, "athena-unavailable", "athena could not say the copay right now; retry.") from exc
            if not amount:
                raise Problem(422, "no-copay-due", "athena has no copay for this appointment.")
            payload = {"kind": values["kind"], "appointment_id": values["appointment_id"]}
        else:
            patient = self.patient(values["patient_id"])
            department, amount = patient.department, values["amount_cents"]
            payload = {"kind": values["kind"], "patient_id": str(patient.public_id), "amount_cents": amount}

        def work(key: str) -> tuple[int, dict[str, Any]]:
            try:
                payment = services.payment_intent_create(
                    patient=patient,
                    department=department,
                    kind=values["kind"],
                    amount_cents=amount,
                    appointment=appointment,
                )
            except services.PaymentRefused as exc:
                raise _refused(exc) from exc
            return 201, self.out(payment)

        response = run_idempotent(request, self.client, payload, work)
        if response.status_code == 201 and isinstance(response.data, dict):
            response["Location"] = f"/api/v1/payments/{response.data.get('id')}"
        return response


class PaymentDetailView(PaymentAPIView):
    scopes = {"GET": "read"}

    @extend_schema(responses=s.PaymentOut, summary="A payment's status, with its charge and refunds")
    def get(self, request: Request, payment_id: Any) -> Response:
        return Response(self.out(self.payment(payment_id)))


class PaymentCompleteView(PaymentAPIView):
    scopes = {"POST": "payments:write"}

    @extend_schema(
        request=s.PaymentCompleteSerializer,
        responses={202: s.PaymentOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Complete a payment with a Clover card token (charged once, however often this is retried)",
    )
    def post(self, request: Request, payment_id: Any) -> Response:
        payment = self.payment(payment_id)
        token = self.validated(s.PaymentCompleteSerializer, request.data)["card_token"]
        # The key's fingerprint needs only to tell tokens apart; the token itself is not kept there.
        payload = {"payment": str(payment.public_id), "card": hashlib.sha256(token.encode()).hexdigest()}
        requested_by = f"portal:{self.client.pk}"

        def work(key: str) -> tuple[int, dict[str, Any]]:
            try:
                completed = services.payment_complete(payment=payment, card_token=token, requested_by=requested_by)
            except services.PaymentRefused as exc:
                raise _refused(exc) from exc
            return 202, self.out(completed)

        return run_idempotent(request, self.client, payload, work)


class PaymentRefundView(PaymentAPIView):
    scopes = {"POST": "payments:write"}

    @extend_schema(
        request=s.RefundSerializer,
        responses={202: s.PaymentOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Refund part or all of a paid payment (never more than is left)",
    )
    def post(self, request: Request, payment_id: Any) -> Response:
        payment = self.payment(payment_id)
        values = self.validated(s.RefundSerializer, request.data)
        payload = {"payment": str(payment.public_id), **values}
        requested_by = f"portal:{self.client.pk}"

        def work(key: str) -> tuple[int, dict[str, Any]]:
            try:
                services.payment_refund_request(
                    payment=payment,
                    amount_cents=values["amount_cents"],
                    reason=values["reason"],
                    requested_by=requested_by,
                    request_key=key,
                )
            except services.PaymentRefused as exc:
                raise _refused(exc) from exc
            return 202, self.out(payment)

        return run_idempotent(request, self.client, payload, work)
