"""Middleware that binds the correlation id, the actor and the client address to each request."""

from __future__ import annotations

from collections.abc import Callable

from auditlog.context import set_actor
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from hub import context


def client_address(request: HttpRequest) -> str:
    """The caller's address, trusting X-Forwarded-For only as far as our own proxies append to it."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.HUB_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return remote


class CorrelationIdMiddleware:
    """Takes X-Request-Id (or makes one), binds it for the request and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cid = context.clean_correlation_id(request.headers.get("X-Request-Id"))
        request.correlation_id = cid  # type: ignore[attr-defined]
        with context.bind(correlation_id=cid, remote_addr=client_address(request)):
            response = self.get_response(request)
        response["X-Request-Id"] = cid
        return response


class AuditActorMiddleware:
    """Makes the signed-in staff user the actor of audit rows and auditlog entries."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = context.Actor(type="user", id=str(user.pk), label=user.get_username())
            with (
                context.bind(actor=actor),
                set_actor(user, remote_addr=context.get_remote_addr() or None),
            ):
                return self.get_response(request)
        return self.get_response(request)
