"""Portal authentication: OAuth 2.0 client-credentials tokens, scopes per operation, granted locations."""

from __future__ import annotations

from typing import Any

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from hub.models import Department
from intake.models import PortalClient


class PortalOAuth2Authentication(OAuth2Authentication):
    """A valid bearer token of an active portal client; `request.portal_client` is set."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        _user, token = result
        client = PortalClient.objects.filter(application_id=token.application_id, is_active=True).first()
        if client is None:
            raise exceptions.AuthenticationFailed("This client is not an active portal client.")
        request.portal_client = client  # type: ignore[attr-defined]
        return client, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="portal"'


class HasPortalScope(BasePermission):
    """The token carries the scope the view names for this HTTP method (`scopes` on the view)."""

    message = "The access token lacks the scope this operation needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if token is None or not hasattr(token, "scope"):
            return False
        method = (request.method or "").upper()
        if method == "OPTIONS" or not hasattr(view, method.lower()):
            return True  # DRF answers OPTIONS itself and 405 for a method the view lacks
        needed = view.scopes.get(request.method, view.scopes.get("*"))
        if needed is None:
            return False
        return needed in set(token.scope.split())


def granted_departments(client: PortalClient) -> Any:
    """The locations a portal client may see and change."""
    if client.all_locations:
        return Department.objects.filter(is_active=True)
    return client.departments.filter(is_active=True)
