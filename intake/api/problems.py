"""Errors as RFC 9457 problem details (application/problem+json), never an HTML page or a 500 body."""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from hub import context

logger = logging.getLogger(__name__)
PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "The request is not valid",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class Problem(exceptions.APIException):
    """An error with a stable machine-readable code and, optionally, field details."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.problem_code = code
        self.errors = errors or {}
        self.extra = extra or {}


def problem_body(
    status_code: int, code: str, detail: str, *, instance: str = "", errors: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/api/problems/{code}",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body["request_id"] = context.get_correlation_id()
    body.update(extra)
    return body


def problem_response(status_code: int, code: str, detail: str, **kwargs: Any) -> Response:
    return Response(
        problem_body(status_code, code, detail, **kwargs), status=status_code, content_type=PROBLEM_CONTENT_TYPE
    )


def _field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error structure into {"field.sub": ["message", ...]}."""
    errors: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "request" if key == "non_field_errors" else str(key)
            errors.update(
                _field_errors(value, f"{prefix}{name}." if not isinstance(value, list | str) else f"{prefix}{name}")
            )
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            errors.setdefault(prefix.rstrip(".") or "request", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                errors.update(_field_errors(item, f"{prefix}{index}."))
    else:
        errors.setdefault(prefix.rstrip(".") or "request", []).append(str(detail))
    return errors


def api_exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response | None:
    """DRF's exception handler, answering problem+json for every error."""
    request = ctx.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, Problem):
        return problem_response(
            exc.status_code, exc.problem_code, str(exc.detail), instance=instance, errors=exc.errors, **exc.extra
        )
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            status.HTTP_400_BAD_REQUEST,
            "validation-error",
            "Some fields are missing or invalid; see errors.",
            instance=instance,
            errors=_field_errors(exc.detail),
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, ctx)
    if response is None:
        # An unexpected error: log the type only (messages may carry values) and answer 500.
        logger.error("unhandled API error %s at %s", type(exc).__name__, instance)
        return problem_response(
            500, "internal-error", "Something went wrong; the request id helps support.", instance=instance
        )
    code = getattr(exc, "default_code", "error")
    raw_detail = getattr(exc, "detail", "")
    detail = raw_detail if isinstance(raw_detail, str) else str(raw_detail)
    headers = {key: value for key, value in response.items() if key in ("WWW-Authenticate", "Retry-After", "Allow")}
    problem = problem_response(response.status_code, str(code).replace("_", "-"), detail, instance=instance)
    for key, value in headers.items():
        problem[key] = value
    return problem


def json_problem(request: HttpRequest, status_code: int, code: str, detail: str) -> JsonResponse:
    """A problem answer outside DRF (Django's own 404/500 handlers for /api/ paths)."""
    body = problem_body(status_code, code, detail, instance=request.path)
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)
