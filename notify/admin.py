"""Admin for patient texts: templates (integration admins edit them), the message ledger, opt-outs.

Message rows are location-scoped and read-only; staff act through the retry action only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from hub.access_log import PHIAccessAdminMixin
from hub.admin import ReadOnlyAdmin, UserLocationFilter
from notify.models import DeliveryReport, InboundSms, MessageTemplate, OutboundMessage, OutboundMessageEvent, SmsOptOut
from notify.services import message_retry, messages_needing_staff
from sync.outbound import IllegalTransition


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["kind", "body", "is_active", "updated_at", "updated_by"]
    fields = ["kind", "body", "is_active"]
    readonly_fields = ["kind"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per kind, created with the app

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: Any, change: bool) -> None:
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class NeedsStaffFilter(admin.SimpleListFilter):
    title = "needs staff"
    parameter_name = "needs_staff"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("1", "Parked, failed or undelivered")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "1":
            return queryset.filter(pk__in=messages_needing_staff().values("pk"))
        return queryset


class MessageEventInline(admin.TabularInline):
    model = OutboundMessageEvent
    extra = 0
    can_delete = False
    fields = ("at", "from_state", "to_state", "attempt", "note", "actor")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(PHIAccessAdminMixin, ReadOnlyAdmin):
    phi_object_type = "sms"
    list_display = ["id", "kind", "patient_id", "department", "state", "delivery_status", "next_attempt_at", "attempts"]
    list_select_related = ["department"]
    list_filter = [NeedsStaffFilter, "state", "kind", "delivery_status", ("department", UserLocationFilter)]
    search_fields = ["message_sid", "=patient__id"]
    raw_id_fields = ["patient", "appointment"]
    inlines = [MessageEventInline]
    actions = ["retry"]
    exclude = ["phone_hash"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(pk__in=OutboundMessage.objects.for_user(request.user).values("pk"))

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notify.retry_outboundmessage")

    @admin.action(description="Retry (looks in Twilio before any resend)", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        done = 0
        for message in queryset:
            try:
                message_retry(message=message, actor=request.user.get_username(), reason="staff retry")
                done += 1
            except IllegalTransition:
                continue
        self.message_user(request, f"{done} text message(s) queued again.", messages.SUCCESS)


@admin.register(SmsOptOut)
class SmsOptOutAdmin(ReadOnlyAdmin):
    list_display = ["id", "is_active", "source", "opted_out_at", "opted_in_at"]
    list_filter = ["is_active", "source"]
    exclude = ["phone_hash"]
    raw_id_fields = ["patients"]


@admin.register(InboundSms)
class InboundSmsAdmin(ReadOnlyAdmin):
    list_display = ["message_sid", "keyword", "received_at"]
    list_filter = ["keyword"]
    exclude = ["phone_hash"]


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdmin):
    list_display = ["message_sid", "status", "error_code", "received_at"]
    list_filter = ["status"]
    search_fields = ["message_sid"]
