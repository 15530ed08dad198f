"""Alerts: conditions registered by apps, evaluated on a schedule, one email when one opens and one when it clears.

A condition is a function `check(now) -> iterable of Finding` returning what is wrong right now
(one `Finding` per subject, e.g. per location). `alerts_evaluate()` runs every condition:

- a finding with no open alert opens one (`Alert` row, audit action `alert-open`);
- an open alert whose finding is gone for `HUB_ALERT_CLEAR_AFTER_MINUTES` closes (`alert-clear`),
  so a condition flapping around its threshold does not mail an open/clear pair every run;
- all openings of one run go out in one email and all clearings in one more (recipients
  `HUB_ALERT_EMAILS`); an unsent notice is retried on the next run, never duplicated;
- a condition whose check raises is skipped for that run: its alerts neither open nor close.

Register a condition from another app (e.g. in its AppConfig.ready):

    from hub.alerts import Finding, register_alert_condition
    register_alert_condition(
        "parked-growth", "Parked write intents are piling up", check_parked,
        audience=(INTEGRATION_ADMIN,),          # role names that see the admin banner
    )

Summaries must hold counts, ids and codes only: they are emailed and shown in a banner.

Built-in conditions and what they rely on:

- `audit-chain-break`: the hash chain (`hub.audit_chain.checkpoint_advance`: new rows each run,
  a full walk every `HUB_AUDIT_FULL_VERIFY_HOURS` carried a time budget per run, each completed
  walk or newly found break writing a `verify` audit row).
- `webhook-signature-failures`: audit rows with action `webhook`, direction `inbound` and an
  outcome other than 0 (inbound webhook handlers must record rejected signatures that way) —
  at least `HUB_ALERT_WEBHOOK_FAILURE_THRESHOLD` in `HUB_ALERT_WEBHOOK_FAILURE_MINUTES`.
- `location-silent`: no inbound audit row (any system but the hub itself) carrying a location's
  `department_id_ref` for `HUB_ALERT_SILENT_LOCATION_MINUTES`, during its opening hours; only
  locations that have sent something before count (a location not yet live is not silent).
- `athena-quota`: quota readings from providers registered with `register_quota_provider(fn)`,
  `fn() -> iterable of QuotaReading(name, limit, remaining)` (the athena client feeds it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from hub import context
from hub.audit import audit_record
from hub.audit_chain import checkpoint_advance
from hub.models import Alert, AuditEvent, Department
from hub.roles import COMPLIANCE, FRONT_DESK, INTEGRATION_ADMIN
from hub.staff_access import location_ids, user_roles

logger = logging.getLogger(__name__)

ALERT_OPEN = "alert-open"
ALERT_CLEAR = "alert-clear"
WEBHOOK_ACTION = "webhook"
SCHEDULER_ACTOR = context.Actor(type="task", id="alerts", label="alert evaluation")


@dataclass(frozen=True)
class Finding:
    subject: str = ""
    summary: str = ""
    department_ref: str = ""
    title: str = ""


@dataclass(frozen=True)
class AlertCondition:
    key: str
    title: str
    check: Callable[[dt.datetime], Iterable[Finding]]
    audience: tuple[str, ...]


@dataclass(frozen=True)
class QuotaReading:
    name: str
    limit: int
    remaining: int


_conditions: dict[str, AlertCondition] = {}
_quota_providers: list[Callable[[], Iterable[QuotaReading]]] = []


def register_alert_condition(
    key: str,
    title: str,
    check: Callable[[dt.datetime], Iterable[Finding]],
    *,
    audience: Iterable[str] = (INTEGRATION_ADMIN,),
) -> None:
    """Add (or replace) an alert condition evaluated on every run."""
    _conditions[key] = AlertCondition(key=key, title=title, check=check, audience=tuple(audience))


def unregister_alert_condition(key: str) -> None:
    _conditions.pop(key, None)


def registered_conditions() -> list[AlertCondition]:
    return list(_conditions.values())


def register_quota_provider(provider: Callable[[], Iterable[QuotaReading]]) -> None:
    """Feed the `athena-quota` condition: `provider() -> [QuotaReading(name, limit, remaining)]`."""
    if provider not in _quota_providers:
        _quota_providers.append(provider)


def unregister_quota_provider(provider: Callable[[], Iterable[QuotaReading]]) -> None:
    if provider in _quota_providers:
        _quota_providers.remove(provider)


# --- Evaluation -----------------------------------------------------------------------------------


@dataclass
class EvaluationResult:
    opened: list[Alert]
    cleared: list[Alert]
    failed_conditions: list[str]


def _audit_transition(alert: Alert, action: str) -> None:
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action=action,
        actor=SCHEDULER_ACTOR,
        object_type="alert",
        object_id=alert.pk,
        department_ref=alert.department_ref or None,
        outcome=AuditEvent.Outcome.SUCCESS,
        detail={"condition": alert.condition, "subject": alert.subject},
    )


@transaction.atomic
def _apply(condition: AlertCondition, findings: list[Finding], now: dt.datetime) -> tuple[list[Alert], list[Alert]]:
    clear_after = dt.timedelta(minutes=settings.HUB_ALERT_CLEAR_AFTER_MINUTES)
    open_alerts = {
        a.subject: a for a in Alert.objects.select_for_update().filter(condition=condition.key, closed_at=None)
    }
    opened: list[Alert] = []
    seen: set[str] = set()
    for finding in findings:
        seen.add(finding.subject)
        alert = open_alerts.get(finding.subject)
        if alert is None:
            alert = Alert.objects.create(
                condition=condition.key,
                subject=finding.subject[:64],
                title=(finding.title or condition.title)[:200],
                summary=finding.summary[:300],
                department_ref=finding.department_ref[:20],
                audience=",".join(condition.audience),
                opened_at=now,
                last_seen_at=now,
            )
            _audit_transition(alert, ALERT_OPEN)
            opened.append(alert)
        else:
            alert.last_seen_at = now
            alert.summary = finding.summary[:300]
            alert.save(update_fields=["last_seen_at", "summary"])
    cleared: list[Alert] = []
    for subject, alert in open_alerts.items():
        if subject not in seen and now - alert.last_seen_at >= clear_after:
            alert.closed_at = now
            alert.save(update_fields=["closed_at"])
            _audit_transition(alert, ALERT_CLEAR)
            cleared.append(alert)
    return opened, cleared


def alerts_evaluate(*, now: dt.datetime | None = None) -> EvaluationResult:
    """Run every condition once, open and clear alerts, then send the pending notices."""
    now = now or timezone.now()
    result = EvaluationResult(opened=[], cleared=[], failed_conditions=[])
    with context.bind(actor=SCHEDULER_ACTOR):
        for condition in list(_conditions.values()):
            try:
                findings = list(condition.check(now))
            except Exception as exc:
                # Class name only: exception text may quote row values.
                logger.error("alert condition %s failed: %s", condition.key, type(exc).__name__)
                result.failed_conditions.append(condition.key)
                continue
            opened, cleared = _apply(condition, findings, now)
            result.opened += opened
            result.cleared += cleared
        alerts_notify(now=now)
    return result


def _notice(alerts: list[Alert], *, opened: bool) -> tuple[str, str]:
    verb = "opened" if opened else "cleared"
    subject = f"[Integration Hub] {len(alerts)} alert{'s' if len(alerts) != 1 else ''} {verb}"
    if len(alerts) == 1:
        subject += f": {alerts[0].title}"
    lines = [f"These alerts {verb}:", ""]
    for alert in alerts:
        when = alert.opened_at if opened else alert.closed_at
        lines.append(f"- {alert.title} ({alert.condition}{' ' + alert.subject if alert.subject else ''})")
        if alert.summary:
            lines.append(f"  {alert.summary}")
        lines.append(f"  {verb} at {when:%Y-%m-%d %H:%M} UTC" if when else "")
    lines += ["", f"Open alerts: {settings.HUB_PUBLIC_URL.rstrip('/')}/admin/hub/alert/?closed_at__isnull=True"]
    return subject, "\n".join(line for line in lines if line is not None)


def alerts_notify(*, now: dt.datetime | None = None) -> int:
    """Email the openings and clearings not yet announced: at most two messages. Returns emails sent."""
    now = now or timezone.now()
    # Opened and closed again before anyone was told: nothing to announce either way.
    Alert.objects.filter(open_notified_at=None, closed_at__isnull=False).update(
        open_notified_at=now, close_notified_at=now
    )
    pending_open = list(Alert.objects.filter(open_notified_at=None, closed_at=None).order_by("opened_at"))
    pending_close = list(Alert.objects.filter(close_notified_at=None, closed_at__isnull=False).order_by("closed_at"))
    sent = 0
    recipients = list(settings.HUB_ALERT_EMAILS)
    for alerts, opened, stamp_field in (
        (pending_open, True, "open_notified_at"),
        (pending_close, False, "close_notified_at"),
    ):
        if not alerts:
            continue
        if recipients:
            subject, body = _notice(alerts, opened=opened)
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
            except Exception as exc:
                # Left unannounced: the next run tries again with whatever is pending then.
                logger.error("alert email failed: %s", type(exc).__name__)
                continue
            sent += 1
        Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(**{stamp_field: now})
    return sent


# --- Who sees which alert -------------------------------------------------------------------------


def visible_open_alerts(user: Any) -> QuerySet[Alert]:
    """Open alerts for the admin banner: by role, and by location for location-scoped users."""
    alerts = Alert.objects.filter(closed_at=None)
    if user is None or not user.is_authenticated:
        return alerts.none()
    if user.is_superuser:
        return alerts
    roles = user_roles(user)
    if not roles:
        return alerts.none()
    role_match = Q()
    for role in roles:
        role_match |= Q(audience__contains=role)
    alerts = alerts.filter(role_match)
    scope = location_ids(user)
    if scope is not None and INTEGRATION_ADMIN not in roles:
        alerts = alerts.filter(Q(department_ref="") | Q(department_ref__in=[str(pk) for pk in scope]))
    return alerts


# --- Built-in condition: audit chain ---------------------------------------------------------------


def check_audit_chain(now: dt.datetime) -> list[Finding]:
    checkpoint = checkpoint_advance(now=now)
    if checkpoint.broken_sequence is None:
        return []
    return [Finding(summary=f"First broken row #{checkpoint.broken_sequence}: {checkpoint.broken_reason}")]


# --- Built-in condition: webhook signature failures --------------------------------------------


def check_webhook_failures(now: dt.datetime) -> list[Finding]:
    from hub.audit_browser import FAILURE_CODES, sequence_range

    window = dt.timedelta(minutes=settings.HUB_ALERT_WEBHOOK_FAILURE_MINUTES)
    bounds = sequence_range(now - window, None)
    if bounds is None:
        return []
    low, _ = bounds
    systems = Counter(
        AuditEvent.objects.filter(
            action=WEBHOOK_ACTION,
            direction=AuditEvent.Direction.INBOUND,
            outcome__in=FAILURE_CODES,
            sequence__gte=low,
            recorded_at__gte=now - window,
        ).values_list("system", flat=True)
    )
    total = sum(systems.values())
    if total < settings.HUB_ALERT_WEBHOOK_FAILURE_THRESHOLD:
        return []
    by_system = ", ".join(f"{name} {count}" for name, count in sorted(systems.items()))
    minutes = settings.HUB_ALERT_WEBHOOK_FAILURE_MINUTES
    return [Finding(summary=f"{total} rejected inbound webhooks in the last {minutes} min ({by_system})")]


# --- Built-in condition: a location gone quiet ----------------------------------------------------


def _parse_range(text: str, upper: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
            values.update(range(start, min(end, upper) + 1))
        else:
            values.add(int(part))
    return values


def _opened_long_enough(department: Department, now: dt.datetime, window: dt.timedelta) -> bool:
    """The location is open now and has been open for at least `window` today."""
    local = now.astimezone(ZoneInfo(department.timezone))
    if local.weekday() not in _parse_range(settings.HUB_ALERT_OPENING_WEEKDAYS, 6):
        return False
    start_text, _, end_text = settings.HUB_ALERT_OPENING_HOURS.partition("-")
    opens, closes = int(start_text), int(end_text or 24)
    opened_at = local.replace(hour=opens, minute=0, second=0, microsecond=0)
    return local.hour < closes and local - window >= opened_at


def last_inbound_at(department_id: int) -> dt.datetime | None:
    """When this location last sent the hub something (newest inbound, non-hub audit row)."""
    return (
        AuditEvent.objects.filter(department_id_ref=str(department_id), direction=AuditEvent.Direction.INBOUND)
        .exclude(system=AuditEvent.System.HUB)
        .order_by("-sequence")
        .values_list("recorded_at", flat=True)
        .first()
    )


def check_silent_locations(now: dt.datetime) -> list[Finding]:
    window = dt.timedelta(minutes=settings.HUB_ALERT_SILENT_LOCATION_MINUTES)
    findings = []
    for department in Department.objects.filter(is_active=True):
        if not _opened_long_enough(department, now, window):
            continue
        last = last_inbound_at(department.pk)
        if last is not None and now - last >= window:
            minutes = int((now - last).total_seconds() // 60)
            findings.append(
                Finding(
                    subject=str(department.pk),
                    department_ref=str(department.pk),
                    title=f"No traffic from location #{department.pk} ({department.name})",
                    summary=f"Last inbound event {minutes} min ago",
                )
            )
    return findings


# --- Built-in condition: athena quota -------------------------------------------------------------


def check_quota(now: dt.datetime) -> list[Finding]:
    findings = []
    ratio = settings.HUB_ALERT_QUOTA_REMAINING_RATIO
    for provider in list(_quota_providers):
        for reading in provider():
            if reading.limit > 0 and reading.remaining / reading.limit < ratio:
                findings.append(
                    Finding(
                        subject=reading.name[:64],
                        summary=f"{reading.remaining} of {reading.limit} calls left ({reading.name})",
                    )
                )
    return findings


register_alert_condition(
    "audit-chain-break",
    "The audit trail's hash chain is broken",
    check_audit_chain,
    audience=(INTEGRATION_ADMIN, COMPLIANCE),
)
register_alert_condition(
    "webhook-signature-failures",
    "Inbound webhooks are being rejected",
    check_webhook_failures,
    audience=(INTEGRATION_ADMIN, COMPLIANCE),
)
register_alert_condition(
    "location-silent", "A location has gone quiet", check_silent_locations, audience=(INTEGRATION_ADMIN, FRONT_DESK)
)
register_alert_condition("athena-quota", "athena API quota nearly used up", check_quota, audience=(INTEGRATION_ADMIN,))
