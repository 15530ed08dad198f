"""The sync queues in Chromium: the desk settles a conflict, an admin dry-runs and replays a parked write,
compliance looks without deciding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.models import AuditEvent, Patient
from hub.roles import COMPLIANCE, FRONT_DESK, INTEGRATION_ADMIN
from hub.two_factor import current_totp_code
from sync.models import Conflict, PortalEvent, WriteIntent
from tests.factories import make_department, make_patient, make_staff
from tests.staffq.builders import make_intent, raise_conflict

# Database access comes from the `live_hub` fixture (transactional: the live server must see the rows).
pytestmark = [pytest.mark.browser]

PASSWORD = "correct-horse-battery"


def sign_in(browser: Any, base: str, user: Any) -> Any:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#id_code")
    page.fill("#id_code", current_totp_code(device))
    page.click("#two-factor-form input[type=submit]")
    page.wait_for_load_state()
    return page


def clinic_with_a_name_conflict() -> tuple[Any, Conflict]:
    north = make_department(name="Northside Clinic", timezone="America/New_York")
    patient = make_patient(north, first_name="Synthia", last_name="Alderton")
    conflict = raise_conflict(patient, field="last_name", baseline="Alderton", ehr="Aldertone", portal="Alder-Ton")
    return north, conflict


def test_front_desk_resolves_a_conflict_side_by_side(live_hub: Any, browser: Any, screenshot_dir: Path) -> None:
    north, conflict = clinic_with_a_name_conflict()
    desk = make_staff("desk-north", role=FRONT_DESK, departments=[north])
    page = sign_in(browser, live_hub.url, desk)
    page.wait_for_selector("#panel-sync-conflicts")
    page.screenshot(path=screenshot_dir / "12-front-desk-home-conflicts.png", full_page=True)

    page.click("#panel-sync-conflicts a.hub-open")
    page.wait_for_selector("#conflict-diff")
    assert page.inner_text("#value-portal").startswith("Alder-Ton")
    assert page.inner_text("#value-ehr").startswith("Aldertone")
    assert page.inner_text("#value-baseline").startswith("Alderton")
    page.check("input[name=choice][value=portal]")
    page.fill("#id_reason", "The patient showed the new ID card")
    page.screenshot(path=screenshot_dir / "13-front-desk-conflict-review.png", full_page=True)
    page.click("#apply-decision")
    page.wait_for_selector(".messagelist")
    assert "applied to the hub, athena and the portal" in page.inner_text(".messagelist")
    page.screenshot(path=screenshot_dir / "14-front-desk-conflict-resolved.png", full_page=True)

    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.RESOLVED and conflict.resolved_by == desk
    assert Patient.objects.get(pk=conflict.patient_id).last_name == "Alder-Ton"
    assert WriteIntent.objects.filter(natural_key__endswith=f"merge-conflict-{conflict.pk}").exists()
    assert PortalEvent.objects.filter(patient_id=conflict.patient_id, type="patient.updated").exists()
    assert AuditEvent.objects.filter(action="conflict-resolved", actor_label="desk-north").exists()


def test_integration_admin_dry_runs_then_replays_a_parked_write(
    live_hub: Any, browser: Any, screenshot_dir: Path
) -> None:
    north = make_department(name="Northside Clinic", timezone="America/New_York")
    patient = make_patient(north, first_name="Synthia", last_name="Birchwood")
    intent = make_intent(patient, target={"fields": ["last_name", "mobile_phone"]})
    admin = make_staff("integrator", role=INTEGRATION_ADMIN, all_locations=True)
    page = sign_in(browser, live_hub.url, admin)
    page.goto(f"{live_hub.url}/admin/sync/writeintent/")
    page.wait_for_selector("#result_list")
    page.screenshot(path=screenshot_dir / "15-integration-admin-writes-waiting.png", full_page=True)

    page.click(f"#result_list a:has-text('#{intent.pk}')")
    page.wait_for_selector("#why")
    assert "gave up after 8 attempts" in page.inner_text("#why")
    page.click("#dry-run-link")
    page.wait_for_selector("#dry-run-form")
    assert page.inner_text("#dry-run-request") == f"PUT /v1/{{practiceid}}/patients/{patient.athena_patient_id}"
    form = page.inner_text("#dry-run-form")
    assert "Birchwood" in form and patient.mobile_phone in form
    page.fill("#id_reason", "athena is answering again")
    page.screenshot(path=screenshot_dir / "16-integration-admin-dry-run.png", full_page=True)
    page.click("#confirm-replay")
    page.wait_for_selector("#intent-state")
    assert page.inner_text("#intent-state") == "Pending"
    assert "retried by staff: athena is answering again" in page.inner_text("#intent-history")
    page.screenshot(path=screenshot_dir / "17-integration-admin-replayed.png", full_page=True)

    intent.refresh_from_db()
    assert intent.state == WriteIntent.State.PENDING and intent.must_reconcile
    assert AuditEvent.objects.filter(action="intent-replay", actor_label="integrator").exists()


def test_compliance_sees_the_conflict_but_cannot_resolve_it(live_hub: Any, browser: Any, screenshot_dir: Path) -> None:
    _, conflict = clinic_with_a_name_conflict()
    auditor = make_staff("auditor", role=COMPLIANCE, all_locations=True)
    page = sign_in(browser, live_hub.url, auditor)
    url = f"{live_hub.url}/admin/sync/conflict/{conflict.pk}/change/"
    page.goto(url)
    page.wait_for_selector("#conflict-diff")
    assert page.locator("#resolve-form").count() == 0 and page.locator("#apply-decision").count() == 0
    assert "can look at conflicts but not decide" in page.inner_text("#read-only-note")
    page.screenshot(path=screenshot_dir / "18-compliance-conflict-read-only.png", full_page=True)
    # Sending the decision anyway, with a valid CSRF token, is refused by role.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    answer = page.request.post(
        url,
        form={"csrfmiddlewaretoken": token, "action": "resolve", "choice": "portal", "reason": "just looking"},
        headers={"Referer": url},
    )
    assert answer.status == 403
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.OPEN
    assert AuditEvent.objects.filter(action="view", object_type="conflict", actor_label="auditor").exists()
