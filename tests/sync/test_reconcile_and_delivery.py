"""Safety nets: reconciliation finds and repairs drift; portal deliveries retry with jitter, in order."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from hub.athena import build_athena_client
from hub.models import Patient
from sync.models import InboundEvent, PortalDelivery, PortalEvent
from sync.portal_events import next_delay, portal_event_emit, portal_events_deliver_due
from tests.conftest import Sandbox
from tests.factories import make_department, make_patient, make_practice

pytestmark = pytest.mark.django_db


def test_reconciliation_reports_drift_and_repairs_it_through_the_pipeline(sandbox: Sandbox) -> None:
    call_command("athena_import", stdout=io.StringIO())
    client = build_athena_client()
    changed = next(client.search_patients(department_id="21"))
    # Changes the hub never heard about: webhooks were down and the feed was not read.
    sandbox.edit({"type": "patient.update", "patientid": changed.patient_id, "fields": {"homephone": "8605550123"}})
    created = sandbox.edit(
        {
            "type": "patient.create",
            "fields": {
                "firstname": "Drift",
                "lastname": "Newcomer",
                "dob": "02/03/1990",
                "departmentid": "21",
                "zip": "06103",
            },
        }
    )
    new_id = str(created["results"][0]["patientid"])

    out = io.StringIO()
    call_command("reconcile_athena", "--location", "21", "--json", stdout=out)
    report = json.loads(out.getvalue())
    location = report["locations"][0]
    assert location["patients_missing"] == [new_id]
    assert location["patients_drifted"] == {changed.patient_id: ["home_phone"]}
    assert report["drift"] == 2
    assert not InboundEvent.objects.exists()  # a report only: nothing changed

    call_command("reconcile_athena", "--location", "21", "--repair", stdout=io.StringIO())
    assert Patient.objects.get(athena_patient_id=changed.patient_id).home_phone == "8605550123"
    assert Patient.objects.get(athena_patient_id=new_id).last_name == "Newcomer"
    assert set(InboundEvent.objects.values_list("source", flat=True)) == {"reconcile"}
    again = io.StringIO()
    call_command("reconcile_athena", "--location", "21", "--json", stdout=again)
    assert json.loads(again.getvalue())["drift"] == 0


def test_reconciliation_refuses_an_unknown_location(sandbox: Sandbox) -> None:
    make_department(make_practice(), athena_department_id="1")
    with pytest.raises(Exception, match="unknown location"):
        call_command("reconcile_athena", "--location", "999", stdout=io.StringIO())


def test_retries_follow_the_schedule_with_jitter_and_honour_retry_after() -> None:
    delays = [next_delay(1, None) for _ in range(50)]
    assert all(4.0 <= d <= 6.0 for d in delays) and len({round(d, 3) for d in delays}) > 10
    assert 240 <= next_delay(2, None) <= 360
    assert next_delay(1, 120.0) == 120.0  # the portal asked for two minutes
    assert 0.8 * 86400 <= next_delay(30, None) <= 1.2 * 86400


def test_a_failing_portal_holds_a_patients_later_events_and_delivers_them_in_order(
    sandbox: Sandbox, settings: Any
) -> None:
    settings.PORTAL_WEBHOOK_URL = f"{sandbox.url}/_portal/webhooks"
    clinic = make_department(make_practice(), athena_department_id="1")
    patient, other = make_patient(clinic), make_patient(clinic)
    sandbox.configure(portal={"respond_status": 503})
    first = portal_event_emit(type="patient.updated", department=clinic, patient=patient, data={"n": 1})
    second = portal_event_emit(type="patient.updated", department=clinic, patient=patient, data={"n": 2})
    portal_events_deliver_due()
    first.refresh_from_db()
    assert first.state == "pending" and first.attempts == 1 and first.next_attempt_at > timezone.now()
    assert PortalDelivery.objects.filter(event=first, succeeded=False, status_code=503).exists()
    assert not PortalDelivery.objects.filter(event=second).exists()  # waits behind the first
    other_event = portal_event_emit(type="patient.updated", department=clinic, patient=other, data={})
    sandbox.configure(portal={"respond_status": 204})
    portal_events_deliver_due()
    other_event.refresh_from_db()
    assert other_event.state == "delivered"  # one patient's trouble holds back no one else

    PortalEvent.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    portal_events_deliver_due()
    received = [
        d["payload"]["data"].get("n")
        for d in sandbox.control("GET", "../_portal/webhooks")["deliveries"]
        if d["status"] < 300 and d["payload"]["data"].get("patient_id") == str(patient.public_id)
    ]
    assert received == [1, 2]
    ids = {d.event.public_id for d in PortalDelivery.objects.filter(event__patient=patient)}
    assert ids == {first.public_id, second.public_id}  # webhook-id stays the same across retries


def test_an_event_older_than_72_hours_is_given_up_and_kept_for_staff(sandbox: Sandbox, settings: Any) -> None:
    settings.PORTAL_WEBHOOK_URL = f"{sandbox.url}/_portal/webhooks"
    clinic = make_department(make_practice(), athena_department_id="1")
    event = portal_event_emit(type="patient.updated", department=clinic, patient=make_patient(clinic), data={})
    PortalEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - dt.timedelta(hours=73))
    sandbox.configure(portal={"respond_status": 500})
    portal_events_deliver_due()
    event.refresh_from_db()
    assert event.state == "dead" and event.deliveries.count() == 1
