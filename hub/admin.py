"""Admin for the core domain. Every PHI list is filtered to the staff user's locations."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from hub.models import (
    Appointment,
    AppointmentReason,
    AppointmentType,
    Department,
    Patient,
    PatientInsurance,
    Practice,
    Provider,
    StaffProfile,
)


class LocationScopedAdmin(admin.ModelAdmin):
    """Shows each staff user only the rows of their own locations (superusers see all)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).for_user(request.user)  # type: ignore[attr-defined]


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
    readonly_fields = fields
    can_delete = False


@admin.register(Patient)
class PatientAdmin(LocationScopedAdmin):
    list_display = ["id", "last_name", "first_name", "dob", "department", "athena_patient_id", "status"]
    list_select_related = ["department"]
    list_filter = ["department", "status"]
    search_fields = ["last_name", "first_name", "athena_patient_id", "portal_patient_id"]
    raw_id_fields = ["practice"]
    inlines = [PatientInsuranceInline]


@admin.register(PatientInsurance)
class PatientInsuranceAdmin(LocationScopedAdmin):
    list_display = ["id", "patient", "sequence_number", "payer_name", "eligibility_status", "eligibility_checked_at"]
    list_select_related = ["patient"]
    list_filter = ["eligibility_status", "sequence_number"]
    raw_id_fields = ["patient"]


@admin.register(Appointment)
class AppointmentAdmin(LocationScopedAdmin):
    list_display = ["athena_appointment_id", "date", "start_time", "department", "provider", "status"]
    list_select_related = ["department", "provider"]
    list_filter = ["status", "department"]
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
