"""Prometheus exposition at `/metrics`, collected from the database at scrape time.

Labels are location ids, systems, directions, outcomes, alert condition keys and metric keys:
never names, patients or free text. Every value is computed per scrape from the rows (the
truth), so any number of web processes answer alike without shared metric state.

Access: with `HUB_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>` and may
come from anywhere; with it empty, only callers on the loopback interface are answered (the
address is the one `hub.middleware.client_address` resolves, so behind a proxy set the token).

Gauges:
- `hub_audit_events_last_hour{system,direction,outcome}`
- `hub_audit_chain_last_sequence`, `hub_audit_chain_intact` (1/0, from the scheduled check),
  `hub_audit_chain_verified_timestamp_seconds`
- `hub_alerts_open{condition}`
- `hub_location_metric{location,metric}` (every numeric dashboard metric; ages in seconds)
- `hub_queue_depth` (django-q2 tasks waiting)
- whatever other apps add with `register_metric_families(key, provider)`: `provider(now)` yields
  metric families (the sync app's queue gauges by location, system and state)
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from hub.middleware import client_address

logger = logging.getLogger(__name__)

FamilyProvider = Callable[[dt.datetime], Iterable[Metric]]
_family_providers: dict[str, FamilyProvider] = {}


def register_metric_families(key: str, provider: FamilyProvider) -> None:
    """Add (or replace) gauges from another app; labels must be ids and codes, never PHI."""
    _family_providers[key] = provider


def unregister_metric_families(key: str) -> None:
    _family_providers.pop(key, None)


def _audit_last_hour(now: dt.datetime) -> GaugeMetricFamily:
    from hub.audit_browser import sequence_range
    from hub.models import AuditEvent

    family = GaugeMetricFamily(
        "hub_audit_events_last_hour",
        "Audit rows recorded in the last hour",
        labels=["system", "direction", "outcome"],
    )
    since = now - dt.timedelta(hours=1)
    bounds = sequence_range(since, None)
    if bounds is not None:
        rows = (
            AuditEvent.objects.filter(sequence__gte=bounds[0], recorded_at__gte=since)
            .values_list("system", "direction", "outcome")
            .annotate(n=Count("id"))
        )
        for system, direction, outcome, n in rows:
            family.add_metric([system, direction, outcome], n)
    return family


def _chain() -> Iterator[Metric]:
    from hub.models import AuditChainHead, AuditCheckpoint

    head = AuditChainHead.objects.filter(pk=1).values_list("last_sequence", flat=True).first() or 0
    yield GaugeMetricFamily("hub_audit_chain_last_sequence", "Sequence of the newest audit row", value=head)
    checkpoint = AuditCheckpoint.objects.filter(pk=1).first()
    if checkpoint is not None and checkpoint.last_run_at is not None:
        yield GaugeMetricFamily(
            "hub_audit_chain_intact",
            "1 when the last scheduled check found the audit chain intact",
            value=0 if checkpoint.broken_sequence is not None else 1,
        )
        yield GaugeMetricFamily(
            "hub_audit_chain_verified_timestamp_seconds",
            "When the audit chain was last checked (Unix time)",
            value=checkpoint.last_run_at.timestamp(),
        )


def _alerts() -> GaugeMetricFamily:
    from hub.alerts import registered_conditions
    from hub.models import Alert

    family = GaugeMetricFamily("hub_alerts_open", "Open alerts per condition", labels=["condition"])
    counts = dict(Alert.objects.filter(closed_at=None).values_list("condition").annotate(n=Count("id")))
    for key in sorted({c.key for c in registered_conditions()} | set(counts)):
        family.add_metric([key], counts.get(key, 0))
    return family


def _locations(now: dt.datetime) -> GaugeMetricFamily:
    from hub.dashboard import collect, numeric, registered_metrics
    from hub.models import Department

    family = GaugeMetricFamily(
        "hub_location_metric", "Per-location dashboard metrics (ages in seconds)", labels=["location", "metric"]
    )
    departments = list(Department.objects.filter(is_active=True))
    values = collect(departments, now)
    for metric in registered_metrics():
        if metric.kind == "text" or values.get(metric.key) is None:
            continue
        for department in departments:
            number = numeric(metric, values[metric.key].get(department.pk), now)  # type: ignore[union-attr]
            if number is not None:
                family.add_metric([str(department.pk), metric.key], number)
    return family


def _queue() -> Iterator[Metric]:
    try:
        from django_q.brokers import get_broker

        depth = get_broker().queue_size()
    except Exception as exc:
        logger.warning("queue depth unavailable: %s", type(exc).__name__)
        return
    yield GaugeMetricFamily("hub_queue_depth", "Tasks waiting in the django-q2 queue", value=depth or 0)


class HubCollector:
    """Collects every hub gauge from the database when scraped."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield GaugeMetricFamily("hub_up", "The hub answered this scrape", value=1)
        yield _audit_last_hour(now)
        yield from _chain()
        yield _alerts()
        yield _locations(now)
        yield from _queue()
        for key, provider in list(_family_providers.items()):
            try:
                families = list(provider(now))
            except Exception as exc:
                # Class name only: one app's failing gauges must not cost the whole scrape.
                logger.error("metric families %s failed: %s", key, type(exc).__name__)
                continue
            yield from families


def scrape() -> bytes:
    """One exposition of every hub gauge."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector())  # type: ignore[arg-type]
    return generate_latest(registry)


def _authorised(request: HttpRequest) -> tuple[bool, int]:
    token = settings.HUB_METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        supplied = header[7:] if header.startswith("Bearer ") else ""
        return hmac.compare_digest(supplied.encode(), token.encode()), 401
    try:
        return ipaddress.ip_address(client_address(request)).is_loopback, 403
    except ValueError:
        return False, 403


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition (bearer token, or loopback only when no token is configured)."""
    allowed, status = _authorised(request)
    if not allowed:
        response = HttpResponse("Not allowed.\n", status=status, content_type="text/plain")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
