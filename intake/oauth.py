"""OAuth 2.0 for portal clients: client credentials only, scopes per client, secret rotation overlap."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import TokenView

from hub import context
from hub.audit import audit_record, outcome_for_status
from hub.models import AuditEvent
from intake.models import PortalClient, PortalClientSecret


def _provided_credentials(request: Any) -> tuple[str, str]:
    header = request.headers.get("HTTP_AUTHORIZATION") or request.headers.get("Authorization") or ""
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header.split(" ", 1)[1]).decode()
            client_id, secret = map(unquote_plus, decoded.split(":", 1))
            return client_id, secret
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return "", ""
    return getattr(request, "client_id", "") or "", getattr(request, "client_secret", "") or ""


class PortalOAuth2Validator(OAuth2Validator):
    """Only active portal clients, only their own scopes, and the previous secret during rotation."""

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        if super().authenticate_client(request, *args, **kwargs):
            return self._is_active_portal_client(request)
        client_id, secret = _provided_credentials(request)
        if not client_id or not secret or self._load_application(client_id, request) is None:
            return False
        previous = PortalClientSecret.objects.filter(
            client__application=request.client, expires_at__gt=timezone.now()
        ).values_list("secret_hash", flat=True)
        if any(check_password(secret, stored) for stored in previous):
            return self._is_active_portal_client(request)
        return False

    @staticmethod
    def _is_active_portal_client(request: Any) -> bool:
        return PortalClient.objects.filter(application=request.client, is_active=True).exists()

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        portal = PortalClient.objects.filter(application=client).first()
        return portal is not None and set(scopes) <= portal.scope_set

    def get_default_scopes(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> list[str]:
        return ["read"]


class PortalTokenView(TokenView):
    """The token endpoint, with one audit row per request (never the secret or the token)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        started = time.monotonic()
        response = super().post(request, *args, **kwargs)
        client_id, _ = _provided_credentials(request)
        portal = PortalClient.objects.filter(application__client_id=client_id).first() if client_id else None
        actor = (
            context.Actor(type="portal_client", id=str(portal.pk), label=portal.name)
            if portal
            else context.Actor(type="anonymous", id="-")
        )
        audit_record(
            system=AuditEvent.System.PORTAL,
            direction=AuditEvent.Direction.INBOUND,
            action="token",
            method="POST",
            route="/o/token/",
            status_code=response.status_code,
            outcome=outcome_for_status(response.status_code),
            latency_ms=int((time.monotonic() - started) * 1000),
            actor=actor,
        )
        return response
