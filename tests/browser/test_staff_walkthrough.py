"""Each role signs in through the real pages (password, then TOTP) and does its job in Chromium."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.alerts import Finding, alerts_evaluate, register_alert_condition, unregister_alert_condition
from hub.audit import audit_record
from hub.models import AuditEvent
from hub.roles import COMPLIANCE, FRONT_DESK, INTEGRATION_ADMIN
from hub.two_factor import current_totp_code
from tests.factories import make_appointment, make_department, make_insurance, make_patient, make_staff

# Database access comes from the `live_hub` fixture (transactional: the live server must see the rows).
pytestmark = [pytest.mark.browser]

PASSWORD = "correct-horse-battery"


def local_today(department: Any) -> dt.date:
    return timezone.now().astimezone(department.tzinfo).date()


def two_clinics() -> tuple[Any, Any]:
    north = make_department(name="Northside Clinic", timezone="America/New_York")
    harbor = make_department(name="Harbor Clinic", timezone="America/Los_Angeles")
    for clinic, names in ((north, ("Alderton", "Birchwood")), (harbor, ("Harborview",))):
        for hour, last_name in enumerate(names, start=9):
            patient = make_patient(clinic, last_name=last_name, first_name="Synthia")
            make_insurance(patient, eligibility_status="active", eligibility_checked_at=timezone.now())
            make_appointment(clinic, patient=patient, date=local_today(clinic), start_time=dt.time(hour, 30))
    return north, harbor


def password_step(page: Any, base: str, username: str, shots: Path, name: str | None = None) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    if name:
        page.screenshot(path=shots / f"{name}.png", full_page=True)
    page.click("input[type=submit]")


def code_step(page: Any, code: str, shots: Path, name: str) -> None:
    page.wait_for_selector("#id_code")
    page.fill("#id_code", code)
    page.screenshot(path=shots / f"{name}.png", full_page=True)
    page.click("#two-factor-form input[type=submit]")
    page.wait_for_load_state()


def sign_in_with_device(browser: Any, base: str, user: Any, shots: Path, prefix: str) -> Any:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    password_step(page, base, user.username, shots)
    code_step(page, current_totp_code(device), shots, f"{prefix}-2fa-code")
    return page


def test_front_desk_enrols_an_authenticator_and_sees_only_their_locations(
    live_hub: Any, browser: Any, screenshot_dir: Path
) -> None:
    north, _ = two_clinics()
    make_staff("desk-north", role=FRONT_DESK, departments=[north])
    base = live_hub.url
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()

    password_step(page, base, "desk-north", screenshot_dir, "01-sign-in")
    page.wait_for_selector(".hub-qr svg")
    assert page.title().startswith("Set up your authenticator app")
    secret = page.inner_text(".hub-secret code").replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    code_step(page, f"{totp(key):06d}", screenshot_dir, "02-front-desk-enrol")

    assert page.url == f"{base}/admin/"
    page.wait_for_selector("#panel-appointments-today")
    page.screenshot(path=screenshot_dir / "03-front-desk-home.png", full_page=True)
    panel = page.inner_text("#panel-appointments-today")
    assert "Alderton" in panel and "Birchwood" in panel
    assert "Harborview" not in page.content()
    assert "Northside Clinic 2" in panel.replace("\n", " ")

    page.click("#panel-appointments-today a:has-text('Alderton')")
    page.wait_for_selector("#patient_form")
    assert "Alderton" not in page.title()  # titles carry the hub id only
    page.screenshot(path=screenshot_dir / "04-front-desk-patient.png", full_page=True)
    assert page.goto(f"{base}/admin/audit/").status == 403
    viewed = AuditEvent.objects.filter(action="view", object_type="patient", actor_label="desk-north")
    assert viewed.count() == 1


def test_compliance_searches_the_audit_trail_exports_it_and_verifies_the_chain(
    live_hub: Any, browser: Any, screenshot_dir: Path
) -> None:
    north, _ = two_clinics()
    auditor = make_staff("auditor", role=COMPLIANCE, all_locations=True)
    audit_record(system="athena", action="call", patient_ref=4242, department_ref=north.pk)
    audit_record(
        system="athena", action="call", patient_ref=4242, department_ref=north.pk, outcome="8", status_code=503
    )
    audit_record(system="athena", action="call", patient_ref=1111, department_ref=north.pk)
    base = live_hub.url
    page = sign_in_with_device(browser, base, auditor, screenshot_dir, "05-compliance")
    page.screenshot(path=screenshot_dir / "06-compliance-home.png", full_page=True)

    page.click("nav.hub-nav a:has-text('Audit trail')")
    page.fill("input[name=patient]", "4242")
    page.click("#audit-search input[type=submit]")
    page.wait_for_selector("#audit-results")
    rows = page.locator("#audit-results tbody tr")
    assert rows.count() == 2
    assert "Serious failure" in rows.first.inner_text()
    assert "4242" in page.url and "Synthia" not in page.url
    page.screenshot(path=screenshot_dir / "07-compliance-audit-search.png", full_page=True)

    with page.expect_download() as download:
        page.click("#export-csv")
    exported = Path(download.value.path()).read_text().splitlines()
    assert exported[0].startswith("sequence,recorded_at,system")
    assert len(exported) == 3 and all(",4242," in line for line in exported[1:])
    assert AuditEvent.objects.filter(action="export", actor_label="auditor").count() == 1

    page.click("#audit-results tbody tr >> nth=0 >> td >> nth=0 >> a")
    page.wait_for_selector(".hub-detail-table")
    page.screenshot(path=screenshot_dir / "08-compliance-audit-row.png", full_page=True)

    page.goto(f"{base}/admin/audit/verify/")
    page.click("#verify-form input[type=submit]")
    page.wait_for_selector("#verify-result")
    assert "Chain intact" in page.inner_text("#verify-result")
    page.screenshot(path=screenshot_dir / "09-compliance-verify.png", full_page=True)


def test_integration_admin_watches_locations_and_sees_alerts(live_hub: Any, browser: Any, screenshot_dir: Path) -> None:
    north, harbor = two_clinics()
    integrator = make_staff("integrator", role=INTEGRATION_ADMIN, all_locations=True)
    for outcome in ("0", "0", "0", "8"):
        audit_record(system="athena", direction="inbound", action="webhook", department_ref=north.pk, outcome=outcome)
    register_alert_condition(
        "browser-demo", "Parked write intents are piling up", lambda now: [Finding(summary="12 parked at #3")]
    )
    try:
        alerts_evaluate()
    finally:
        unregister_alert_condition("browser-demo")
    page = sign_in_with_device(browser, live_hub.url, integrator, screenshot_dir, "10-integration-admin")
    assert "Parked write intents are piling up" in page.inner_text(".hub-alerts")
    page.click("nav.hub-nav a:has-text('Locations')")
    page.wait_for_selector("#location-dashboard")
    text = page.inner_text("#location-dashboard")
    assert "Northside Clinic" in text and "Harbor Clinic" in text and "25.0%" in text
    page.screenshot(path=screenshot_dir / "11-integration-admin-locations.png", full_page=True)
    assert page.goto(f"{live_hub.url}/admin/audit/").status == 403
    assert harbor.pk
