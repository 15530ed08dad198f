"""EHR → portal: athena's webhook, the merge, conflicts, signed portal events, the feed safety net."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from standardwebhooks.webhooks import Webhook

from hub.athena import build_athena_client
from hub.models import AuditEvent, Patient
from sync.conflicts import conflict_resolve
from sync.feeds import feeds_poll
from sync.inbound import inbound_events_process_due
from sync.models import Conflict, FeedState, InboundEvent, PortalEvent, WriteIntent
from sync.portal_events import portal_events_deliver_due
from sync.services import intents_run_due
from tests.api.conftest import make_portal
from tests.conftest import Sandbox
from tests.factories import make_department, make_practice

pytestmark = pytest.mark.django_db
SECRET = "local-athena-webhook-secret"
PORTAL_SECRET = "whsec_bG9jYWwtcG9ydGFsLXdlYmhvb2stc2VjcmV0LTAx"


def bundle(
    *,
    event_id: str,
    patient_id: str = "5001",
    department: str = "1",
    timestamp: str = "2026-11-24T15:00:00Z",
    topic: str = "Patient.update",
) -> bytes:
    resource = topic.split(".")[0]
    focus = f"Patient/a-195900.E-{patient_id}" if resource == "Patient" else f"Appointment/a-195900.{patient_id}"
    body = {
        "resourceType": "Bundle",
        "type": "history",
        "timestamp": timestamp,
        "entry": [
            {
                "resource": {
                    "resourceType": "SubscriptionStatus",
                    "type": "event-notification",
                    "topic": f"https://api.preview.platform.athenahealth.com/fhir/r4/SubscriptionTopic/{topic}",
                    "notificationEvent": [
                        {
                            "id": event_id,
                            "eventNumber": "1",
                            "timestamp": timestamp,
                            "focus": {"reference": focus, "identifier": {"value": patient_id}},
                            "additionalContext": [{"type": "Organization", "identifier": {"value": department}}],
                        }
                    ],
                }
            },
            {"resource": {"resourceType": "AuditEvent", "id": event_id, "type": {"code": topic}}},
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(body: bytes, signature: str | None) -> Any:
    headers = {"HTTP_X_HUB_SIGNATURE": signature} if signature is not None else {}
    return Client().post("/webhooks/athena/", body, content_type="application/fhir+json", **headers)


@pytest.fixture
def clinics(sandbox: Sandbox, settings: Any) -> dict[str, Any]:
    settings.PORTAL_WEBHOOK_URL = f"{sandbox.url}/_portal/webhooks"
    practice = make_practice()
    return {
        "boston": make_department(practice, athena_department_id="1", name="Harbor Family Medicine"),
        "hartford": make_department(practice, athena_department_id="21", name="Riverside Pediatrics"),
    }


def process() -> None:
    client = build_athena_client()
    inbound_events_process_due(client=client, budget_seconds=20)
    portal_events_deliver_due(budget_seconds=20)


def a_patient(department: str = "1") -> Any:
    return next(build_athena_client().search_patients(department_id=department))


# --- the webhook --------------------------------------------------------------------------------


def test_a_valid_notification_is_stored_once_and_acknowledged(clinics: dict[str, Any]) -> None:
    body = bundle(event_id=str(uuid.uuid4()))
    response = post(body, sign(body))
    assert response.status_code == 200 and response.json() == {"received": 1}
    event = InboundEvent.objects.get()
    assert (event.resource_type, event.resource_id, event.department, event.state) == (
        "patient",
        "5001",
        clinics["boston"],
        "received",
    )
    replay = post(body, sign(body))  # athena delivers at least once
    assert replay.status_code == 200 and replay.json() == {"received": 0}
    assert InboundEvent.objects.count() == 1


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "md5=abc", "not-a-signature"])
def test_a_bad_signature_is_401_with_an_audit_row_and_nothing_stored(clinics: dict[str, Any], signature: Any) -> None:
    body = bundle(event_id=str(uuid.uuid4()))
    response = post(body, signature)
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert not InboundEvent.objects.exists()
    row = AuditEvent.objects.get(system="athena", action="webhook")
    assert (row.direction, row.status_code, row.outcome) == ("inbound", 401, AuditEvent.Outcome.SERIOUS_FAILURE)


def test_a_tampered_body_fails_the_signature(clinics: dict[str, Any]) -> None:
    body = bundle(event_id=str(uuid.uuid4()))
    tampered = body.replace(b'"5001"', b'"5002"')
    assert post(tampered, sign(body)).status_code == 401
    assert not InboundEvent.objects.exists()


def test_both_secrets_work_during_rotation(clinics: dict[str, Any], settings: Any) -> None:
    settings.ATHENA_WEBHOOK_SECRET = "new-athena-secret"
    settings.ATHENA_WEBHOOK_SECRET_PREVIOUS = SECRET
    old, new = bundle(event_id=str(uuid.uuid4())), bundle(event_id=str(uuid.uuid4()))
    assert post(old, sign(old, SECRET)).status_code == 200
    assert post(new, sign(new, "new-athena-secret")).status_code == 200
    settings.ATHENA_WEBHOOK_SECRET_PREVIOUS = ""
    late = bundle(event_id=str(uuid.uuid4()))
    assert post(late, sign(late, SECRET)).status_code == 401


def test_a_signed_body_that_is_not_a_notification_is_a_400(clinics: dict[str, Any]) -> None:
    for body in (b"{not json", b'{"resourceType": "Patient"}', b"[]"):
        assert post(body, sign(body)).status_code == 400
    assert not InboundEvent.objects.exists()


def test_out_of_order_events_end_with_athenas_latest_values(clinics: dict[str, Any], sandbox: Sandbox) -> None:
    athena_patient = a_patient()
    sandbox.edit(
        {"type": "patient.update", "patientid": athena_patient.patient_id, "fields": {"homephone": "6175550101"}}
    )
    sandbox.edit(
        {"type": "patient.update", "patientid": athena_patient.patient_id, "fields": {"homephone": "6175550102"}}
    )
    later = bundle(event_id="evt-later", patient_id=athena_patient.patient_id, timestamp="2026-11-24T15:00:02Z")
    earlier = bundle(event_id="evt-earlier", patient_id=athena_patient.patient_id, timestamp="2026-11-24T15:00:01Z")
    post(later, sign(later))
    post(earlier, sign(earlier))
    process()
    patient = Patient.objects.get(athena_patient_id=athena_patient.patient_id)
    assert patient.home_phone == "6175550102"
    assert set(InboundEvent.objects.values_list("state", flat=True)) <= {"applied", "ignored-duplicate"}


def test_an_event_for_a_patient_the_hub_has_never_seen_creates_it(clinics: dict[str, Any]) -> None:
    athena_patient = a_patient("21")
    assert not Patient.objects.filter(athena_patient_id=athena_patient.patient_id).exists()
    body = bundle(event_id=str(uuid.uuid4()), patient_id=athena_patient.patient_id, department="21")
    post(body, sign(body))
    process()
    patient = Patient.objects.get(athena_patient_id=athena_patient.patient_id)
    assert patient.department == clinics["hartford"] and patient.last_name == athena_patient.last_name
    assert InboundEvent.objects.get().state == "applied"


def test_an_event_for_a_record_athena_no_longer_has_is_parked_for_staff(clinics: dict[str, Any]) -> None:
    body = bundle(event_id=str(uuid.uuid4()), patient_id="99999999")
    post(body, sign(body))
    process()
    event = InboundEvent.objects.get()
    assert event.state == "parked" and "no longer" in event.error


# --- end to end through the sandbox -------------------------------------------------------------


def athena_webhooks_to(sandbox: Sandbox, live_server: Any) -> Any:
    """The practice imported and athena's webhooks pointed at the live hub; returns a patient to edit."""
    from django.core.management import call_command

    call_command("athena_import", verbosity=0)
    sandbox.configure(webhook={"enabled": True, "url": f"{live_server.url}/webhooks/athena/"})
    return a_patient()


def front_desk_phone_edit(sandbox: Sandbox, patient_id: str, phone: str) -> None:
    sandbox.edit({"type": "patient.update", "patientid": patient_id, "fields": {"mobilephone": phone}})


def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_front_desk_edit_reaches_the_portal_as_a_signed_event(
    clinics: dict[str, Any], sandbox: Sandbox, live_server: Any
) -> None:
    athena_patient = athena_webhooks_to(sandbox, live_server)
    front_desk_phone_edit(sandbox, athena_patient.patient_id, "6175550199")
    wait_until(InboundEvent.objects.exists, 10)
    process()
    patient = Patient.objects.get(athena_patient_id=athena_patient.patient_id)
    assert patient.mobile_phone == "6175550199"
    deliveries = sandbox.control("GET", "../_portal/webhooks")["deliveries"]
    assert len(deliveries) == 1 and deliveries[0]["verified"]
    delivery = deliveries[0]
    payload = delivery["payload"]
    assert payload["type"] == "patient.updated"
    assert payload["data"]["patient_id"] == str(patient.public_id)
    assert "mobile_phone" in payload["data"]["changed_fields"] and "6175550199" not in json.dumps(payload)
    # A Standard Webhooks verifier (the library, with the portal's secret) accepts what was delivered.
    Webhook(PORTAL_SECRET).verify(json.dumps(payload, separators=(",", ":"), sort_keys=True), delivery["headers"])
    assert PortalEvent.objects.get().state == "delivered"


@pytest.fixture
def fast_path(settings: Any) -> Iterator[None]:
    """The receiving process works its webhooks itself, as it does outside tests."""
    from sync import fastpath

    settings.HUB_INBOUND_FAST_PATH = True
    yield
    fastpath.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast_path")
def test_the_receiving_process_carries_a_change_to_the_portal_with_no_worker(
    clinics: dict[str, Any], sandbox: Sandbox, live_server: Any
) -> None:
    from sync import fastpath

    athena_patient = athena_webhooks_to(sandbox, live_server)

    def deliveries() -> list[dict[str, Any]]:
        return list(sandbox.control("GET", "../_portal/webhooks")["deliveries"])

    for count, phone in enumerate(("6175550101", "6175550102"), start=1):  # the second run reuses the lane
        front_desk_phone_edit(sandbox, athena_patient.patient_id, phone)
        wait_until(lambda: len(deliveries()) >= count, 15)  # noqa: B023 - used within this iteration
        assert Patient.objects.get(athena_patient_id=athena_patient.patient_id).mobile_phone == phone
    assert [(d["payload"]["type"], d["verified"]) for d in deliveries()] == [("patient.updated", True)] * 2
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["applied", "applied"]
    wait_until(fastpath.idle, 5)
    assert fastpath.idle()


def test_concurrent_legal_name_edits_make_one_conflict_which_staff_resolution_clears_both_ways(
    clinics: dict[str, Any], sandbox: Sandbox
) -> None:
    from django.core.management import call_command

    call_command("athena_import", verbosity=0)
    portal = make_portal("conflict-portal", locations=["1"])
    patient = Patient.objects.filter(department__athena_department_id="1").order_by("pk").first()
    assert patient is not None
    # The patient fixes their surname on the portal while the front desk types another in athena.
    assert portal.patch(f"/api/v1/patients/{patient.public_id}", {"last_name": "Portalname"}).status_code == 202
    sandbox.edit({"type": "patient.update", "patientid": patient.athena_patient_id, "fields": {"lastname": "Desknamé"}})
    committed = dt.datetime.now(dt.UTC).isoformat()
    for event_id in ("evt-desk-1", "evt-desk-1"):  # the notification, and athena's redelivery of it
        body = bundle(event_id=event_id, patient_id=patient.athena_patient_id, timestamp=committed)
        post(body, sign(body))
    process()
    conflict = Conflict.objects.get()
    assert (conflict.field, conflict.status, conflict.portal_value, conflict.ehr_value) == (
        "last_name",
        "open",
        "Portalname",
        "Desknamé",
    )
    submission = portal.get(f"/api/v1/patients/{patient.public_id}").json()
    assert submission["last_name"] == "Desknamé"  # the EHR is authoritative for identity while staff decide

    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("frontdesk.test", password="synthetic-password-1")
    conflict_resolve(conflict=conflict, choice="portal", reason="patient showed ID at the desk", actor=staff)
    intents_run_due(client=build_athena_client(), budget_seconds=20)
    portal_events_deliver_due(budget_seconds=20)
    conflict.refresh_from_db()
    patient.refresh_from_db()
    assert conflict.status == "resolved" and patient.last_name == "Portalname"
    assert build_athena_client().get_patient(patient.athena_patient_id).last_name == "Portalname"
    assert WriteIntent.objects.filter(operation="update_patient", state="succeeded", patient=patient).exists()
    announced = [e for e in PortalEvent.objects.filter(type="patient.updated", patient=patient)]
    assert announced and "last_name" in announced[-1].data["changed_fields"]
    assert AuditEvent.objects.filter(action="conflict-resolved", patient_ref=str(patient.pk)).exists()
    assert Conflict.objects.count() == 1


def test_with_webhooks_off_the_feed_poller_still_delivers_every_change(
    clinics: dict[str, Any], sandbox: Sandbox
) -> None:
    client = build_athena_client()
    feeds_poll(client=client)  # first run subscribes
    patients = [p for _, p in zip(range(3), client.search_patients(department_id="1"), strict=False)]
    for n, athena_patient in enumerate(patients):
        sandbox.edit(
            {"type": "patient.update", "patientid": athena_patient.patient_id, "fields": {"homephone": f"617555020{n}"}}
        )
    stored = feeds_poll(client=client)
    assert stored == 3
    assert feeds_poll(client=client) == 0  # athena's feed is read once; nothing comes twice
    process()
    for n, athena_patient in enumerate(patients):
        assert Patient.objects.get(athena_patient_id=athena_patient.patient_id).home_phone == f"617555020{n}"
    deliveries = sandbox.control("GET", "../_portal/webhooks")["deliveries"]
    assert len({d["webhook_id"] for d in deliveries if d["verified"]}) == 3
    assert set(InboundEvent.objects.values_list("source", flat=True)) == {"athena-feed"}


PATIENT_READ = "/v1/{practiceid}/patients/{patientid}"


def patient_reads(sandbox: Sandbox) -> list[str]:
    """The patient ids athena was asked for, in order."""
    return [r["path"].rstrip("/").rsplit("/", 1)[-1] for r in sandbox.requests(route=PATIENT_READ, method="GET")]


def edit_phone(sandbox: Sandbox, patient_id: str, phone: str) -> None:
    """A front-desk edit inside athena."""
    sandbox.edit({"type": "patient.update", "patientid": patient_id, "fields": {"homephone": phone}})


def subscribed() -> Any:
    """An athena client whose feeds the hub has subscribed to (the first poll subscribes)."""
    client = build_athena_client()
    feeds_poll(client=client)
    return client


def home_phone(athena_patient_id: str) -> str:
    return str(Patient.objects.get(athena_patient_id=athena_patient_id).home_phone)


def notify(patient_id: str) -> None:
    """athena's webhook for a change of the patient, now."""
    body = bundle(event_id=str(uuid.uuid4()), patient_id=patient_id, timestamp=dt.datetime.now(dt.UTC).isoformat())
    post(body, sign(body))


def test_a_feed_read_of_changes_already_merged_from_their_webhooks_asks_athena_for_nothing(
    clinics: dict[str, Any], sandbox: Sandbox
) -> None:
    client = subscribed()
    patients = [p for _, p in zip(range(2), client.search_patients(department_id="1"), strict=False)]
    for n, athena_patient in enumerate(patients):
        for edit in range(2):
            edit_phone(sandbox, athena_patient.patient_id, f"61755503{n}{edit}")
        notify(athena_patient.patient_id)  # each change also came by webhook, and the hub merged it
    process()
    reads, announced = len(patient_reads(sandbox)), PortalEvent.objects.count()

    assert feeds_poll(client=client) == 0  # nothing to process...
    assert len(patient_reads(sandbox)) == reads  # ...and nothing read from athena again
    assert not InboundEvent.objects.filter(source="athena-feed").exists()
    state = FeedState.objects.get(feed="patients")
    assert (state.last_record_count, state.last_settled_count) == (4, 4)  # counted, not stored
    process()
    assert PortalEvent.objects.count() == announced  # nothing new for the portal
    for n, athena_patient in enumerate(patients):
        assert home_phone(athena_patient.patient_id) == f"61755503{n}1"


def test_a_feed_read_of_several_changes_of_one_patient_reads_the_patient_once(
    clinics: dict[str, Any], sandbox: Sandbox
) -> None:
    client = subscribed()
    athena_patient = a_patient()
    for edit in range(3):  # webhooks are off: only the feed tells the hub
        edit_phone(sandbox, athena_patient.patient_id, f"617555040{edit}")
    assert feeds_poll(client=client) == 1  # the newest record; the two before it need nothing
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["received"]
    state = FeedState.objects.get(feed="patients")
    assert (state.last_record_count, state.last_settled_count) == (3, 2)
    process()
    assert patient_reads(sandbox).count(athena_patient.patient_id) == 1
    assert home_phone(athena_patient.patient_id) == "6175550402"
    assert InboundEvent.objects.filter(state="applied").count() == 1
    announced = PortalEvent.objects.get(type="patient.created")
    assert announced.state == "delivered"


def test_a_feed_record_with_a_value_the_hub_has_not_merged_is_read_from_athena(
    clinics: dict[str, Any], sandbox: Sandbox
) -> None:
    client = subscribed()
    athena_patient = a_patient()
    notify(athena_patient.patient_id)
    process()  # the hub holds the patient as athena had it
    edit_phone(sandbox, athena_patient.patient_id, "6175550499")  # a change whose webhook never came
    assert feeds_poll(client=client) == 1
    process()
    patient = Patient.objects.get(athena_patient_id=athena_patient.patient_id)
    assert patient.home_phone == "6175550499"
    event = InboundEvent.objects.get(source="athena-feed")
    assert (event.state, event.changed_fields) == ("applied", ["home_phone"])
    assert PortalEvent.objects.filter(type="patient.updated", patient=patient, state="delivered").exists()


def test_a_feed_record_older_than_the_hubs_last_read_of_the_patient_is_not_read_again(
    clinics: dict[str, Any], sandbox: Sandbox, settings: Any
) -> None:
    settings.HUB_FEED_PAGE_SIZE, settings.HUB_FEED_PAGE_PAUSE_SECONDS = 1, 0  # each record its own page
    client = subscribed()
    athena_patient = a_patient()
    for phone in ("6175550701", "6175550702"):
        edit_phone(sandbox, athena_patient.patient_id, phone)
        time.sleep(1.1)  # athena's feed times are to the second
    notify(athena_patient.patient_id)  # the later change came by webhook and the hub read the patient then
    process()
    reads = len(patient_reads(sandbox))

    # The first record is alone in its page and its values are no longer athena's: it is still
    # covered, because the hub read the patient after that change.
    assert feeds_poll(client=client) == 0
    assert not InboundEvent.objects.filter(source="athena-feed").exists()
    assert FeedState.objects.get(feed="patients").last_settled_count == 2
    assert len(patient_reads(sandbox)) == reads
    assert home_phone(athena_patient.patient_id) == "6175550702"


def test_the_feed_is_read_in_pages_and_a_poll_stops_at_its_page_limit(
    clinics: dict[str, Any], sandbox: Sandbox, settings: Any
) -> None:
    settings.HUB_FEED_PAGE_SIZE, settings.HUB_FEED_PAGE_PAUSE_SECONDS, settings.HUB_FEED_MAX_PAGES = 2, 0, 2
    client = subscribed()
    patients = [p for _, p in zip(range(5), client.search_patients(department_id="1"), strict=False)]
    for n, athena_patient in enumerate(patients):
        edit_phone(sandbox, athena_patient.patient_id, f"617555060{n}")
    reads = len(sandbox.requests(route="/v1/{practiceid}/patients/changed", method="GET"))
    assert feeds_poll(client=client) == 4  # two pages of two: the fifth waits for the next poll
    pages = sandbox.requests(route="/v1/{practiceid}/patients/changed", method="GET")[reads:]
    assert len(pages) == 4  # a peek and a take per page
    assert feeds_poll(client=client) == 1
    process()
    for n, athena_patient in enumerate(patients):
        assert home_phone(athena_patient.patient_id) == f"617555060{n}"


def test_fresh_webhook_events_are_processed_before_a_backlog_of_feed_events(
    clinics: dict[str, Any], sandbox: Sandbox
) -> None:
    client = subscribed()
    older, newer = [p for _, p in zip(range(4), client.search_patients(department_id="1"), strict=False)][:2]
    edit_phone(sandbox, older.patient_id, "6175550501")
    assert feeds_poll(client=client) == 1  # the older change, from the feed
    notify(newer.patient_id)  # a newer change, by webhook

    # The webhook's own path takes webhook events only; the feed's wait for the worker.
    inbound_events_process_due(client=client, budget_seconds=20, sources=("athena-webhook",))
    assert patient_reads(sandbox) == [newer.patient_id]
    assert InboundEvent.objects.get(source="athena-feed").state == "received"
    # The worker takes everything, webhook events first even when a feed event is older.
    notify(newer.patient_id)
    inbound_events_process_due(client=client, budget_seconds=20)
    assert patient_reads(sandbox) == [newer.patient_id, newer.patient_id, older.patient_id]
    assert not InboundEvent.objects.filter(state="received").exists()


def test_athenas_notice_of_a_new_chart_before_the_hub_learns_its_id_links_the_registration(
    clinics: dict[str, Any], sandbox: Sandbox
) -> None:
    portal = make_portal("race-portal", locations=["1"])
    body = {
        "portal_patient_id": "portal-race-1",
        "location_id": "1",
        "first_name": "Racey",
        "last_name": "Overtaken",
        "dob": "1984-08-08",
        "sex": "F",
        "email": "race@example.test",
    }
    registered = portal.post("/api/v1/patients", body).json()
    # athena saves the chart but the connection drops before the hub hears the new id...
    sandbox.configure(
        faults={"rules": [{"method": "POST", "route": "/v1/{practiceid}/patients", "kind": "drop_after", "count": 1}]}
    )
    intents_run_due(client=build_athena_client(), budget_seconds=0.5)
    intent = WriteIntent.objects.get(operation="create_patient")
    assert intent.state == "ambiguous"
    chart = next(p for p in sandbox.records("patients", created_via="api", full="true")["patients"])
    # ...and athena's notification of the new chart arrives before the ledger reads athena back.
    notice = bundle(
        event_id="evt-new-chart",
        patient_id=str(chart["patientid"]),
        topic="Patient.create",
        timestamp=dt.datetime.now(dt.UTC).isoformat(),
    )
    post(notice, sign(notice))
    process()
    assert Patient.objects.count() == 1
    patient = Patient.objects.get(public_id=registered["patient_id"])
    assert patient.athena_patient_id == str(chart["patientid"])
    intents_run_due(client=build_athena_client(), budget_seconds=10)
    intent.refresh_from_db()
    assert intent.state == "succeeded" and intent.result["patientid"] == patient.athena_patient_id
    assert len(sandbox.requests(route="/v1/{practiceid}/patients", method="POST")) == 1
