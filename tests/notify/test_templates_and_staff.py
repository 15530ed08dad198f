"""Message wording: minimal PHI, templates integration admins edit, and what staff see of texts."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from hub.roles import FRONT_DESK, INTEGRATION_ADMIN
from notify.models import MessageTemplate, OutboundMessage
from notify.services import notify_needs_attention
from notify.wording import template_problems
from tests.conftest import Sandbox
from tests.factories import make_department, make_insurance, make_patient, make_practice, make_staff
from tests.outbound import TWILIO_MESSAGES, drain_messages, fault
from tests.staff.conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def second_factor_required(settings: Any) -> None:
    settings.HUB_REQUIRE_2FA = True


def test_templates_allow_only_the_minimal_placeholders() -> None:
    assert template_problems("Hi {first_name}, see you {date} at {time}: {link}") == []
    assert template_problems("Hi {first_name} {last_name}") != []
    assert template_problems("Your plan {insurance}") != []
    assert template_problems("{first_name.__class__}") != []
    assert template_problems("{first_name!r}") != []
    assert template_problems("unbalanced {") != []
    assert template_problems("x" * 301) != []


def test_a_needs_attention_text_says_nothing_about_the_problem(outbound: Sandbox) -> None:
    department = make_department(make_practice(), athena_department_id="1")
    patient = make_patient(department, first_name="Avery", consent_to_text=True, mobile_phone="5550104701")
    make_insurance(patient, payer_name="EXAMPLE HEALTH PLAN", member_id="EXH987654321")
    notify_needs_attention(patient=patient, reference="eligibility:42")
    drain_messages()

    body = outbound.records("messages", to="+15550104701")["messages"][0]["body"]
    assert body.startswith("Hi Avery, please review some details in your patient portal")
    assert "https://portal.example.test/account" in body and "Reply STOP to opt out." in body
    for private in (patient.last_name, "EXAMPLE", "EXH987654321", "eligib", str(patient.dob.year)):
        assert private not in body


def test_an_integration_admin_edits_a_template_and_the_next_text_uses_it(outbound: Sandbox) -> None:
    department = make_department(make_practice(), athena_department_id="1")
    admin = make_staff("integrator", role=INTEGRATION_ADMIN, all_locations=True)
    desk = make_staff("desk", role=FRONT_DESK, departments=[department])
    template = MessageTemplate.objects.get(kind="needs_attention")
    url = f"/admin/notify/messagetemplate/{template.pk}/change/"
    form = {"body": "Hello {first_name}, a quick check is waiting for you: {link}", "is_active": "on"}

    refused = sign_in(Client(), admin).post(url, {"body": "Hi {first_name} {last_name}", "is_active": "on"})
    saved = sign_in(Client(), admin).post(url, form)
    desk_try = sign_in(Client(), desk).post(url, {**form, "body": "Hi {first_name}"})

    assert refused.status_code == 200 and b"not an allowed placeholder" in refused.content
    assert saved.status_code == 302
    assert desk_try.status_code == 403
    template.refresh_from_db()
    assert template.body == form["body"] and template.updated_by == admin
    patient = make_patient(department, first_name="Robin", consent_to_text=True, mobile_phone="5550104702")
    notify_needs_attention(patient=patient, reference="ocr-review:9")
    drain_messages()
    body = outbound.records("messages", to="+15550104702")["messages"][0]["body"]
    assert body.startswith("Hello Robin, a quick check is waiting for you: https://portal.example.test/account")


def test_staff_see_parked_texts_of_their_own_locations_and_can_retry_them(outbound: Sandbox, settings: Any) -> None:
    practice = make_practice()
    boston = make_department(practice, athena_department_id="1", name="Harbor Family Medicine")
    austin = make_department(practice, athena_department_id="157", name="Lone Star Clinic")
    desk = make_staff("desk", role=FRONT_DESK, departments=[boston])
    admin = make_staff("integrator", role=INTEGRATION_ADMIN, all_locations=True)
    outbound.configure(**fault("POST", TWILIO_MESSAGES, "error_before", count=100))
    boston_patient = make_patient(boston, consent_to_text=True, mobile_phone="5550104703")
    austin_patient = make_patient(austin, consent_to_text=True, mobile_phone="5550104704")
    for patient, reference in ((boston_patient, "ocr-review:1"), (austin_patient, "ocr-review:2")):
        message = notify_needs_attention(patient=patient, reference=reference)
        assert message is not None
        OutboundMessage.objects.filter(pk=message.pk).update(max_attempts=2)
    for _ in range(4):
        drain_messages()
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {"parked"}

    home = sign_in(Client(), desk).get("/admin/")
    listed = sign_in(Client(), desk).get("/admin/notify/outboundmessage/?needs_staff=1")

    assert b"Text messages that need a person" in home.content
    assert f"#{boston_patient.pk}".encode() in home.content and f"#{austin_patient.pk}".encode() not in home.content
    assert listed.status_code == 200 and listed.context["cl"].result_count == 1
    outbound.configure(faults={"rules": []})
    boston_message = OutboundMessage.objects.get(patient=boston_patient)
    retried = sign_in(Client(), admin).post(
        "/admin/notify/outboundmessage/", {"action": "retry", "_selected_action": [boston_message.pk]}
    )
    assert retried.status_code == 302
    drain_messages()
    boston_message.refresh_from_db()
    assert boston_message.state == "succeeded"
    # The parked attempts had answered 500 before anything was created: one text in the end.
    assert len(outbound.records("messages", to="+15550104703")["messages"]) == 1
