"""/healthz, /readyz, /metrics and the location dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.test import Client, override_settings

from hub import health
from hub.alerts import alerts_evaluate
from hub.audit import audit_record
from hub.dashboard import register_location_metric, unregister_location_metric
from tests.factories import make_appointment, make_insurance, make_patient
from tests.staff.conftest import sign_in

CANARIES = {
    "first_name": "Zebulonca",
    "last_name": "Quixotellery",
    "email": "canary.patient@example.test",
    "mobile_phone": "5550199871",
    "ssn": "078-05-1120",
    "address1": "17 Canary Wharf Lane",
}


def test_healthz_answers_without_the_database(client: Client) -> None:
    # No django_db mark: any query here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_migrations_and_broker(client: Client) -> None:
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ready"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"database", "migrations", "queue_broker"}


@pytest.mark.django_db
def test_readyz_fails_when_the_database_does_not_answer(client: Client) -> None:
    with mock.patch.dict(health.CHECKS, {"database": mock.Mock(side_effect=OSError("host db.internal:5432"))}):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "OSError"}
    assert "db.internal" not in response.content.decode()


@pytest.mark.django_db
def test_metrics_contain_counts_by_location_and_system_and_no_phi(client: Client, clinic_a: Any) -> None:
    patient = make_patient(clinic_a, **CANARIES)
    make_insurance(patient, member_id="CANARYMEMBER77")
    make_appointment(clinic_a, patient=patient)
    audit_record(
        system="athena", direction="inbound", action="webhook", department_ref=clinic_a.pk, patient_ref=patient.pk
    )
    audit_record(system="athena", action="call", outcome="8", department_ref=clinic_a.pk, patient_ref=patient.pk)
    alerts_evaluate()
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'hub_audit_events_last_hour{direction="inbound",outcome="0",system="athena"} 1.0' in text
    assert f'hub_location_metric{{location="{clinic_a.pk}",metric="calls_last_hour"}} 2.0' in text
    assert f'hub_location_metric{{location="{clinic_a.pk}",metric="failure_rate_last_hour"}} 0.5' in text
    assert "hub_audit_chain_intact 1.0" in text and 'hub_alerts_open{condition="audit-chain-break"} 0.0' in text
    assert "hub_queue_depth" in text
    for value in [*CANARIES.values(), "CANARYMEMBER77", "Northside"]:
        assert value not in text, value


@pytest.mark.django_db
def test_metrics_are_loopback_only_without_a_token(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 403


@pytest.mark.django_db
@override_settings(HUB_METRICS_TOKEN="scrape-token-for-tests")
def test_metrics_need_the_bearer_token_when_one_is_set(client: Client) -> None:
    assert client.get("/metrics").status_code == 401  # even from loopback
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", REMOTE_ADDR="10.20.30.40", HTTP_AUTHORIZATION="Bearer scrape-token-for-tests")
    assert ok.status_code == 200 and b"hub_up 1.0" in ok.content


@pytest.mark.django_db
def test_dashboard_shows_each_locations_traffic_and_registered_metrics(
    client: Client, integration_admin: Any, clinic_a: Any, clinic_b: Any
) -> None:
    audit_record(system="athena", direction="inbound", action="webhook", department_ref=clinic_a.pk)
    audit_record(system="athena", action="call", outcome="8", department_ref=clinic_a.pk)

    def parked(departments: Any, now: dt.datetime) -> dict[int, int]:
        return {clinic_b.pk: 4}

    register_location_metric("parked", "Parked intents", parked, warn_above=0)
    try:
        sign_in(client, integration_admin)
        page = client.get("/admin/locations/")
    finally:
        unregister_location_metric("parked")
    # Other apps add their own columns: compare the built-in ones and this test's.
    keys = [metric.key for metric in page.context["metrics"]]
    shown = ["calls_last_hour", "failure_rate_last_hour", "last_inbound_event", "parked"]
    rows = {
        row["department"].name: [row["cells"][keys.index(key)].text for key in shown] for row in page.context["rows"]
    }
    assert rows["Northside Clinic"] == ["2", "50.0%", "now", "—"]
    assert rows["Harbor Clinic"] == ["0", "—", "—", "4"]
    assert "Parked intents" in page.content.decode()
    # Locations with something to look at come first.
    assert [row["warn"] for row in page.context["rows"]] == [True, True]


@pytest.mark.django_db
def test_a_failing_metric_provider_does_not_break_the_dashboard(
    client: Client, integration_admin: Any, clinic_a: Any
) -> None:
    register_location_metric("broken", "Broken", lambda departments, now: 1 / 0)
    try:
        sign_in(client, integration_admin)
        page = client.get("/admin/locations/")
        metrics = client.get("/metrics").content.decode()
    finally:
        unregister_location_metric("broken")
    assert page.status_code == 200 and "unavailable" in page.content.decode()
    assert 'metric="broken"' not in metrics and "hub_up 1.0" in metrics
