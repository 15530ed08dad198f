"""OpenAPI description of the portal's OAuth 2.0 client-credentials security scheme."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PortalOAuth2Scheme(OpenApiAuthenticationExtension):
    target_class = "intake.api.auth.PortalOAuth2Authentication"
    name = "portalOAuth2"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/o/token/",
                    "scopes": dict(settings.OAUTH2_PROVIDER["SCOPES"]),  # type: ignore[call-overload]
                }
            },
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        view = auto_schema.view
        method = auto_schema.method.upper()
        scope = getattr(view, "scopes", {}).get(method)
        return {self.name: [scope] if scope else []}
