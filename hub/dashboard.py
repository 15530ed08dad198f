"""The location dashboard: one row per location, one column per registered metric.

Apps add columns through `register_location_metric`:

    from hub.dashboard import register_location_metric

    def parked_intents(departments: Sequence[Department], now: datetime) -> dict[int, int]:
        rows = WriteIntent.objects.parked().filter(department__in=departments)
        return dict(rows.values_list("department_id").annotate(n=Count("id")))

    register_location_metric("parked", "Parked intents", parked_intents, kind="count", warn_above=0)

A provider gets the locations to report on and "now", and returns `{department_pk: value}`
(missing locations show "—"). `kind` says how to show the value: "count", "ratio" (0..1, shown
as a percentage), "age" (a datetime, shown as "3 min ago"; its age in seconds is compared with
`warn_above`), "seconds" (a duration) or "text". Values above `warn_above` are highlighted.
The same providers feed `/metrics` (gauge `hub_location_metric{location, metric}`), so a value
must be a number, a datetime or None there; "text" metrics are left out of /metrics.

Built in, from the audit trail's last hour: `calls_last_hour`, `failure_rate_last_hour`,
`last_inbound_event` (newest inbound row from an outside system for that location).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from hub.models import AuditEvent, Department

logger = logging.getLogger(__name__)

MetricValue = int | float | dt.datetime | str | None
MetricProvider = Callable[[Sequence[Department], dt.datetime], Mapping[int, MetricValue]]
KINDS = {"count", "ratio", "age", "seconds", "text"}


@dataclass(frozen=True)
class LocationMetric:
    key: str
    label: str
    provider: MetricProvider
    kind: str = "count"
    warn_above: float | None = None
    help: str = ""


_metrics: dict[str, LocationMetric] = {}


def register_location_metric(
    key: str,
    label: str,
    provider: MetricProvider,
    *,
    kind: str = "count",
    warn_above: float | None = None,
    help: str = "",
) -> None:
    """Add (or replace) a dashboard column fed by `provider(departments, now) -> {pk: value}`."""
    if kind not in KINDS:
        raise ValueError(f"unknown metric kind {kind!r}")
    _metrics[key] = LocationMetric(key=key, label=label, provider=provider, kind=kind, warn_above=warn_above, help=help)


def unregister_location_metric(key: str) -> None:
    _metrics.pop(key, None)


def registered_metrics() -> list[LocationMetric]:
    return list(_metrics.values())


def collect(departments: Sequence[Department], now: dt.datetime) -> dict[str, Mapping[int, MetricValue] | None]:
    """Every metric's values; None for a provider that failed (logged by class name only)."""
    values: dict[str, Mapping[int, MetricValue] | None] = {}
    for metric in list(_metrics.values()):
        try:
            values[metric.key] = metric.provider(departments, now)
        except Exception as exc:
            logger.error("location metric %s failed: %s", metric.key, type(exc).__name__)
            values[metric.key] = None
    return values


def numeric(metric: LocationMetric, value: MetricValue, now: dt.datetime) -> float | None:
    """The value as a number (an age in seconds for datetimes); None when it has none."""
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, dt.datetime):
        return max(0.0, (now - value).total_seconds())
    return float(value)


# --- Built-in metrics from the audit trail ---------------------------------------------------------


_counts_memo: dict[tuple[tuple[int, ...], dt.datetime], dict[int, dict[str, int]]] = {}


def _last_hour_counts(departments: Sequence[Department], now: dt.datetime) -> dict[int, dict[str, int]]:
    """Calls and failures per location in the hour before `now` (one query, shared by two columns)."""
    key = (tuple(d.pk for d in departments), now)
    if key not in _counts_memo:
        _counts_memo.clear()
        _counts_memo[key] = _query_last_hour_counts(departments, now)
    return _counts_memo[key]


def _query_last_hour_counts(departments: Sequence[Department], now: dt.datetime) -> dict[int, dict[str, int]]:
    from hub.audit_browser import sequence_range

    since = now - dt.timedelta(hours=1)
    bounds = sequence_range(since, None)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"total": 0, "failed": 0})
    if bounds is None:
        return dict(counts)
    low, _ = bounds
    ids = {str(d.pk): d.pk for d in departments}
    rows = (
        AuditEvent.objects.filter(sequence__gte=low, recorded_at__gte=since, department_id_ref__in=list(ids))
        .exclude(system=AuditEvent.System.HUB)
        .values_list("department_id_ref", "outcome")
        .annotate(n=Count("id"))
    )
    for department_ref, outcome, n in rows:
        entry = counts[ids[department_ref]]
        entry["total"] += n
        if outcome != AuditEvent.Outcome.SUCCESS:
            entry["failed"] += n
    return dict(counts)


def calls_last_hour(departments: Sequence[Department], now: dt.datetime) -> dict[int, MetricValue]:
    counts = _last_hour_counts(departments, now)
    return {d.pk: counts[d.pk]["total"] if d.pk in counts else 0 for d in departments}


def failure_rate_last_hour(departments: Sequence[Department], now: dt.datetime) -> dict[int, MetricValue]:
    counts = _last_hour_counts(departments, now)
    return {pk: c["failed"] / c["total"] for pk, c in counts.items() if c["total"]}


def last_inbound_event(departments: Sequence[Department], now: dt.datetime) -> dict[int, MetricValue]:
    from hub.alerts import last_inbound_at

    return {d.pk: last_inbound_at(d.pk) for d in departments}


register_location_metric(
    "calls_last_hour", "Calls, last hour", calls_last_hour, kind="count", help="Audit rows with outside systems"
)
register_location_metric(
    "failure_rate_last_hour",
    "Failure rate, last hour",
    failure_rate_last_hour,
    kind="ratio",
    warn_above=0.05,
    help="Share of those calls whose outcome was not success",
)
register_location_metric(
    "last_inbound_event",
    "Last inbound event",
    last_inbound_event,
    kind="age",
    warn_above=2 * 3600,
    help="Newest event an outside system sent about this location",
)


# --- View ---------------------------------------------------------------------------------------


@dataclass
class Cell:
    text: str
    warn: bool = False
    raw: Any = None


def _cell(metric: LocationMetric, value: MetricValue, now: dt.datetime) -> Cell:
    from hub.staff_home import relative

    if value is None:
        return Cell("—")
    number = numeric(metric, value, now)
    warn = metric.warn_above is not None and number is not None and number > metric.warn_above
    if metric.kind == "ratio" and number is not None:
        return Cell(f"{number:.1%}", warn, value)
    if metric.kind == "age" and isinstance(value, dt.datetime):
        return Cell(relative(value, now), warn, value)
    if metric.kind == "seconds" and number is not None:
        from hub.staff_home import human_delta

        return Cell(human_delta(dt.timedelta(seconds=number)), warn, value)
    if isinstance(value, float):
        return Cell(f"{value:.1f}", warn, value)
    return Cell(str(value), warn, value)


def dashboard_view(request: HttpRequest, site_context: dict[str, Any]) -> TemplateResponse:
    """Per-location health for integration admins (permission `hub.view_location_dashboard`)."""
    from django.core.exceptions import PermissionDenied

    if not request.user.has_perm("hub.view_location_dashboard"):
        raise PermissionDenied
    now = timezone.now()
    departments = list(Department.objects.for_user(request.user).filter(is_active=True).order_by("name"))
    metrics = registered_metrics()
    values = collect(departments, now)
    rows = []
    for department in departments:
        cells = []
        for metric in metrics:
            metric_values = values.get(metric.key)
            if metric_values is None:
                cells.append(Cell("unavailable", warn=True))
            else:
                cells.append(_cell(metric, metric_values.get(department.pk), now))
        rows.append({"department": department, "cells": cells, "warn": any(c.warn for c in cells)})
    rows.sort(key=lambda row: (not row["warn"], row["department"].name))
    return TemplateResponse(
        request,
        "hub/location_dashboard.html",
        {**site_context, "title": "Locations", "metrics": metrics, "rows": rows, "now": now},
    )
