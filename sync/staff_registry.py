"""What the sync app adds to the staff shell: home panels, location metrics, alerts and gauges.

Imported once from `SyncConfig.ready()`; every function here reads rows, scoped to the user's
locations where a user is involved, and shows ids, counts and ages (panel rows may show a patient's
name: those panels log a PHI list access).

- Panels: open conflicts, and writes waiting for staff (parked, or failed and not replayed).
- Location dashboard (per department): athena → hub lag, queue depths, parked work, write failure
  rate, last athena event, portal delivery health.
- Alerts: parked or failed writes piling up at a location, portal deliveries failing or the
  endpoint held, athena events stuck in `received`; athena's quota readings feed the shell's
  `athena-quota` condition.
- `/metrics`: queue gauges labelled by location id, system and state.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from prometheus_client.core import GaugeMetricFamily, Metric

from hub.alerts import Finding, QuotaReading, register_alert_condition, register_quota_provider
from hub.dashboard import MetricValue, register_location_metric
from hub.metrics import register_metric_families
from hub.models import Department, RateLimitBucket
from hub.roles import FRONT_DESK, INTEGRATION_ADMIN
from hub.staff_home import PanelData, PanelRow, human_delta, register_panel
from sync.models import Conflict, InboundEvent, IntentEvent, PortalDelivery, PortalEvent, WebhookEndpoint, WriteIntent
from sync.staff_services import needs_staff

State = WriteIntent.State
PANEL_ROWS = 20
CONFLICT_OVERDUE = dt.timedelta(hours=24)
QUEUED_STATES = (State.PENDING, State.IN_FLIGHT, State.AMBIGUOUS, State.RECONCILING)
HOUR = dt.timedelta(hours=1)
LAG_HELP = "athena commit to hub processed, 95th percentile of the last hour's events that changed something"


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))  # tests may override with settings fixtures


# --- home panels ----------------------------------------------------------------------------------


def _patient_cell(patient: Any) -> str:
    return format_html(
        '{} <span class="quiet">#{}</span>', getattr(patient, "display_name", ""), getattr(patient, "pk", "")
    )


def short_text(text: str, limit: int = 70) -> str:
    """A long reason cut for a table cell, whole in its tooltip."""
    if not text:
        return "—"
    if len(text) <= limit:
        return text
    return format_html('<span title="{}">{}…</span>', text, text[: limit - 1].rstrip())


def open_conflicts_panel(request: HttpRequest) -> PanelData:
    """Open conflicts at the user's locations, oldest first; overdue ones are urgent."""
    now = timezone.now()
    conflicts = (
        Conflict.objects.for_user(request.user)
        .open()
        .select_related("patient", "department", "assignee")
        .order_by("opened_at", "pk")
    )
    total = conflicts.count()
    rows = []
    for conflict in conflicts[:PANEL_ROWS]:
        age = now - conflict.opened_at
        assignee = conflict.assignee
        rows.append(
            PanelRow(
                cells=[
                    human_delta(age),
                    conflict.department.name,
                    _patient_cell(conflict.patient),
                    conflict.field,
                    "you" if assignee == request.user else (assignee.get_username() if assignee else "—"),
                ],
                url=reverse("admin:sync_conflict_change", args=[conflict.pk]),
                urgent=age > CONFLICT_OVERDUE,
                age=age,
            )
        )
    oldest = conflicts.values_list("opened_at", flat=True).first()
    mine = conflicts.filter(assignee=request.user).count()
    overdue = conflicts.filter(opened_at__lt=now - CONFLICT_OVERDUE).count()
    summary = ", ".join(
        part
        for part in (f"{overdue} waiting over a day" if overdue else "", f"{mine} assigned to you" if mine else "")
        if part
    )
    return PanelData(
        columns=["Waiting", "Location", "Patient", "Field", "Assigned to"],
        rows=rows,
        count=total,
        oldest_age=(now - oldest) if oldest else None,
        more_url=reverse("admin:sync_conflict_changelist") + "?status__exact=open",
        more_label=f"All {total} open conflicts",
        empty_message="No conflicts waiting at your locations.",
        summary=summary,
        chips=sorted(Counter(conflicts.values_list("field", flat=True)).items()),
        phi_object_type="conflict",
    )


def parked_writes_panel(request: HttpRequest) -> PanelData:
    """Parked writes (they hold back the patient's later writes) first, then failed ones nobody replayed."""
    now = timezone.now()
    waiting = list(
        needs_staff(WriteIntent.objects.for_user(request.user)).select_related("department").order_by("updated_at")
    )
    waiting.sort(key=lambda intent: (intent.state != State.PARKED, intent.updated_at))
    rows = []
    for intent in waiting[:PANEL_ROWS]:
        age = now - intent.updated_at
        rows.append(
            PanelRow(
                cells=[
                    human_delta(age),
                    intent.department.name,
                    f"#{intent.patient_id}",
                    intent.get_operation_display(),
                    intent.get_state_display(),
                    short_text(intent.last_error),
                ],
                url=reverse("admin:sync_writeintent_change", args=[intent.pk]),
                urgent=intent.state == State.PARKED,
                age=age,
            )
        )
    parked = sum(1 for intent in waiting if intent.state == State.PARKED)
    oldest = min((intent.updated_at for intent in waiting), default=None)
    return PanelData(
        columns=["Waiting", "Location", "Patient", "Write", "State", "Why"],
        rows=rows,
        count=len(waiting),
        oldest_age=(now - oldest) if oldest else None,
        more_url=reverse("admin:sync_writeintent_changelist"),
        more_label="All writes waiting for staff",
        empty_message="No parked or failed writes at your locations.",
        summary=f"{parked} parked: the patient's later writes wait behind them" if parked else "",
        chips=sorted(Counter(intent.department.name for intent in waiting).items()),
    )


# --- location metrics -----------------------------------------------------------------------------


def _counts(queryset: QuerySet[Any], departments: Sequence[Department], field: str = "department_id") -> dict[int, int]:
    rows = queryset.filter(**{f"{field}__in": [d.pk for d in departments]}).values_list(field).annotate(n=Count("pk"))
    found = dict(rows)
    return {d.pk: int(found.get(d.pk, 0)) for d in departments}


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def event_lag_p95(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    """athena commit → hub processed, 95th percentile over the last hour's events that changed something."""
    lags: dict[int, list[float]] = defaultdict(list)
    # Duplicates (a feed record of a change a webhook already brought) say how often the poller
    # runs, not how fast changes arrive: they are left out.
    rows = (
        InboundEvent.objects.filter(
            department__in=[d.pk for d in departments], processed_at__gte=now - HOUR, processed_at__lte=now
        )
        .exclude(state=InboundEvent.State.DUPLICATE)
        .values_list("department_id", "occurred_at", "processed_at")
    )
    for department_id, occurred_at, processed_at in rows:
        if processed_at is None:
            continue
        lags[department_id].append(max(0.0, (processed_at - occurred_at).total_seconds()))
    return {pk: percentile(values, 0.95) for pk, values in lags.items()}


def writes_queued(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    return _counts(WriteIntent.objects.filter(state__in=QUEUED_STATES), departments)


def events_waiting(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    return _counts(InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED), departments)


def portal_events_queued(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    return _counts(
        PortalEvent.objects.filter(state__in=[PortalEvent.State.PENDING, PortalEvent.State.HELD]), departments
    )


def parked_work(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    writes = _counts(WriteIntent.objects.filter(state=State.PARKED), departments)
    events = _counts(InboundEvent.objects.filter(state=InboundEvent.State.PARKED), departments)
    return {pk: writes[pk] + events[pk] for pk in writes}


def write_failure_rate(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    """Failed ÷ settled (succeeded or failed) among writes finished in the last hour."""
    settled = WriteIntent.objects.filter(
        state__in=[State.SUCCEEDED, State.FAILED], finished_at__gte=now - HOUR, finished_at__lte=now
    )
    totals = _counts(settled, departments)
    failed = _counts(settled.filter(state=State.FAILED), departments)
    return {pk: failed[pk] / totals[pk] for pk in totals if totals[pk]}


def last_athena_event(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    rows = (
        InboundEvent.objects.filter(department__in=[d.pk for d in departments])
        .values_list("department_id")
        .annotate(last=Max("received_at"))
    )
    return dict(rows)


def portal_last_delivered(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    rows = (
        PortalEvent.objects.filter(
            department__in=[d.pk for d in departments],
            state=PortalEvent.State.DELIVERED,
            delivered_at__gte=now - dt.timedelta(days=7),
        )
        .values_list("department_id")
        .annotate(last=Max("delivered_at"))
    )
    return dict(rows)


def portal_failures_last_hour(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    failed = PortalDelivery.objects.filter(succeeded=False, attempted_at__gte=now - HOUR, attempted_at__lte=now)
    return _counts(failed, departments, field="event__department_id")


def held_endpoint() -> WebhookEndpoint | None:
    """The portal endpoint the hub delivers to, when a 410 holds it (None while it delivers)."""
    return (
        WebhookEndpoint.objects.filter(url=settings.PORTAL_WEBHOOK_URL, disabled_at__isnull=False)
        .order_by("pk")
        .first()
    )


def portal_endpoint_state(departments: Sequence[Department], now: dt.datetime) -> Mapping[int, MetricValue]:
    held = held_endpoint()
    text = f"held {human_delta(now - held.disabled_at)} (410)" if held and held.disabled_at else "ok"
    return {d.pk: text for d in departments}


# --- alerts ---------------------------------------------------------------------------------------


def check_stuck_writes(now: dt.datetime) -> list[Finding]:
    """A location whose writes keep parking or failing (growth), or whose parked pile is large."""
    window = dt.timedelta(minutes=_setting("HUB_ALERT_STUCK_WRITES_MINUTES", 30))
    threshold = _setting("HUB_ALERT_STUCK_WRITES_THRESHOLD", 3)
    parked_threshold = _setting("HUB_ALERT_PARKED_THRESHOLD", 10)
    recent: dict[int, set[int]] = defaultdict(set)
    moves = (
        IntentEvent.objects.filter(at__gte=now - window, at__lte=now, to_state__in=[State.PARKED, State.FAILED])
        .exclude(from_state__in=[State.PARKED, State.FAILED])
        .values_list("intent__department_id", "intent_id")
    )
    for department_id, intent_id in moves:
        recent[department_id].add(intent_id)
    parked = dict(WriteIntent.objects.filter(state=State.PARKED).values_list("department_id").annotate(n=Count("pk")))
    findings = []
    minutes = int(window.total_seconds() // 60)
    names = dict(Department.objects.values_list("pk", "name"))
    for department_id in sorted(set(recent) | set(parked)):
        grown = len(recent.get(department_id, ()))
        piled = int(parked.get(department_id, 0))
        if grown >= threshold or piled >= parked_threshold:
            findings.append(
                Finding(
                    subject=str(department_id),
                    department_ref=str(department_id),
                    title=f"Writes to athena are parking or failing at location #{department_id} "
                    f"({names.get(department_id, 'unknown')})",
                    summary=f"{grown} parked or failed in the last {minutes} min; {piled} parked now",
                )
            )
    return findings


def check_portal_delivery(now: dt.datetime) -> list[Finding]:
    """The portal endpoint held after a 410, or deliveries failing with none getting through."""
    findings = []
    held = held_endpoint()
    if held is not None:
        waiting = PortalEvent.objects.filter(state=PortalEvent.State.HELD).count()
        findings.append(
            Finding(
                subject="endpoint-held",
                title="Portal webhook endpoint held (410)",
                summary=f"{waiting} portal events held until an admin re-enables delivery",
            )
        )
    window = dt.timedelta(minutes=_setting("HUB_ALERT_PORTAL_FAILURE_MINUTES", 15))
    threshold = _setting("HUB_ALERT_PORTAL_FAILURE_THRESHOLD", 5)
    recent = PortalDelivery.objects.filter(attempted_at__gte=now - window, attempted_at__lte=now)
    failed = recent.filter(succeeded=False).count()
    if failed >= threshold and not recent.filter(succeeded=True).exists():
        statuses = Counter(recent.filter(succeeded=False).values_list("status_code", flat=True))
        described = ", ".join(f"{code or 'no answer'} x{n}" for code, n in statuses.most_common(3))
        minutes = int(window.total_seconds() // 60)
        findings.append(
            Finding(
                subject="deliveries-failing",
                title="Portal webhook deliveries are failing",
                summary=f"{failed} failed deliveries in {minutes} min, none succeeded ({described})",
            )
        )
    return findings


def check_stuck_events(now: dt.datetime) -> list[Finding]:
    """athena events stored but not processed for too long (a stopped worker, a failing fetch)."""
    limit = dt.timedelta(minutes=_setting("HUB_ALERT_STUCK_EVENTS_MINUTES", 10))
    stuck = (
        InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED, received_at__lt=now - limit)
        .values_list("department_id")
        .annotate(n=Count("pk"), oldest=Max("received_at"))
    )
    findings = []
    for department_id, n, _ in stuck:
        subject = str(department_id) if department_id else "unknown-location"
        findings.append(
            Finding(
                subject=subject,
                department_ref=str(department_id or ""),
                title=f"athena events waiting at location #{department_id}"
                if department_id
                else "athena events waiting (location unknown)",
                summary=f"{n} events received over {int(limit.total_seconds() // 60)} min ago and not processed",
            )
        )
    return findings


def athena_quota_readings() -> Iterable[QuotaReading]:
    """athena's daily quota as its answers last reported it (readings older than an hour are stale)."""
    fresh = timezone.now() - HOUR
    rows = RateLimitBucket.objects.filter(
        quota_limit__isnull=False, quota_remaining__isnull=False, quota_seen_at__gte=fresh
    ).order_by("key")
    for bucket in rows:
        practice = bucket.key.rsplit(":", 1)[-1]
        yield QuotaReading(
            name=f"athena practice {practice}",
            limit=int(bucket.quota_limit or 0),
            remaining=int(bucket.quota_remaining or 0),
        )


# --- /metrics -------------------------------------------------------------------------------------


def _location_label(department_id: int | None) -> str:
    return str(department_id) if department_id else "unknown"


def sync_metric_families(now: dt.datetime) -> Iterator[Metric]:
    """Queue gauges: location id, system and state labels only."""
    intents = GaugeMetricFamily(
        "hub_write_intents", "Writes to athena not yet finished", labels=["location", "system", "state"]
    )
    for department_id, state, n in (
        WriteIntent.objects.filter(state__in=WriteIntent.OPEN_STATES)
        .values_list("department_id", "state")
        .annotate(n=Count("pk"))
    ):
        intents.add_metric([_location_label(department_id), "athena", state], n)
    yield intents
    settled = GaugeMetricFamily(
        "hub_write_intents_settled_last_hour",
        "Writes to athena that succeeded or failed in the last hour",
        labels=["location", "system", "state"],
    )
    for department_id, state, n in (
        WriteIntent.objects.filter(state__in=[State.SUCCEEDED, State.FAILED], finished_at__gte=now - HOUR)
        .values_list("department_id", "state")
        .annotate(n=Count("pk"))
    ):
        settled.add_metric([_location_label(department_id), "athena", state], n)
    yield settled
    inbound = GaugeMetricFamily(
        "hub_inbound_events", "athena events waiting or parked", labels=["location", "system", "state"]
    )
    for department_id, state, n in (
        InboundEvent.objects.filter(state__in=[InboundEvent.State.RECEIVED, InboundEvent.State.PARKED])
        .values_list("department_id", "state")
        .annotate(n=Count("pk"))
    ):
        inbound.add_metric([_location_label(department_id), "athena", state], n)
    yield inbound
    portal = GaugeMetricFamily(
        "hub_portal_events", "Portal events not delivered", labels=["location", "system", "state"]
    )
    for department_id, state, n in (
        PortalEvent.objects.filter(
            state__in=[PortalEvent.State.PENDING, PortalEvent.State.HELD, PortalEvent.State.DEAD]
        )
        .values_list("department_id", "state")
        .annotate(n=Count("pk"))
    ):
        portal.add_metric([_location_label(department_id), "portal", state], n)
    yield portal
    yield GaugeMetricFamily(
        "hub_portal_endpoint_held",
        "1 while the portal's webhook endpoint is held after a 410",
        value=1 if held_endpoint() is not None else 0,
    )
    conflicts = GaugeMetricFamily("hub_conflicts_open", "Open conflicts waiting for staff", labels=["location"])
    for department_id, n in Conflict.objects.open().values_list("department_id").annotate(n=Count("pk")):
        conflicts.add_metric([_location_label(department_id)], n)
    yield conflicts


# --- registration ---------------------------------------------------------------------------------


def register() -> None:
    """Add the sync app's panels, metrics, alert conditions, quota readings and gauges to the shell."""
    register_panel(
        "sync-conflicts", "Conflicts to resolve", open_conflicts_panel, permission="sync.view_conflict", priority=10
    )
    register_panel(
        "sync-parked-writes",
        "Writes waiting for staff",
        parked_writes_panel,
        permission="sync.view_writeintent",
        priority=20,
    )
    # Short headers keep the table on one screen; the help text (a tooltip) says what each one is.
    metrics: tuple[tuple[str, str, Any, str, float | None, str], ...] = (
        ("event_lag_p95", "athena lag", event_lag_p95, "seconds", 60, LAG_HELP),
        ("writes_queued", "Writes queued", writes_queued, "count", 50, "Writes pending, in flight or reconciling"),
        ("events_waiting", "Events waiting", events_waiting, "count", 20, "athena events received, not processed"),
        ("portal_events_queued", "To portal", portal_events_queued, "count", 50, "Portal events pending or held"),
        ("parked_work", "Parked", parked_work, "count", 0, "Parked writes plus parked athena events"),
        ("write_failure_rate", "Write fails", write_failure_rate, "ratio", 0.05, "Failed ÷ settled writes, last hour"),
        ("last_athena_event", "Last athena", last_athena_event, "age", 2 * 3600, "Newest athena event received"),
        ("portal_last_delivered", "Portal OK", portal_last_delivered, "age", 2 * 3600, "Last successful delivery"),
        ("portal_failures", "Portal fails", portal_failures_last_hour, "count", 0, "Failed deliveries, last hour"),
        ("portal_endpoint", "Endpoint", portal_endpoint_state, "text", None, "Held after a 410 until re-enabled"),
    )
    for key, label, provider, kind, warn_above, help_text in metrics:
        register_location_metric(key, label, provider, kind=kind, warn_above=warn_above, help=help_text)
    register_alert_condition(
        "writes-parking",
        "Writes to athena are parking or failing",
        check_stuck_writes,
        audience=(INTEGRATION_ADMIN, FRONT_DESK),
    )
    register_alert_condition(
        "portal-delivery", "Portal webhook deliveries are failing", check_portal_delivery, audience=(INTEGRATION_ADMIN,)
    )
    register_alert_condition(
        "athena-events-stuck",
        "athena events are not being processed",
        check_stuck_events,
        audience=(INTEGRATION_ADMIN,),
    )
    register_quota_provider(athena_quota_readings)
    register_metric_families("sync", sync_metric_families)
