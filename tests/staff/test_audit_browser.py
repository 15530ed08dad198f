"""The audit browser: search, keyset pages, export, and chain verification (web and command)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from hub import audit_chain, context
from hub.audit import audit_record
from hub.audit_browser import AuditFilters, audit_search
from hub.audit_chain import chain_verify
from hub.models import AuditEvent
from tests.conftest import TaskQueue
from tests.staff.conftest import sign_in


def drop_append_only_triggers() -> None:
    """What a database superuser could do: switch off the append-only guard."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS hub_auditevent_append_only ON hub_auditevent")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS hub_auditevent_no_update")
            cursor.execute("DROP TRIGGER IF EXISTS hub_auditevent_no_delete")


def record(**values: Any) -> AuditEvent:
    defaults: dict[str, Any] = {"system": "athena", "action": "call"}
    return audit_record(**{**defaults, **values})


def csv_rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def trail(clinic_a: Any, clinic_b: Any) -> dict[str, AuditEvent]:
    staff = context.Actor(type="user", id="41", label="desk-x")
    client_actor = context.Actor(type="portal_client", id="portal-main", label="Portal")
    return {
        "patient_call": record(patient_ref=7, department_ref=clinic_a.pk),
        "failed_call": record(patient_ref=8, department_ref=clinic_b.pk, outcome="8", status_code=503),
        "staff_view": record(system="hub", action="view", actor=staff, patient_ref=7, department_ref=clinic_a.pk),
        "portal": record(system="portal", direction="inbound", action="submit", actor=client_actor),
        "webhook": record(
            system="athena", direction="inbound", action="webhook", outcome="4", correlation_id="abc12345"
        ),
    }


def sequences(page: Any) -> list[int]:
    return [row.sequence for row in page.rows]


@pytest.mark.django_db
def test_each_filter_finds_exactly_its_rows(trail: dict[str, AuditEvent], clinic_b: Any) -> None:
    seq = {name: row.sequence for name, row in trail.items()}
    cases = {
        AuditFilters(patient="7"): [seq["staff_view"], seq["patient_call"]],
        AuditFilters(user="41"): [seq["staff_view"]],
        AuditFilters(client="portal-main"): [seq["portal"]],
        AuditFilters(system="portal"): [seq["portal"]],
        AuditFilters(action="webhook"): [seq["webhook"]],
        AuditFilters(outcome="8"): [seq["failed_call"]],
        AuditFilters(outcome="failed"): [seq["webhook"], seq["failed_call"]],
        AuditFilters(location=str(clinic_b.pk)): [seq["failed_call"]],
        AuditFilters(correlation="abc12345"): [seq["webhook"]],
        AuditFilters(system="athena", outcome="failed"): [seq["webhook"], seq["failed_call"]],
        AuditFilters(object_type="none-such"): [],
    }
    for filters, expected in cases.items():
        assert sequences(audit_search(filters)) == expected, filters


@pytest.mark.django_db
def test_time_range_search(clinic_a: Any) -> None:
    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    rows = []
    for hours in (0, 1, 2, 3):
        with mock.patch("django.utils.timezone.now", return_value=base + dt.timedelta(hours=hours)):
            rows.append(record(department_ref=clinic_a.pk))
    window = AuditFilters(
        location=str(clinic_a.pk), since=base + dt.timedelta(minutes=30), until=base + dt.timedelta(hours=2)
    )
    assert sequences(audit_search(window)) == [rows[2].sequence, rows[1].sequence]
    assert sequences(audit_search(AuditFilters(since=base + dt.timedelta(days=1)))) == []


@pytest.mark.django_db
def test_keyset_pages_walk_the_whole_result_without_overlap(clinic_a: Any) -> None:
    made = [record(department_ref=clinic_a.pk).sequence for _ in range(120)]
    filters = AuditFilters(location=str(clinic_a.pk))
    first = audit_search(filters)
    second = audit_search(filters, before=first.older_cursor)
    third = audit_search(filters, before=second.older_cursor)
    assert (len(first.rows), len(second.rows), len(third.rows)) == (50, 50, 20)
    assert sequences(first) + sequences(second) + sequences(third) == sorted(made, reverse=True)
    assert first.newer_cursor is None and third.older_cursor is None
    back = audit_search(filters, after=second.newer_cursor)
    assert sequences(back) == sequences(first)


@pytest.mark.django_db
def test_browser_page_searches_and_links_to_older_rows(client: Client, compliance: Any, clinic_a: Any) -> None:
    for _ in range(60):
        record(department_ref=clinic_a.pk, patient_ref=5)
    sign_in(client, compliance)
    page = client.get("/admin/audit/?patient=5")
    assert page.status_code == 200
    assert len(page.context["page"].rows) == 50
    html = page.content.decode()
    assert 'id="older-link"' in html and "Northside Clinic" in html
    older = client.get(f"/admin/audit/?patient=5&before={page.context['page'].older_cursor}")
    assert len(older.context["page"].rows) == 10 and 'id="older-link"' not in older.content.decode()
    # Searches are themselves on record, with their filters.
    searches = AuditEvent.objects.filter(action="search").order_by("sequence")
    assert [s.detail["filters"] for s in searches] == [{"patient": "5"}, {"patient": "5"}]


@pytest.mark.django_db
def test_browser_explains_bad_input(client: Client, compliance: Any) -> None:
    sign_in(client, compliance)
    page = client.get("/admin/audit/?user=nobody-here&since=yesterday")
    html = page.content.decode()
    assert page.status_code == 200
    assert "No staff user has that username." in html and "is not a date and time" in html


@pytest.mark.django_db
def test_a_staff_user_can_be_searched_by_username(client: Client, compliance: Any, front_desk: Any) -> None:
    sign_in(client, front_desk)
    client.get("/admin/")
    sign_in(client, compliance)
    rows = client.get("/admin/audit/?user=desk-a").context["page"].rows
    assert rows and {r.actor_id for r in rows} == {str(front_desk.pk)}


@pytest.mark.django_db
def test_export_streams_the_filtered_rows_and_audits_itself(client: Client, compliance: Any, trail: Any) -> None:
    sign_in(client, compliance)
    response = client.get("/admin/audit/export.csv?outcome=failed&system=athena")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [int(r["sequence"]) for r in rows] == [trail["webhook"].sequence, trail["failed_call"].sequence]
    export = AuditEvent.objects.get(action="export")
    assert export.actor_label == "auditor"
    assert export.detail == {"filters": {"outcome": "failed", "system": "athena"}, "format": "csv"}


@pytest.mark.django_db
def test_export_neutralises_spreadsheet_formulas(client: Client, compliance: Any) -> None:
    record(actor=context.Actor(type="user", id="9", label="=HYPERLINK(1)"))
    sign_in(client, compliance)
    labels = [r["actor_label"] for r in csv_rows(client.get("/admin/audit/export.csv?user=9"))]
    assert labels == ["'=HYPERLINK(1)"]


@pytest.mark.django_db
def test_verify_passes_on_a_clean_chain_from_the_web_and_the_command(client: Client, compliance: Any) -> None:
    for _ in range(5):
        record()
    sign_in(client, compliance)
    assert client.post("/admin/audit/verify/").status_code == 302
    page = client.get("/admin/audit/verify/").content.decode()
    assert "Chain intact" in page
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "Audit chain intact" in out.getvalue() and "rows checked" in out.getvalue()
    assert AuditEvent.objects.filter(action="verify", outcome="0").count() == 2


@pytest.mark.django_db
def test_verify_names_the_row_changed_by_direct_sql(client: Client, compliance: Any) -> None:
    rows = [record(patient_ref=n) for n in range(1, 6)]
    target = rows[2]
    drop_append_only_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE hub_auditevent SET patient_ref = %s WHERE sequence = %s", ["999", target.sequence])
    out = StringIO()
    with pytest.raises(CommandError, match=f"row #{target.sequence}: row content does not match its hash") as error:
        call_command("audit_verify", stdout=out)
    assert error.value.returncode == 1
    assert "rows checked" in out.getvalue()
    # The foundation's verifier agrees.
    assert chain_verify().first_break.sequence == target.sequence
    sign_in(client, compliance)
    client.post("/admin/audit/verify/")
    page = client.get("/admin/audit/verify/").content.decode()
    assert f"Chain BROKEN at row #{target.sequence}" in page


@pytest.mark.django_db
def test_verify_names_a_deleted_row() -> None:
    rows = [record() for _ in range(5)]
    drop_append_only_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM hub_auditevent WHERE sequence = %s", [rows[1].sequence])
    report = chain_verify()
    assert report.first_break is not None and report.first_break.sequence == rows[1].sequence
    assert "missing" in report.first_break.reason
    with pytest.raises(CommandError, match=f"row #{rows[1].sequence}"):
        call_command("audit_verify", "--no-record", stdout=StringIO())


@pytest.mark.django_db
def test_verify_notices_rows_cut_off_the_end() -> None:
    rows = [record() for _ in range(4)]
    drop_append_only_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM hub_auditevent WHERE sequence = %s", [rows[-1].sequence])
    assert chain_verify().first_break.sequence == rows[-1].sequence


@pytest.mark.django_db
def test_rows_appended_while_verifying_are_not_reported_as_missing() -> None:
    for _ in range(3):
        record()
    real_rows = audit_chain._rows

    def rows_then_append(after: int, through: int) -> Any:
        yield from real_rows(after, through)
        record()  # another process writes while the walk finishes

    with mock.patch("hub.audit_chain._rows", rows_then_append):
        assert chain_verify().ok


@pytest.mark.django_db
def test_the_trail_refuses_edits_without_superuser_powers() -> None:
    row = record()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE hub_auditevent SET action = 'x' WHERE sequence = %s", [row.sequence])
    assert AuditEvent.objects.get(pk=row.pk).action == "call"


@pytest.mark.django_db
def test_the_scheduled_full_walk_resumes_across_runs_and_records_once(monkeypatch: Any) -> None:
    from hub.audit_chain import checkpoint_advance

    rows = [record() for _ in range(7)]
    monkeypatch.setattr(audit_chain, "BATCH", 2)
    runs = 0
    while True:
        runs += 1
        checkpoint = checkpoint_advance(budget_seconds=0)  # one batch per run
        if checkpoint.full_walk_sequence is None:
            break
        assert checkpoint.full_walk_sequence < rows[-1].sequence
    assert runs == 4 and checkpoint.broken_sequence is None
    assert checkpoint.verified_sequence == rows[-1].sequence
    [verified] = AuditEvent.objects.filter(action="verify")
    assert verified.detail["rows_checked"] == 7 and verified.actor_type == "task"
    # New rows are checked on every run; a full walk is not due again for a day.
    drop_append_only_triggers()
    later = record()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE hub_auditevent SET action = 'x' WHERE sequence = %s", [later.sequence])
    assert checkpoint_advance(budget_seconds=0).broken_sequence == later.sequence
    assert AuditEvent.objects.filter(action="verify", outcome="12").count() == 1


@pytest.mark.django_db
def test_a_big_chain_is_verified_on_the_queue_in_the_requesters_name(
    client: Client, compliance: Any, settings: Any, task_queue: TaskQueue
) -> None:
    from hub.tasks import audit_chain_walk_task

    settings.HUB_AUDIT_VERIFY_INLINE_MAX_ROWS = 3
    for _ in range(5):
        record()
    sign_in(client, compliance)
    with task_queue.capture():
        client.post("/admin/audit/verify/")
    queued = task_queue.tasks()  # handed to the queue, not walked in the request
    assert [task["func"] for task in queued] == ["hub.tasks.audit_chain_walk_task"]
    assert not AuditEvent.objects.filter(action="verify").exists()
    assert "A full check is running" in client.get("/admin/audit/verify/").content.decode()
    assert audit_chain_walk_task()["done"]
    verified = AuditEvent.objects.get(action="verify")
    assert (verified.actor_type, verified.actor_label, verified.outcome) == ("user", "auditor", "0")
    page = client.get("/admin/audit/verify/").content.decode()
    assert "Chain intact" in page and "A full check is running" not in page
