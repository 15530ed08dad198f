"""The staff home page: work waiting at the user's locations, most urgent first.

The page is a list of panels. Each app contributes its own through a small registry:

    from hub.staff_home import PanelData, PanelRow, register_panel

    def open_conflicts(request: HttpRequest) -> PanelData:
        conflicts = Conflict.objects.for_user(request.user).open().order_by("created_at")
        oldest = conflicts.first()
        return PanelData(
            columns=["Raised", "Patient", "Field"],
            rows=[PanelRow(cells=[...], url=..., urgent=c.is_overdue, age=now - c.created_at)
                  for c in conflicts[:20]],
            count=conflicts.count(),
            oldest_age=(now - oldest.created_at) if oldest else None,
            more_url=reverse("admin:sync_conflict_changelist"),
            phi_object_type="conflict",   # rows show PHI: the access log records a `list` row
        )

    register_panel("conflicts", "Conflicts to resolve", open_conflicts,
                   permission="sync.view_conflict", priority=10)

A provider takes the request (use `request.user` for location scoping: every queryset it
shows must go through `for_user`) and returns a `PanelData`. Panels the user lacks `permission`
for are skipped. The page orders panels by urgency: panels with urgent rows first, then by
`priority` (lower first), then by the age of their oldest item; empty panels go last. A
provider that fails shows an error note in its panel and never breaks the page.

The appointments panel also shows a denial-risk column; the eligibility app fills it with
`register_denial_risk_provider(fn)`, where `fn(appointments) -> {appointment_pk: "High (72)"}`.
Until then the column shows "—".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from hub.models import Appointment, Department, PatientInsurance

logger = logging.getLogger(__name__)

NO_VALUE = "—"


@dataclass(frozen=True)
class PanelRow:
    cells: Sequence[Any]
    url: str = ""
    urgent: bool = False
    age: dt.timedelta | None = None


@dataclass
class PanelData:
    columns: Sequence[str]
    rows: Sequence[PanelRow]
    count: int
    oldest_age: dt.timedelta | None = None
    more_url: str = ""
    more_label: str = "Show all"
    empty_message: str = "Nothing waiting."
    summary: str = ""
    chips: Sequence[tuple[str, int]] = ()
    phi_object_type: str = ""

    @property
    def urgent_count(self) -> int:
        return sum(1 for row in self.rows if row.urgent)


PanelProvider = Callable[[HttpRequest], PanelData]


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    provider: PanelProvider
    permission: str | None = None
    priority: int = 50


@dataclass
class RenderedPanel:
    panel: Panel
    data: PanelData | None
    error: str = ""

    @property
    def key(self) -> str:
        return self.panel.key

    @property
    def title(self) -> str:
        return self.panel.title


_panels: dict[str, Panel] = {}
_denial_risk_provider: list[Callable[[Sequence[Appointment]], Mapping[int, str]]] = []


def register_panel(
    key: str, title: str, provider: PanelProvider, *, permission: str | None = None, priority: int = 50
) -> None:
    """Add (or replace) a home-page panel."""
    _panels[key] = Panel(key=key, title=title, provider=provider, permission=permission, priority=priority)


def unregister_panel(key: str) -> None:
    _panels.pop(key, None)


def registered_panels() -> list[Panel]:
    return list(_panels.values())


def register_denial_risk_provider(provider: Callable[[Sequence[Appointment]], Mapping[int, str]]) -> None:
    """Fill the appointments panel's denial-risk column: `provider(appointments) -> {pk: label}`."""
    _denial_risk_provider[:] = [provider]


def clear_denial_risk_provider() -> None:
    _denial_risk_provider.clear()


def _urgency_key(rendered: RenderedPanel) -> tuple[int, int, int, float]:
    data = rendered.data
    if data is None:
        return (1, 0, rendered.panel.priority, 0.0)
    empty = 1 if data.count == 0 else 0
    urgent = 0 if data.urgent_count else 1
    oldest = -(data.oldest_age.total_seconds() if data.oldest_age else 0.0)
    return (empty * 2 + urgent, 0, rendered.panel.priority, oldest)


def panels_for(request: HttpRequest) -> list[RenderedPanel]:
    """Run every panel the user may see and return them most urgent first."""
    rendered: list[RenderedPanel] = []
    for panel in _panels.values():
        if panel.permission and not request.user.has_perm(panel.permission):
            continue
        try:
            rendered.append(RenderedPanel(panel, panel.provider(request)))
        except Exception as exc:
            # Class name only: a provider's exception text could carry row values.
            logger.error("staff home panel %s failed: %s", panel.key, type(exc).__name__)
            rendered.append(RenderedPanel(panel, None, error="This panel could not be loaded just now."))
    rendered.sort(key=_urgency_key)
    return rendered


# --- Built-in panel: today's appointments ---------------------------------------------------------

APPOINTMENT_ROW_LIMIT = 50
ELIGIBILITY_ATTENTION = {
    PatientInsurance.EligibilityStatus.INACTIVE,
    PatientInsurance.EligibilityStatus.REJECTED,
    PatientInsurance.EligibilityStatus.ERROR,
}
ARRIVED = {Appointment.Status.CHECKED_IN}
DONE = {Appointment.Status.CHECKED_OUT, Appointment.Status.CHARGE_ENTERED}


def human_delta(delta: dt.timedelta) -> str:
    """A short duration for people: "45 s", "12 min", "3 h", "2 d"."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def relative(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """ "3 h ago" or "in 20 min"."""
    now = now or timezone.now()
    delta = moment - now
    if abs(delta.total_seconds()) < 60:
        return "now"
    return f"in {human_delta(delta)}" if delta.total_seconds() > 0 else f"{human_delta(delta)} ago"


def today_filter(departments: Sequence[Department], now: dt.datetime) -> Q:
    """Appointments of "today" at each location, in that location's own time zone."""
    by_zone: dict[str, list[int]] = defaultdict(list)
    for department in departments:
        by_zone[department.timezone].append(department.pk)
    query = Q(pk__in=[])
    for zone, ids in by_zone.items():
        query |= Q(department_id__in=ids, date=now.astimezone(ZoneInfo(zone)).date())
    return query


def _eligibility_cell(insurance: PatientInsurance | None, now: dt.datetime) -> tuple[str, bool]:
    if insurance is None:
        return "No insurance on file", True
    label = insurance.get_eligibility_status_display()
    if insurance.eligibility_checked_at:
        label = f"{label} · checked {relative(insurance.eligibility_checked_at, now)}"
    return label, insurance.eligibility_status in ELIGIBILITY_ATTENTION


def _appointments_today_url(departments: Sequence[Department], now: dt.datetime) -> str:
    zone = ZoneInfo(departments[0].timezone) if departments else dt.UTC
    today = now.astimezone(zone).date()
    query = f"?date__year={today.year}&date__month={today.month}&date__day={today.day}"
    return reverse("admin:hub_appointment_changelist") + query


def todays_appointments(request: HttpRequest) -> PanelData:
    """Booked and arrived appointments today at the user's locations, problems first."""
    now = timezone.now()
    departments = list(Department.objects.for_user(request.user).filter(is_active=True))
    appointments = list(
        Appointment.objects.for_user(request.user)
        .filter(today_filter(departments, now))
        .exclude(status__in=[Appointment.Status.CANCELLED, Appointment.Status.OPEN])
        .select_related("department", "provider", "appointment_type", "patient")
    )
    patient_ids = {a.patient_id for a in appointments if a.patient_id}
    primary: dict[int, PatientInsurance] = {}
    for policy in PatientInsurance.objects.filter(
        patient_id__in=patient_ids, sequence_number=PatientInsurance.Sequence.PRIMARY, is_cancelled=False
    ).order_by("-updated_at"):
        primary.setdefault(policy.patient_id, policy)
    risks: Mapping[int, str] = _denial_risk_provider[0](appointments) if _denial_risk_provider else {}

    def sort_key(appointment: Appointment) -> tuple[int, dt.datetime]:
        insurance = primary.get(appointment.patient_id) if appointment.patient_id else None
        needs_attention = _eligibility_cell(insurance, now)[1]
        if appointment.status in DONE:
            bucket = 3
        elif appointment.status in ARRIVED:
            bucket = 2
        else:
            bucket = 0 if needs_attention else 1
        return (bucket, appointment.starts_at)

    appointments.sort(key=sort_key)
    rows = []
    for appointment in appointments[:APPOINTMENT_ROW_LIMIT]:
        insurance = primary.get(appointment.patient_id) if appointment.patient_id else None
        eligibility, attention = _eligibility_cell(insurance, now)
        starts = appointment.starts_at
        patient = appointment.patient
        patient_cell: Any = NO_VALUE
        if patient is not None:
            patient_cell = format_html(
                '<a href="{}">{}</a> <span class="quiet">#{}</span>',
                reverse("admin:hub_patient_change", args=[patient.pk]),
                patient.display_name,
                patient.pk,
            )
        rows.append(
            PanelRow(
                cells=[
                    format_html('{} <span class="quiet">{}</span>', starts.strftime("%H:%M"), relative(starts, now)),
                    appointment.department.name,
                    patient_cell,
                    str(appointment.provider) if appointment.provider else NO_VALUE,
                    str(appointment.appointment_type) if appointment.appointment_type else NO_VALUE,
                    appointment.get_status_display(),
                    eligibility,
                    risks.get(appointment.pk, NO_VALUE),
                ],
                url=reverse("admin:hub_appointment_change", args=[appointment.pk]),
                urgent=attention and appointment.status not in DONE,
            )
        )
    attention_count = sum(1 for row in rows if row.urgent)
    per_location = Counter(a.department.name for a in appointments)
    return PanelData(
        columns=["Time", "Location", "Patient", "Provider", "Type", "Status", "Eligibility", "Denial risk"],
        rows=rows,
        count=len(appointments),
        more_url=_appointments_today_url(departments, now) if len(appointments) > APPOINTMENT_ROW_LIMIT else "",
        more_label=f"Showing {APPOINTMENT_ROW_LIMIT} of {len(appointments)}; all appointments",
        empty_message="No booked appointments today at your locations.",
        summary=(
            f"{attention_count} need an insurance check before the visit" if attention_count else "Insurance looks fine"
        )
        if appointments
        else "",
        chips=sorted(per_location.items()),
        phi_object_type="appointment",
    )


register_panel(
    "appointments-today",
    "Today's appointments",
    todays_appointments,
    permission="hub.view_appointment",
    priority=40,
)
