"""Admin for payments: the payments, their Clover operations, the copay checks (the mismatch queue).

Rows are location-scoped and read-only; staff act through actions (refund or void, retry, resolve).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from hub.access_log import PHIAccessAdminMixin
from hub.admin import ReadOnlyAdmin, UserLocationFilter
from payments.models import AppointmentCopay, CloverWebhookHint, Payment, PaymentOperation, PaymentOperationEvent
from payments.reconcile import copay_resolve
from payments.services import PaymentRefused, operation_retry, payment_reverse
from sync.outbound import IllegalTransition


class OperationInline(admin.TabularInline):
    model = PaymentOperation
    extra = 0
    can_delete = False
    fields = ("kind", "amount_cents", "state", "attempts", "clover_object_id", "last_error", "requested_by")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(PHIAccessAdminMixin, ReadOnlyAdmin):
    phi_object_type = "payment"
    list_display = ["public_id", "kind", "amount_cents", "amount_refunded_cents", "status", "department", "created_at"]
    list_select_related = ["department"]
    list_filter = ["status", "kind", ("department", UserLocationFilter)]
    search_fields = ["=public_id", "clover_charge_id"]
    raw_id_fields = ["patient", "appointment"]
    inlines = [OperationInline]
    actions = ["reverse"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(pk__in=Payment.objects.for_user(request.user).values("pk"))

    def has_reverse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.refund_payment")

    @admin.action(description="Void (within 25 minutes) or refund in full", permissions=["reverse"])
    def reverse(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        done = 0
        for payment in queryset:
            try:
                payment_reverse(payment=payment, requested_by=request.user.get_username(), reason="staff reversal")
                done += 1
            except PaymentRefused as exc:
                self.message_user(request, f"{payment.public_id}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"{done} payment(s) queued for a void or refund.", messages.SUCCESS)


class OperationEventInline(admin.TabularInline):
    model = PaymentOperationEvent
    extra = 0
    can_delete = False
    fields = ("at", "from_state", "to_state", "attempt", "note", "actor")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PaymentOperation)
class PaymentOperationAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "amount_cents", "state", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["state", "kind"]
    exclude = ["card_token", "idempotency_key"]
    raw_id_fields = ["payment"]
    inlines = [OperationEventInline]
    actions = ["retry"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(pk__in=PaymentOperation.objects.for_user(request.user).values("pk"))

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.retry_paymentoperation")

    @admin.action(description="Retry (same Idempotency-Key: Clover answers the first result)", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[PaymentOperation]) -> None:
        done = 0
        for operation in queryset:
            try:
                operation_retry(operation=operation, actor=request.user.get_username(), reason="staff retry")
                done += 1
            except IllegalTransition:
                continue
        self.message_user(request, f"{done} operation(s) queued again.", messages.SUCCESS)


class OpenMismatchFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("open", "Open mismatches")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "open":
            return queryset.filter(status=AppointmentCopay.Status.MISMATCHED, resolved_at=None)
        return queryset


@admin.register(AppointmentCopay)
class AppointmentCopayAdmin(PHIAccessAdminMixin, ReadOnlyAdmin):
    """Paid / unpaid / mismatched per visit; mismatches are the staff queue."""

    phi_object_type = "copay-check"
    list_display = ["appointment", "department", "status", "expected_cents", "collected_cents", "reason", "checked_at"]
    list_select_related = ["department", "appointment"]
    list_filter = [OpenMismatchFilter, "status", ("department", UserLocationFilter)]
    raw_id_fields = ["appointment", "patient"]
    actions = ["resolve"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).for_user(request.user)  # type: ignore[attr-defined]

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.resolve_appointmentcopay")

    @admin.action(description="Mark resolved (handled at the desk or in athena)", permissions=["resolve"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[AppointmentCopay]) -> None:
        for check in queryset:
            copay_resolve(check=check, user=request.user, note=f"resolved by {request.user.get_username()}")
        self.message_user(request, f"{queryset.count()} copay check(s) marked resolved.", messages.SUCCESS)


@admin.register(CloverWebhookHint)
class CloverWebhookHintAdmin(ReadOnlyAdmin):
    list_display = ["object_id", "change", "received_at", "processed_at"]
    list_filter = ["change"]
