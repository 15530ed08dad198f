"""`demo_activity` against the sandbox leaves every staff queue with real content."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from hub.models import AuditEvent, Patient
from sync.models import Conflict, InboundEvent, PortalEvent, WriteIntent
from tests.conftest import Sandbox
from tests.factories import make_department, make_practice

pytestmark = pytest.mark.django_db


def test_a_short_day_fills_conflicts_parked_and_failed_work_portal_events_and_the_audit_trail(
    sandbox: Sandbox, settings: Any
) -> None:
    practice = make_practice()
    make_department(practice, athena_department_id="1", name="Harbor Family Medicine")
    make_department(practice, athena_department_id="21", name="Riverside Pediatrics")
    settings.PORTAL_WEBHOOK_URL = f"{sandbox.url}/_portal/webhooks"
    out = io.StringIO()
    call_command("demo_activity", "--in-process", "--minutes", "0.1", "--events", "4", "--seed", "7", stdout=out)

    open_conflicts = Conflict.objects.filter(status=Conflict.Status.OPEN)
    assert open_conflicts.count() >= 2
    assert open_conflicts.filter(field="middle_name").count() == 3  # identical: the bulk action has work
    assert WriteIntent.objects.filter(state=WriteIntent.State.PARKED).exists()
    assert WriteIntent.objects.filter(state=WriteIntent.State.FAILED, last_error_kind="permanent").exists()
    assert WriteIntent.objects.filter(state=WriteIntent.State.SUCCEEDED).count() >= 6
    assert InboundEvent.objects.filter(state__in=["applied", "conflict"]).exists()
    assert PortalEvent.objects.filter(state=PortalEvent.State.DELIVERED).exists()
    assert PortalEvent.objects.filter(deliveries__succeeded=False).exists()  # the short portal outage
    for system, direction in (("portal", "inbound"), ("athena", "outbound"), ("portal", "outbound")):
        assert AuditEvent.objects.filter(system=system, direction=direction).exists()
    assert AuditEvent.objects.filter(action="conflict-opened").count() >= 2
    # The sandbox holds what the hub wrote: every chart the hub links exists there.
    charts = {str(p["patientid"]) for p in sandbox.records("patients", created_via="api")["patients"]}
    linked = set(Patient.objects.exclude(athena_patient_id=None).values_list("athena_patient_id", flat=True))
    assert linked and linked <= charts
    # What it prints carries counts and ids, never the synthetic patients' names.
    printed = out.getvalue()
    assert "Done in" in printed and "conflict" in printed
    assert not any(p.last_name in printed for p in Patient.objects.all())


def test_the_portal_credentials_make_run_printed_keep_working_after_the_demo_day(
    sandbox: Sandbox, settings: Any, tmp_path: Any
) -> None:
    import json

    from tests.api.conftest import fetch_token

    settings.VAR_DIR = tmp_path
    settings.PORTAL_WEBHOOK_URL = f"{sandbox.url}/_portal/webhooks"
    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    call_command("seed_demo", "--skip-import", stdout=io.StringIO())
    printed = json.loads((tmp_path / "demo-credentials.json").read_text())["portal"]

    call_command(
        "demo_activity", "--in-process", "--minutes", "0.05", "--events", "1", "--seed", "3", stdout=io.StringIO()
    )

    assert fetch_token(printed["client_id"], printed["client_secret"], "read").status_code == 200
    assert json.loads((tmp_path / "demo-credentials.json").read_text())["portal"] == printed
