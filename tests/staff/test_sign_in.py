"""Staff sign-in: password, then a TOTP second factor; lockout; idle expiry; every step audited."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.models import AuditEvent
from hub.two_factor import current_totp_code

PASSWORD = "correct-horse-battery"


def actions(user: Any = None) -> list[str]:
    rows = AuditEvent.objects.order_by("sequence")
    if user is not None:
        rows = rows.filter(actor_id=str(user.pk))
    return list(rows.values_list("action", flat=True))


def password_step(client: Client, username: str, password: str = PASSWORD, next_url: str = "/admin/") -> Any:
    return client.post("/admin/login/", {"username": username, "password": password, "next": next_url})


def fresh_code(device: TOTPDevice) -> str:
    """The current code, as if the user waited out django-otp's throttle after a wrong one."""
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - dt.timedelta(hours=1))
    device.refresh_from_db()
    return current_totp_code(device)


@pytest.mark.django_db
def test_first_sign_in_enrols_an_authenticator_then_lets_the_user_in(client: Client, front_desk: Any) -> None:
    response = password_step(client, "desk-a", next_url="/admin/hub/patient/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/2fa/enrol/")

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"<svg" in page.content  # the QR code is inline, nothing leaves the page
    device = TOTPDevice.objects.get(user=front_desk, confirmed=False)
    secret = re.search(rb"<code>([A-Z2-7 ]+)</code>", page.content)
    assert secret is not None and len(secret.group(1).replace(b" ", b"")) == 32

    wrong = client.post(response["Location"], {"code": "000000"})
    assert wrong.status_code == 200 and b"did not match" in wrong.content
    assert client.get("/admin/hub/patient/").status_code == 302  # still not in

    done = client.post(response["Location"], {"code": fresh_code(device), "next": "/admin/hub/patient/"})
    assert done.status_code == 302 and done["Location"] == "/admin/hub/patient/"
    assert client.get("/admin/hub/patient/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert actions(front_desk) == ["sign-in", "2fa-failed", "2fa-enrol", "list"]


@pytest.mark.django_db
def test_a_user_with_an_authenticator_must_enter_its_code(client: Client, front_desk: Any) -> None:
    device = TOTPDevice.objects.create(user=front_desk, name="phone", confirmed=True)
    response = password_step(client, "desk-a")
    assert response["Location"].startswith("/admin/2fa/?")
    # Password alone opens nothing, and enrolling a second authenticator is not offered.
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/2fa/enrol/")["Location"].startswith("/admin/2fa/")
    assert TOTPDevice.objects.filter(user=front_desk).count() == 1

    assert b"did not match" in client.post("/admin/2fa/", {"code": "123456"}).content
    # django-otp throttles right after a wrong code; the page says how long to wait.
    throttled = client.post("/admin/2fa/", {"code": current_totp_code(device)})
    assert b"Wait 1 second" in throttled.content
    half_signed_in_key = client.session.session_key
    ok = client.post("/admin/2fa/", {"code": fresh_code(device)})
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    assert client.session.session_key != half_signed_in_key
    assert client.get("/admin/").status_code == 200
    assert actions(front_desk)[:4] == ["sign-in", "2fa-failed", "2fa-failed", "2fa-verify"]


@pytest.mark.django_db
def test_codes_and_passwords_never_reach_the_audit_trail(client: Client, front_desk: Any) -> None:
    device = TOTPDevice.objects.create(user=front_desk, name="phone", confirmed=True)
    password_step(client, "desk-a", password="Wrong-Horse-Battery-42")
    password_step(client, "desk-a")
    code = fresh_code(device)
    client.post("/admin/2fa/", {"code": "987654"})
    client.post("/admin/2fa/", {"code": code})
    dump = str(list(AuditEvent.objects.values()))
    assert "Wrong-Horse-Battery-42" not in dump and PASSWORD not in dump
    assert "987654" not in dump and code not in dump
    # Nor the lockout bookkeeping, which keeps the form data of failed attempts.
    attempts = str(list(AccessAttempt.objects.values("get_data", "post_data")))
    assert "987654" not in attempts and "Wrong-Horse-Battery-42" not in attempts


@pytest.mark.django_db
@override_settings(HUB_REQUIRE_2FA=False)
def test_without_the_2fa_setting_the_password_is_enough(client: Client, front_desk: Any) -> None:
    response = password_step(client, "desk-a")
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_five_wrong_passwords_lock_the_account_and_the_lockout_is_audited(client: Client, front_desk: Any) -> None:
    for _ in range(5):
        response = password_step(client, "desk-a", password="not-the-password")
    assert response.status_code == 429
    assert b"Account locked" in response.content
    # The right password no longer works while locked.
    locked = password_step(client, "desk-a")
    assert locked.status_code == 429
    assert client.get("/admin/").status_code == 302
    rows = list(AuditEvent.objects.filter(actor_id=str(front_desk.pk)).values_list("action", "outcome"))
    assert rows.count(("sign-in-failed", "4")) == 6
    assert rows.count(("lockout", "8")) == 1  # once, at the moment of locking
    assert ("sign-in", "0") not in rows


@pytest.mark.django_db
def test_wrong_codes_count_towards_the_lockout(client: Client, front_desk: Any) -> None:
    TOTPDevice.objects.create(user=front_desk, name="phone", confirmed=True)
    password_step(client, "desk-a")
    statuses = [client.post("/admin/2fa/", {"code": "000000"}).status_code for _ in range(5)]
    assert statuses[-1] == 429
    assert client.get("/admin/").status_code == 302  # signed out
    assert password_step(client, "desk-a").status_code == 429
    assert actions(front_desk).count("2fa-failed") == 5
    assert "lockout" in actions(front_desk)


@pytest.mark.django_db
def test_a_failure_for_an_unknown_username_does_not_store_the_typed_name(client: Client) -> None:
    password_step(client, "MyS3cretPassw0rd", password="oops")
    row = AuditEvent.objects.get(action="sign-in-failed")
    assert (row.actor_type, row.actor_id, row.actor_label) == ("anonymous", "unknown", "")
    assert "MyS3cretPassw0rd" not in str(list(AuditEvent.objects.values()))


@pytest.mark.django_db
def test_sign_out_is_audited_and_works_from_the_second_step(client: Client, front_desk: Any) -> None:
    TOTPDevice.objects.create(user=front_desk, name="phone", confirmed=True)
    password_step(client, "desk-a")
    response = client.post("/admin/logout/")
    assert response.status_code in (200, 302)
    assert "_auth_user_id" not in client.session
    assert actions(front_desk)[-1] == "sign-out"


@pytest.mark.django_db
def test_sessions_expire_after_fifteen_idle_minutes_and_the_expiry_is_audited(as_user: Any, front_desk: Any) -> None:
    client = as_user(front_desk)
    assert client.get("/admin/").status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    # Each request pushes the expiry 15 minutes ahead (idle timeout, not absolute).
    remaining = session.expire_date - timezone.now()
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)

    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/admin/hub/patient/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.get("/admin/hub/patient/")
    assert actions(front_desk).count("session-expired") == 1
    login_page = client.get(response["Location"])
    assert b"without activity" in login_page.content


@pytest.mark.django_db
def test_totp_code_command_is_refused_outside_demo_mode(front_desk: Any) -> None:
    with pytest.raises(CommandError, match="Refusing"):
        call_command("totp_code", "desk-a")


@pytest.mark.django_db
def test_totp_code_command_prints_a_working_code_and_is_audited(client: Client, front_desk: Any) -> None:
    out, err = StringIO(), StringIO()
    call_command("totp_code", "desk-a", "--demo", "--enrol", stdout=out, stderr=err)
    assert "synthetic demo users only" in err.getvalue()
    code = out.getvalue().strip()
    assert re.fullmatch(r"\d{6}", code)
    password_step(client, "desk-a")
    assert client.post("/admin/2fa/", {"code": code})["Location"] == "/admin/"
    issued = AuditEvent.objects.get(action="2fa-code-issued")
    assert issued.object_id == str(front_desk.pk) and code not in str(issued.detail)
