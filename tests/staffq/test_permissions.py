"""Every sync queue page and action, per role and per location."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hub.models import AuditEvent
from sync.models import Conflict, InboundEvent, PortalEvent, WebhookEndpoint, WriteIntent
from tests.factories import make_patient
from tests.staffq.conftest import make_intent, raise_conflict, shown, signed_in

pytestmark = pytest.mark.django_db

ROLES = ["front_desk", "compliance", "integration_admin", "superuser"]
EVERYONE = set(ROLES)
OVERSIGHT = {"compliance", "integration_admin", "superuser"}
DECIDERS = {"front_desk", "integration_admin", "superuser"}

# page -> roles that may open it (others: 403). Every object here is at clinic A, the front desk's.
PAGES = {
    "/admin/sync/conflict/": EVERYONE,
    "/admin/sync/conflict/{conflict}/change/": EVERYONE,
    "/admin/sync/conflict/bulk/?ids={conflict}": DECIDERS,
    "/admin/sync/writeintent/": EVERYONE,
    "/admin/sync/writeintent/{parked}/change/": EVERYONE,
    "/admin/sync/writeintent/{parked}/dry-run/": EVERYONE,
    "/admin/sync/inboundevent/": OVERSIGHT,
    "/admin/sync/inboundevent/{event}/change/": OVERSIGHT,
    "/admin/sync/portalevent/": OVERSIGHT,
    "/admin/sync/portalevent/{portal_event}/change/": OVERSIGHT,
    "/admin/sync/webhookendpoint/": OVERSIGHT,
    "/admin/sync/webhookendpoint/{endpoint}/change/": OVERSIGHT,
}


@pytest.fixture
def world(
    clinic_a: Any, clinic_b: Any, front_desk: Any, compliance: Any, integration_admin: Any, superuser: Any
) -> dict[str, Any]:
    patient = make_patient(clinic_a)
    other = make_patient(clinic_b)
    now = timezone.now()
    event = InboundEvent.objects.create(
        source="athena-webhook",
        event_id="evt-a",
        resource_type="patient",
        resource_id=patient.athena_patient_id,
        department=clinic_a,
        patient=patient,
        occurred_at=now,
        state=InboundEvent.State.PARKED,
        error="athena no longer has this record",
    )
    portal_event = PortalEvent.objects.create(
        public_id="evt_test_a",
        type="patient.updated",
        patient=patient,
        department=clinic_a,
        next_attempt_at=now,
        occurred_at=now,
    )
    endpoint = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/portal", disabled_at=now, disabled_reason="the portal answered 410 Gone"
    )
    return {
        "users": {
            "front_desk": front_desk,
            "compliance": compliance,
            "integration_admin": integration_admin,
            "superuser": superuser,
        },
        "patient": patient,
        "conflict": raise_conflict(patient),
        "conflict_b": raise_conflict(other),
        "parked": make_intent(patient),
        "failed": make_intent(patient, state=WriteIntent.State.FAILED, last_error_kind="permanent"),
        "parked_b": make_intent(other),
        "event": event,
        "portal_event": portal_event,
        "endpoint": endpoint,
    }


def url_of(template: str, world: dict[str, Any]) -> str:
    return template.format(**{key: getattr(value, "pk", "") for key, value in world.items() if key != "users"})


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_every_page_opens_only_for_its_roles(world: dict[str, Any], page: str, role: str) -> None:
    response = signed_in(world["users"][role]).get(url_of(page, world))
    assert response.status_code == (200 if role in PAGES[page] else 403)


@pytest.mark.parametrize("page", list(PAGES))
def test_signed_out_visitors_are_sent_to_sign_in(client: Client, world: dict[str, Any], page: str) -> None:
    response = client.get(url_of(page, world))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    "page",
    [
        "/admin/sync/conflict/{conflict_b}/change/",
        "/admin/sync/conflict/bulk/?ids={conflict_b}",
        "/admin/sync/writeintent/{parked_b}/change/",
        "/admin/sync/writeintent/{parked_b}/dry-run/",
    ],
)
def test_another_locations_rows_do_not_exist_for_the_front_desk(world: dict[str, Any], page: str) -> None:
    response = signed_in(world["users"]["front_desk"]).get(url_of(page, world))
    assert response.status_code == 404


def test_lists_never_show_another_locations_rows(world: dict[str, Any]) -> None:
    desk = signed_in(world["users"]["front_desk"])
    conflicts = desk.get("/admin/sync/conflict/").context["cl"].result_list
    assert [c.pk for c in conflicts] == [world["conflict"].pk]
    intents = desk.get("/admin/sync/writeintent/").context["cl"].result_list
    assert {i.pk for i in intents} == {world["parked"].pk, world["failed"].pk}
    admin_view = signed_in(world["users"]["integration_admin"]).get("/admin/sync/conflict/")
    assert {c.pk for c in admin_view.context["cl"].result_list} == {world["conflict"].pk, world["conflict_b"].pk}


def _resolve(client: Client, conflict: Conflict) -> Any:
    page = client.get(f"/admin/sync/conflict/{conflict.pk}/change/")
    fingerprint = shown(page) if page.status_code == 200 and 'name="shown"' in page.content.decode() else "x"
    return client.post(
        f"/admin/sync/conflict/{conflict.pk}/change/",
        {"action": "resolve", "choice": "ehr", "reason": "checked the ID card", "shown": fingerprint},
    )


@pytest.mark.parametrize("role", ROLES)
def test_only_deciders_resolve_and_only_at_their_locations(world: dict[str, Any], role: str) -> None:
    client = signed_in(world["users"][role])
    response = _resolve(client, world["conflict"])
    assert response.status_code == (302 if role in DECIDERS else 403)
    world["conflict"].refresh_from_db()
    assert (world["conflict"].status == Conflict.Status.RESOLVED) is (role in DECIDERS)
    other = _resolve(client, world["conflict_b"])
    if role == "front_desk":
        assert other.status_code == 404
    world["conflict_b"].refresh_from_db()
    assert world["conflict_b"].status == (
        Conflict.Status.RESOLVED if role in {"integration_admin", "superuser"} else Conflict.Status.OPEN
    )


@pytest.mark.parametrize("role", ROLES)
def test_assignment_and_bulk_follow_the_same_rules(world: dict[str, Any], role: str) -> None:
    client = signed_in(world["users"][role])
    conflict = world["conflict"]
    assigned = client.post(f"/admin/sync/conflict/{conflict.pk}/change/", {"action": "assign-me"})
    assert assigned.status_code == (302 if role in DECIDERS else 403)
    conflict.refresh_from_db()
    assert (conflict.assignee_id == world["users"][role].pk) is (role in DECIDERS)
    bulk = client.post(
        "/admin/sync/conflict/bulk/",
        {"ids": str(conflict.pk), "choice": "portal", "reason": "same as the card", "shown": "stale"},
    )
    assert bulk.status_code == (200 if role in DECIDERS else 403)  # a stale fingerprint is refused, not applied
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.OPEN


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("which", ["parked", "failed", "parked_b"])
def test_who_may_replay_what(world: dict[str, Any], role: str, which: str) -> None:
    """Front desk: parked work at their locations. Integration admins and superusers: parked and failed."""
    intent = world[which]
    client = signed_in(world["users"][role])
    page = client.get(f"/admin/sync/writeintent/{intent.pk}/dry-run/")
    fingerprint = shown(page) if page.status_code == 200 and 'name="shown"' in page.content.decode() else "x"
    response = client.post(
        f"/admin/sync/writeintent/{intent.pk}/replay/", {"reason": "athena is back", "shown": fingerprint}
    )
    allowed = {
        "parked": {"front_desk", "integration_admin", "superuser"},
        "failed": {"integration_admin", "superuser"},
        "parked_b": {"integration_admin", "superuser"},
    }[which]
    if role == "front_desk" and which == "parked_b":
        assert response.status_code == 404
    else:
        assert response.status_code == (302 if role in allowed else 403)
    replays = AuditEvent.objects.filter(action="intent-replay", object_id=str(intent.pk))
    assert replays.count() == (1 if role in allowed else 0)


def test_the_replay_form_is_offered_only_to_those_who_may_replay(world: dict[str, Any]) -> None:
    failed = world["failed"]
    desk = signed_in(world["users"]["front_desk"]).get(f"/admin/sync/writeintent/{failed.pk}/dry-run/")
    assert 'id="replay-form"' not in desk.content.decode()
    assert "an integration admin decides" in desk.content.decode()
    auditor = signed_in(world["users"]["compliance"]).get(f"/admin/sync/writeintent/{world['parked'].pk}/dry-run/")
    assert 'id="replay-form"' not in auditor.content.decode()
    integrator = signed_in(world["users"]["integration_admin"]).get(f"/admin/sync/writeintent/{failed.pk}/dry-run/")
    assert 'id="replay-form"' in integrator.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_processing_a_parked_event_again_is_for_integration_admins(world: dict[str, Any], role: str) -> None:
    event = world["event"]
    response = signed_in(world["users"][role]).post(f"/admin/sync/inboundevent/{event.pk}/process-again/")
    may = role in {"integration_admin", "superuser"}
    assert response.status_code == (302 if may else 403)
    event.refresh_from_db()
    assert event.state == (InboundEvent.State.RECEIVED if may else InboundEvent.State.PARKED)


@pytest.mark.parametrize("role", ROLES)
def test_re_enabling_the_portal_endpoint_is_for_integration_admins(
    world: dict[str, Any], role: str, settings: Any
) -> None:
    endpoint = world["endpoint"]
    settings.PORTAL_WEBHOOK_URL = endpoint.url
    PortalEvent.objects.filter(pk=world["portal_event"].pk).update(state=PortalEvent.State.HELD)
    response = signed_in(world["users"][role]).post(f"/admin/sync/webhookendpoint/{endpoint.pk}/enable/")
    may = role in {"integration_admin", "superuser"}
    assert response.status_code == (302 if may else 403)
    endpoint.refresh_from_db()
    assert (endpoint.disabled_at is None) is may
    world["portal_event"].refresh_from_db()
    assert world["portal_event"].state == (PortalEvent.State.PENDING if may else PortalEvent.State.HELD)


def test_compliance_sees_no_decision_buttons(world: dict[str, Any]) -> None:
    auditor = signed_in(world["users"]["compliance"])
    review = auditor.get(f"/admin/sync/conflict/{world['conflict'].pk}/change/").content.decode()
    assert 'id="resolve-form"' not in review and "can look at conflicts but not decide" in review
    event_page = auditor.get(f"/admin/sync/inboundevent/{world['event'].pk}/change/").content.decode()
    assert "process-again" not in event_page and "athena no longer has this record" in event_page
    endpoint_page = auditor.get(f"/admin/sync/webhookendpoint/{world['endpoint'].pk}/change/").content.decode()
    assert 'id="enable-form"' not in endpoint_page and "Held since" in endpoint_page
    intent_page = auditor.get(f"/admin/sync/writeintent/{world['parked'].pk}/change/").content.decode()
    assert "can look at writes but not replay them" in intent_page


@pytest.mark.parametrize("role", ROLES)
def test_list_actions_follow_the_same_rules(world: dict[str, Any], role: str) -> None:
    client = signed_in(world["users"][role])
    conflicts = [world["conflict"].pk, world["conflict_b"].pk]
    response = client.post("/admin/sync/conflict/", {"action": "assign_to_me", "_selected_action": conflicts})
    assert response.status_code == (302 if role in DECIDERS else 403)
    assigned = set(Conflict.objects.filter(assignee=world["users"][role]).values_list("pk", flat=True))
    # The front desk's selection can only reach its own location's rows.
    expected = {
        "front_desk": {world["conflict"].pk},
        "compliance": set(),
        "integration_admin": set(conflicts),
        "superuser": set(conflicts),
    }[role]
    assert assigned == expected
