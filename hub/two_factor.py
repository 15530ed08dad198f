"""The second sign-in step: a TOTP code from an authenticator app (django-otp).

After the password, a user with a confirmed device is asked for its current code; a user
without one enrols first (QR code and secret, confirmed with a code). Enrolment is offered only
while a user has no confirmed device, so a stolen password alone cannot add a new authenticator;
an integration admin or superuser resets a lost one by deleting the device in the admin.

A wrong code counts as a failed sign-in for django-axes, so the account locks after the same
number of failures whichever factor was wrong; django-otp's own throttling slows guessing further.
"""

from __future__ import annotations

import base64
from typing import Any

import qrcode
import qrcode.image.svg
from axes.helpers import get_lockout_response
from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.auth_audit import auth_event_record, user_actor
from hub.models import AuditEvent

TWO_FACTOR_VERIFY = "2fa-verify"
TWO_FACTOR_ENROL = "2fa-enrol"
TWO_FACTOR_FAILED = "2fa-failed"
ENROL_DEVICE_SESSION_KEY = "hub_enrol_device_id"


def second_factor_required() -> bool:
    return bool(settings.HUB_REQUIRE_2FA)


def needs_second_factor(request: HttpRequest) -> bool:
    """A signed-in staff user who has not yet passed the second factor in this session."""
    user = request.user
    if not (second_factor_required() and user.is_authenticated and user.is_active and user.is_staff):
        return False
    return not _is_verified(request)


def _is_verified(request: HttpRequest) -> bool:
    is_verified = getattr(request.user, "is_verified", None)
    if callable(is_verified):
        return bool(is_verified())
    # Just after `login()` the request's user is the plain model (OTPMiddleware ran before it):
    # look at the session the way the middleware does.
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == request.user.pk


def confirmed_device(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def current_totp_code(device: TOTPDevice) -> str:
    """The code the device's authenticator app shows right now (demo and test helper)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def secret_for_display(device: TOTPDevice) -> str:
    """The base32 secret in groups of four, for typing into an app that cannot scan."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG QR code (nothing leaves the page)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


class CodeForm(forms.Form):
    code = forms.CharField(
        label="6-digit code",
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "pattern": "[0-9 ]*"}
        ),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].replace(" ", "")
        if not code.isdigit():
            raise forms.ValidationError("Enter the digits shown in your authenticator app.")
        return code


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def _with_next(url: str, request: HttpRequest) -> str:
    from urllib.parse import urlencode

    return f"{url}?{urlencode({'next': _next_url(request)})}"


def _count_failure(request: HttpRequest, *, step: str) -> HttpResponse | None:
    """Audit a wrong code and count it towards the axes lockout; a response when now locked."""
    user = request.user
    auth_event_record(
        action=TWO_FACTOR_FAILED,
        actor=user_actor(user),
        request=request,
        outcome=AuditEvent.Outcome.MINOR_FAILURE,
        detail={"step": step},
    )
    request.hub_second_factor_failed = True  # type: ignore[attr-defined]
    credentials = {"username": user.get_username()}
    user_login_failed.send(sender=__name__, credentials=credentials, request=request)
    if getattr(request, "axes_locked_out", False):
        logout(request)
        return get_lockout_response(request, None, credentials)
    return None


def _complete_sign_in(request: HttpRequest, device: TOTPDevice) -> None:
    # A new session key once both factors are in: a key seen before this point is worthless.
    request.session.cycle_key()
    otp_login(request, device)


def _wait_hint(refusal: dict[str, Any] | None) -> str:
    """How long django-otp's throttle (doubling after each wrong code) still refuses codes."""
    from django.utils import timezone

    until = (refusal or {}).get("locked_until")
    if until is None:
        return "Wait a moment, then enter the newest code."
    seconds = max(1, int((until - timezone.now()).total_seconds()) + 1)
    return f"Wait {seconds} second{'s' if seconds != 1 else ''}, then enter the newest code."


def _staff_session_or_login(request: HttpRequest) -> HttpResponse | None:
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        return HttpResponseRedirect(_with_next(reverse("admin:login"), request))
    if not needs_second_factor(request):
        return HttpResponseRedirect(_next_url(request))
    return None


def verify_view(request: HttpRequest, site_context: dict[str, Any]) -> HttpResponse:
    """Ask a signed-in user for the code of their confirmed device."""
    early = _staff_session_or_login(request)
    if early is not None:
        return early
    device = confirmed_device(request.user)
    if device is None:
        return HttpResponseRedirect(_with_next(reverse("admin:hub_2fa_enrol"), request))
    form = CodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        allowed, refusal = device.verify_is_allowed()
        if allowed and device.verify_token(form.cleaned_data["code"]):
            _complete_sign_in(request, device)
            auth_event_record(action=TWO_FACTOR_VERIFY, actor=user_actor(request.user), request=request)
            return HttpResponseRedirect(_next_url(request))
        locked = _count_failure(request, step="verify")
        if locked is not None:
            return locked
        error = "That code did not match. Check your phone's clock and try the newest code."
        if not allowed:
            error = f"Too many wrong codes in a row. {_wait_hint(refusal)}"
    return render(
        request,
        "hub/two_factor.html",
        {
            **site_context,
            "title": "Second step: authenticator code",
            "form": form,
            "error": error,
            "next": _next_url(request),
            "enrolling": False,
        },
    )


def _enrolment_device(request: HttpRequest) -> TOTPDevice:
    device_id = request.session.get(ENROL_DEVICE_SESSION_KEY)
    device = TOTPDevice.objects.filter(pk=device_id, user=request.user, confirmed=False).first()
    if device is None:
        # A fresh secret for each sign-in that enrols; old unconfirmed ones are useless.
        TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=request.user, name="Authenticator app", confirmed=False)
        request.session[ENROL_DEVICE_SESSION_KEY] = device.pk
    return device


def enrol_view(request: HttpRequest, site_context: dict[str, Any]) -> HttpResponse:
    """Set up an authenticator app for a user who has none yet."""
    early = _staff_session_or_login(request)
    if early is not None:
        return early
    if confirmed_device(request.user) is not None:
        return HttpResponseRedirect(_with_next(reverse("admin:hub_2fa_verify"), request))
    device = _enrolment_device(request)
    form = CodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            request.session.pop(ENROL_DEVICE_SESSION_KEY, None)
            _complete_sign_in(request, device)
            auth_event_record(
                action=TWO_FACTOR_ENROL, actor=user_actor(request.user), request=request, detail={"device": "totp"}
            )
            return HttpResponseRedirect(_next_url(request))
        locked = _count_failure(request, step="enrol")
        if locked is not None:
            return locked
        error = "That code did not match. Scan the code again or check your phone's clock, then enter the newest code."
    return render(
        request,
        "hub/two_factor.html",
        {
            **site_context,
            "title": "Set up your authenticator app",
            "form": form,
            "error": error,
            "next": _next_url(request),
            "enrolling": True,
            "qr_svg": qr_svg(device),
            "secret": secret_for_display(device),
        },
    )
