"""Staff pages of eligibility: checks with every attempt, the raw X12, and each visit's denial risk.

Lists and pages show only the user's locations; pages showing PHI write an access-log row. Staff
with `eligibility.add_eligibilitycheck` may ask for a check again; nobody edits a check or a score.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from eligibility.models import DenialRisk, EligibilityAttempt, EligibilityCheck
from eligibility.risk.rules import RULES
from eligibility.risk_service import appointment_risk_refresh
from eligibility.services import check_request
from eligibility.x12.codes import SERVICE_TYPE_LABELS
from hub.access_log import PHIAccessAdminMixin, phi_view_record
from hub.admin import LocationScopedAdmin, ReadOnlyAdminMixin, UserLocationFilter
from hub.staff_access import is_read_only
from hub.staff_home import relative

NO_VALUE = "—"


def _may_request(request: HttpRequest) -> bool:
    return request.user.has_perm("eligibility.add_eligibilitycheck") and not is_read_only(request.user)


def _money(cents: int | None) -> str:
    return NO_VALUE if cents is None else f"${cents / 100:,.2f}"


@admin.register(EligibilityCheck)
class EligibilityCheckAdmin(ReadOnlyAdminMixin, PHIAccessAdminMixin, LocationScopedAdmin):
    """Every eligibility question asked, its answer and each attempt it took."""

    phi_object_type = "eligibility_check"
    list_display = [
        "check_number",
        "asked",
        "department",
        "patient_cell",
        "date_of_service",
        "route",
        "state",
        "result",
        "why",
    ]
    list_display_links = ["check_number"]
    list_filter = ["state", "result", "route", "trigger", ("department", UserLocationFilter)]
    list_select_related = ["patient", "department"]
    search_fields = ["=id", "=patient__id", "=insurance__id"]
    actions = ["check_again"]

    def has_request_permission(self, request: HttpRequest) -> bool:
        return _may_request(request)

    @admin.display(description="Check", ordering="pk")
    def check_number(self, obj: EligibilityCheck) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Asked", ordering="created_at")
    def asked(self, obj: EligibilityCheck) -> str:
        return relative(obj.created_at)

    @admin.display(description="Patient", ordering="patient_id")
    def patient_cell(self, obj: EligibilityCheck) -> str:
        return format_html("{} <span class='quiet'>#{}</span>", obj.patient.display_name, obj.patient_id)

    @admin.display(description="What staff should know")
    def why(self, obj: EligibilityCheck) -> str:
        return obj.message[:90] or NO_VALUE

    @admin.action(description="Check these insurances again", permissions=["request"])
    def check_again(self, request: HttpRequest, queryset: QuerySet[EligibilityCheck]) -> None:
        asked = 0
        for check in queryset.select_related("insurance", "appointment"):
            check_request(
                insurance=check.insurance,
                trigger=EligibilityCheck.Trigger.STAFF,
                appointment=check.appointment,
                date_of_service=check.date_of_service,
                requested_by=request.user,
            )
            asked += 1
        self.message_user(request, f"{asked} check{'s' if asked != 1 else ''} queued.")

    # --- pages ---

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:pk>/attempts/<int:number>/x12/",
                self.admin_site.admin_view(self.x12_view),
                name="eligibility_eligibilitycheck_x12",
            ),
            path(
                "<int:pk>/again/",
                self.admin_site.admin_view(require_POST(self.again_view)),
                name="eligibility_eligibilitycheck_again",
            ),
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    page_related = ("patient", "department", "insurance", "appointment")
    not_found = "No such check at your locations."

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The answer in staff's words, the plan's money and flags, every attempt."""
        check = self.phi_opened(request, object_id)
        summary = check.summary or {}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Eligibility check #{check.pk}",
            "opts": self.model._meta,
            "check": check,
            "service_label": SERVICE_TYPE_LABELS.get(check.service_type, check.service_type),
            "summary": summary,
            "money": {
                "copay": _money(summary.get("copay_cents")),
                "deductible_total": _money((summary.get("deductible_cents") or {}).get("total")),
                "deductible_remaining": _money((summary.get("deductible_cents") or {}).get("remaining")),
                "oop_total": _money((summary.get("out_of_pocket_cents") or {}).get("total")),
            },
            "attempts": list(check.attempt_rows.all()),
            "may_request": _may_request(request),
        }
        return TemplateResponse(request, "eligibility/check_detail.html", context)

    def x12_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        """The raw 270 and answer of one attempt (PHI: names, dates of birth, ids), access-logged."""
        check = self._visible(request, pk)
        attempt = EligibilityAttempt.objects.filter(eligibility_check=check, number=number).first()
        if attempt is None:
            raise Http404("No such attempt.")
        phi_view_record(
            request,
            object_type="eligibility_x12",
            object_id=f"{check.pk}:{attempt.number}",
            patient_ref=check.patient_id,
            department_ref=check.department_id,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"X12 of attempt {attempt.number}, check #{check.pk}",
            "opts": self.model._meta,
            "check": check,
            "attempt": attempt,
            "request_segments": attempt.request_x12.replace("~", "~\n"),
            "response_segments": attempt.response_x12.replace("~", "~\n"),
        }
        response = TemplateResponse(request, "eligibility/attempt_x12.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def again_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not _may_request(request):
            raise PermissionDenied("You cannot ask for eligibility checks.")
        check = self._visible(request, pk)
        again = check_request(
            insurance=check.insurance,
            trigger=EligibilityCheck.Trigger.STAFF,
            appointment=check.appointment,
            date_of_service=check.date_of_service,
            requested_by=request.user,
        )
        self.message_user(request, f"Check #{again.pk} queued.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:eligibility_eligibilitycheck_change", args=[again.pk]))


@admin.register(DenialRisk)
class DenialRiskAdmin(ReadOnlyAdminMixin, PHIAccessAdminMixin, LocationScopedAdmin):
    """Each upcoming visit's denial risk, riskiest first, with its reasons as sentences and CARCs."""

    phi_object_type = "denial_risk"
    list_display = ["visit", "department", "patient_cell", "risk", "top_reason", "carcs", "scored"]
    list_display_links = ["visit"]
    list_filter = ["band", ("department", UserLocationFilter)]
    list_select_related = ["appointment", "patient", "department"]
    search_fields = ["=appointment__athena_appointment_id", "=patient__id"]

    @admin.display(description="Visit", ordering="appointment__date")
    def visit(self, obj: DenialRisk) -> str:
        appointment = obj.appointment
        return f"{appointment.date:%b %d} {appointment.start_time:%H:%M} · {appointment.athena_appointment_id}"

    @admin.display(description="Patient", ordering="patient_id")
    def patient_cell(self, obj: DenialRisk) -> str:
        return format_html("{} <span class='quiet'>#{}</span>", obj.patient.display_name, obj.patient_id)

    @admin.display(description="Denial risk", ordering="probability")
    def risk(self, obj: DenialRisk) -> str:
        return format_html('<span class="hub-risk hub-risk-{}">{}</span>', obj.band, obj.label)

    @admin.display(description="Top reason")
    def top_reason(self, obj: DenialRisk) -> str:
        top = obj.top_reason
        return top["sentence"] if top else "No risk factor found"

    @admin.display(description="Prevents (CARC)")
    def carcs(self, obj: DenialRisk) -> str:
        top = obj.top_reason
        return ", ".join(top["carcs"]) if top else NO_VALUE

    @admin.display(description="Scored", ordering="computed_at")
    def scored(self, obj: DenialRisk) -> str:
        return relative(obj.computed_at)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:pk>/rescore/",
                self.admin_site.admin_view(require_POST(self.rescore_view)),
                name="eligibility_denialrisk_rescore",
            )
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    page_related = ("appointment__provider", "appointment__appointment_type", "patient", "department")
    not_found = "No such visit at your locations."

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """One visit's score: the reasons as sentences with the claim adjustments they prevent."""
        risk = self.phi_opened(request, object_id)
        fired = [RULES[name] for name in risk.rules_fired if name in RULES]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Denial risk of visit {risk.appointment.athena_appointment_id}",
            "opts": self.model._meta,
            "risk": risk,
            "fired": fired,
            "may_request": _may_request(request),
        }
        return TemplateResponse(request, "eligibility/denial_risk_detail.html", context)

    def rescore_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not _may_request(request):
            raise PermissionDenied("You cannot re-score visits.")
        risk = self._visible(request, pk)
        appointment_risk_refresh(appointment=risk.appointment)
        self.message_user(request, "Score recomputed.")
        return HttpResponseRedirect(reverse("admin:eligibility_denialrisk_change", args=[risk.pk]))
