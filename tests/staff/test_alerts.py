"""Alerts: one email when a condition opens, one when it clears, never a flood; a banner for the right people."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.test import Client, override_settings

from hub.alerts import (
    Finding,
    QuotaReading,
    alerts_evaluate,
    register_alert_condition,
    register_quota_provider,
    registered_conditions,
    unregister_alert_condition,
    unregister_quota_provider,
)
from hub.audit import audit_record
from hub.models import Alert, AuditEvent
from hub.roles import INTEGRATION_ADMIN
from tests.staff.conftest import sign_in
from tests.staff.test_audit_browser import drop_append_only_triggers

T0 = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in New York


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def only(request: Any) -> Iterator[Any]:
    """Run only the named built-in conditions (plus any a test registers)."""
    saved = registered_conditions()

    def keep(*keys: str) -> None:
        for condition in saved:
            if condition.key not in keys:
                unregister_alert_condition(condition.key)

    yield keep
    for condition in saved:
        register_alert_condition(condition.key, condition.title, condition.check, audience=condition.audience)


@pytest.fixture
def switch(only: Any) -> Iterator[dict[str, list[Finding]]]:
    state: dict[str, list[Finding]] = {"findings": []}
    only()
    register_alert_condition("test-switch", "Test switch", lambda now: state["findings"], audience=(INTEGRATION_ADMIN,))
    yield state
    unregister_alert_condition("test-switch")


@pytest.mark.django_db
@override_settings(HUB_ALERT_EMAILS=["oncall@example.test"], HUB_ALERT_CLEAR_AFTER_MINUTES=10)
def test_one_email_on_open_and_one_on_clear_however_often_it_runs(switch: Any) -> None:
    switch["findings"] = [Finding(summary="3 things wrong")]
    for minute in range(0, 30, 5):
        alerts_evaluate(now=at(minute))
    assert len(mail.outbox) == 1
    assert "1 alert opened: Test switch" in mail.outbox[0].subject
    assert "3 things wrong" in mail.outbox[0].body
    assert Alert.objects.get().is_open

    switch["findings"] = []
    alerts_evaluate(now=at(30))  # absent for 5 minutes: not yet cleared (flapping guard)
    assert len(mail.outbox) == 1 and Alert.objects.get().is_open
    for minute in range(35, 60, 5):
        alerts_evaluate(now=at(minute))
    assert len(mail.outbox) == 2
    assert "1 alert cleared" in mail.outbox[1].subject
    assert not Alert.objects.get().is_open
    actions = list(AuditEvent.objects.filter(object_type="alert").order_by("sequence").values_list("action", flat=True))
    assert actions == ["alert-open", "alert-clear"]


@pytest.mark.django_db
@override_settings(HUB_ALERT_EMAILS=["oncall@example.test"])
def test_many_alerts_opening_together_send_one_email(switch: Any) -> None:
    switch["findings"] = [Finding(subject=str(n), summary=f"location {n}") for n in range(15)]
    alerts_evaluate(now=at(0))
    assert len(mail.outbox) == 1 and "15 alerts opened" in mail.outbox[0].subject
    assert Alert.objects.filter(closed_at=None).count() == 15


@pytest.mark.django_db
@override_settings(HUB_ALERT_EMAILS=["oncall@example.test"])
def test_an_email_that_failed_is_sent_on_the_next_run_and_only_once(switch: Any) -> None:
    switch["findings"] = [Finding()]
    with mock.patch("hub.alerts.send_mail", side_effect=ConnectionRefusedError):
        alerts_evaluate(now=at(0))
    assert mail.outbox == []
    alerts_evaluate(now=at(5))
    alerts_evaluate(now=at(10))
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@override_settings(HUB_ALERT_EMAILS=["oncall@example.test"])
def test_a_condition_that_cannot_be_checked_neither_opens_nor_clears(switch: Any) -> None:
    switch["findings"] = [Finding()]
    alerts_evaluate(now=at(0))
    register_alert_condition("test-switch", "Test switch", lambda now: 1 / 0)
    result = alerts_evaluate(now=at(60))
    assert result.failed_conditions == ["test-switch"]
    assert Alert.objects.get().is_open and len(mail.outbox) == 1


@pytest.mark.django_db
@override_settings(HUB_ALERT_WEBHOOK_FAILURE_THRESHOLD=5, HUB_ALERT_WEBHOOK_FAILURE_MINUTES=15)
def test_rejected_webhooks_open_an_alert(only: Any) -> None:
    only("webhook-signature-failures")
    with mock.patch("django.utils.timezone.now", return_value=at(-5)):
        for _ in range(4):
            audit_record(system="athena", direction="inbound", action="webhook", outcome="4", status_code=401)
        audit_record(system="athena", direction="inbound", action="webhook", outcome="0", status_code=200)
    alerts_evaluate(now=at(0))
    assert not Alert.objects.exists()  # four is under the threshold
    with mock.patch("django.utils.timezone.now", return_value=at(-1)):
        audit_record(system="portal", direction="inbound", action="webhook", outcome="4", status_code=403)
    alerts_evaluate(now=at(0))
    alert = Alert.objects.get(condition="webhook-signature-failures")
    assert alert.summary == "5 rejected inbound webhooks in the last 15 min (athena 4, portal 1)"


@pytest.mark.django_db
def test_a_broken_audit_chain_opens_an_alert_for_compliance_but_not_front_desk(
    client: Client, only: Any, compliance: Any, front_desk: Any, integration_admin: Any
) -> None:
    only("audit-chain-break")
    rows = [audit_record(system="athena", action="call") for _ in range(3)]
    alerts_evaluate(now=at(0))
    assert not Alert.objects.exists()
    drop_append_only_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE hub_auditevent SET action = 'hidden' WHERE sequence = %s", [rows[1].sequence])
    alerts_evaluate(now=at(5))  # an incremental run does not re-read old rows...
    alerts_evaluate(now=at(5 + 24 * 60))  # ...the daily full walk does
    alert = Alert.objects.get(condition="audit-chain-break")
    assert f"#{rows[1].sequence}" in alert.summary
    for user, sees in ((compliance, True), (integration_admin, True), (front_desk, False)):
        sign_in(client, user)
        page = client.get("/admin/").content.decode()
        assert ("audit trail&#x27;s hash chain is broken" in page) == sees, user


@pytest.mark.django_db
def test_new_rows_are_checked_between_full_walks(only: Any) -> None:
    only("audit-chain-break")
    audit_record(system="athena", action="call")
    alerts_evaluate(now=at(0))
    later = audit_record(system="athena", action="call")
    drop_append_only_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE hub_auditevent SET action = 'hidden' WHERE sequence = %s", [later.sequence])
    alerts_evaluate(now=at(5))
    assert f"#{later.sequence}" in Alert.objects.get(condition="audit-chain-break").summary


@pytest.mark.django_db
@override_settings(
    HUB_ALERT_SILENT_LOCATION_MINUTES=60, HUB_ALERT_OPENING_HOURS="8-18", HUB_ALERT_OPENING_WEEKDAYS="0-4"
)
def test_a_location_gone_quiet_during_opening_hours_opens_an_alert(
    client: Client, only: Any, clinic_a: Any, clinic_b: Any, front_desk: Any, front_desk_b: Any
) -> None:
    only("location-silent")
    with mock.patch("django.utils.timezone.now", return_value=at(-90)):
        audit_record(system="athena", direction="inbound", action="webhook", department_ref=clinic_a.pk)
    # clinic_b has never sent anything (not live yet): not "silent".
    alerts_evaluate(now=T0.replace(hour=12))  # 07:00 in New York: closed
    assert not Alert.objects.exists()
    alerts_evaluate(now=at(0))
    alert = Alert.objects.get()
    assert alert.department_ref == str(clinic_a.pk) and "Last inbound event 90 min ago" in alert.summary
    sign_in(client, front_desk)
    assert "No traffic from location" in client.get("/admin/").content.decode()
    sign_in(client, front_desk_b)
    assert "No traffic from location" not in client.get("/admin/").content.decode()


@pytest.mark.django_db
@override_settings(HUB_ALERT_QUOTA_REMAINING_RATIO=0.1)
def test_athena_quota_nearly_used_up_opens_an_alert(only: Any) -> None:
    only("athena-quota")
    readings = [QuotaReading(name="practice-195900", limit=1000, remaining=500)]

    def provider() -> list[QuotaReading]:
        return readings

    register_quota_provider(provider)
    try:
        alerts_evaluate(now=at(0))
        assert not Alert.objects.exists()
        readings[0] = QuotaReading(name="practice-195900", limit=1000, remaining=40)
        alerts_evaluate(now=at(5))
        assert Alert.objects.get().summary == "40 of 1000 calls left (practice-195900)"
    finally:
        unregister_quota_provider(provider)
