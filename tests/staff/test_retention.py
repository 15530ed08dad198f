"""Retention: old payloads and audit rows go on schedule, the chain still verifies, every purge is audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone
from django_q.models import Schedule

from hub.audit import audit_record
from hub.audit_chain import chain_verify
from hub.models import AuditChainHead, AuditEvent
from hub.retention import purge_expired, register_payload_purger, registered_purgers, unregister_payload_purger
from hub.schedules import ALERTS_SCHEDULE, PURGE_SCHEDULE, schedules_sync

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def record_at(moment: dt.datetime, **values: Any) -> AuditEvent:
    with mock.patch("django.utils.timezone.now", return_value=moment):
        return audit_record(system="athena", action="call", **values)


@pytest.fixture(autouse=True)
def only_these_purgers() -> Iterator[None]:
    """These tests count purge rows: the apps' own purgers (card images, X12) stay out, then come back."""
    registered = registered_purgers()
    for name in registered:
        unregister_payload_purger(name)
    yield
    for name in registered_purgers():
        unregister_payload_purger(name)
    for name, purger in registered.items():
        register_payload_purger(name, purger)


@pytest.fixture
def purgers() -> Iterator[dict[str, list[dt.datetime]]]:
    calls: dict[str, list[dt.datetime]] = {"card-images": []}

    def purge_cards(before: dt.datetime) -> int:
        calls["card-images"].append(before)
        return 3

    def purge_broken(before: dt.datetime) -> int:
        raise OSError("disk full at /var/private/patient-42-card.png")

    register_payload_purger("card-images", purge_cards)
    register_payload_purger("x12-documents", purge_broken)
    yield calls
    unregister_payload_purger("card-images")
    unregister_payload_purger("x12-documents")


@pytest.mark.django_db
@override_settings(HUB_AUDIT_RETENTION_DAYS=365)
def test_old_audit_rows_are_purged_and_the_chain_still_verifies() -> None:
    old = [record_at(NOW - dt.timedelta(days=400 - n)) for n in range(5)]
    kept = [record_at(NOW - dt.timedelta(days=30 - n)) for n in range(3)]
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        report = purge_expired()
    assert report.audit_rows == 5
    remaining = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    purge_row = AuditEvent.objects.get(action="purge", object_type="auditevent")
    assert remaining == [r.sequence for r in kept] + [purge_row.sequence]
    assert purge_row.detail["deleted"] == 5 and purge_row.detail["kept_from_sequence"] == kept[0].sequence
    assert chain_verify().ok
    # The delete guard is back in force for every remaining row.
    assert AuditChainHead.objects.get(pk=1).purge_below_sequence == 0
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM hub_auditevent WHERE sequence = %s", [kept[0].sequence])
    assert old[0].sequence not in remaining


@pytest.mark.django_db
@override_settings(HUB_AUDIT_RETENTION_DAYS=365)
def test_audit_purge_in_small_batches_removes_every_expired_row() -> None:
    for n in range(25):
        record_at(NOW - dt.timedelta(days=500, minutes=-n))
    record_at(NOW)
    from hub.retention import audit_purge

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        assert audit_purge(batch=4) == 25
    assert chain_verify().ok


@pytest.mark.django_db
def test_nothing_young_enough_is_purged_by_the_six_year_default() -> None:
    rows = [record_at(NOW - dt.timedelta(days=5 * 365)) for _ in range(3)]
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        assert purge_expired().audit_rows == 0
    assert AuditEvent.objects.filter(sequence__in=[r.sequence for r in rows]).count() == 3


@pytest.mark.django_db
@override_settings(HUB_PAYLOAD_RETENTION_DAYS=30)
def test_payload_purgers_run_with_the_cutoff_and_each_is_audited(purgers: Any) -> None:
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        report = purge_expired()
    assert purgers["card-images"] == [NOW - dt.timedelta(days=30)]
    assert report.payloads == {"card-images": 3, "x12-documents": None}
    ok = AuditEvent.objects.get(action="purge", object_type="card-images")
    assert (ok.outcome, ok.detail["deleted"]) == ("0", 3)
    failed = AuditEvent.objects.get(action="purge", object_type="x12-documents")
    # A failing purger is recorded without its message, which could name a file or a patient.
    assert (failed.outcome, failed.outcome_detail) == ("8", "OSError")
    assert "patient-42" not in str(list(AuditEvent.objects.values()))


@pytest.mark.django_db
def test_purge_command_reports_what_it_did(purgers: Any) -> None:
    out = StringIO()
    call_command("purge_expired", stdout=out)
    text = out.getvalue()
    assert "card-images: 3 deleted" in text and "x12-documents: FAILED" in text and "Audit rows older than" in text


@pytest.mark.django_db
def test_schedules_exist_once_after_migrate() -> None:
    # The test database was built by `migrate`, which ran the post_migrate hook.
    assert Schedule.objects.filter(name=PURGE_SCHEDULE, func="hub.tasks.purge_expired_task").count() == 1
    schedules_sync()
    schedules_sync()
    assert Schedule.objects.filter(name__in=[PURGE_SCHEDULE, ALERTS_SCHEDULE]).count() == 2
    alerts = Schedule.objects.get(name=ALERTS_SCHEDULE)
    assert (alerts.schedule_type, alerts.minutes) == (Schedule.MINUTES, 5)
    assert Schedule.objects.get(name=PURGE_SCHEDULE).next_run > timezone.now()


@pytest.mark.django_db
def test_the_scheduled_tasks_run() -> None:
    from hub.tasks import alerts_evaluate_task, purge_expired_task

    assert purge_expired_task(correlation_id="retention-test-1")["audit_rows"] == 0
    assert alerts_evaluate_task()["opened"] == 0
    assert AuditEvent.objects.get(action="purge").correlation_id == "retention-test-1"
