"""Input and output shapes of the portal's payment endpoints. Validation only; payments.services does the work.

Card numbers are never accepted: the portal sends the token Clover's own card form gave it. A
value that looks like a card number is refused without being echoed.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from intake.api.serializers import SentLengthMixin
from payments.models import Payment, PaymentOperation

CARD_TOKEN_RE = re.compile(r"^clv_[A-Za-z0-9_-]{4,120}$")
# The same rule as the schema states it (surrounding whitespace is trimmed).
CARD_TOKEN_PATTERN = r"^\s*clv_[A-Za-z0-9_-]{4,120}\s*$"  # noqa: S105 - a format, not a token
LOOKS_LIKE_CARD_NUMBER = re.compile(r"(?:\d[ -]?){12,19}")
MAX_PAYMENT_CENTS = 1_000_000  # $10,000: more than any copay or statement balance the portal takes


class PaymentCreateSerializer(serializers.Serializer):
    """A copay names its appointment (the amount comes from athena); a balance names patient and amount."""

    kind = serializers.ChoiceField(choices=Payment.Kind.choices, default=Payment.Kind.COPAY)
    appointment_id = serializers.RegexField(r"^\d{1,20}$", required=False)
    patient_id = serializers.UUIDField(required=False)
    amount_cents = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAYMENT_CENTS)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == Payment.Kind.COPAY:
            if not attrs.get("appointment_id"):
                raise serializers.ValidationError({"appointment_id": ["A copay names its appointment."]})
            if "amount_cents" in attrs:
                raise serializers.ValidationError({"amount_cents": ["A copay's amount comes from athena; omit it."]})
        else:
            missing = {
                name: ["Required for a balance payment."]
                for name in ("patient_id", "amount_cents")
                if name not in attrs
            }
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class CardTokenField(SentLengthMixin):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Listed so the OpenAPI schema carries the token's format; `to_internal_value` says it in words.
        self.validators.append(RegexValidator(CARD_TOKEN_PATTERN, message="Not a Clover card token (clv_...)."))

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if LOOKS_LIKE_CARD_NUMBER.search(value):
            raise serializers.ValidationError("Send Clover's card token, never a card number.")
        if not CARD_TOKEN_RE.match(value):
            raise serializers.ValidationError("Not a Clover card token (clv_...).")
        return value


class PaymentCompleteSerializer(serializers.Serializer):
    card_token = CardTokenField(max_length=130, write_only=True)


class RefundSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField(min_value=1, max_value=MAX_PAYMENT_CENTS)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class OperationOut(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True)
    status = serializers.CharField(source="state")

    class Meta:
        model = PaymentOperation
        fields = ["id", "kind", "amount_cents", "status", "created_at", "finished_at"]


class PaymentOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    patient_id = serializers.UUIDField(source="patient.public_id")
    location_id = serializers.CharField(source="department.athena_department_id")
    appointment_id = serializers.SerializerMethodField()
    operations = OperationOut(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "kind",
            "status",
            "amount_cents",
            "amount_refunded_cents",
            "currency",
            "patient_id",
            "location_id",
            "appointment_id",
            "failure_code",
            "created_at",
            "paid_at",
            "operations",
        ]

    def get_appointment_id(self, payment: Payment) -> str | None:
        return payment.appointment.athena_appointment_id if payment.appointment else None
