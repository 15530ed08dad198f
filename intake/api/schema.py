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


# Every portal error is an RFC 9457 problem; the statuses each kind of operation can answer.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine-readable error code"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Messages per field",
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}
PROBLEM_STATUSES = {
    400: "The request is not valid (fields named in `errors`), or the Idempotency-Key is missing",
    401: "No valid access token",
    403: "The access token lacks the scope this operation needs",
    404: "No such location, patient, appointment or submission for this client",
}
WRITE_PROBLEM_STATUSES = {
    409: "A request with this Idempotency-Key is still running, or the object's state forbids the change",
    422: "The Idempotency-Key was used with another request, or athena needs more information",
}


def document_problem_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: state the problem+json errors of every portal operation.

    Without it the schema lists only success answers, so every 4xx the API rightly gives looks
    undocumented to the portal's developers (and to schema-driven tests). New endpoints under
    /api/v1/ get the same errors; a view documents any others (e.g. 503) with `extend_schema`.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            statuses = dict(PROBLEM_STATUSES)
            if method in ("post", "put", "patch", "delete"):
                statuses.update(WRITE_PROBLEM_STATUSES)
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses.setdefault(str(status), {"description": description, "content": content})
            for status, response in responses.items():
                # An error a view documents itself (`extend_schema`) is a problem+json answer too.
                if status.startswith(("4", "5")):
                    response["content"] = content
    return result
