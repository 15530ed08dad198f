"""Audit rows for staff sign-in: every sign-in, failure, lockout, sign-out and idle expiry.

Action names (system "hub", direction "inbound", object_type "user"):

- `sign-in`          password accepted (the second factor follows when it is required)
- `sign-in-failed`   wrong username or password, or an attempt while locked out (outcome 4)
- `lockout`          the account just reached the failure limit and is locked (outcome 8)
- `sign-out`         the user signed out
- `session-expired`  the session ran out after the idle limit (seen on the next request)
- `2fa-verify`, `2fa-enrol`, `2fa-failed`: written by `hub.two_factor`

Rows never carry a password, a code or a username that matches no account (people type their
password into the username box).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from hub import context
from hub.audit import audit_record
from hub.models import AuditEvent

SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in-failed"
LOCKOUT = "lockout"
SIGN_OUT = "sign-out"
SESSION_EXPIRED = "session-expired"


def user_actor(user: Any) -> context.Actor:
    return context.Actor(type="user", id=str(user.pk), label=user.get_username())


def request_route(request: HttpRequest | None) -> str:
    """The URL pattern that served the request (a template, never the values in it)."""
    match = getattr(request, "resolver_match", None) if request is not None else None
    return match.route if match is not None else ""


def auth_event_record(
    *,
    action: str,
    actor: context.Actor,
    request: HttpRequest | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one sign-in related audit row for `actor`."""
    return audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INBOUND,
        action=action,
        actor=actor,
        method=(request.method or "") if request is not None else "",
        route=request_route(request),
        outcome=outcome,
        object_type="user",
        object_id=actor.id if actor.type == "user" else None,
        detail=detail,
    )


def _actor_for_username(username: str | None) -> tuple[context.Actor, bool]:
    user = get_user_model().objects.filter(username=username).first() if username else None
    if user is None:
        return context.Actor(type="anonymous", id="unknown"), False
    return user_actor(user), True


@receiver(user_logged_in, dispatch_uid="hub.auth_audit.sign_in")
def _on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    auth_event_record(action=SIGN_IN, actor=user_actor(user), request=request, detail={"step": "password"})


@receiver(user_login_failed, dispatch_uid="hub.auth_audit.sign_in_failed")
def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is not None and getattr(request, "hub_second_factor_failed", False):
        return  # the two-factor view writes its own `2fa-failed` row
    actor, known = _actor_for_username(credentials.get("username"))
    auth_event_record(
        action=SIGN_IN_FAILED,
        actor=actor,
        request=request,
        outcome=AuditEvent.Outcome.MINOR_FAILURE,
        detail={"known_user": known},
    )


@receiver(user_locked_out, dispatch_uid="hub.auth_audit.lockout")
def _on_locked_out(sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any) -> None:
    failures = getattr(request, "axes_failures_since_start", None)
    # axes signals again on every attempt during a lockout; only the moment of locking is news.
    if failures is not None and failures > settings.AXES_FAILURE_LIMIT:
        return
    actor, known = _actor_for_username(username)
    auth_event_record(
        action=LOCKOUT,
        actor=actor,
        request=request,
        outcome=AuditEvent.Outcome.SERIOUS_FAILURE,
        detail={"known_user": known, "failure_limit": settings.AXES_FAILURE_LIMIT},
    )


@receiver(user_logged_out, dispatch_uid="hub.auth_audit.sign_out")
def _on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    auth_event_record(action=SIGN_OUT, actor=user_actor(user), request=request)


def _expired_session_user_id(session_key: str) -> str | None:
    """The user id of a session that has expired (and delete it, so it is reported once)."""
    from django.contrib.sessions.models import Session

    row = Session.objects.filter(session_key=session_key, expire_date__lte=timezone.now()).first()
    if row is None:
        return None
    user_id = row.get_decoded().get("_auth_user_id")
    row.delete()
    return str(user_id) if user_id else None


class IdleSessionAuditMiddleware:
    """Notices a request carrying a session that expired while idle and audits `session-expired`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if (
            cookie
            and settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
            and not request.user.is_authenticated
            and request.session.session_key is None  # the cookie named a session the store no longer serves
        ):
            user_id = _expired_session_user_id(cookie)
            user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
            if user is not None:
                idle = dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
                auth_event_record(
                    action=SESSION_EXPIRED,
                    actor=user_actor(user),
                    request=request,
                    detail={"idle_limit_seconds": int(idle.total_seconds())},
                )
                messages.info(
                    request,
                    f"You were signed out after {int(idle.total_seconds() // 60)} minutes without activity.",
                )
        return self.get_response(request)
