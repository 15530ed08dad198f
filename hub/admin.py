"""Admin for the core domain. Every PHI list is filtered to the staff user's locations.

Views of patients, insurances and appointments write PHI access-log rows (`hub.access_log`).
The audit trail itself is browsed through the audit browser (`hub.audit_browser`), never
through a changelist: a changelist counts every row and pages with OFFSET.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from hub.access_log import PHIAccessAdminMixin
from hub.models import (
    Alert,
    Appointment,
    AppointmentReason,
    AppointmentType,
    AuditEvent,
    Department,
    Patient,
    PatientInsurance,
    Practice,
    Provider,
    StaffProfile,
)
from hub.staff_home import relative


class ReadOnlyAdminMixin:
    """Rows the hub writes itself: staff look (and act through the page's own buttons), never edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


class LocationScopedAdmin(admin.ModelAdmin):
    """Shows each staff user only the rows of their own locations (superusers see all)."""

    # What a page of one row loads with it, and what staff read when the row is not theirs to see.
    page_related: tuple[str, ...] = ()
    not_found = "No such record at your locations."

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).for_user(request.user)  # type: ignore[attr-defined]

    def _visible(self, request: HttpRequest, object_id: Any) -> Any:
        """The row behind a staff page: at one of the user's locations and theirs to view, or 404/403."""
        if not str(object_id).isdigit():
            raise Http404
        found = self.get_queryset(request).select_related(*self.page_related).filter(pk=object_id).first()
        if found is None:
            raise Http404(self.not_found)
        if not self.has_view_permission(request, found):
            raise PermissionDenied
        return found


class UserLocationFilter(admin.RelatedFieldListFilter):
    """The location filter offers only the user's own locations (others are not theirs to see)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [(str(department.pk), str(department)) for department in Department.objects.for_user(request.user)]


@admin.register(Practice)
class PracticeAdmin(admin.ModelAdmin):
    list_display = ["name", "athena_practice_id"]


@admin.register(Department)
class DepartmentAdmin(LocationScopedAdmin):
    list_display = ["name", "athena_department_id", "city", "state", "timezone", "is_active"]
    list_filter = ["timezone", "is_active"]
    search_fields = ["name", "athena_department_id"]


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["__str__", "athena_provider_id", "specialty", "npi"]
    search_fields = ["last_name", "athena_provider_id", "npi"]
    filter_horizontal = ["departments"]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "athena_appointment_type_id", "duration_minutes", "is_patient_facing"]


@admin.register(AppointmentReason)
class AppointmentReasonAdmin(admin.ModelAdmin):
    list_display = ["name", "athena_reason_id", "reason_type"]


class PatientInsuranceInline(admin.TabularInline):
    model = PatientInsurance
    extra = 0
    fields = ("sequence_number", "payer_name", "member_id", "group_number", "eligibility_status", "is_cancelled")
    readonly_fields = (
        "sequence_number",
        "payer_name",
        "member_id",
        "group_number",
        "eligibility_status",
        "is_cancelled",
    )
    can_delete = False


@admin.register(Patient)
class PatientAdmin(PHIAccessAdminMixin, LocationScopedAdmin):
    change_form_template = "hub/patient_change_form.html"
    list_display = ["id", "last_name", "first_name", "dob", "department", "athena_patient_id", "status"]
    list_select_related = ["department"]
    list_filter = [("department", UserLocationFilter), "status"]
    search_fields = ["last_name", "first_name", "athena_patient_id", "portal_patient_id"]
    raw_id_fields = ["practice"]
    inlines = [PatientInsuranceInline]


@admin.register(PatientInsurance)
class PatientInsuranceAdmin(PHIAccessAdminMixin, LocationScopedAdmin):
    list_display = ["id", "patient", "sequence_number", "payer_name", "eligibility_status", "eligibility_checked_at"]
    list_select_related = ["patient"]
    list_filter = ["eligibility_status", "sequence_number"]
    raw_id_fields = ["patient"]


@admin.register(Appointment)
class AppointmentAdmin(PHIAccessAdminMixin, LocationScopedAdmin):
    list_display = ["athena_appointment_id", "date", "start_time", "department", "provider", "status"]
    list_select_related = ["department", "provider"]
    list_filter = ["status", ("department", UserLocationFilter)]
    date_hierarchy = "date"
    raw_id_fields = ["patient", "practice"]
    search_fields = ["athena_appointment_id"]


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    filter_horizontal = ["departments"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = [StaffProfileInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Managing staff must not become a way to grant oneself (or anyone) more power.
            fields += ["is_superuser", "user_permissions"]
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """An entry in the admin's app list that opens the audit browser (no changelist, no edits)."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("hub.browse_auditevent")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:hub_audit_browser"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        row = AuditEvent.objects.filter(pk=object_id).values_list("sequence", flat=True).first()
        if row is None:
            return HttpResponseRedirect(reverse("admin:hub_audit_browser"))
        return HttpResponseRedirect(reverse("admin:hub_audit_detail", args=[row]))


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Alerts open and close themselves (`hub.alerts`); the admin only shows them."""

    list_display = ["state", "title", "summary", "opened", "closed", "condition"]
    list_filter = ["condition", ("closed_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "condition", "subject"]
    ordering = ["-opened_at"]

    @admin.display(description="State")
    def state(self, alert: Alert) -> str:
        return "Open" if alert.closed_at is None else "Cleared"

    @admin.display(description="Opened", ordering="opened_at")
    def opened(self, alert: Alert) -> str:
        return relative(alert.opened_at)

    @admin.display(description="Cleared", ordering="closed_at")
    def closed(self, alert: Alert) -> str:
        return relative(alert.closed_at) if alert.closed_at else "—"
